/// Fused kernels for dense layers on one block of examples (AVX-512): each step of a propagator,
/// its linearisation (sensitivity), its exact inverse and its adjoint in a single pass over the block, eight examples (one
/// Vector512 per feature) at a time. For those eight rows the kernel loads the features, forms
/// the small products Y K with the bias, evaluates σ and σ', and applies the update before it
/// moves on, so every intermediate stays in registers or in a few hundred bytes of scratch.
/// Parameter gradients are summed lane-wise in vector accumulators over the block and reduced
/// once per layer.
///
/// Layout: a block's arrays are column-major with a row count `R` that is a multiple of 8; the
/// rows past the block's examples are padding that the solves never read back. K is the dense
/// n×m matrix of the layer (column-major, K[i, o] = k[o·n + i]); `Engine` passes the effective
/// matrix of an antisymmetric or negative-semidefinite parametrisation and pulls the gradient
/// back to θ itself.
module StableOde.Core.Fused

open System.Runtime.CompilerServices
open System.Runtime.InteropServices
open System.Runtime.Intrinsics

/// Lanes of a Vector512<float>: the row granularity of every kernel here.
[<Literal>]
let Lanes = 8

/// Whether the fused kernels run on this machine (AVX-512, or another 512-bit vector unit).
let available = Vector512.IsHardwareAccelerated

/// Per-block scratch of the fused kernels: one vector per feature for the intermediate values
/// of the current eight rows, and the lane-wise gradient accumulators of the current layer.
type Scratch =
    { /// Intermediate values of width max(n, m), Lanes entries each.
      T: float[]
      /// Second intermediate of width max(n, m).
      V: float[]
      /// ∂/∂K[i, o] partial sums, lanes of entry (o·n + i) at (o·n + i)·Lanes.
      GK: float[]
      /// Partial sums of the gradient of the bias added to the n-wide side.
      GN: float[]
      /// Partial sums of the gradient of the bias added to the m-wide side.
      GM: float[]
      /// The bias of the n-wide side, one vector per feature.
      BN: float[]
      /// The bias of the m-wide side, one vector per feature.
      BM: float[]
      /// The direction δb of the n-wide side's bias (sensitivity), one vector per feature.
      DN: float[]
      /// The direction of the m-wide side's bias (sensitivity), one vector per feature.
      DM: float[] }

/// Scratch for widths n and m.
let scratch (n: int) (m: int) : Scratch =
    let w = max n m
    { T = Array.zeroCreate (w * Lanes); V = Array.zeroCreate (w * Lanes)
      GK = Array.zeroCreate (n * m * Lanes); GN = Array.zeroCreate (n * Lanes); GM = Array.zeroCreate (m * Lanes)
      BN = Array.zeroCreate (n * Lanes); BM = Array.zeroCreate (m * Lanes)
      DN = Array.zeroCreate (n * Lanes); DM = Array.zeroCreate (m * Lanes) }

// Unchecked element access: every index below lies inside its array by construction (rows is a
// multiple of Lanes and each array holds rows·width entries), and the tests cover every kernel.
let inline private elem (a: float[]) (i: int) : byref<float> = &Unsafe.Add(&MemoryMarshal.GetArrayDataReference a, i)
let inline private load (a: float[]) (i: int) = Vector512.LoadUnsafe(&elem a i)
let inline private store (v: Vector512<float>) (a: float[]) (i: int) = v.StoreUnsafe(&elem a i)
let inline private splat (x: float) = Vector512.Create x
let inline private fma (a: Vector512<float>) (b: Vector512<float>) (c: Vector512<float>) = Vector512.FusedMultiplyAdd(a, b, c)

/// σ and σ' on eight lanes, one function per activation; kernels take it as an inlined lambda
/// so that each activation gets its own specialised loop.
type private Sigma = Vector512<float> -> struct (Vector512<float> * Vector512<float>)

/// relu and its derivative (1 for x > 0, else 0) on eight lanes.
let inline relu (x: Vector512<float>) =
    let positive = Vector512.GreaterThan(x, Vector512<float>.Zero)
    struct (Vector512.ConditionalSelect(positive, x, Vector512<float>.Zero), Vector512.ConditionalSelect(positive, Vector512<float>.One, Vector512<float>.Zero))

