/// Column-major kernels over MathNet's dense storage (SPEC §0).
///
/// A batch Y ∈ R^{s×n} holds one example per row, so each of its n features is a contiguous
/// column of length s: every kernel here runs down columns and vectorises across examples.
/// Kernels write into a destination the caller owns; the pure functions of the other modules
/// allocate that destination and never touch their arguments.
module StableOde.Core.Kernels

open System
open System.Numerics.Tensors
open MathNet.Numerics.LinearAlgebra
open MathNet.Numerics.LinearAlgebra.Double

/// The column-major storage array of a dense matrix (no copy).
let storage (m: Matrix<float>) : float[] =
    match m with
    | :? DenseMatrix as d -> d.Values
    | _ -> invalidArg (nameof m) "expected a dense matrix"

/// The storage array of a dense vector (no copy).
let vstorage (v: Vector<float>) : float[] =
    match v with
    | :? DenseVector as d -> d.Values
    | _ -> invalidArg (nameof v) "expected a dense vector"

/// The column-major entries of a matrix for reading: a dense matrix's own storage (no copy),
/// else a copy. Callers never write into it.
let columnMajor (m: Matrix<float>) : float[] =
    match m with
    | :? DenseMatrix as d -> d.Values
    | _ -> m.ToColumnMajorArray()

/// A dense matrix that wraps `values` (column-major, no copy).
let ofStorage (rows: int) (cols: int) (values: float[]) : Matrix<float> =
    DenseMatrix(rows, cols, values) :> Matrix<float>

/// A dense vector that wraps `values` (no copy).
let vofStorage (values: float[]) : Vector<float> = DenseVector(values) :> Vector<float>

/// A new dense zero matrix.
let zeros (rows: int) (cols: int) : Matrix<float> = ofStorage rows cols (Array.zeroCreate (rows * cols))

/// A new dense zero vector.
let vzeros (n: int) : Vector<float> = vofStorage (Array.zeroCreate n)

/// A dense copy of any matrix.
let copy (m: Matrix<float>) : Matrix<float> = ofStorage m.RowCount m.ColumnCount (m.ToColumnMajorArray())

/// A dense copy of any vector.
let vcopy (v: Vector<float>) : Vector<float> = vofStorage (v.ToArray())

/// Column j (length s) of a column-major array, writable.
let inline col (a: float[]) (s: int) (j: int) : Span<float> = Span<float>(a, j * s, s)

/// Column j (length s) of a column-major array, read-only.
let inline rcol (a: float[]) (s: int) (j: int) : ReadOnlySpan<float> = ReadOnlySpan<float>(a, j * s, s)

/// A writable span seen as read-only (for TensorPrimitives' in-place calls).
let inline ro (s: Span<float>) : ReadOnlySpan<float> = Span<float>.op_Implicit s

/// Rows per block of the products below: a block of every column in use stays in the L1/L2
/// cache while the tall matrix streams through once.
let private productRows = 512

/// dst ← (accumulate ? dst : 0) + α · Y K, for Y ∈ R^{s×n}, K ∈ R^{n×m} (column-major). Y is read
/// once, block of rows by block of rows; every entry sums over i in ascending order.
let mulAdd (accumulate: bool) (alpha: float) (s: int) (n: int) (m: int) (y: float[]) (k: float[]) (dst: float[]) =
    let mutable r0 = 0
    while r0 < s do
        let len = min productRows (s - r0)
        for o in 0 .. m - 1 do
            if not accumulate then Span<float>(dst, o * s + r0, len).Clear()
        for i in 0 .. n - 1 do
            let yi = ReadOnlySpan<float>(y, i * s + r0, len)
            for o in 0 .. m - 1 do
                let d = Span<float>(dst, o * s + r0, len)
                TensorPrimitives.MultiplyAdd(yi, alpha * k[o * n + i], ro d, d)
        r0 <- r0 + len

/// dst ← (accumulate ? dst : 0) + α · V Kᵀ, for V ∈ R^{s×m}, K ∈ R^{n×m} (column-major).
let mulTransposeAdd (accumulate: bool) (alpha: float) (s: int) (n: int) (m: int) (v: float[]) (k: float[]) (dst: float[]) =
    for i in 0 .. n - 1 do
        let d = col dst s i
        if not accumulate then d.Clear()
        for o in 0 .. m - 1 do
            TensorPrimitives.MultiplyAdd(rcol v s o, alpha * k[o * n + i], ro d, d)

