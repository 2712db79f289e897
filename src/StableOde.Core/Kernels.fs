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

/// dst ← (accumulate ? dst : 0) + α · Y K, for Y ∈ R^{s×n}, K ∈ R^{n×m} (column-major).
let mulAdd (accumulate: bool) (alpha: float) (s: int) (n: int) (m: int) (y: float[]) (k: float[]) (dst: float[]) =
    for o in 0 .. m - 1 do
        let d = col dst s o
        if not accumulate then d.Clear()
        for i in 0 .. n - 1 do
            TensorPrimitives.MultiplyAdd(rcol y s i, alpha * k[o * n + i], ro d, d)

/// dst ← (accumulate ? dst : 0) + α · V Kᵀ, for V ∈ R^{s×m}, K ∈ R^{n×m} (column-major).
let mulTransposeAdd (accumulate: bool) (alpha: float) (s: int) (n: int) (m: int) (v: float[]) (k: float[]) (dst: float[]) =
    for i in 0 .. n - 1 do
        let d = col dst s i
        if not accumulate then d.Clear()
        for o in 0 .. m - 1 do
            TensorPrimitives.MultiplyAdd(rcol v s o, alpha * k[o * n + i], ro d, d)

/// g ← (accumulate ? g : 0) + α · Xᵀ V, for X ∈ R^{s×n}, V ∈ R^{s×m}; g is n×m column-major.
let transposeMulAdd (accumulate: bool) (alpha: float) (s: int) (n: int) (m: int) (x: float[]) (v: float[]) (g: float[]) =
    for o in 0 .. m - 1 do
        for i in 0 .. n - 1 do
            let dot = alpha * TensorPrimitives.Dot(rcol x s i, rcol v s o)
            g[o * n + i] <- (if accumulate then g[o * n + i] + dot else dot)

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
// tanh(x) = (xQ(x²) + x³P(x²))/Q(x²) for |x| < 0.625 (Cephes' rational approximation), else
// sign(x)(e − 1)/(e + 1) with e = e^{2|x|} capped at e^{40}, where tanh rounds to ±1: one
// division either way. Accurate to a few ulp; tests compare it with Math.Tanh.

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

let inline private tanh512 (x: Vector512<float>) =
    let ax = Vector512.Abs x
    let z = x * x
    let p = (Vector512.Create P0 * z + Vector512.Create P1) * z + Vector512.Create P2
    let q = ((z + Vector512.Create Q0) * z + Vector512.Create Q1) * z + Vector512.Create Q2
    let e = Vector512.Exp(Vector512.Min(ax + ax, Vector512.Create 40.0))
    let small = Vector512.LessThan(ax, Vector512.Create 0.625)
    let num = Vector512.ConditionalSelect(small, x * q + x * z * p, e - Vector512<float>.One)
    let den = Vector512.ConditionalSelect(small, q, e + Vector512<float>.One)
    let t = num / den
    Vector512.ConditionalSelect(small, t, Vector512.CopySign(t, x))

let inline private tanh256 (x: Vector256<float>) =
    let ax = Vector256.Abs x
    let z = x * x
    let p = (Vector256.Create P0 * z + Vector256.Create P1) * z + Vector256.Create P2
    let q = ((z + Vector256.Create Q0) * z + Vector256.Create Q1) * z + Vector256.Create Q2
    let e = Vector256.Exp(Vector256.Min(ax + ax, Vector256.Create 40.0))
    let small = Vector256.LessThan(ax, Vector256.Create 0.625)
    let num = Vector256.ConditionalSelect(small, x * q + x * z * p, e - Vector256<float>.One)
    let den = Vector256.ConditionalSelect(small, q, e + Vector256<float>.One)
    let t = num / den
    Vector256.ConditionalSelect(small, t, Vector256.CopySign(t, x))

let private tanhScalar (x: float) =
    let ax = abs x
    if ax < 0.625 then
        let z = x * x
        x + x * z * ((P0 * z + P1) * z + P2) / (((z + Q0) * z + Q1) * z + Q2)
    elif Double.IsNaN x then x
    else
        let e = Math.Exp(min (ax + ax) 40.0)
        Math.CopySign((e - 1.0) / (e + 1.0), x)

/// u ← tanh(a) and, when d is not empty, d ← 1 − tanh²(a), over the first `count` entries.
let tanhInto (count: int) (a: float[]) (u: float[]) (d: float[]) =
    let withDerivative = not (isNull d)
    let mutable i = 0
    if Vector512.IsHardwareAccelerated then
        while i + 8 <= count do
            let t = tanh512 (Vector512.Create(a, i))
            t.CopyTo(u, i)
            if withDerivative then (Vector512<float>.One - t * t).CopyTo(d, i)
            i <- i + 8
    elif Vector256.IsHardwareAccelerated then
        while i + 4 <= count do
            let t = tanh256 (Vector256.Create(a, i))
            t.CopyTo(u, i)
            if withDerivative then (Vector256<float>.One - t * t).CopyTo(d, i)
            i <- i + 4
    while i < count do
        let t = tanhScalar a[i]
        u[i] <- t
        if withDerivative then d[i] <- 1.0 - t * t
        i <- i + 1
