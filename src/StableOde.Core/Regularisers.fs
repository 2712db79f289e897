/// The quadratic regularisers of SPEC §4 (paper §5.1–5.2): weight decay and smoothness in time
/// for the propagation parameters θ, Tikhonov and smoothness in space for the classifier
/// weights W. Each is R(x) = ½⟨x, H x⟩ with a constant Hessian H, given as its value, its
/// gradient H x, the operator v ↦ H v, and a fast solve with α H + εI for preconditioning.
namespace StableOde.Core

open System
open MathNet.Numerics.LinearAlgebra
open StableOde.Core.Kernels

/// A regulariser R(θ) on the propagation parameters θ = (K_j, b_j, c_j).
type ParameterRegulariser =
    /// Weight decay (Tikhonov): R(θ) = ½ Σ_j ‖K_j‖²_F + ½ Σ_j ‖b_j‖² + ½ Σ_j ‖c_j‖².
    | WeightDecay
    /// Smoothness in time (Eq. 5.23): R(θ) = (1/2h) Σ_{j=1}^{N−1} ‖θ_j − θ_{j−1}‖² over K, b and c,
    /// that is ½‖Dθ‖² with D the first difference in time scaled by 1/√h. Its Hessian (1/h)DᵀD is
    /// tridiagonal in time for every parameter entry, and zero on weights constant in time.
    | TimeSmoothness

/// A regulariser R(W) on the classifier weights (the bias μ is never regularised).
type ClassifierRegulariser =
    /// Tikhonov: R(W) = ½ ‖W‖²_F, for data that are not images.
    | Tikhonov
    /// Smoothness in space with the discrete gradient (Eq. 5.24–5.25): every column w_k of W is an
    /// image of `channels` channels of `height`×`width` pixels (feature index channel·H·W + row·W + col)
    /// and R(W) = ½ Σ_k ‖∇ w_k‖², forward differences of unit pixel spacing inside the image
    /// (homogeneous Neumann boundary). Its Hessian is the five-point Laplacian A = −Δ.
    | ImageGradient of channels: int * height: int * width: int
    /// Smoothness in space with the discrete Laplacian: R(W) = ½ Σ_k ‖A w_k‖², A = −Δ the
    /// Neumann five-point Laplacian of `ImageGradient`; its Hessian is A².
    | ImageLaplacian of channels: int * height: int * width: int