/// g ← (accumulate ? g : 0) + α · Xᵀ V, for X ∈ R^{s×n}, V ∈ R^{s×m}; g is n×m column-major.
/// Each column of X is read once and dotted with every column of V.
let transposeMulAdd (accumulate: bool) (alpha: float) (s: int) (n: int) (m: int) (x: float[]) (v: float[]) (g: float[]) =
    for i in 0 .. n - 1 do
        let xi = rcol x s i
        for o in 0 .. m - 1 do
            let dot = alpha * TensorPrimitives.Dot(xi, rcol v s o)
            g[o * n + i] <- (if accumulate then g[o * n + i] + dot else dot)

/// Y K as a new matrix, for a tall Y ∈ R^{s×n} and a small K ∈ R^{n×m}: Y is read once.
let times (y: Matrix<float>) (k: Matrix<float>) : Matrix<float> =
    if y.ColumnCount <> k.RowCount then invalidArg (nameof k) $"cannot multiply {y.RowCount}×{y.ColumnCount} by {k.RowCount}×{k.ColumnCount}"
    let z = zeros y.RowCount k.ColumnCount
    mulAdd false 1.0 y.RowCount y.ColumnCount k.ColumnCount (columnMajor y) (columnMajor k) (storage z)
    z

/// V Kᵀ as a new matrix, for a tall V ∈ R^{s×m} and a small K ∈ R^{n×m}.
let timesTranspose (v: Matrix<float>) (k: Matrix<float>) : Matrix<float> =
    if v.ColumnCount <> k.ColumnCount then invalidArg (nameof k) $"cannot multiply {v.RowCount}×{v.ColumnCount} by the transpose of {k.RowCount}×{k.ColumnCount}"
    let z = zeros v.RowCount k.RowCount
    mulTransposeAdd false 1.0 v.RowCount k.RowCount k.ColumnCount (columnMajor v) (columnMajor k) (storage z)
    z

/// Xᵀ V as a new n×m matrix, for tall X ∈ R^{s×n} and V ∈ R^{s×m}: X is read once.
let transposeTimes (x: Matrix<float>) (v: Matrix<float>) : Matrix<float> =
    if x.RowCount <> v.RowCount then invalidArg (nameof v) $"cannot multiply the transpose of {x.RowCount}×{x.ColumnCount} by {v.RowCount}×{v.ColumnCount}"
    let g = zeros x.ColumnCount v.ColumnCount
    transposeMulAdd false 1.0 x.RowCount x.ColumnCount v.ColumnCount (columnMajor x) (columnMajor v) (storage g)
    g

/// dst ← dst + α x (same length).
let axpy (alpha: float) (x: float[]) (dst: float[]) =
    TensorPrimitives.MultiplyAdd(ReadOnlySpan<float>(x), alpha, ReadOnlySpan<float>(dst), Span<float>(dst))

/// ⟨x, y⟩ over two arrays of the same length.
let dot (x: float[]) (y: float[]) : float = TensorPrimitives.Dot(ReadOnlySpan<float>(x), ReadOnlySpan<float>(y))

/// dst ← dst ⊙ x (element-wise).
let multiplyInPlace (x: float[]) (dst: float[]) =
    TensorPrimitives.Multiply(ReadOnlySpan<float>(x), ReadOnlySpan<float>(dst), Span<float>(dst))

/// True when every entry is finite.
let allFinite (a: float[]) : bool =
    let mutable ok = true
    let mutable i = 0
    while ok && i < a.Length do
        ok <- Double.IsFinite a[i]
        i <- i + 1
    ok

// ---- fast activations ----------------------------------------------------------------------
// tanh |x| = |x| + |x|z P(z)/Q(z), z = x², for |x| < 0.625 (Cephes' rational approximation),
// else 1 − 2e/(1 + e) with e = e^{−2|x|} (argument capped at −708, where e is still a normal
// number); the sign of x is copied onto the result, so ±0 stay ±0. One division either way. e^y for y ≤ 0 is
// reduced to 2^k e^r, |r| ≤ ½ ln 2 (Cody–Waite), with e^r by its Taylor polynomial of degree 13
// (truncation below 5e−18). σ' = 1 − t² = −f(2 + f) for t = 1 + f on the large branch, without
// cancellation. Accurate to a few ulp; tests hold it to 4 ulp of Math.Tanh.