/// The identity and its derivative 1 on eight lanes.
let inline identity (x: Vector512<float>) = struct (x, Vector512<float>.One)

/// dst ← the bias of each feature of a side of width w, one vector each (a bias of length |b|
/// is tied over groups of w / |b| consecutive features).
let private splatBias (b: float[]) (w: int) (dst: float[]) =
    for f in 0 .. w - 1 do
        store (splat b[f / (w / b.Length)]) dst (f * Lanes)

/// Σ_i x_i K[i, o] + bias_o for the eight rows at r: the Direct side (x of width n).
let inline private direct (x: float[]) (rows: int) (r: int) (n: int) (k: float[]) (o: int) (b0: Vector512<float>) =
    let mutable acc = b0
    for i in 0 .. n - 1 do
        acc <- fma (load x (i * rows + r)) (splat (elem k (o * n + i))) acc
    acc

/// Σ_o z_o K[i, o] + bias_i for the eight rows at r: the Transposed side (z of width m).
let inline private transposed (z: float[]) (rows: int) (r: int) (n: int) (m: int) (k: float[]) (i: int) (b0: Vector512<float>) =
    let mutable acc = b0
    for o in 0 .. m - 1 do
        acc <- fma (load z (o * rows + r)) (splat (elem k (o * n + i))) acc
    acc

/// Adds the lane sums of the accumulators into the layer's gradient (gK as the n×m gradient
/// of the effective matrix, gbN and gbM grouped like the biases; either may be empty) and
/// clears them.
let reduce (sc: Scratch) (n: int) (m: int) (gK: float[]) (gbN: float[]) (gbM: float[]) =
    for e in 0 .. n * m - 1 do
        gK[e] <- gK[e] + Vector512.Sum(load sc.GK (e * Lanes))
    if gbN.Length > 0 then
        for f in 0 .. n - 1 do
            let g = f / (n / gbN.Length)
            gbN[g] <- gbN[g] + Vector512.Sum(load sc.GN (f * Lanes))
    if gbM.Length > 0 then
        for f in 0 .. m - 1 do
            let g = f / (m / gbM.Length)
            gbM[g] <- gbM[g] + Vector512.Sum(load sc.GM (f * Lanes))
    System.Array.Clear sc.GK
    System.Array.Clear sc.GN
    System.Array.Clear sc.GM

// ---- forward Euler (ResNet and antisymmetric ResNet), K n×n ------------------------------

let inline private resnetStepWith ([<InlineIfLambda>] activate: Sigma) (sc: Scratch) (rows: int) (n: int) (h: float) (k: float[]) (b: float[]) (y: float[]) =
    splatBias b n sc.BN
    let hv = splat h
    for r in 0 .. Lanes .. rows - 1 do
        for o in 0 .. n - 1 do
            let struct (t, _) = activate (direct y rows r n k o (load sc.BN (o * Lanes)))
            store t sc.T (o * Lanes)
        for i in 0 .. n - 1 do
            store (fma hv (load sc.T (i * Lanes)) (load y (i * rows + r))) y (i * rows + r)

/// Y ← Y + h σ(Y K + 1bᵀ).
let resnetStep (act: Activation) (sc: Scratch) (rows: int) (n: int) (h: float) (k: float[]) (b: float[]) (y: float[]) =
    match act with
    | Tanh -> resnetStepWith (Kernels.tanhWithDerivative (Kernels.Vec512())) sc rows n h k b y
    | Relu -> resnetStepWith relu sc rows n h k b y
    | Identity -> resnetStepWith identity sc rows n h k b y

