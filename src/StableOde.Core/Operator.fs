/// The linear operators K(θ) of a layer (SPEC §1): Y ↦ Y K(θ) for a batch Y ∈ R^{s×in}.
namespace StableOde.Core

open MathNet.Numerics.LinearAlgebra

/// A layer's linear operator K(θ), acting on the right of a batch: Y ↦ Y K(θ).
/// Its parameters θ are one dense matrix of shape `Operator.parameterShape`.
type Operator =
    /// A dense K ∈ R^{n×m}; θ = K.
    | Dense of inWidth: int * outWidth: int
    /// A 3×3 convolution on images of `channels` channels of `height`×`width` pixels, channels
    /// fully coupled, zero padding, same size out, as cross-correlation:
    /// (Y K)[o, r, q] = Σ_i Σ_{u,v ∈ {−1,0,1}} K[o][i][u+1][v+1] · Y[i, r+u, q+v].
    /// Feature index = channel·H·W + row·W + col. θ is c × 9c: entry (o, 9i + 3(u+1) + (v+1)).
    | Conv3x3 of channels: int * height: int * width: int
    /// A(K) = ½(K − Kᵀ − γI) on a square base operator K (Eq. 4.12): its spectrum lies on
    /// the line Re λ = −γ/2, purely imaginary for γ = 0.
    | Antisymmetric of baseOperator: Operator * gamma: float
    /// K = −B Bᵀ on a base operator B (Eq. 4.14 with C = Bᵀ): symmetric negative semidefinite.
    | NegativeSemidefinite of baseOperator: Operator