open System.Runtime.Intrinsics

[<Literal>]
let private P0 = -9.64399179425052238628E-1
[<Literal>]
let private P1 = -9.92877231001918586564E1
[<Literal>]
let private P2 = -1.61468768441708447952E3
[<Literal>]
let private Q0 = 1.12811678491632931402E2
[<Literal>]
let private Q1 = 2.23548839060100448583E3
[<Literal>]
let private Q2 = 4.84406305325125486048E3
[<Literal>]
let private Log2E = 1.4426950408889634074
[<Literal>]
let private Ln2Hi = 6.93147180369123816490E-1
[<Literal>]
let private Ln2Lo = 1.90821492927058770002E-10
/// 1.5·2^52: adding it rounds to an integer held in the low bits of the mantissa.
[<Literal>]
let private Shifter = 6755399441055744.0

/// e^y for −708 ≤ y ≤ 0 (8 lanes).
let inline private expNonPositive512 (y: Vector512<float>) =
    let kd = Vector512.FusedMultiplyAdd(y, Vector512.Create Log2E, Vector512.Create Shifter)
    let k = kd - Vector512.Create Shifter
    let r = Vector512.FusedMultiplyAdd(k, Vector512.Create -Ln2Hi, y)
    let r = Vector512.FusedMultiplyAdd(k, Vector512.Create -Ln2Lo, r)
    let inline c (v: float) = Vector512.Create v
    let inline fma (a: Vector512<float>) (b: Vector512<float>) (d: Vector512<float>) = Vector512.FusedMultiplyAdd(a, b, d)
    let p = fma (c 1.6059043836821614599E-10) r (c 2.0876756987868098979E-9)
    let p = fma p r (c 2.5052108385441718775E-8)
    let p = fma p r (c 2.7557319223985890653E-7)
    let p = fma p r (c 2.7557319223985890653E-6)
    let p = fma p r (c 2.4801587301587301587E-5)
    let p = fma p r (c 1.9841269841269841270E-4)
    let p = fma p r (c 1.3888888888888888889E-3)
    let p = fma p r (c 8.3333333333333333333E-3)
    let p = fma p r (c 4.1666666666666666667E-2)
    let p = fma p r (c 1.6666666666666666667E-1)
    let p = fma p r (c 0.5)
    let p = fma p r Vector512<float>.One
    let p = fma p r Vector512<float>.One
    p * Vector512.ShiftLeft(kd.AsInt64() + Vector512.Create 1023L, 52).AsDouble()

/// e^y for −708 ≤ y ≤ 0 (4 lanes).
let inline private expNonPositive256 (y: Vector256<float>) =
    let kd = Vector256.FusedMultiplyAdd(y, Vector256.Create Log2E, Vector256.Create Shifter)
    let k = kd - Vector256.Create Shifter
    let r = Vector256.FusedMultiplyAdd(k, Vector256.Create -Ln2Hi, y)
    let r = Vector256.FusedMultiplyAdd(k, Vector256.Create -Ln2Lo, r)
    let inline c (v: float) = Vector256.Create v
    let inline fma (a: Vector256<float>) (b: Vector256<float>) (d: Vector256<float>) = Vector256.FusedMultiplyAdd(a, b, d)
    let p = fma (c 1.6059043836821614599E-10) r (c 2.0876756987868098979E-9)
    let p = fma p r (c 2.5052108385441718775E-8)
    let p = fma p r (c 2.7557319223985890653E-7)
    let p = fma p r (c 2.7557319223985890653E-6)
    let p = fma p r (c 2.4801587301587301587E-5)
    let p = fma p r (c 1.9841269841269841270E-4)
    let p = fma p r (c 1.3888888888888888889E-3)
    let p = fma p r (c 8.3333333333333333333E-3)
    let p = fma p r (c 4.1666666666666666667E-2)
    let p = fma p r (c 1.6666666666666666667E-1)
    let p = fma p r (c 0.5)
    let p = fma p r Vector256<float>.One
    let p = fma p r Vector256<float>.One
    p * Vector256.ShiftLeft(kd.AsInt64() + Vector256.Create 1023L, 52).AsDouble()