let inline private resnetSensitivityWith ([<InlineIfLambda>] activate: Sigma) (sc: Scratch) (rows: int) (n: int) (h: float) (k: float[]) (b: float[]) (dk: float[]) (db: float[]) (y: float[]) (dy: float[]) =
    splatBias b n sc.BN
    splatBias db n sc.DN
    let hv = splat h
    for r in 0 .. Lanes .. rows - 1 do
        for o in 0 .. n - 1 do
            let struct (t, d) = activate (direct y rows r n k o (load sc.BN (o * Lanes)))
            let da = direct dy rows r n k o (direct y rows r n dk o (load sc.DN (o * Lanes)))
            store t sc.T (o * Lanes)
            store (d * da) sc.V (o * Lanes)
        for i in 0 .. n - 1 do
            let at = i * rows + r
            store (fma hv (load sc.T (i * Lanes)) (load y at)) y at
            store (fma hv (load sc.V (i * Lanes)) (load dy at)) dy at

/// The linearisation of `resnetStep` in direction (δK, δb) run alongside it: with a = Y K + 1bᵀ,
/// δY ← δY + h σ'(a) ⊙ (δY K + Y δK + 1δbᵀ), then Y ← Y + h σ(a).
let resnetSensitivity (act: Activation) (sc: Scratch) (rows: int) (n: int) (h: float) (k: float[]) (b: float[]) (dk: float[]) (db: float[]) (y: float[]) (dy: float[]) =
    match act with
    | Tanh -> resnetSensitivityWith (Kernels.tanhWithDerivative (Kernels.Vec512())) sc rows n h k b dk db y dy
    | Relu -> resnetSensitivityWith relu sc rows n h k b dk db y dy
    | Identity -> resnetSensitivityWith identity sc rows n h k b dk db y dy

let inline private resnetAdjointWith ([<InlineIfLambda>] activate: Sigma) (sc: Scratch) (rows: int) (n: int) (h: float) (k: float[]) (b: float[]) (y: float[]) (yBar: float[]) =
    splatBias b n sc.BN
    let hv = splat h
    for r in 0 .. Lanes .. rows - 1 do
        for o in 0 .. n - 1 do
            let struct (_, d) = activate (direct y rows r n k o (load sc.BN (o * Lanes)))
            let w = hv * d * load yBar (o * rows + r)
            store w sc.T (o * Lanes)
            store (load sc.GN (o * Lanes) + w) sc.GN (o * Lanes)
        for i in 0 .. n - 1 do
            let yi = load y (i * rows + r)
            let mutable acc = load yBar (i * rows + r)
            for o in 0 .. n - 1 do
                let w = load sc.T (o * Lanes)
                acc <- fma w (splat (elem k (o * n + i))) acc
                let e = (o * n + i) * Lanes
                store (fma yi w (load sc.GK e)) sc.GK e
            store acc yBar (i * rows + r)

/// The adjoint of `resnetStep` at Y_j: with w = h σ'(a) ⊙ Ȳ, a = Y_j K + 1bᵀ:
/// Ȳ ← Ȳ + w Kᵀ, and Y_jᵀ w, colsum w accumulated in the scratch.
let resnetAdjoint (act: Activation) (sc: Scratch) (rows: int) (n: int) (h: float) (k: float[]) (b: float[]) (y: float[]) (yBar: float[]) =
    match act with
    | Tanh -> resnetAdjointWith (Kernels.tanhWithDerivative (Kernels.Vec512())) sc rows n h k b y yBar
    | Relu -> resnetAdjointWith relu sc rows n h k b y yBar
    | Identity -> resnetAdjointWith identity sc rows n h k b y yBar

// ---- leapfrog, K n×n, with ω = ½ on the first step ---------------------------------------

let inline private leapfrogStepWith ([<InlineIfLambda>] activate: Sigma) (sc: Scratch) (rows: int) (n: int) (h: float) (omega: float) (k: float[]) (b: float[]) (y: float[]) (z: float[]) =
    splatBias b n sc.BN
    let hv, wh = splat h, splat (omega * h)
    for r in 0 .. Lanes .. rows - 1 do
        for o in 0 .. n - 1 do
            let struct (t, _) = activate (direct y rows r n k o (load sc.BN (o * Lanes)))
            store (fma wh t (load z (o * rows + r))) z (o * rows + r)
        for i in 0 .. n - 1 do
            store (fma hv (load z (i * rows + r)) (load y (i * rows + r))) y (i * rows + r)