/// Apply, apply-transpose and the parameter derivatives of every operator (SPEC §1).
module Operator =

    open StableOde.Core.Kernels

    /// Width of the batch the operator acts on (columns of Y).
    let rec inWidth (op: Operator) =
        match op with
        | Dense(n, _) -> n
        | Conv3x3(c, h, w) -> c * h * w
        | Antisymmetric(b, _) -> inWidth b
        | NegativeSemidefinite b -> inWidth b

    /// Width of Y K(θ).
    let rec outWidth (op: Operator) =
        match op with
        | Dense(_, m) -> m
        | Conv3x3(c, h, w) -> c * h * w
        | Antisymmetric(b, _) -> inWidth b
        | NegativeSemidefinite b -> inWidth b

    /// Shape (rows, columns) of the parameter matrix θ.
    let rec parameterShape (op: Operator) =
        match op with
        | Dense(n, m) -> n, m
        | Conv3x3(c, _, _) -> c, 9 * c
        | Antisymmetric(b, _) -> parameterShape b
        | NegativeSemidefinite b -> parameterShape b

    /// Checks that an operator is well formed; throws ArgumentException naming the problem.
    let rec validate (op: Operator) =
        match op with
        | Dense(n, m) ->
            if n < 1 || m < 1 then invalidArg "operator" $"dense operator needs positive widths, got {n}×{m}"
        | Conv3x3(c, h, w) ->
            if c < 1 || h < 1 || w < 1 then
                invalidArg "operator" $"convolution needs positive channels, height and width, got {c}, {h}, {w}"
        | Antisymmetric(b, gamma) ->
            match b with
            | Dense _ | Conv3x3 _ -> validate b
            | _ -> invalidArg "operator" "the antisymmetric parametrisation takes a dense or convolution operator"
            if inWidth b <> outWidth b then invalidArg "operator" "the antisymmetric parametrisation needs a square operator"
            if not (System.Double.IsFinite gamma) || gamma < 0.0 then
                invalidArg "gamma" $"gamma must be finite and ≥ 0, got {gamma}"
        | NegativeSemidefinite b ->
            match b with
            | Dense _ | Conv3x3 _ -> validate b
            | _ -> invalidArg "operator" "the negative-semidefinite parametrisation takes a dense or convolution operator"

    // ---- base operators: linear in θ ------------------------------------------------------

    let private convIndex (c: int) (o: int) (i: int) (u: int) (v: int) = (9 * i + 3 * (u + 1) + (v + 1)) * c + o

    /// Visits every (output pixel, input pixel) pair a 3×3 tap (u, v) connects, as column offsets.
    let inline private convTaps (h: int) (w: int) ([<InlineIfLambda>] visit: int -> int -> int -> int -> unit) =
        for u in -1 .. 1 do
            for v in -1 .. 1 do
                for r in max 0 (-u) .. min (h - 1) (h - 1 - u) do
                    for q in max 0 (-v) .. min (w - 1) (w - 1 - v) do
                        visit u v (r * w + q) ((r + u) * w + (q + v))

    /// dst ← (acc ? dst : 0) + α · X B(θ) for a base operator B.
    let private baseApply acc alpha (op: Operator) (s: int) (theta: float[]) (x: float[]) (dst: float[]) =
        match op with
        | Dense(n, m) -> mulAdd acc alpha s n m x theta dst
        | Conv3x3(c, h, w) ->
            if not acc then System.Array.Clear dst
            let hw = h * w
            for o in 0 .. c - 1 do
                for i in 0 .. c - 1 do
                    convTaps h w (fun u v outPix inPix ->
                        let k = alpha * theta[convIndex c o i u v]
                        System.Numerics.Tensors.TensorPrimitives.MultiplyAdd(
                            rcol x s (i * hw + inPix), k, ro (col dst s (o * hw + outPix)), col dst s (o * hw + outPix)))
        | _ -> invalidOp "not a base operator"

    /// dst ← (acc ? dst : 0) + α · V B(θ)ᵀ for a base operator B.
    let private baseApplyTranspose acc alpha (op: Operator) (s: int) (theta: float[]) (v: float[]) (dst: float[]) =
        match op with
        | Dense(n, m) -> mulTransposeAdd acc alpha s n m v theta dst
        | Conv3x3(c, h, w) ->
            if not acc then System.Array.Clear dst
            let hw = h * w
            for i in 0 .. c - 1 do
                for o in 0 .. c - 1 do
                    convTaps h w (fun u vv outPix inPix ->
                        let k = alpha * theta[convIndex c o i u vv]
                        System.Numerics.Tensors.TensorPrimitives.MultiplyAdd(
                            rcol v s (o * hw + outPix), k, ro (col dst s (i * hw + inPix)), col dst s (i * hw + inPix)))
        | _ -> invalidOp "not a base operator"

    /// g ← (acc ? g : 0) + α · ∂⟨X B(θ), V⟩/∂θ for a base operator B.
    let private baseDerivativeTranspose acc alpha (op: Operator) (s: int) (x: float[]) (v: float[]) (g: float[]) =
        match op with
        | Dense(n, m) -> transposeMulAdd acc alpha s n m x v g
        | Conv3x3(c, h, w) ->
            if not acc then System.Array.Clear g
            let hw = h * w
            for o in 0 .. c - 1 do
                for i in 0 .. c - 1 do
                    convTaps h w (fun u vv outPix inPix ->
                        let idx = convIndex c o i u vv
                        g[idx] <- g[idx] + alpha * System.Numerics.Tensors.TensorPrimitives.Dot(rcol x s (i * hw + inPix), rcol v s (o * hw + outPix)))
        | _ -> invalidOp "not a base operator"

    // ---- every operator, on raw column-major storage --------------------------------------

    /// dst ← (acc ? dst : 0) + α · X K(θ).
    let applyInto acc alpha (op: Operator) (s: int) (theta: float[]) (x: float[]) (dst: float[]) =
        match op with
        | Dense _ | Conv3x3 _ -> baseApply acc alpha op s theta x dst
        | Antisymmetric(b, gamma) ->
            baseApply acc (0.5 * alpha) b s theta x dst
            baseApplyTranspose true (-0.5 * alpha) b s theta x dst
            if gamma <> 0.0 then axpy (-0.5 * alpha * gamma) x dst
        | NegativeSemidefinite b ->
            let t = Array.zeroCreate (s * outWidth b)
            baseApply false 1.0 b s theta x t
            baseApplyTranspose acc (-alpha) b s theta t dst

    /// dst ← (acc ? dst : 0) + α · V K(θ)ᵀ.
    let applyTransposeInto acc alpha (op: Operator) (s: int) (theta: float[]) (v: float[]) (dst: float[]) =
        match op with
        | Dense _ | Conv3x3 _ -> baseApplyTranspose acc alpha op s theta v dst
        | Antisymmetric(b, gamma) ->
            baseApplyTranspose acc (0.5 * alpha) b s theta v dst
            baseApply true (-0.5 * alpha) b s theta v dst
            if gamma <> 0.0 then axpy (-0.5 * alpha * gamma) v dst
        | NegativeSemidefinite _ -> applyInto acc alpha op s theta v dst

    /// dst ← (acc ? dst : 0) + α · X K'(θ)[δθ], the derivative of θ ↦ X K(θ) in direction δθ.
    let derivativeInto acc alpha (op: Operator) (s: int) (theta: float[]) (x: float[]) (dTheta: float[]) (dst: float[]) =
        match op with
        | Dense _ | Conv3x3 _ -> baseApply acc alpha op s dTheta x dst
        | Antisymmetric(b, _) ->
            baseApply acc (0.5 * alpha) b s dTheta x dst
            baseApplyTranspose true (-0.5 * alpha) b s dTheta x dst
        | NegativeSemidefinite b ->
            let r = outWidth b
            let t = Array.zeroCreate (s * r)
            baseApply false 1.0 b s dTheta x t
            baseApplyTranspose acc (-alpha) b s theta t dst
            baseApply false 1.0 b s theta x t
            baseApplyTranspose true (-alpha) b s dTheta t dst

    /// dst ← (acc ? dst : 0) + α · the derivative of θ ↦ Z K(θ)ᵀ in direction δθ.
    let transposeDerivativeInto acc alpha (op: Operator) (s: int) (theta: float[]) (z: float[]) (dTheta: float[]) (dst: float[]) =
        match op with
        | Dense _ | Conv3x3 _ -> baseApplyTranspose acc alpha op s dTheta z dst
        | Antisymmetric(b, _) ->
            baseApplyTranspose acc (0.5 * alpha) b s dTheta z dst
            baseApply true (-0.5 * alpha) b s dTheta z dst
        | NegativeSemidefinite _ -> derivativeInto acc alpha op s theta z dTheta dst

    /// g ← (acc ? g : 0) + α · ∂⟨X K(θ), V⟩/∂θ. (For the transpose, ⟨Z K(θ)ᵀ, V⟩ = ⟨V K(θ), Z⟩.)
    let derivativeTransposeInto acc alpha (op: Operator) (s: int) (theta: float[]) (x: float[]) (v: float[]) (g: float[]) =
        match op with
        | Dense _ | Conv3x3 _ -> baseDerivativeTranspose acc alpha op s x v g
        | Antisymmetric(b, _) ->
            baseDerivativeTranspose acc (0.5 * alpha) b s x v g
            baseDerivativeTranspose true (-0.5 * alpha) b s v x g
        | NegativeSemidefinite b ->
            let r = outWidth b
            let vb = Array.zeroCreate (s * r)
            let xb = Array.zeroCreate (s * r)
            baseApply false 1.0 b s theta v vb
            baseApply false 1.0 b s theta x xb
            baseDerivativeTranspose acc (-alpha) b s x vb g
            baseDerivativeTranspose true (-alpha) b s v xb g

    // ---- pure functions on MathNet matrices ---------------------------------------------

    let private checkParameters (op: Operator) (theta: Matrix<float>) =
        let r, c = parameterShape op
        if theta.RowCount <> r || theta.ColumnCount <> c then
            invalidArg "theta" $"operator parameters must be {r}×{c}, got {theta.RowCount}×{theta.ColumnCount}"

    let private checkBatch (name: string) (width: int) (x: Matrix<float>) =
        if x.ColumnCount <> width then invalidArg name $"batch must have {width} columns, got {x.ColumnCount}"

    /// Y K(θ).
    let apply (op: Operator) (theta: Matrix<float>) (y: Matrix<float>) : Matrix<float> =
        checkParameters op theta
        checkBatch (nameof y) (inWidth op) y
        let dst = zeros y.RowCount (outWidth op)
        applyInto false 1.0 op y.RowCount (storage theta) (storage y) (storage dst)
        dst

    /// V K(θ)ᵀ.
    let applyTranspose (op: Operator) (theta: Matrix<float>) (v: Matrix<float>) : Matrix<float> =
        checkParameters op theta
        checkBatch (nameof v) (outWidth op) v
        let dst = zeros v.RowCount (inWidth op)
        applyTransposeInto false 1.0 op v.RowCount (storage theta) (storage v) (storage dst)
        dst

    /// Y K'(θ)[δθ]: the derivative of θ ↦ Y K(θ) in direction δθ.
    let derivative (op: Operator) (theta: Matrix<float>) (y: Matrix<float>) (dTheta: Matrix<float>) : Matrix<float> =
        checkParameters op theta
        checkParameters op dTheta
        checkBatch (nameof y) (inWidth op) y
        let dst = zeros y.RowCount (outWidth op)
        derivativeInto false 1.0 op y.RowCount (storage theta) (storage y) (storage dTheta) (storage dst)
        dst

    /// ∂⟨Y K(θ), V⟩/∂θ, shaped like θ: the transpose of `derivative`.
    let derivativeTranspose (op: Operator) (theta: Matrix<float>) (y: Matrix<float>) (v: Matrix<float>) : Matrix<float> =
        checkParameters op theta
        checkBatch (nameof y) (inWidth op) y
        checkBatch (nameof v) (outWidth op) v
        if y.RowCount <> v.RowCount then invalidArg (nameof v) "Y and V must have the same number of rows"
        let r, c = parameterShape op
        let g = zeros r c
        derivativeTransposeInto false 1.0 op y.RowCount (storage theta) (storage y) (storage v) (storage g)
        g

    /// The explicit matrix K(θ) ∈ R^{in×out} (for analysis; costs `inWidth` applications).
    let matrix (op: Operator) (theta: Matrix<float>) : Matrix<float> =
        let n = inWidth op
        apply op theta (Matrix<float>.Build.DenseIdentity n)
