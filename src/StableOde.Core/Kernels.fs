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