/// Z ← Z + ωh σ(Y K + 1bᵀ);  Y ← Y + h Z.
let leapfrogStep (act: Activation) (sc: Scratch) (rows: int) (n: int) (h: float) (omega: float) (k: float[]) (b: float[]) (y: float[]) (z: float[]) =
    match act with
    | Tanh -> leapfrogStepWith (Kernels.tanhWithDerivative (Kernels.Vec512())) sc rows n h omega k b y z
    | Relu -> leapfrogStepWith relu sc rows n h omega k b y z
    | Identity -> leapfrogStepWith identity sc rows n h omega k b y z

let inline private leapfrogSensitivityWith ([<InlineIfLambda>] activate: Sigma) (sc: Scratch) (rows: int) (n: int) (h: float) (omega: float) (k: float[]) (b: float[]) (dk: float[]) (db: float[]) (y: float[]) (z: float[]) (dy: float[]) (dz: float[]) =
    splatBias b n sc.BN
    splatBias db n sc.DN
    let hv, wh = splat h, splat (omega * h)
    for r in 0 .. Lanes .. rows - 1 do
        for o in 0 .. n - 1 do
            let struct (t, d) = activate (direct y rows r n k o (load sc.BN (o * Lanes)))
            let da = direct dy rows r n k o (direct y rows r n dk o (load sc.DN (o * Lanes)))
            store t sc.T (o * Lanes)
            store (d * da) sc.V (o * Lanes)
        for i in 0 .. n - 1 do
            let at = i * rows + r
            let zi = fma wh (load sc.T (i * Lanes)) (load z at)
            let dzi = fma wh (load sc.V (i * Lanes)) (load dz at)
            store zi z at
            store dzi dz at
            store (fma hv zi (load y at)) y at
            store (fma hv dzi (load dy at)) dy at

/// The linearisation of `leapfrogStep` in direction (δK, δb) run alongside it: with
/// a = Y K + 1bᵀ, δZ ← δZ + ωh σ'(a) ⊙ (δY K + Y δK + 1δbᵀ), δY ← δY + h δZ, then the step.
let leapfrogSensitivity (act: Activation) (sc: Scratch) (rows: int) (n: int) (h: float) (omega: float) (k: float[]) (b: float[]) (dk: float[]) (db: float[]) (y: float[]) (z: float[]) (dy: float[]) (dz: float[]) =
    match act with
    | Tanh -> leapfrogSensitivityWith (Kernels.tanhWithDerivative (Kernels.Vec512())) sc rows n h omega k b dk db y z dy dz
    | Relu -> leapfrogSensitivityWith relu sc rows n h omega k b dk db y z dy dz
    | Identity -> leapfrogSensitivityWith identity sc rows n h omega k b dk db y z dy dz

let inline private leapfrogReverseWith ([<InlineIfLambda>] activate: Sigma) (sc: Scratch) (rows: int) (n: int) (h: float) (omega: float) (k: float[]) (b: float[]) (y: float[]) (z: float[]) =
    splatBias b n sc.BN
    let hv, wh = splat h, splat (omega * h)
    for r in 0 .. Lanes .. rows - 1 do
        for i in 0 .. n - 1 do
            store (fma -hv (load z (i * rows + r)) (load y (i * rows + r))) y (i * rows + r)
        for o in 0 .. n - 1 do
            let struct (t, _) = activate (direct y rows r n k o (load sc.BN (o * Lanes)))
            store t sc.T (o * Lanes)
        for o in 0 .. n - 1 do
            store (fma -wh (load sc.T (o * Lanes)) (load z (o * rows + r))) z (o * rows + r)

/// The exact inverse of `leapfrogStep`: Y ← Y − h Z;  Z ← Z − ωh σ(Y K + 1bᵀ).
let leapfrogReverse (act: Activation) (sc: Scratch) (rows: int) (n: int) (h: float) (omega: float) (k: float[]) (b: float[]) (y: float[]) (z: float[]) =
    match act with
    | Tanh -> leapfrogReverseWith (Kernels.tanhWithDerivative (Kernels.Vec512())) sc rows n h omega k b y z
    | Relu -> leapfrogReverseWith relu sc rows n h omega k b y z
    | Identity -> leapfrogReverseWith identity sc rows n h omega k b y z

