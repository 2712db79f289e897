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
[<OptimisedFromFirstCall>]
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

    // ---- direct 3×3 convolution over batch-contiguous columns --------------------------
    // Each pixel of each channel is a column of s examples. For a tile of two vectors of
    // examples (16 on Vector512, 8 on Vector256: `Kernels.useVector512` picks the width) the
    // kernel keeps 3 output channels × 2 vectors in registers and accumulates every input
    // channel and tap into them, so each input vector loaded feeds 3 FMAs and each output is
    // written once. The transpose is the same kernel on flipped, swapped weights. Rows past the
    // last whole tile (all rows on a machine without vector units) run a scalar loop.

    open System.Runtime.Intrinsics

    /// Output channels a tile accumulates at once.
    [<Literal>]
    let private Group = 3

    /// Weights packed for the direct kernel, [group][in channel][tap][Group], zero-padded to
    /// whole groups: K itself, or for the transpose K'[i][o][8 − tap] = K[o][i][tap].
    let private packConv (c: int) (transposed: bool) (theta: float[]) =
        let groups = (c + Group - 1) / Group
        let packed = Array.zeroCreate (groups * c * 9 * Group)
        for oc in 0 .. c - 1 do
            for ic in 0 .. c - 1 do
                for t in 0 .. 8 do
                    packed[(((oc / Group) * c + ic) * 9 + t) * Group + oc % Group] <-
                        if transposed then theta[(9 * oc + 8 - t) * c + ic] else theta[(9 * ic + t) * c + oc]
        packed

    /// Whether the direct kernels run on vectors: where 512-bit or 256-bit vectors are accelerated.
    let private vectorised = Vector512.IsHardwareAccelerated || Vector256.IsHardwareAccelerated

    /// Writes a tile's sums of output channel oc (the vectors lo, hi of its rows at `at`):
    /// dst ← (acc ? dst : 0) + α · sums; nothing for the zero padding past the last channel.
    let inline private putTile (w: ^W) acc (av: ^V) (c: int) (oc: int) (at: int) (lo: ^V) (hi: ^V) (dst: float[]) =
        if oc < c then
            let lanes = Simd.lanes w
            let lo = if acc then Simd.fma w av lo (Simd.load w dst at) else av * lo
            let hi = if acc then Simd.fma w av hi (Simd.load w dst (at + lanes)) else av * hi
            Simd.store w lo dst at
            Simd.store w hi dst (at + lanes)

    /// `directConv` on the vectors of the witness w.
    let inline private directConvWith (w: ^W) acc (alpha: float) (c: int) (h: int) (wd: int) (s: int) (k: float[]) (x: float[]) (dst: float[]) =
        let hw = h * wd
        let groups = (c + Group - 1) / Group
        let lanes = Simd.lanes w
        let tile = 2 * lanes
        let tiled = if vectorised then s / tile * tile else 0
        let av: ^V = Simd.splat w alpha
        for r in 0 .. h - 1 do
            let ulo, uhi = max -1 (-r), min 1 (h - 1 - r)
            for q in 0 .. wd - 1 do
                let vlo, vhi = max -1 (-q), min 1 (wd - 1 - q)
                let p = r * wd + q
                for g in 0 .. groups - 1 do
                    for row in 0 .. tile .. tiled - 1 do
                        let mutable a0: ^V = Simd.splat w 0.0
                        let mutable a1: ^V = a0
                        let mutable a2: ^V = a0
                        let mutable b0: ^V = a0
                        let mutable b1: ^V = a0
                        let mutable b2: ^V = a0
                        for ic in 0 .. c - 1 do
                            for u in ulo .. uhi do
                                for v in vlo .. vhi do
                                    let col = (ic * hw + p + u * wd + v) * s + row
                                    let x0: ^V = Simd.load w x col
                                    let x1: ^V = Simd.load w x (col + lanes)
                                    let kk = ((g * c + ic) * 9 + 3 * (u + 1) + v + 1) * Group
                                    let k0: ^V = Simd.splat w k[kk]
                                    let k1: ^V = Simd.splat w k[kk + 1]
                                    let k2: ^V = Simd.splat w k[kk + 2]
                                    a0 <- Simd.fma w x0 k0 a0
                                    b0 <- Simd.fma w x1 k0 b0
                                    a1 <- Simd.fma w x0 k1 a1
                                    b1 <- Simd.fma w x1 k1 b1
                                    a2 <- Simd.fma w x0 k2 a2
                                    b2 <- Simd.fma w x1 k2 b2
                        let oc = g * Group
                        putTile w acc av c oc ((oc * hw + p) * s + row) a0 b0 dst
                        putTile w acc av c (oc + 1) (((oc + 1) * hw + p) * s + row) a1 b1 dst
                        putTile w acc av c (oc + 2) (((oc + 2) * hw + p) * s + row) a2 b2 dst
                    for row in tiled .. s - 1 do
                        for gi in 0 .. Group - 1 do
                            let oc = g * Group + gi
                            if oc < c then
                                let mutable sum = 0.0
                                for ic in 0 .. c - 1 do
                                    for u in ulo .. uhi do
                                        for v in vlo .. vhi do
                                            sum <- sum + k[((g * c + ic) * 9 + 3 * (u + 1) + v + 1) * Group + gi] * x[(ic * hw + p + u * wd + v) * s + row]
                                let at = (oc * hw + p) * s + row
                                dst[at] <- (if acc then dst[at] else 0.0) + alpha * sum

    /// dst ← (acc ? dst : 0) + α · the convolution of x with packed weights k (c channels, h×wd).
    let private directConv acc (alpha: float) (c: int) (h: int) (wd: int) (s: int) (k: float[]) (x: float[]) (dst: float[]) =
        if useVector512 then directConvWith (Vec512()) acc alpha c h wd s k x dst
        else directConvWith (Vec256()) acc alpha c h wd s k x dst

    /// `directConvGradient` on the vectors of the witness w.
    let inline private directConvGradientWith (w: ^W) acc (alpha: float) (c: int) (h: int) (wd: int) (s: int) (x: float[]) (v: float[]) (g: float[]) =
        let hw = h * wd
        let lanes = Simd.lanes w
        let chunked = if vectorised then s / lanes * lanes else 0
        let sums = Array.zeroCreate (c * c * 9 * lanes)
        let vs = Array.zeroCreate (c * lanes)
        let total = Array.zeroCreate (c * c * 9)
        for r in 0 .. h - 1 do
            let ulo, uhi = max -1 (-r), min 1 (h - 1 - r)
            for q in 0 .. wd - 1 do
                let vlo, vhi = max -1 (-q), min 1 (wd - 1 - q)
                let p = r * wd + q
                for row in 0 .. lanes .. chunked - 1 do
                    for o in 0 .. c - 1 do
                        Simd.store w (Simd.load w v ((o * hw + p) * s + row) : ^V) vs (o * lanes)
                    for ic in 0 .. c - 1 do
                        for u in ulo .. uhi do
                            for dv in vlo .. vhi do
                                let xv: ^V = Simd.load w x ((ic * hw + p + u * wd + dv) * s + row)
                                let e = (9 * ic + 3 * (u + 1) + dv + 1) * c
                                for o in 0 .. c - 1 do
                                    let at = (e + o) * lanes
                                    Simd.store w (Simd.fma w xv (Simd.load w vs (o * lanes)) (Simd.load w sums at) : ^V) sums at
                for row in chunked .. s - 1 do
                    for ic in 0 .. c - 1 do
                        for u in ulo .. uhi do
                            for dv in vlo .. vhi do
                                let xv = x[(ic * hw + p + u * wd + dv) * s + row]
                                let e = (9 * ic + 3 * (u + 1) + dv + 1) * c
                                for o in 0 .. c - 1 do
                                    total[e + o] <- total[e + o] + xv * v[(o * hw + p) * s + row]
        for e in 0 .. total.Length - 1 do
            let sum = total[e] + Simd.sum w (Simd.load w sums (e * lanes) : ^V)
            g[e] <- (if acc then g[e] else 0.0) + alpha * sum

    /// g ← (acc ? g : 0) + α · ∂⟨X B(θ), V⟩/∂θ for the convolution B: g[o, i, tap] =
    /// Σ_pixels Σ_examples x[i, pixel + tap] v[o, pixel]. One vector of examples at a time, the
    /// c·c·9 sums kept lane-wise in an L1-sized buffer and reduced at the end; a scalar loop
    /// for the rows past the last whole vector.
    let private directConvGradient acc (alpha: float) (c: int) (h: int) (wd: int) (s: int) (x: float[]) (v: float[]) (g: float[]) =
        if useVector512 then directConvGradientWith (Vec512()) acc alpha c h wd s x v g
        else directConvGradientWith (Vec256()) acc alpha c h wd s x v g

    /// dst ← (acc ? dst : 0) + α · X B(θ) for a base operator B (a convolution by the direct
    /// kernel when `direct`, else tap by tap over whole columns).
    let private baseApply direct acc alpha (op: Operator) (s: int) (theta: float[]) (x: float[]) (dst: float[]) =
        match op with
        | Dense(n, m) -> mulAdd acc alpha s n m x theta dst
        | Conv3x3(c, h, w) when direct -> directConv acc alpha c h w s (packConv c false theta) x dst
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

    /// dst ← (acc ? dst : 0) + α · V B(θ)ᵀ for a base operator B (direct kernel as in `baseApply`).
    let private baseApplyTranspose direct acc alpha (op: Operator) (s: int) (theta: float[]) (v: float[]) (dst: float[]) =
        match op with
        | Dense(n, m) -> mulTransposeAdd acc alpha s n m v theta dst
        | Conv3x3(c, h, w) when direct -> directConv acc alpha c h w s (packConv c true theta) v dst
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

    /// g ← (acc ? g : 0) + α · ∂⟨X B(θ), V⟩/∂θ for a base operator B (direct kernel as in `baseApply`).
    let private baseDerivativeTranspose direct acc alpha (op: Operator) (s: int) (x: float[]) (v: float[]) (g: float[]) =
        match op with
        | Dense(n, m) -> transposeMulAdd acc alpha s n m x v g
        | Conv3x3(c, h, w) when direct -> directConvGradient acc alpha c h w s x v g
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
    let private applyIntoWith direct acc alpha (op: Operator) (s: int) (theta: float[]) (x: float[]) (dst: float[]) =
        match op with
        | Dense _ | Conv3x3 _ -> baseApply direct acc alpha op s theta x dst
        | Antisymmetric(b, gamma) ->
            baseApply direct acc (0.5 * alpha) b s theta x dst
            baseApplyTranspose direct true (-0.5 * alpha) b s theta x dst
            if gamma <> 0.0 then axpy (-0.5 * alpha * gamma) x dst
        | NegativeSemidefinite b ->
            let t = Array.zeroCreate (s * outWidth b)
            baseApply direct false 1.0 b s theta x t
            baseApplyTranspose direct acc (-alpha) b s theta t dst

    /// dst ← (acc ? dst : 0) + α · V K(θ)ᵀ.
    let private applyTransposeIntoWith direct acc alpha (op: Operator) (s: int) (theta: float[]) (v: float[]) (dst: float[]) =
        match op with
        | Dense _ | Conv3x3 _ -> baseApplyTranspose direct acc alpha op s theta v dst
        | Antisymmetric(b, gamma) ->
            baseApplyTranspose direct acc (0.5 * alpha) b s theta v dst
            baseApply direct true (-0.5 * alpha) b s theta v dst
            if gamma <> 0.0 then axpy (-0.5 * alpha * gamma) v dst
        | NegativeSemidefinite _ -> applyIntoWith direct acc alpha op s theta v dst

    /// dst ← (acc ? dst : 0) + α · X K'(θ)[δθ], the derivative of θ ↦ X K(θ) in direction δθ.
    let private derivativeIntoWith direct acc alpha (op: Operator) (s: int) (theta: float[]) (x: float[]) (dTheta: float[]) (dst: float[]) =
        match op with
        | Dense _ | Conv3x3 _ -> baseApply direct acc alpha op s dTheta x dst
        | Antisymmetric(b, _) ->
            baseApply direct acc (0.5 * alpha) b s dTheta x dst
            baseApplyTranspose direct true (-0.5 * alpha) b s dTheta x dst
        | NegativeSemidefinite b ->
            let r = outWidth b
            let t = Array.zeroCreate (s * r)
            baseApply direct false 1.0 b s dTheta x t
            baseApplyTranspose direct acc (-alpha) b s theta t dst
            baseApply direct false 1.0 b s theta x t
            baseApplyTranspose direct true (-alpha) b s dTheta t dst

    /// dst ← (acc ? dst : 0) + α · the derivative of θ ↦ Z K(θ)ᵀ in direction δθ.
    let private transposeDerivativeIntoWith direct acc alpha (op: Operator) (s: int) (theta: float[]) (z: float[]) (dTheta: float[]) (dst: float[]) =
        match op with
        | Dense _ | Conv3x3 _ -> baseApplyTranspose direct acc alpha op s dTheta z dst
        | Antisymmetric(b, _) ->
            baseApplyTranspose direct acc (0.5 * alpha) b s dTheta z dst
            baseApply direct true (-0.5 * alpha) b s dTheta z dst
        | NegativeSemidefinite _ -> derivativeIntoWith direct acc alpha op s theta z dTheta dst

    /// g ← (acc ? g : 0) + α · ∂⟨X K(θ), V⟩/∂θ. (For the transpose, ⟨Z K(θ)ᵀ, V⟩ = ⟨V K(θ), Z⟩.)
    let private derivativeTransposeIntoWith direct acc alpha (op: Operator) (s: int) (theta: float[]) (x: float[]) (v: float[]) (g: float[]) =
        match op with
        | Dense _ | Conv3x3 _ -> baseDerivativeTranspose direct acc alpha op s x v g
        | Antisymmetric(b, _) ->
            baseDerivativeTranspose direct acc (0.5 * alpha) b s x v g
            baseDerivativeTranspose direct true (-0.5 * alpha) b s v x g
        | NegativeSemidefinite b ->
            let r = outWidth b
            let vb = Array.zeroCreate (s * r)
            let xb = Array.zeroCreate (s * r)
            baseApply direct false 1.0 b s theta v vb
            baseApply direct false 1.0 b s theta x xb
            baseDerivativeTranspose direct acc (-alpha) b s x vb g
            baseDerivativeTranspose direct true (-alpha) b s v xb g

    /// dst ← (acc ? dst : 0) + α · X K(θ).
    let applyInto acc alpha op s theta x dst = applyIntoWith false acc alpha op s theta x dst

    /// dst ← (acc ? dst : 0) + α · V K(θ)ᵀ.
    let applyTransposeInto acc alpha op s theta v dst = applyTransposeIntoWith false acc alpha op s theta v dst

    /// dst ← (acc ? dst : 0) + α · X K'(θ)[δθ], the derivative of θ ↦ X K(θ) in direction δθ.
    let derivativeInto acc alpha op s theta x dTheta dst = derivativeIntoWith false acc alpha op s theta x dTheta dst

    /// dst ← (acc ? dst : 0) + α · the derivative of θ ↦ Z K(θ)ᵀ in direction δθ.
    let transposeDerivativeInto acc alpha op s theta z dTheta dst = transposeDerivativeIntoWith false acc alpha op s theta z dTheta dst

    /// g ← (acc ? g : 0) + α · ∂⟨X K(θ), V⟩/∂θ. (For the transpose, ⟨Z K(θ)ᵀ, V⟩ = ⟨V K(θ), Z⟩.)
    let derivativeTransposeInto acc alpha op s theta x v g = derivativeTransposeIntoWith false acc alpha op s theta x v g

    /// `applyInto` for the fast solves: convolutions by the direct kernel (the same sums in
    /// another order: equal to round-off).
    let fastApplyInto acc alpha op s theta x dst = applyIntoWith true acc alpha op s theta x dst

    /// `applyTransposeInto` for the fast solves (direct convolution kernel).
    let fastApplyTransposeInto acc alpha op s theta v dst = applyTransposeIntoWith true acc alpha op s theta v dst

    /// `derivativeInto` for the fast solves (direct convolution kernel).
    let fastDerivativeInto acc alpha op s theta x dTheta dst = derivativeIntoWith true acc alpha op s theta x dTheta dst

    /// `derivativeTransposeInto` for the fast solves (direct convolution kernel).
    let fastDerivativeTransposeInto acc alpha op s theta x v g = derivativeTransposeIntoWith true acc alpha op s theta x v g

    /// `transposeDerivativeInto` for the fast solves (direct convolution kernel).
    let fastTransposeDerivativeInto acc alpha op s theta z dTheta dst = transposeDerivativeIntoWith true acc alpha op s theta z dTheta dst

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