/// Values, gradients, Hessian operators and shifted inverses of the regularisers.
module Regulariser =

    // ---- time series: one array per layer, the same operator on every entry --------------

    /// (1/2h) Σ_{j≥1} ‖a_j − a_{j−1}‖².
    let private seriesSmoothnessValue (h: float) (a: float[][]) =
        let mutable total = 0.0
        for j in 1 .. a.Length - 1 do
            let x, y = a[j], a[j - 1]
            for i in 0 .. x.Length - 1 do
                let d = x[i] - y[i]
                total <- total + d * d
        total / (2.0 * h)

    /// (1/h) DᵀD a: (1/h)[(a_j − a_{j−1}) − (a_{j+1} − a_j)], the missing neighbours left out.
    let private seriesSmoothnessHessian (h: float) (a: float[][]) : float[][] =
        let n = a.Length
        Array.init n (fun j ->
            let out = Array.zeroCreate a[j].Length
            if j > 0 then
                axpy (1.0 / h) a[j] out
                axpy (-1.0 / h) a[j - 1] out
            if j < n - 1 then
                axpy (1.0 / h) a[j] out
                axpy (-1.0 / h) a[j + 1] out
            out)

    /// (α/h DᵀD + εI)⁻¹ r by the Thomas algorithm: one factorisation of the tridiagonal matrix in
    /// time, forward elimination and back substitution vectorised across the entries.
    let private seriesSmoothnessSolve (h: float) (alpha: float) (eps: float) (r: float[][]) : float[][] =
        let n = r.Length
        let off = -alpha / h
        let diag j =
            let neighbours = (if j > 0 then 1.0 else 0.0) + (if j < n - 1 then 1.0 else 0.0)
            alpha / h * neighbours + eps
        let upper = Array.zeroCreate n
        let rhs = Array.zeroCreate n
        let mutable previousUpper = 0.0
        for j in 0 .. n - 1 do
            let pivot = diag j - (if j > 0 then off * previousUpper else 0.0)
            upper[j] <- off / pivot
            let x = Array.copy r[j]
            if j > 0 then axpy (-off) rhs[j - 1] x
            for i in 0 .. x.Length - 1 do
                x[i] <- x[i] / pivot
            rhs[j] <- x
            previousUpper <- upper[j]
        for j in n - 2 .. -1 .. 0 do
            axpy (-upper[j]) rhs[j + 1] rhs[j]
        rhs

    // ---- parameters as three time series --------------------------------------------------

    let private series (p: Parameters) =
        Array.map storage p.K, Array.map vstorage p.b, Array.map vstorage p.c

    let private ofSeries (p: Parameters) (k: float[][]) (b: float[][]) (c: float[][]) : Parameters =
        { K = Array.map2 (fun (m: Matrix<float>) v -> ofStorage m.RowCount m.ColumnCount v) p.K k
          b = Array.map vofStorage b
          c = Array.map vofStorage c }

    let private check (net: Network) (p: Parameters) = Parameters.validate net p

    /// R(θ) for the network's step size h.
    let value (r: ParameterRegulariser) (net: Network) (p: Parameters) : float =
        check net p
        match r with
        | WeightDecay -> 0.5 * Parameters.dot p p
        | TimeSmoothness ->
            let h = Network.stepSize net
            let k, b, c = series p
            seriesSmoothnessValue h k + seriesSmoothnessValue h b + seriesSmoothnessValue h c

    /// ∇²R v: the constant Hessian applied to a direction shaped like θ.
    let hessian (r: ParameterRegulariser) (net: Network) (v: Parameters) : Parameters =
        check net v
        match r with
        | WeightDecay -> Parameters.scale 1.0 v
        | TimeSmoothness ->
            let h = Network.stepSize net
            let k, b, c = series v
            ofSeries v (seriesSmoothnessHessian h k) (seriesSmoothnessHessian h b) (seriesSmoothnessHessian h c)

    /// ∇R(θ) = ∇²R θ.
    let gradient (r: ParameterRegulariser) (net: Network) (p: Parameters) : Parameters = hessian r net p

    /// (α ∇²R + εI)⁻¹ v for α ≥ 0 and ε > 0: the regulariser's preconditioner. Weight decay
    /// divides by α + ε; smoothness in time solves one tridiagonal system in time per entry.
    let solveShifted (r: ParameterRegulariser) (net: Network) (alpha: float) (eps: float) (v: Parameters) : Parameters =
        check net v
        if not (alpha >= 0.0) || not (eps > 0.0) then invalidArg (nameof eps) $"need α ≥ 0 and ε > 0, got α = {alpha}, ε = {eps}"
        match r with
        | WeightDecay -> Parameters.scale (1.0 / (alpha + eps)) v
        | TimeSmoothness ->
            let h = Network.stepSize net
            let k, b, c = series v
            let solve = seriesSmoothnessSolve h alpha eps
            ofSeries v (solve k) (solve b) (solve c)

    // ---- the classifier: five-point Laplacian on each channel of each column --------------

    let private checkImage (n: int) (channels: int) (height: int) (width: int) =
        if channels < 1 || height < 1 || width < 1 then
            invalidArg "regulariser" $"image shape must be positive, got {channels}×{height}×{width}"
        if channels * height * width <> n then
            invalidArg "regulariser" $"image shape {channels}×{height}×{width} does not match the {n} rows of W"

    /// dst ← A x on one height×width image (row-major at `offset`): A = −Δ, Neumann five-point.
    let private laplacianInto (height: int) (width: int) (x: float[]) (offset: int) (dst: float[]) =
        for r in 0 .. height - 1 do
            for q in 0 .. width - 1 do
                let at = offset + r * width + q
                let mutable acc = 0.0
                if r > 0 then acc <- acc + x[at] - x[at - width]
                if r < height - 1 then acc <- acc + x[at] - x[at + width]
                if q > 0 then acc <- acc + x[at] - x[at - 1]
                if q < width - 1 then acc <- acc + x[at] - x[at + 1]
                dst[at] <- acc

    /// The operator A (or A²) applied to every channel image of every column of W.
    let private imageOperator (power: int) (height: int) (width: int) (w: Matrix<float>) : Matrix<float> =
        let a = w.ToColumnMajorArray()
        let out = Array.zeroCreate a.Length
        let tmp = Array.zeroCreate a.Length
        let hw = height * width
        for block in 0 .. a.Length / hw - 1 do
            laplacianInto height width a (block * hw) out
            if power = 2 then
                laplacianInto height width out (block * hw) tmp
        ofStorage w.RowCount w.ColumnCount (if power = 2 then tmp else out)

    /// The orthonormal DCT-II matrix of size n: row k is the eigenvector cos(πk(i+½)/n) of the
    /// one-dimensional Neumann second difference, with eigenvalue 2 − 2cos(πk/n).
    let private dct (n: int) : Matrix<float> =
        Matrix<float>.Build.Dense(n, n, fun k i ->
            let s = if k = 0 then sqrt (1.0 / float n) else sqrt (2.0 / float n)
            s * cos (Math.PI * float k * (float i + 0.5) / float n))

    /// (α Aᵖ + εI)⁻¹ on every image by the two-dimensional DCT, which diagonalises A exactly.
    let private imageSolve (power: int) (height: int) (width: int) (alpha: float) (eps: float) (w: Matrix<float>) =
        let ch, cw = dct height, dct width
        let eigen =
            Matrix<float>.Build.Dense(height, width, fun p q ->
                let l = 2.0 - 2.0 * cos (Math.PI * float p / float height) + 2.0 - 2.0 * cos (Math.PI * float q / float width)
                1.0 / (alpha * (if power = 2 then l * l else l) + eps))
        let a = w.ToColumnMajorArray()
        let out = Array.zeroCreate a.Length
        let hw = height * width
        for block in 0 .. a.Length / hw - 1 do
            let image = Matrix<float>.Build.Dense(height, width, fun r q -> a[block * hw + r * width + q])
            let solved = ch.TransposeThisAndMultiply((ch * image * cw.Transpose()).PointwiseMultiply eigen) * cw
            for r in 0 .. height - 1 do
                for q in 0 .. width - 1 do
                    out[block * hw + r * width + q] <- solved[r, q]
        ofStorage w.RowCount w.ColumnCount out

    /// ∇²R(W) V: the constant Hessian applied to a direction V shaped like W.
    let classifierHessian (r: ClassifierRegulariser) (v: Matrix<float>) : Matrix<float> =
        match r with
        | Tikhonov -> copy v
        | ImageGradient(c, h, w) ->
            checkImage v.RowCount c h w
            imageOperator 1 h w v
        | ImageLaplacian(c, h, w) ->
            checkImage v.RowCount c h w
            imageOperator 2 h w v

    /// R(W).
    let classifierValue (r: ClassifierRegulariser) (w: Matrix<float>) : float =
        match r with
        | Tikhonov -> 0.5 * dot (w.ToColumnMajorArray()) (w.ToColumnMajorArray())
        | ImageGradient(c, h, wd) ->
            checkImage w.RowCount c h wd
            let a = w.ToColumnMajorArray()
            let mutable total = 0.0
            let hw = h * wd
            for block in 0 .. a.Length / hw - 1 do
                for row in 0 .. h - 1 do
                    for q in 0 .. wd - 1 do
                        let at = block * hw + row * wd + q
                        if row < h - 1 then total <- total + (a[at + wd] - a[at]) ** 2.0
                        if q < wd - 1 then total <- total + (a[at + 1] - a[at]) ** 2.0
            0.5 * total
        | ImageLaplacian(c, h, wd) ->
            checkImage w.RowCount c h wd
            let aw = imageOperator 1 h wd w
            0.5 * dot (storage aw) (storage aw)

    /// ∇R(W) = ∇²R W.
    let classifierGradient (r: ClassifierRegulariser) (w: Matrix<float>) : Matrix<float> = classifierHessian r w

    /// (α ∇²R + εI)⁻¹ V for α ≥ 0 and ε > 0; exact for every classifier regulariser (the images
    /// by a two-dimensional discrete cosine transform).
    let classifierSolveShifted (r: ClassifierRegulariser) (alpha: float) (eps: float) (v: Matrix<float>) : Matrix<float> =
        if not (alpha >= 0.0) || not (eps > 0.0) then invalidArg (nameof eps) $"need α ≥ 0 and ε > 0, got α = {alpha}, ε = {eps}"
        match r with
        | Tikhonov -> v / (alpha + eps)
        | ImageGradient(c, h, w) ->
            checkImage v.RowCount c h w
            imageSolve 1 h w alpha eps v
        | ImageLaplacian(c, h, w) ->
            checkImage v.RowCount c h w
            imageSolve 2 h w alpha eps v