let inline private leapfrogAdjointWith ([<InlineIfLambda>] activate: Sigma) (sc: Scratch) (reversing: bool) (rows: int) (n: int) (h: float) (omega: float) (k: float[]) (b: float[]) (y: float[]) (z: float[]) (yBar: float[]) (zBar: float[]) =
    splatBias b n sc.BN
    let hv, wh = splat h, splat (omega * h)
    for r in 0 .. Lanes .. rows - 1 do
        for i in 0 .. n - 1 do
            let at = i * rows + r
            if reversing then store (fma -hv (load z at) (load y at)) y at
            store (fma hv (load yBar at) (load zBar at)) zBar at
        for o in 0 .. n - 1 do
            let struct (t, d) = activate (direct y rows r n k o (load sc.BN (o * Lanes)))
            store t sc.V (o * Lanes)
            let w = wh * d * load zBar (o * rows + r)
            store w sc.T (o * Lanes)
            store (load sc.GN (o * Lanes) + w) sc.GN (o * Lanes)
        if reversing then
            for o in 0 .. n - 1 do
                store (fma -wh (load sc.V (o * Lanes)) (load z (o * rows + r))) z (o * rows + r)
        for i in 0 .. n - 1 do
            let yi = load y (i * rows + r)
            let mutable acc = load yBar (i * rows + r)
            for o in 0 .. n - 1 do
                let w = load sc.T (o * Lanes)
                acc <- fma w (splat (elem k (o * n + i))) acc
                let e = (o * n + i) * Lanes
                store (fma yi w (load sc.GK e)) sc.GK e
            store acc yBar (i * rows + r)

/// The adjoint of leapfrog step j, optionally fused with its inverse. Without `reversing`, y
/// holds Y_j; with it, (y, z) hold (Y_{j+1}, Z_{j+½}) and become (Y_j, Z_{j−½}). Then
/// Z̄ ← Z̄ + h Ȳ, w = ωh σ'(a) ⊙ Z̄ with a = Y_j K + 1bᵀ, Ȳ ← Ȳ + w Kᵀ, and Y_jᵀ w, colsum w
/// accumulated in the scratch.
let leapfrogAdjoint (act: Activation) (sc: Scratch) (reversing: bool) (rows: int) (n: int) (h: float) (omega: float) (k: float[]) (b: float[]) (y: float[]) (z: float[]) (yBar: float[]) (zBar: float[]) =
    match act with
    | Tanh -> leapfrogAdjointWith (Kernels.tanhWithDerivative (Kernels.Vec512())) sc reversing rows n h omega k b y z yBar zBar
    | Relu -> leapfrogAdjointWith relu sc reversing rows n h omega k b y z yBar zBar
    | Identity -> leapfrogAdjointWith identity sc reversing rows n h omega k b y z yBar zBar

// ---- Verlet, K n×m: Z ← Z − h σ(Y K + 1cᵀ), Y ← Y + h σ(Z Kᵀ + 1bᵀ) ------------------------

let inline private verletStepWith ([<InlineIfLambda>] activate: Sigma) (sc: Scratch) (rows: int) (n: int) (m: int) (h: float) (k: float[]) (b: float[]) (c: float[]) (y: float[]) (z: float[]) =
    splatBias b n sc.BN
    splatBias c m sc.BM
    let hv = splat h
    for r in 0 .. Lanes .. rows - 1 do
        for o in 0 .. m - 1 do
            let struct (t, _) = activate (direct y rows r n k o (load sc.BM (o * Lanes)))
            store (fma -hv t (load z (o * rows + r))) z (o * rows + r)
        for i in 0 .. n - 1 do
            let struct (t, _) = activate (transposed z rows r n m k i (load sc.BN (i * Lanes)))
            store (fma hv t (load y (i * rows + r))) y (i * rows + r)