/// tanh x and σ'(x) = 1 − tanh² x on 8 lanes; NaN stays NaN.
let inline tanhWithDerivative512 (x: Vector512<float>) : struct (Vector512<float> * Vector512<float>) =
    let ax = Vector512.Abs x
    let z = x * x
    let p = Vector512.FusedMultiplyAdd(Vector512.FusedMultiplyAdd(Vector512.Create P0, z, Vector512.Create P1), z, Vector512.Create P2)
    let q = Vector512.FusedMultiplyAdd(Vector512.FusedMultiplyAdd(z + Vector512.Create Q0, z, Vector512.Create Q1), z, Vector512.Create Q2)
    let e = expNonPositive512 (Vector512.Max(Vector512.Create -708.0, -(ax + ax)))
    let small = Vector512.LessThan(ax, Vector512.Create 0.625)
    let num = Vector512.ConditionalSelect(small, ax * z * p, Vector512.Create -2.0 * e)
    let den = Vector512.ConditionalSelect(small, q, e + Vector512<float>.One)
    let f = num / den
    let t = Vector512.ConditionalSelect(small, ax, Vector512<float>.One) + f
    let d = Vector512.ConditionalSelect(small, Vector512.FusedMultiplyAdd(-t, t, Vector512<float>.One), -f * (f + Vector512.Create 2.0))
    let t = Vector512.ConditionalSelect(Vector512.Equals(x, x), Vector512.CopySign(t, x), x)
    struct (t, d)

/// tanh x and σ'(x) = 1 − tanh² x on 4 lanes; NaN stays NaN.
let inline tanhWithDerivative256 (x: Vector256<float>) : struct (Vector256<float> * Vector256<float>) =
    let ax = Vector256.Abs x
    let z = x * x
    let p = Vector256.FusedMultiplyAdd(Vector256.FusedMultiplyAdd(Vector256.Create P0, z, Vector256.Create P1), z, Vector256.Create P2)
    let q = Vector256.FusedMultiplyAdd(Vector256.FusedMultiplyAdd(z + Vector256.Create Q0, z, Vector256.Create Q1), z, Vector256.Create Q2)
    let e = expNonPositive256 (Vector256.Max(Vector256.Create -708.0, -(ax + ax)))
    let small = Vector256.LessThan(ax, Vector256.Create 0.625)
    let num = Vector256.ConditionalSelect(small, ax * z * p, Vector256.Create -2.0 * e)
    let den = Vector256.ConditionalSelect(small, q, e + Vector256<float>.One)
    let f = num / den
    let t = Vector256.ConditionalSelect(small, ax, Vector256<float>.One) + f
    let d = Vector256.ConditionalSelect(small, Vector256.FusedMultiplyAdd(-t, t, Vector256<float>.One), -f * (f + Vector256.Create 2.0))
    let t = Vector256.ConditionalSelect(Vector256.Equals(x, x), Vector256.CopySign(t, x), x)
    struct (t, d)

/// u ← tanh(a) and, when d is not null, d ← 1 − tanh²(a), over the first `count` entries.
let tanhInto (count: int) (a: float[]) (u: float[]) (d: float[]) =
    let withDerivative = not (isNull d)
    let mutable i = 0
    if Vector512.IsHardwareAccelerated then
        while i + 8 <= count do
            let struct (t, dt) = tanhWithDerivative512 (Vector512.Create(a, i))
            t.CopyTo(u, i)
            if withDerivative then dt.CopyTo(d, i)
            i <- i + 8
    while i + 4 <= count do
        let struct (t, dt) = tanhWithDerivative256 (Vector256.Create(a, i))
        t.CopyTo(u, i)
        if withDerivative then dt.CopyTo(d, i)
        i <- i + 4
    if i < count then
        let rest = count - i
        let at k = if k < rest then a[i + k] else 0.0
        let struct (t, dt) = tanhWithDerivative256 (Vector256.Create(at 0, at 1, at 2, at 3))
        for k in 0 .. rest - 1 do
            u[i + k] <- t.GetElement k
            if withDerivative then d[i + k] <- dt.GetElement k
