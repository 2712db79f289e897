/// Column-major kernels over MathNet's dense storage (SPEC §0).
///
/// A batch Y ∈ R^{s×n} holds one example per row, so each of its n features is a contiguous
/// column of length s: every kernel here runs down columns and vectorises across examples.
/// Kernels write into a destination the caller owns; the pure functions of the other modules
/// allocate that destination and never touch their arguments.
[<OptimisedFromFirstCall>]
module StableOde.Core.Kernels

open System
open System.Numerics.Tensors
open MathNet.Numerics.LinearAlgebra
open MathNet.Numerics.LinearAlgebra.Double

/// What a thread keeps of buffers it reuses from one use to the next: a strong reference while
/// they hold at most `Kept.StrongBytes`, above that a weak one, so that a collection may reclaim
/// them between uses when it needs the memory.
type internal Kept<'T when 'T: not struct> =
    private
        { Strong: 'T option
          Weak: WeakReference<'T> }

    /// The most bytes a thread keeps between uses whatever the collector needs: 64 MiB.
    static member StrongBytes = 64L * 1024L * 1024L

    /// Keeps `value`, which holds `bytes`.
    static member Of(bytes: int64, value: 'T) =
        if bytes <= Kept<'T>.StrongBytes then { Strong = Some value; Weak = null }
        else { Strong = None; Weak = WeakReference<'T> value }

    /// The value, unless it was held weakly and a collection reclaimed it.
    member k.TryGet() : 'T option =
        match k.Strong with
        | Some v -> Some v
        | None ->
            match k.Weak.TryGetTarget() with
            | true, v -> Some v
            | _ -> None

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

/// dst ← dst + α x (same length).
let axpy (alpha: float) (x: float[]) (dst: float[]) =
    TensorPrimitives.MultiplyAdd(ReadOnlySpan<float>(x), alpha, ReadOnlySpan<float>(dst), Span<float>(dst))

/// ⟨x, y⟩ over two arrays of the same length.
let dot (x: float[]) (y: float[]) : float = TensorPrimitives.Dot(ReadOnlySpan<float>(x), ReadOnlySpan<float>(y))

/// dst ← dst ⊙ x (element-wise).
let multiplyInPlace (x: float[]) (dst: float[]) =
    TensorPrimitives.Multiply(ReadOnlySpan<float>(x), ReadOnlySpan<float>(dst), Span<float>(dst))

/// True when every entry of rows first … first+rows−1 of a column-major array of s rows is
/// finite.
let rowsFinite (s: int) (first: int) (rows: int) (a: float[]) : bool =
    let columns = if s = 0 then 0 else a.Length / s
    let mutable ok = true
    let mutable c = 0
    while ok && c < columns do
        let mutable i = c * s + first
        while ok && i < c * s + first + rows do
            ok <- Double.IsFinite a[i]
            i <- i + 1
        c <- c + 1
    ok

/// True when every entry is finite.
let allFinite (a: float[]) : bool = rowsFinite a.Length 0 a.Length a

// ---- vectors of 8 and 4 lanes --------------------------------------------------------------

open System.Runtime.CompilerServices
open System.Runtime.InteropServices
open System.Runtime.Intrinsics

/// Element i of an array by reference, without a bounds check: the vector kernels index only
/// inside their arrays by construction, and the tests cover every kernel.
let inline elem (a: float[]) (i: int) : byref<float> = &Unsafe.Add(&MemoryMarshal.GetArrayDataReference a, i)

/// `elem` at a native-int index: an int index is sign-extended to 64 bits again for every
/// offset added to it, a native one is not (the FMA loops' index arithmetic).
let inline elemAt (a: float[]) (i: nativeint) : byref<float> = &Unsafe.Add(&MemoryMarshal.GetArrayDataReference a, i)

/// Asks the processor to bring the cache line of a[i] into every level of its cache ahead of a
/// load (`prefetcht0`): a hint, which never faults, so i may lie past the array's end.
let inline prefetch (a: float[]) (i: int) =
    if X86.Sse.IsSupported then X86.Sse.Prefetch0(Unsafe.AsPointer(&elem a i))

/// `prefetch` at a native-int index.
let inline prefetchAt (a: float[]) (i: nativeint) =
    if X86.Sse.IsSupported then X86.Sse.Prefetch0(Unsafe.AsPointer(&elemAt a i))

/// The operations the width-generic kernels need on Vector512 (8 lanes, AVX-512). A value of
/// this type is the witness that selects the width: `Simd.load (Vec512()) a i` is a Vector512.
[<Struct; NoEquality; NoComparison>]
type Vec512 =
    static member inline Lanes() = 8
    static member inline Load(a: float[], i: int) = Vector512.LoadUnsafe(&elem a i)
    static member inline LoadAt(a: float[], i: nativeint) = Vector512.LoadUnsafe(&elemAt a i)
    static member inline SplatAt(a: float[], i: nativeint) = Vector512.Create(elemAt a i)
    static member inline Store(v: Vector512<float>, a: float[], i: int) = v.StoreUnsafe(&elem a i)
    static member inline Splat(x: float) = Vector512.Create x
    static member inline Fma(a: Vector512<float>, b: Vector512<float>, c: Vector512<float>) = Vector512.FusedMultiplyAdd(a, b, c)
    static member inline Sum(v: Vector512<float>) = Vector512.Sum v
    static member inline Element(v: Vector512<float>, i: int) = v.GetElement i
    static member inline Absolute(v: Vector512<float>) = Vector512.Abs v
    static member inline Max(a: Vector512<float>, b: Vector512<float>) = Vector512.Max(a, b)
    static member inline CopySign(v: Vector512<float>, sign: Vector512<float>) = Vector512.CopySign(v, sign)
    static member inline Equal(a: Vector512<float>, b: Vector512<float>) = Vector512.Equals(a, b)
    static member inline Greater(a: Vector512<float>, b: Vector512<float>) = Vector512.GreaterThan(a, b)
    static member inline Select(mask: Vector512<float>, a: Vector512<float>, b: Vector512<float>) = Vector512.ConditionalSelect(mask, a, b)
    /// 2^k for kd = k + 1.5·2^52 (k an integer in −1022…0 held in the low mantissa bits).
    static member inline Pow2(kd: Vector512<float>) = Vector512.ShiftLeft(kd.AsInt64() + Vector512.Create 1023L, 52).AsDouble()

/// The operations the width-generic kernels need on Vector256 (4 lanes, AVX2), for machines
/// without 512-bit vectors; the witness `Vec256()` selects them.
[<Struct; NoEquality; NoComparison>]
type Vec256 =
    static member inline Lanes() = 4
    static member inline Load(a: float[], i: int) = Vector256.LoadUnsafe(&elem a i)
    static member inline LoadAt(a: float[], i: nativeint) = Vector256.LoadUnsafe(&elemAt a i)
    static member inline SplatAt(a: float[], i: nativeint) = Vector256.Create(elemAt a i)
    static member inline Store(v: Vector256<float>, a: float[], i: int) = v.StoreUnsafe(&elem a i)
    static member inline Splat(x: float) = Vector256.Create x
    static member inline Fma(a: Vector256<float>, b: Vector256<float>, c: Vector256<float>) = Vector256.FusedMultiplyAdd(a, b, c)
    static member inline Sum(v: Vector256<float>) = Vector256.Sum v
    static member inline Element(v: Vector256<float>, i: int) = v.GetElement i
    static member inline Absolute(v: Vector256<float>) = Vector256.Abs v
    static member inline Max(a: Vector256<float>, b: Vector256<float>) = Vector256.Max(a, b)
    static member inline CopySign(v: Vector256<float>, sign: Vector256<float>) = Vector256.CopySign(v, sign)
    static member inline Equal(a: Vector256<float>, b: Vector256<float>) = Vector256.Equals(a, b)
    static member inline Greater(a: Vector256<float>, b: Vector256<float>) = Vector256.GreaterThan(a, b)
    static member inline Select(mask: Vector256<float>, a: Vector256<float>, b: Vector256<float>) = Vector256.ConditionalSelect(mask, a, b)
    /// 2^k for kd = k + 1.5·2^52 (k an integer in −1022…0 held in the low mantissa bits).
    static member inline Pow2(kd: Vector256<float>) = Vector256.ShiftLeft(kd.AsInt64() + Vector256.Create 1023L, 52).AsDouble()

/// Whether the vector kernels run on Vector512 rather than Vector256: true where the machine
/// accelerates 512-bit vectors. The tests clear it to cover the Vector256 path on such a machine.
let mutable internal useVector512 = Vector512.IsHardwareAccelerated

/// Width-generic vector operations: each takes the witness `w` (`Vec512()` or `Vec256()`) first
/// and inlines to that width's instructions; arithmetic uses the vectors' own operators.
module Simd =
    /// Doubles per vector.
    let inline lanes (_: ^W) : int = (^W: (static member Lanes: unit -> int) ())
    /// The vector at a[i…].
    let inline load (_: ^W) (a: float[]) (i: int) : ^V = (^W: (static member Load: float[] * int -> ^V) (a, i))
    /// The vector at a[i…], for a native-int index.
    let inline loadAt (_: ^W) (a: float[]) (i: nativeint) : ^V = (^W: (static member LoadAt: float[] * nativeint -> ^V) (a, i))
    /// a[i] in every lane (a broadcast from memory), for a native-int index.
    let inline splatAt (_: ^W) (a: float[]) (i: nativeint) : ^V = (^W: (static member SplatAt: float[] * nativeint -> ^V) (a, i))
    /// a[i…] ← v.
    let inline store (_: ^W) (v: ^V) (a: float[]) (i: int) : unit = (^W: (static member Store: ^V * float[] * int -> unit) (v, a, i))
    /// x in every lane.
    let inline splat (_: ^W) (x: float) : ^V = (^W: (static member Splat: float -> ^V) x)
    /// a b + c with one rounding.
    let inline fma (_: ^W) (a: ^V) (b: ^V) (c: ^V) : ^V = (^W: (static member Fma: ^V * ^V * ^V -> ^V) (a, b, c))
    /// The sum of the lanes.
    let inline sum (_: ^W) (v: ^V) : float = (^W: (static member Sum: ^V -> float) v)
    /// Lane i.
    let inline element (_: ^W) (v: ^V) (i: int) : float = (^W: (static member Element: ^V * int -> float) (v, i))
    /// |v|.
    let inline abs (_: ^W) (v: ^V) : ^V = (^W: (static member Absolute: ^V -> ^V) v)
    /// The larger of a and b, lane-wise.
    let inline max (_: ^W) (a: ^V) (b: ^V) : ^V = (^W: (static member Max: ^V * ^V -> ^V) (a, b))
    /// |v| with the sign of `sign`.
    let inline copySign (_: ^W) (v: ^V) (sign: ^V) : ^V = (^W: (static member CopySign: ^V * ^V -> ^V) (v, sign))
    /// All bits set where a = b.
    let inline equal (_: ^W) (a: ^V) (b: ^V) : ^V = (^W: (static member Equal: ^V * ^V -> ^V) (a, b))
    /// All bits set where a > b.
    let inline greater (_: ^W) (a: ^V) (b: ^V) : ^V = (^W: (static member Greater: ^V * ^V -> ^V) (a, b))
    /// a where the mask is set, else b.
    let inline select (_: ^W) (mask: ^V) (a: ^V) (b: ^V) : ^V = (^W: (static member Select: ^V * ^V * ^V -> ^V) (mask, a, b))
    /// 2^k from kd = k + 1.5·2^52.
    let inline pow2 (_: ^W) (kd: ^V) : ^V = (^W: (static member Pow2: ^V -> ^V) kd)

// ---- products of a tall matrix and a small one ----------------------------------------------
// Y K, V Kᵀ and Xᵀ V for a tall Y, V or X (one example a row) and a small K: the classifier's
// scores and their derivatives, and the plain backend's dense layers. Each is cut into blocks
// of two vectors of rows (or two columns) by five outputs whose ten sums stay in registers, one
// method a width, so that the JIT gives each block all the registers.

/// Outputs of a block of the thin products.
[<Literal>]
let private GroupOutputs = 5

/// Inputs per panel of `thinProduct`: two vectors of rows of every input of a panel (16 KB on
/// 512-bit vectors) stay in the L1 cache while the panel's groups of outputs read them again,
/// and the panel's pages stay in the TLB while the rows stream through.
[<Literal>]
let private PanelInputs = 128

/// Rows ahead of the current pair of vectors of rows that a block asks the cache for, in every
/// input.
[<Literal>]
let private PrefetchRows = 32

/// Output `o + min index (count − 1)`: a block of fewer than five outputs repeats its last one
/// in the sums it does not store.
let inline private clamp (o: int) (count: int) (index: int) = o + min index (count - 1)

/// dst[o·s + r] ← (init ? dst[o·s + r] : 0) + Σ_j x[x0 + j·xStride + r] k[o·oStride + j·jStride]
/// over j = j0 … j0+inputs−1, for the rows of the vector at r and, when `pair`, of the next, and
/// the outputs o … o+count−1 (count ≤ `GroupOutputs`): a product and a sum a term, each rounded
/// (so that Y K − Y Kᵀ of a symmetric K is exactly zero, as term by term), in ascending j; of the
/// vector at r only the last `keep` rows are stored. Every input's entry
/// `ahead` places further on is asked of the cache.
let inline private thinBlockWith (w: ^W) (init: bool) (s: int) (x: float[]) (x0: int) (xStride: int) (j0: int) (inputs: int) (k: float[]) (oStride: int) (jStride: int) (dst: float[]) (r: int) (pair: bool) (keep: int) (o: int) (count: int) (ahead: int) =
    let lanes = Simd.lanes w
    let r1 = if pair then r + lanes else r
    let o1, o2, o3, o4 = clamp o count 1, clamp o count 2, clamp o count 3, clamp o count 4
    let inline start (out: int) (row: int) : ^V = if init then Simd.load w dst (out * s + row) else Simd.splat w 0.0
    let mutable a0, a1, a2, a3, a4 = start o r, start o1 r, start o2 r, start o3 r, start o4 r
    let mutable b0, b1, b2, b3, b4 = start o r1, start o1 r1, start o2 r1, start o3 r1, start o4 r1
    let nx, nj = nativeint xStride, nativeint jStride
    let k0, k1, k2, k3, k4 = nativeint (o * oStride), nativeint (o1 * oStride), nativeint (o2 * oStride), nativeint (o3 * oStride), nativeint (o4 * oStride)
    let mutable xa = nativeint (x0 + j0 * xStride + r)
    let mutable xb = nativeint (x0 + j0 * xStride + r1)
    let mutable kj = nativeint (j0 * jStride)
    let ahead = nativeint ahead
    for _ in 1 .. inputs do
        prefetchAt x (xa + ahead)
        prefetchAt x (xb + ahead)
        let xv: ^V = Simd.loadAt w x xa
        let yv: ^V = Simd.loadAt w x xb
        let c0: ^V = Simd.splatAt w k (kj + k0)
        a0 <- a0 + xv * c0
        b0 <- b0 + yv * c0
        let c1: ^V = Simd.splatAt w k (kj + k1)
        a1 <- a1 + xv * c1
        b1 <- b1 + yv * c1
        let c2: ^V = Simd.splatAt w k (kj + k2)
        a2 <- a2 + xv * c2
        b2 <- b2 + yv * c2
        let c3: ^V = Simd.splatAt w k (kj + k3)
        a3 <- a3 + xv * c3
        b3 <- b3 + yv * c3
        let c4: ^V = Simd.splatAt w k (kj + k4)
        a4 <- a4 + xv * c4
        b4 <- b4 + yv * c4
        xa <- xa + nx
        xb <- xb + nx
        kj <- kj + nj
    let inline put (index: int) (out: int) (a: ^V) (b: ^V) =
        if index < count then
            if keep = lanes then Simd.store w a dst (out * s + r)
            else
                for l in lanes - keep .. lanes - 1 do
                    dst[out * s + r + l] <- Simd.element w a l
            if pair then Simd.store w b dst (out * s + r1)
    put 0 o a0 b0
    put 1 o1 a1 b1
    put 2 o2 a2 b2
    put 3 o3 a3 b3
    put 4 o4 a4 b4

let private thinBlock512 init s x x0 xStride j0 inputs k oStride jStride dst r pair keep o count ahead =
    thinBlockWith (Vec512()) init s x x0 xStride j0 inputs k oStride jStride dst r pair keep o count ahead

let private thinBlock256 init s x x0 xStride j0 inputs k oStride jStride dst r pair keep o count ahead =
    thinBlockWith (Vec256()) init s x x0 xStride j0 inputs k oStride jStride dst r pair keep o count ahead

/// dst ← (init ? dst : 0) + Σ_j X_j K[j, ·] over the panel j = j0 … j0+inputs−1, for every row
/// of dst (s × outputs, column-major): X_j's row r at x[x0 + j·xStride + r], K[j, o] at
/// k[o·oStride + j·jStride]. Pairs of vectors of rows by `thinBlockWith`, and the rows past the
/// last whole vector as the last lanes of a vector that ends at row s (or, in a batch shorter than
/// a vector, one at a time): each row's sums are the same products and sums in the same order
/// in any lane, so every row gets the bits it would get in any other position.
let private panel (init: bool) (s: int) (outputs: int) (x: float[]) (x0: int) (xStride: int) (j0: int) (inputs: int) (k: float[]) (oStride: int) (jStride: int) (dst: float[]) =
    let lanes = if useVector512 then 8 else 4
    let whole = s - s % lanes
    let group r pair keep o count =
        // The rows `PrefetchRows` further on in the order the panels visit them: further down the
        // same inputs, or at the top of the next panel's.
        let ahead = if r + PrefetchRows < s then PrefetchRows else PanelInputs * xStride + PrefetchRows - s
        if useVector512 then thinBlock512 init s x x0 xStride j0 inputs k oStride jStride dst r pair keep o count ahead
        else thinBlock256 init s x x0 xStride j0 inputs k oStride jStride dst r pair keep o count ahead
    let groups r pair keep =
        let mutable o = 0
        while o < outputs do
            let count = min GroupOutputs (outputs - o)
            group r pair keep o count
            o <- o + count
    // Every vector of rows once (pairs, then the overlapping last vector, `keep` rows its own), with
    // the outputs o … o+count−1, or with every group of outputs for count = 0.
    let vectors o count =
        let mutable r = 0
        while r < whole do
            let pair = r + lanes < whole
            if count = 0 then groups r pair lanes else group r pair lanes o count
            r <- r + (if pair then 2 * lanes else lanes)
        if whole < s && s >= lanes then
            if count = 0 then groups (s - lanes) false (s - whole) else group (s - lanes) false (s - whole) o count
    // Wide outputs (V Kᵀ): a group's columns of dst are written down their length in turn. Wide
    // inputs (Y K): every group reads a vector of rows of the panel while it is in the L1 cache.
    if outputs > inputs then
        let mutable o = 0
        while o < outputs do
            let count = min GroupOutputs (outputs - o)
            vectors o count
            o <- o + count
    else vectors 0 0
    if whole < s && s < lanes then
        for r in whole .. s - 1 do
            for o in 0 .. outputs - 1 do
                let mutable a = if init then dst[o * s + r] else 0.0
                for j in j0 .. j0 + inputs - 1 do
                    a <- a + x[x0 + j * xStride + r] * k[o * oStride + j * jStride]
                dst[o * s + r] <- a

/// dst ← (accumulate ? dst : 0) + Σ_j X_j K[j, ·] for every row of dst, over all `inputs`
/// columns of x, panel by panel (`panel`); every entry sums over j in ascending order.
let private thinProduct (accumulate: bool) (s: int) (outputs: int) (x: float[]) (x0: int) (xStride: int) (inputs: int) (k: float[]) (oStride: int) (jStride: int) (dst: float[]) =
    if inputs = 0 && not accumulate then Array.Clear(dst, 0, s * outputs)
    let mutable j0 = 0
    while j0 < inputs do
        let count = min PanelInputs (inputs - j0)
        panel (accumulate || j0 > 0) s outputs x x0 xStride j0 count k oStride jStride dst
        j0 <- j0 + count

/// K scaled by α, or K itself for α = 1.
let private scaled (alpha: float) (k: float[]) = if alpha = 1.0 then k else Array.map (fun v -> alpha * v) k

/// dst ← (accumulate ? dst : 0) + α · Y K, for Y the s rows first … first+s−1 of a column-major
/// matrix of `ld` rows and n columns (read in place, not copied), K ∈ R^{n×m} and dst ∈ R^{s×m}
/// (column-major). Y is read once, panel of columns by panel; every entry sums the terms
/// y_i (α K[i, o]) in ascending i, so the rows give the same bits as a copy of them would.
let mulAddRows (accumulate: bool) (alpha: float) (ld: int) (first: int) (s: int) (n: int) (m: int) (y: float[]) (k: float[]) (dst: float[]) =
    thinProduct accumulate s m y first ld n (scaled alpha k) n 1 dst

/// dst ← (accumulate ? dst : 0) + α · Y K, for Y ∈ R^{s×n}, K ∈ R^{n×m} (column-major): `mulAddRows`
/// on all of Y's rows.
let mulAdd (accumulate: bool) (alpha: float) (s: int) (n: int) (m: int) (y: float[]) (k: float[]) (dst: float[]) =
    mulAddRows accumulate alpha s 0 s n m y k dst

/// dst ← (accumulate ? dst : 0) + α · V Kᵀ, for V ∈ R^{s×m}, K ∈ R^{n×m} (column-major): every
/// entry sums over the m columns of V in ascending order.
let mulTransposeAdd (accumulate: bool) (alpha: float) (s: int) (n: int) (m: int) (v: float[]) (k: float[]) (dst: float[]) =
    thinProduct accumulate s n v 0 s m (scaled alpha k) 1 n dst

/// Σ_r x[xa + r] v[va + r] over r = 0 … s−1, from the sum `lanes` of the lane-wise sums of the
/// rows of the whole vectors (r < whole): the rows past them added in order.
let inline private finishDot (lanes: float) (whole: int) (s: int) (x: float[]) (xa: int) (v: float[]) (va: int) =
    let mutable dot = lanes
    for r in whole .. s - 1 do
        dot <- dot + x[xa + r] * v[va + r]
    dot

/// g[o·n + i] ← (accumulate ? g[o·n + i] : 0) + α Σ_r X[r, i] V[r, o] for column i of X and,
/// when `pair`, column i + 1 (row r of column i at x[i·ld + first + r]), and the columns
/// o … o+count−1 of V (s × ·, count ≤ `GroupOutputs`): ten sums lane-wise over the whole vectors
/// of rows counted from `first`, their lanes added, then `finishDot`, so they depend on the
/// rows' values alone, not on where they lie. The same
/// rows of the next two columns are asked of the cache.
let inline private dotBlockWith (w: ^W) (accumulate: bool) (alpha: float) (ld: int) (first: int) (s: int) (n: int) (x: float[]) (v: float[]) (g: float[]) (i: int) (pair: bool) (o: int) (count: int) =
    let lanes = Simd.lanes w
    let whole = s - s % lanes
    let i1 = if pair then i + 1 else i
    let o1, o2, o3, o4 = clamp o count 1, clamp o count 2, clamp o count 3, clamp o count 4
    let xa, xb = i * ld + first, i1 * ld + first
    let zero: ^V = Simd.splat w 0.0
    let mutable a0, a1, a2, a3, a4 = zero, zero, zero, zero, zero
    let mutable b0, b1, b2, b3, b4 = zero, zero, zero, zero, zero
    let v0, v1, v2, v3, v4 = nativeint (o * s), nativeint (o1 * s), nativeint (o2 * s), nativeint (o3 * s), nativeint (o4 * s)
    let nxa, nxb, nlanes = nativeint xa, nativeint xb, nativeint lanes
    let next = nativeint (2 * ld)
    let mutable r = 0n
    for _ in 1 .. whole / lanes do
        prefetchAt x (nxa + next + r)
        prefetchAt x (nxb + next + r)
        let xv: ^V = Simd.loadAt w x (nxa + r)
        let yv: ^V = Simd.loadAt w x (nxb + r)
        let c0: ^V = Simd.loadAt w v (v0 + r)
        a0 <- a0 + xv * c0
        b0 <- b0 + yv * c0
        let c1: ^V = Simd.loadAt w v (v1 + r)
        a1 <- a1 + xv * c1
        b1 <- b1 + yv * c1
        let c2: ^V = Simd.loadAt w v (v2 + r)
        a2 <- a2 + xv * c2
        b2 <- b2 + yv * c2
        let c3: ^V = Simd.loadAt w v (v3 + r)
        a3 <- a3 + xv * c3
        b3 <- b3 + yv * c3
        let c4: ^V = Simd.loadAt w v (v4 + r)
        a4 <- a4 + xv * c4
        b4 <- b4 + yv * c4
        r <- r + nlanes
    let sa0, sa1, sa2, sa3, sa4 = Simd.sum w a0, Simd.sum w a1, Simd.sum w a2, Simd.sum w a3, Simd.sum w a4
    let sb0, sb1, sb2, sb3, sb4 = Simd.sum w b0, Simd.sum w b1, Simd.sum w b2, Simd.sum w b3, Simd.sum w b4
    let inline put (index: int) (out: int) (sa: float) (sb: float) =
        if index < count then
            let e = out * n + i
            g[e] <- (if accumulate then g[e] else 0.0) + alpha * finishDot sa whole s x xa v (out * s)
            if pair then g[e + 1] <- (if accumulate then g[e + 1] else 0.0) + alpha * finishDot sb whole s x xb v (out * s)
    put 0 o sa0 sb0
    put 1 o1 sa1 sb1
    put 2 o2 sa2 sb2
    put 3 o3 sa3 sb3
    put 4 o4 sa4 sb4

let private dotBlock512 accumulate alpha ld first s n x v g i pair o count =
    dotBlockWith (Vec512()) accumulate alpha ld first s n x v g i pair o count

let private dotBlock256 accumulate alpha ld first s n x v g i pair o count =
    dotBlockWith (Vec256()) accumulate alpha ld first s n x v g i pair o count

/// g ← (accumulate ? g : 0) + α · Xᵀ V, for X the s rows first … first+s−1 of a column-major
/// matrix of `ld` rows and n columns (read in place, not copied) and V ∈ R^{s×m}; g is n×m
/// column-major. Every column of X is read once from memory for all of V's columns, and every
/// sum depends on the rows' values alone (not on where they lie), so the rows give the same
/// bits as a copy of them would.
let transposeMulAddRows (accumulate: bool) (alpha: float) (ld: int) (first: int) (s: int) (n: int) (m: int) (x: float[]) (v: float[]) (g: float[]) =
    let mutable i = 0
    while i < n do
        let pair = i + 1 < n
        let mutable o = 0
        while o < m do
            let count = min GroupOutputs (m - o)
            if useVector512 then dotBlock512 accumulate alpha ld first s n x v g i pair o count
            else dotBlock256 accumulate alpha ld first s n x v g i pair o count
            o <- o + count
        i <- i + (if pair then 2 else 1)

/// g ← (accumulate ? g : 0) + α · Xᵀ V, for X ∈ R^{s×n}, V ∈ R^{s×m}; g is n×m column-major:
/// `transposeMulAddRows` on all of X's rows.
let transposeMulAdd (accumulate: bool) (alpha: float) (s: int) (n: int) (m: int) (x: float[]) (v: float[]) (g: float[]) =
    transposeMulAddRows accumulate alpha s 0 s n m x v g

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

// ---- fast tanh ------------------------------------------------------------------------------
// With e = e^{−2|x|} = s (1 + p), s = 2^k: tanh |x| = (1 − e)/(1 + e) = ((1 − s) − s p)/((1 + s) + s p),
// numerator and denominator each rounded once (one fused multiply–add each; 1 ± s is exact
// wherever s p still matters), so neither cancels; the sign of x is copied onto the result, so
// ±0 stay ±0, and NaN stays NaN. The argument is capped at −708, where e is still a normal
// number. e^y for y ≤ 0 is reduced to 2^k e^r, |r| ≤ ½ ln 2 (Cody–Waite), and
// p = e^r − 1 = r + r² P(r) with P the Taylor polynomial of degree 11 (truncation below 5e−18),
// evaluated by Estrin's scheme (short dependency chains). σ' = 1 − t² = 4e/(1 + e)², without
// cancellation. Against tanh in 120-bit arithmetic (`bench/tanh-accuracy.fsx`: mpmath, 20,000
// arguments spread in log |x| over 0.001…10, either sign, both widths) the largest error is 2.00
// ulp (σ': 4.21 ulp), the C library's tanh 1.91 ulp; tests hold it to 4 ulp of Math.Tanh.

[<Literal>]
let private Log2E = 1.4426950408889634074
[<Literal>]
let private Ln2Hi = 6.93147180369123816490E-1
[<Literal>]
let private Ln2Lo = 1.90821492927058770002E-10
/// 1.5·2^52: adding it rounds to an integer held in the low bits of the mantissa.
[<Literal>]
let private Shifter = 6755399441055744.0

/// struct (s, p) with e^y = s (1 + p), s = 2^k, for −708 ≤ y ≤ 0.
let inline private expParts (w: ^W) (y: ^V) : struct (^V * ^V) =
    let inline c (v: float) : ^V = Simd.splat w v
    let inline fma a b d = Simd.fma w a b d
    let kd = fma y (c Log2E) (c Shifter)
    let k = kd - c Shifter
    let r = fma k (c -Ln2Hi) y
    let r = fma k (c -Ln2Lo) r
    let r2 = r * r
    let r4 = r2 * r2
    let r8 = r4 * r4
    let p0 = fma (c (1.0 / 6.0)) r (c 0.5)
    let p1 = fma (c (1.0 / 120.0)) r (c (1.0 / 24.0))
    let p2 = fma (c (1.0 / 5040.0)) r (c (1.0 / 720.0))
    let p3 = fma (c (1.0 / 362880.0)) r (c (1.0 / 40320.0))
    let p4 = fma (c (1.0 / 39916800.0)) r (c (1.0 / 3628800.0))
    let p5 = fma (c (1.0 / 6227020800.0)) r (c (1.0 / 479001600.0))
    let poly = fma (fma p5 r2 p4) r8 (fma (fma p3 r2 p2) r4 (fma p1 r2 p0))
    struct (Simd.pow2 w kd, fma r2 poly r)

/// tanh on the lanes of x (the witness w selects the width).
let inline tanh (w: ^W) (x: ^V) : ^V =
    let one: ^V = Simd.splat w 1.0
    let struct (s, p) = expParts w (Simd.max w (Simd.splat w -708.0) (Simd.abs w x * Simd.splat w -2.0))
    let t = Simd.fma w -s p (one - s) / Simd.fma w s p (one + s)
    Simd.select w (Simd.equal w x x) (Simd.copySign w t x) x

/// tanh and σ' = 1 − tanh² on the lanes of x: one division, the quotient corrected by its
/// residual so that tanh is as accurate as by `tanh`.
let inline tanhWithDerivative (w: ^W) (x: ^V) : struct (^V * ^V) =
    let one: ^V = Simd.splat w 1.0
    let struct (s, p) = expParts w (Simd.max w (Simd.splat w -708.0) (Simd.abs w x * Simd.splat w -2.0))
    let num = Simd.fma w -s p (one - s)
    let den = Simd.fma w s p (one + s)
    let q = one / den
    let t0 = num * q
    let t = Simd.fma w (Simd.fma w -t0 den num) q t0
    let d = (Simd.splat w 4.0 * Simd.fma w s p s) * (q * q)
    struct (Simd.select w (Simd.equal w x x) (Simd.copySign w t x) x, d)

/// u ← tanh(a) and, when d is not null, d ← 1 − tanh²(a), over the first `count` entries.
let tanhInto (count: int) (a: float[]) (u: float[]) (d: float[]) =
    let inline run (w: ^W) =
        let lanes = Simd.lanes w
        let mutable i = 0
        while i + lanes <= count do
            let x = Simd.load w a i
            if isNull d then Simd.store w (tanh w x) u i
            else
                let struct (t, dt) = tanhWithDerivative w x
                Simd.store w t u i
                Simd.store w dt d i
            i <- i + lanes
        if i < count then
            let rest = count - i
            let x = Array.zeroCreate lanes
            Array.blit a i x 0 rest
            let struct (t, dt) = tanhWithDerivative w (Simd.load w x 0)
            let tu, td = Array.zeroCreate lanes, Array.zeroCreate lanes
            Simd.store w t tu 0
            Simd.store w dt td 0
            Array.blit tu 0 u i rest
            if not (isNull d) then Array.blit td 0 d i rest
    if useVector512 then run (Vec512()) else run (Vec256())