/// One Verlet step: (Y_j, Z_{j−½}) ← (Y_{j+1}, Z_{j+½}).
let verletStep (act: Activation) (sc: Scratch) (rows: int) (n: int) (m: int) (h: float) (k: float[]) (b: float[]) (c: float[]) (y: float[]) (z: float[]) =
    match act with
    | Tanh -> verletStepWith (Kernels.tanhWithDerivative (Kernels.Vec512())) sc rows n m h k b c y z
    | Relu -> verletStepWith relu sc rows n m h k b c y z
    | Identity -> verletStepWith identity sc rows n m h k b c y z

let inline private verletSensitivityWith ([<InlineIfLambda>] activate: Sigma) (sc: Scratch) (rows: int) (n: int) (m: int) (h: float) (k: float[]) (b: float[]) (c: float[]) (dk: float[]) (db: float[]) (dc: float[]) (y: float[]) (z: float[]) (dy: float[]) (dz: float[]) =
    splatBias b n sc.BN
    splatBias c m sc.BM
    splatBias db n sc.DN
    splatBias dc m sc.DM
    let hv = splat h
    for r in 0 .. Lanes .. rows - 1 do
        for o in 0 .. m - 1 do
            let at = o * rows + r
            let struct (t, d) = activate (direct y rows r n k o (load sc.BM (o * Lanes)))
            let de = direct dy rows r n k o (direct y rows r n dk o (load sc.DM (o * Lanes)))
            store (fma -hv t (load z at)) z at
            store (fma -hv (d * de) (load dz at)) dz at
        for i in 0 .. n - 1 do
            let at = i * rows + r
            let struct (t, d) = activate (transposed z rows r n m k i (load sc.BN (i * Lanes)))
            let da = transposed dz rows r n m k i (transposed z rows r n m dk i (load sc.DN (i * Lanes)))
            store (fma hv t (load y at)) y at
            store (fma hv (d * da) (load dy at)) dy at

/// The linearisation of `verletStep` in direction (δK, δb, δc) run alongside it: with
/// e = Y_j K + 1cᵀ, δZ ← δZ − h σ'(e) ⊙ (δY K + Y_j δK + 1δcᵀ) and Z ← Z − h σ(e); then with
/// a = Z_{j+½} Kᵀ + 1bᵀ, δY ← δY + h σ'(a) ⊙ (δZ Kᵀ + Z_{j+½} δKᵀ + 1δbᵀ) and Y ← Y + h σ(a).
let verletSensitivity (act: Activation) (sc: Scratch) (rows: int) (n: int) (m: int) (h: float) (k: float[]) (b: float[]) (c: float[]) (dk: float[]) (db: float[]) (dc: float[]) (y: float[]) (z: float[]) (dy: float[]) (dz: float[]) =
    match act with
    | Tanh -> verletSensitivityWith (Kernels.tanhWithDerivative (Kernels.Vec512())) sc rows n m h k b c dk db dc y z dy dz
    | Relu -> verletSensitivityWith relu sc rows n m h k b c dk db dc y z dy dz
    | Identity -> verletSensitivityWith identity sc rows n m h k b c dk db dc y z dy dz

let inline private verletReverseWith ([<InlineIfLambda>] activate: Sigma) (sc: Scratch) (rows: int) (n: int) (m: int) (h: float) (k: float[]) (b: float[]) (c: float[]) (y: float[]) (z: float[]) =
    splatBias b n sc.BN
    splatBias c m sc.BM
    let hv = splat h
    for r in 0 .. Lanes .. rows - 1 do
        for i in 0 .. n - 1 do
            let struct (t, _) = activate (transposed z rows r n m k i (load sc.BN (i * Lanes)))
            store t sc.T (i * Lanes)
        for i in 0 .. n - 1 do
            store (fma -hv (load sc.T (i * Lanes)) (load y (i * rows + r))) y (i * rows + r)
        for o in 0 .. m - 1 do
            let struct (t, _) = activate (direct y rows r n k o (load sc.BM (o * Lanes)))
            store (fma hv t (load z (o * rows + r))) z (o * rows + r)

/// The exact inverse of `verletStep`: Y ← Y − h σ(Z Kᵀ + 1bᵀ);  Z ← Z + h σ(Y K + 1cᵀ).
let verletReverse (act: Activation) (sc: Scratch) (rows: int) (n: int) (m: int) (h: float) (k: float[]) (b: float[]) (c: float[]) (y: float[]) (z: float[]) =
    match act with
    | Tanh -> verletReverseWith (Kernels.tanhWithDerivative (Kernels.Vec512())) sc rows n m h k b c y z
    | Relu -> verletReverseWith relu sc rows n m h k b c y z
    | Identity -> verletReverseWith identity sc rows n m h k b c y z

let inline private verletAdjointWith ([<InlineIfLambda>] activate: Sigma) (sc: Scratch) (reversing: bool) (rows: int) (n: int) (m: int) (h: float) (k: float[]) (b: float[]) (c: float[]) (y: float[]) (z: float[]) (yBar: float[]) (zBar: float[]) =
    splatBias b n sc.BN
    splatBias c m sc.BM
    let hv = splat h
    for r in 0 .. Lanes .. rows - 1 do
        for i in 0 .. n - 1 do
            let at = i * rows + r
            let struct (t, d) = activate (transposed z rows r n m k i (load sc.BN (i * Lanes)))
            if reversing then store (fma -hv t (load y at)) y at
            let w = hv * d * load yBar at
            store w sc.T (i * Lanes)
            store (load sc.GN (i * Lanes) + w) sc.GN (i * Lanes)
        for o in 0 .. m - 1 do
            let at = o * rows + r
            let zo = load z at
            let mutable acc = load zBar at
            for i in 0 .. n - 1 do
                let w = load sc.T (i * Lanes)
                acc <- fma w (splat (elem k (o * n + i))) acc
                let e = (o * n + i) * Lanes
                store (fma w zo (load sc.GK e)) sc.GK e
            store acc zBar at
        for o in 0 .. m - 1 do
            let at = o * rows + r
            let struct (t, d) = activate (direct y rows r n k o (load sc.BM (o * Lanes)))
            if reversing then store (fma hv t (load z at)) z at
            let v = -hv * d * load zBar at
            store v sc.V (o * Lanes)
            store (load sc.GM (o * Lanes) + v) sc.GM (o * Lanes)
        for i in 0 .. n - 1 do
            let at = i * rows + r
            let yi = load y at
            let mutable acc = load yBar at
            for o in 0 .. m - 1 do
                let v = load sc.V (o * Lanes)
                acc <- fma v (splat (elem k (o * n + i))) acc
                let e = (o * n + i) * Lanes
                store (fma yi v (load sc.GK e)) sc.GK e
            store acc yBar at

/// The adjoint of Verlet step j, optionally fused with its inverse. z holds Z_{j+½}; without
/// `reversing`, y holds Y_j; with it, (y, z) hold (Y_{j+1}, Z_{j+½}) and become (Y_j, Z_{j−½}).
/// With a = Z_{j+½} Kᵀ + 1bᵀ and e = Y_j K + 1cᵀ: w = h σ'(a) ⊙ Ȳ, Z̄ ← Z̄ + w K;
/// v = −h σ'(e) ⊙ Z̄, Ȳ ← Ȳ + v Kᵀ; wᵀ Z_{j+½} + Y_jᵀ v, colsum w (b) and colsum v (c)
/// accumulated in the scratch.
let verletAdjoint (act: Activation) (sc: Scratch) (reversing: bool) (rows: int) (n: int) (m: int) (h: float) (k: float[]) (b: float[]) (c: float[]) (y: float[]) (z: float[]) (yBar: float[]) (zBar: float[]) =
    match act with
    | Tanh -> verletAdjointWith (Kernels.tanhWithDerivative (Kernels.Vec512())) sc reversing rows n m h k b c y z yBar zBar
    | Relu -> verletAdjointWith relu sc reversing rows n m h k b c y z yBar zBar
    | Identity -> verletAdjointWith identity sc reversing rows n m h k b c y z yBar zBar
