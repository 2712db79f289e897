/// Fused kernels for dense layers on one block of examples, on 512-bit vectors (AVX-512) or
/// 256-bit ones: each step of a propagator, its linearisation (sensitivity), its exact inverse
/// and its adjoint in a single pass over the block, one vector of examples per feature at a
/// time. For those rows the kernel loads the features, forms the small products Y K with the
/// bias, evaluates σ and σ', and applies the update before it moves on, so every intermediate
/// stays in registers or in a few kilobytes of scratch. Parameter gradients are summed
/// lane-wise in vector accumulators over the block and reduced once per layer.
///
/// Verlet's two half-steps depend on each other (the second reads the Z the first wrote), so its
/// kernels run the first half over a tile of `TileRows` rows before the second: consecutive
/// activations are then independent and overlap in the processor instead of waiting for one
/// another, while the tile stays in L1.
///
/// Every kernel is written once, generic in the witness `w` of `Kernels.Simd` (`Vec512()` or
/// `Vec256()`), and compiled for both widths; `Kernels.useVector512` picks one at run time.
///
/// Layout: a block's arrays are column-major with a row count `R` that is a multiple of `Lanes`;
/// the rows past the block's examples are padding that the solves never read back. K is the
/// dense n×m matrix of the layer (column-major, K[i, o] = k[o·n + i]); `Engine` passes the
/// effective matrix of an antisymmetric or negative-semidefinite parametrisation and pulls the
/// gradient back to θ itself.
[<OptimisedFromFirstCall>]
module StableOde.Core.Fused

open System.Runtime.Intrinsics
open StableOde.Core.Kernels

/// The row granularity of every kernel here: blocks hold whole groups of eight examples (one
/// Vector512 or two Vector256 per feature).
[<Literal>]
let Lanes = 8

/// Rows of a tile of Verlet's kernels (four groups of eight).
[<Literal>]
let private TileRows = 32

/// Rows ahead of its use that a kernel reading a recorded state asks the cache for (eight lines
/// of every column).
[<Literal>]
let private PrefetchRows = 64

/// The witnesses of the two widths.
let private V8 = Vec512()
let private V4 = Vec256()

/// Whether the fused kernels run on this machine (512-bit or 256-bit vectors).
let available = Vector512.IsHardwareAccelerated || Vector256.IsHardwareAccelerated

/// Per-block scratch of the fused kernels: one vector per feature for the intermediate values
/// of the current rows, and the lane-wise gradient accumulators of the current layer. Vectors are
/// stored at a stride of `Lanes` doubles whatever the width.
type Scratch =
    { /// Intermediate values of width max(n, m) for the current rows, one vector per feature.
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

/// relu and its derivative (1 for x > 0, else 0) on the lanes of x.
let inline reluWithDerivative (w: ^W) (x: ^V) : struct (^V * ^V) =
    let zero: ^V = Simd.splat w 0.0
    let positive = Simd.greater w x zero
    struct (Simd.select w positive x zero, Simd.select w positive (Simd.splat w 1.0) zero)

/// relu on the lanes of x.
let inline private relu (w: ^W) (x: ^V) : ^V =
    let zero: ^V = Simd.splat w 0.0
    Simd.select w (Simd.greater w x zero) x zero

/// The identity and its derivative 1 on the lanes of x.
let inline identityWithDerivative (w: ^W) (x: ^V) : struct (^V * ^V) = struct (x, Simd.splat w 1.0)

/// σ'(a) on the lanes of the activation u = σ(a) alone: 1 − u² for tanh, 1 where u > 0 for
/// relu (σ'(0) = 0), 1 for the identity, as `Activation.derivativeOfValueInto`.
let inline derivativeOfValue (w: ^W) (act: Activation) (u: ^V) : ^V =
    match act with
    | Tanh -> Simd.fma w -u u (Simd.splat w 1.0)
    | Relu -> Simd.select w (Simd.greater w u (Simd.splat w 0.0)) (Simd.splat w 1.0) (Simd.splat w 0.0)
    | Identity -> Simd.splat w 1.0

/// dst ← the bias of each feature of a side of width `width`, one vector each (a bias of length
/// |b| is tied over groups of width / |b| consecutive features).
let inline private splatBias (w: ^W) (b: float[]) (width: int) (dst: float[]) =
    for f in 0 .. width - 1 do
        Simd.store w (Simd.splat w b[f / (width / b.Length)] : ^V) dst (f * Lanes)

/// Σ_i x_i K[i, o] + bias_o for the rows at r: the Direct side (x of width n).
let inline private direct (w: ^W) (x: float[]) (rows: int) (r: int) (n: int) (k: float[]) (o: int) (b0: ^V) : ^V =
    let mutable acc = b0
    for i in 0 .. n - 1 do
        acc <- Simd.fma w (Simd.load w x (i * rows + r)) (Simd.splat w (elem k (o * n + i))) acc
    acc

/// Σ_o z_o K[i, o] + bias_i for the rows at r: the Transposed side (z of width m).
let inline private transposed (w: ^W) (z: float[]) (rows: int) (r: int) (n: int) (m: int) (k: float[]) (i: int) (b0: ^V) : ^V =
    let mutable acc = b0
    for o in 0 .. m - 1 do
        acc <- Simd.fma w (Simd.load w z (o * rows + r)) (Simd.splat w (elem k (o * n + i))) acc
    acc

/// Runs `output o a` for every output o of a side of `outputs` features, with
/// a = Σ_j x_j k[o·oStride + j·jStride] + β_o for the rows at r (x of width `inputs`, β one
/// vector per output in `bias`): the Direct side Y K + 1βᵀ (`directAll`) or the Transposed side
/// Z Kᵀ + 1βᵀ (`transposedAll`). Four outputs run at once, then two, then one: each output's sum
/// runs over j in ascending order as in `direct`, so the results are the same bits, but four
/// independent chains share every load of x_j and hide the latency of each other's FMAs (one
/// chain a time made every output wait n FMA latencies: 8 × 4 cycles at n = 8).
let inline private products (w: ^W) (x: float[]) (rows: int) (r: int) (inputs: int) (outputs: int) (k: float[]) (oStride: int) (jStride: int) (bias: float[]) ([<InlineIfLambda>] output: int -> ^V -> unit) =
    let nrows, no, nj = nativeint rows, nativeint oStride, nativeint jStride
    let mutable o = 0
    while o + 4 <= outputs do
        let mutable a0: ^V = Simd.load w bias (o * Lanes)
        let mutable a1: ^V = Simd.load w bias ((o + 1) * Lanes)
        let mutable a2: ^V = Simd.load w bias ((o + 2) * Lanes)
        let mutable a3: ^V = Simd.load w bias ((o + 3) * Lanes)
        let mutable xj = nativeint r
        let mutable kj = nativeint (o * oStride)
        for _ in 1 .. inputs do
            let xv: ^V = Simd.loadAt w x xj
            a0 <- Simd.fma w xv (Simd.splatAt w k kj) a0
            a1 <- Simd.fma w xv (Simd.splatAt w k (kj + no)) a1
            a2 <- Simd.fma w xv (Simd.splatAt w k (kj + 2n * no)) a2
            a3 <- Simd.fma w xv (Simd.splatAt w k (kj + 3n * no)) a3
            xj <- xj + nrows
            kj <- kj + nj
        output o a0
        output (o + 1) a1
        output (o + 2) a2
        output (o + 3) a3
        o <- o + 4
    if o + 2 <= outputs then
        let mutable a0: ^V = Simd.load w bias (o * Lanes)
        let mutable a1: ^V = Simd.load w bias ((o + 1) * Lanes)
        let mutable xj = nativeint r
        let mutable kj = nativeint (o * oStride)
        for _ in 1 .. inputs do
            let xv: ^V = Simd.loadAt w x xj
            a0 <- Simd.fma w xv (Simd.splatAt w k kj) a0
            a1 <- Simd.fma w xv (Simd.splatAt w k (kj + no)) a1
            xj <- xj + nrows
            kj <- kj + nj
        output o a0
        output (o + 1) a1
        o <- o + 2
    if o < outputs then
        let mutable a0: ^V = Simd.load w bias (o * Lanes)
        let mutable xj = nativeint r
        let mutable kj = nativeint (o * oStride)
        for _ in 1 .. inputs do
            a0 <- Simd.fma w (Simd.loadAt w x xj) (Simd.splatAt w k kj) a0
            xj <- xj + nrows
            kj <- kj + nj
        output o a0

/// `products` of the Direct side: output o (of m) is Σ_i x_i K[i, o] + β_o, x of width n.
let inline private directAll (w: ^W) (x: float[]) (rows: int) (r: int) (n: int) (m: int) (k: float[]) (bias: float[]) ([<InlineIfLambda>] output: int -> ^V -> unit) =
    products w x rows r n m k n 1 bias output

/// `products` of the Transposed side: output i (of n) is Σ_o z_o K[i, o] + β_i, z of width m.
let inline private transposedAll (w: ^W) (z: float[]) (rows: int) (r: int) (n: int) (m: int) (k: float[]) (bias: float[]) ([<InlineIfLambda>] output: int -> ^V -> unit) =
    products w z rows r m n k 1 n bias output

/// The transpose of a kick for the rows at r, with V (width `inputs`) one vector per feature in
/// `v` and S (width `outputs`) the source it read: S̄_p ← S̄_p + Σ_j v_j k[e] and GK[e] ← GK[e] +
/// s_p v_j lane-wise, e = p·pStride + j·jStride: `transposeDirect` (the kick read Y) or
/// `transposeTransposed` (it read Z). Four outputs at once, then two, then one, each sum over j
/// in ascending order (the same bits as one chain an output).
let inline private transposeProducts (w: ^W) (sc: Scratch) (v: float[]) (rows: int) (r: int) (inputs: int) (outputs: int) (k: float[]) (pStride: int) (jStride: int) (source: float[]) (sBar: float[]) =
    let np, nj = nativeint pStride, nativeint jStride
    let nlanes = nativeint Lanes
    let inline update (e: nativeint) (s: ^V) (vj: ^V) (acc: ^V) : ^V =
        let g = int e * Lanes
        Simd.store w (Simd.fma w s vj (Simd.load w sc.GK g)) sc.GK g
        Simd.fma w vj (Simd.splatAt w k e) acc
    let mutable p = 0
    while p + 4 <= outputs do
        let at = p * rows + r
        let s0: ^V = Simd.load w source at
        let s1: ^V = Simd.load w source (at + rows)
        let s2: ^V = Simd.load w source (at + 2 * rows)
        let s3: ^V = Simd.load w source (at + 3 * rows)
        let mutable a0: ^V = Simd.load w sBar at
        let mutable a1: ^V = Simd.load w sBar (at + rows)
        let mutable a2: ^V = Simd.load w sBar (at + 2 * rows)
        let mutable a3: ^V = Simd.load w sBar (at + 3 * rows)
        let mutable e = nativeint (p * pStride)
        let mutable vat = 0n
        for _ in 1 .. inputs do
            let vj: ^V = Simd.loadAt w v vat
            a0 <- update e s0 vj a0
            a1 <- update (e + np) s1 vj a1
            a2 <- update (e + 2n * np) s2 vj a2
            a3 <- update (e + 3n * np) s3 vj a3
            e <- e + nj
            vat <- vat + nlanes
        Simd.store w a0 sBar at
        Simd.store w a1 sBar (at + rows)
        Simd.store w a2 sBar (at + 2 * rows)
        Simd.store w a3 sBar (at + 3 * rows)
        p <- p + 4
    if p + 2 <= outputs then
        let at = p * rows + r
        let s0: ^V = Simd.load w source at
        let s1: ^V = Simd.load w source (at + rows)
        let mutable a0: ^V = Simd.load w sBar at
        let mutable a1: ^V = Simd.load w sBar (at + rows)
        let mutable e = nativeint (p * pStride)
        let mutable vat = 0n
        for _ in 1 .. inputs do
            let vj: ^V = Simd.loadAt w v vat
            a0 <- update e s0 vj a0
            a1 <- update (e + np) s1 vj a1
            e <- e + nj
            vat <- vat + nlanes
        Simd.store w a0 sBar at
        Simd.store w a1 sBar (at + rows)
        p <- p + 2
    if p < outputs then
        let at = p * rows + r
        let s0: ^V = Simd.load w source at
        let mutable a0: ^V = Simd.load w sBar at
        let mutable e = nativeint (p * pStride)
        let mutable vat = 0n
        for _ in 1 .. inputs do
            a0 <- update e s0 (Simd.loadAt w v vat) a0
            e <- e + nj
            vat <- vat + nlanes
        Simd.store w a0 sBar at

/// The transpose of a kick that read Y, for the rows at r: with V (width m) one vector per
/// feature in `v`, S̄ ← S̄ + V Kᵀ and GK ← GK + S ⊗ V lane-wise (S of width n).
let inline private transposeDirect (w: ^W) (sc: Scratch) (v: float[]) (rows: int) (r: int) (n: int) (m: int) (k: float[]) (source: float[]) (sBar: float[]) =
    transposeProducts w sc v rows r m n k 1 n source sBar

/// The transpose of a kick that read Z, for the rows at r: with V (width n) one vector per
/// feature in `v`, S̄ ← S̄ + V K and GK ← GK + V ⊗ S lane-wise (S of width m).
let inline private transposeTransposed (w: ^W) (sc: Scratch) (v: float[]) (rows: int) (r: int) (n: int) (m: int) (k: float[]) (source: float[]) (sBar: float[]) =
    transposeProducts w sc v rows r n m k n 1 source sBar

let inline private reduceWith (w: ^W) (sc: Scratch) (n: int) (m: int) (gK: float[]) (gbN: float[]) (gbM: float[]) =
    let inline lanes (a: float[]) (f: int) : float = Simd.sum w (Simd.load w a (f * Lanes) : ^V)
    for e in 0 .. n * m - 1 do
        gK[e] <- gK[e] + lanes sc.GK e
    if gbN.Length > 0 then
        for f in 0 .. n - 1 do
            let g = f / (n / gbN.Length)
            gbN[g] <- gbN[g] + lanes sc.GN f
    if gbM.Length > 0 then
        for f in 0 .. m - 1 do
            let g = f / (m / gbM.Length)
            gbM[g] <- gbM[g] + lanes sc.GM f
    System.Array.Clear sc.GK
    System.Array.Clear sc.GN
    System.Array.Clear sc.GM

/// Adds the lane sums of the accumulators into the layer's gradient (gK as the n×m gradient
/// of the effective matrix, gbN and gbM grouped like the biases; either may be empty) and
/// clears them.
let reduce (sc: Scratch) (n: int) (m: int) (gK: float[]) (gbN: float[]) (gbM: float[]) =
    if useVector512 then reduceWith V8 sc n m gK gbN gbM else reduceWith V4 sc n m gK gbN gbM

// ---- forward Euler (ResNet and antisymmetric ResNet), K n×n ------------------------------

let inline private resnetStepWith (w: ^W) ([<InlineIfLambda>] sigma: ^V -> ^V) (sc: Scratch) (rows: int) (n: int) (h: float) (k: float[]) (b: float[]) (y: float[]) =
    splatBias w b n sc.BN
    let hv: ^V = Simd.splat w h
    for r in 0 .. Simd.lanes w .. rows - 1 do
        directAll w y rows r n n k sc.BN (fun o a -> Simd.store w (sigma a) sc.T (o * Lanes))
        for i in 0 .. n - 1 do
            let at = i * rows + r
            Simd.store w (Simd.fma w hv (Simd.load w sc.T (i * Lanes)) (Simd.load w y at)) y at

/// Y ← Y + h σ(Y K + 1bᵀ).
let resnetStep (act: Activation) (sc: Scratch) (rows: int) (n: int) (h: float) (k: float[]) (b: float[]) (y: float[]) =
    if useVector512 then
        match act with
        | Tanh -> resnetStepWith V8 (tanh V8) sc rows n h k b y
        | Relu -> resnetStepWith V8 (relu V8) sc rows n h k b y
        | Identity -> resnetStepWith V8 id sc rows n h k b y
    else
        match act with
        | Tanh -> resnetStepWith V4 (tanh V4) sc rows n h k b y
        | Relu -> resnetStepWith V4 (relu V4) sc rows n h k b y
        | Identity -> resnetStepWith V4 id sc rows n h k b y

let inline private resnetSensitivityWith (w: ^W) ([<InlineIfLambda>] sigma: ^V -> struct (^V * ^V)) (sc: Scratch) (rows: int) (n: int) (h: float) (k: float[]) (b: float[]) (dk: float[]) (db: float[]) (y: float[]) (dy: float[]) =
    splatBias w b n sc.BN
    splatBias w db n sc.DN
    let hv: ^V = Simd.splat w h
    for r in 0 .. Simd.lanes w .. rows - 1 do
        for o in 0 .. n - 1 do
            let struct (t, d) = sigma (direct w y rows r n k o (Simd.load w sc.BN (o * Lanes)))
            let da = direct w dy rows r n k o (direct w y rows r n dk o (Simd.load w sc.DN (o * Lanes)))
            Simd.store w t sc.T (o * Lanes)
            Simd.store w (d * da) sc.V (o * Lanes)
        for i in 0 .. n - 1 do
            let at = i * rows + r
            Simd.store w (Simd.fma w hv (Simd.load w sc.T (i * Lanes)) (Simd.load w y at)) y at
            Simd.store w (Simd.fma w hv (Simd.load w sc.V (i * Lanes)) (Simd.load w dy at)) dy at

/// The linearisation of `resnetStep` in direction (δK, δb) run alongside it: with a = Y K + 1bᵀ,
/// δY ← δY + h σ'(a) ⊙ (δY K + Y δK + 1δbᵀ), then Y ← Y + h σ(a).
let resnetSensitivity (act: Activation) (sc: Scratch) (rows: int) (n: int) (h: float) (k: float[]) (b: float[]) (dk: float[]) (db: float[]) (y: float[]) (dy: float[]) =
    if useVector512 then
        match act with
        | Tanh -> resnetSensitivityWith V8 (tanhWithDerivative V8) sc rows n h k b dk db y dy
        | Relu -> resnetSensitivityWith V8 (reluWithDerivative V8) sc rows n h k b dk db y dy
        | Identity -> resnetSensitivityWith V8 (identityWithDerivative V8) sc rows n h k b dk db y dy
    else
        match act with
        | Tanh -> resnetSensitivityWith V4 (tanhWithDerivative V4) sc rows n h k b dk db y dy
        | Relu -> resnetSensitivityWith V4 (reluWithDerivative V4) sc rows n h k b dk db y dy
        | Identity -> resnetSensitivityWith V4 (identityWithDerivative V4) sc rows n h k b dk db y dy

let inline private resnetAdjointWith (w: ^W) ([<InlineIfLambda>] sigma: ^V -> struct (^V * ^V)) (sc: Scratch) (rows: int) (n: int) (h: float) (k: float[]) (b: float[]) (y: float[]) (yBar: float[]) =
    splatBias w b n sc.BN
    let hv: ^V = Simd.splat w h
    // Y_j comes from the tape, one layer's block a call, read nowhere else: the processor does not
    // foresee those loads (on S1, n = 2, a third of the gradient's time was spent waiting on them),
    // so every column's first `PrefetchRows` rows are asked for at once and the rest that far ahead.
    for i in 0 .. n - 1 do
        for r in 0 .. Lanes .. min rows PrefetchRows - 1 do
            prefetch y (i * rows + r)
    for r in 0 .. Simd.lanes w .. rows - 1 do
        if r + PrefetchRows < rows then
            for i in 0 .. n - 1 do
                prefetch y (i * rows + r + PrefetchRows)
        directAll w y rows r n n k sc.BN (fun o a ->
            let struct (_, d) = sigma a
            let wv = hv * d * Simd.load w yBar (o * rows + r)
            Simd.store w wv sc.T (o * Lanes)
            Simd.store w (Simd.load w sc.GN (o * Lanes) + wv) sc.GN (o * Lanes))
        transposeDirect w sc sc.T rows r n n k y yBar

/// The adjoint of `resnetStep` at Y_j: with w = h σ'(a) ⊙ Ȳ, a = Y_j K + 1bᵀ:
/// Ȳ ← Ȳ + w Kᵀ, and Y_jᵀ w, colsum w accumulated in the scratch.
let resnetAdjoint (act: Activation) (sc: Scratch) (rows: int) (n: int) (h: float) (k: float[]) (b: float[]) (y: float[]) (yBar: float[]) =
    if useVector512 then
        match act with
        | Tanh -> resnetAdjointWith V8 (tanhWithDerivative V8) sc rows n h k b y yBar
        | Relu -> resnetAdjointWith V8 (reluWithDerivative V8) sc rows n h k b y yBar
        | Identity -> resnetAdjointWith V8 (identityWithDerivative V8) sc rows n h k b y yBar
    else
        match act with
        | Tanh -> resnetAdjointWith V4 (tanhWithDerivative V4) sc rows n h k b y yBar
        | Relu -> resnetAdjointWith V4 (reluWithDerivative V4) sc rows n h k b y yBar
        | Identity -> resnetAdjointWith V4 (identityWithDerivative V4) sc rows n h k b y yBar

// ---- leapfrog, K n×n, with ω = ½ on the first step ---------------------------------------

let inline private leapfrogStepWith (w: ^W) ([<InlineIfLambda>] sigma: ^V -> ^V) (sc: Scratch) (rows: int) (n: int) (h: float) (omega: float) (k: float[]) (b: float[]) (y: float[]) (z: float[]) =
    splatBias w b n sc.BN
    let hv: ^V = Simd.splat w h
    let wh: ^V = Simd.splat w (omega * h)
    for r in 0 .. Simd.lanes w .. rows - 1 do
        directAll w y rows r n n k sc.BN (fun o a ->
            let at = o * rows + r
            Simd.store w (Simd.fma w wh (sigma a) (Simd.load w z at)) z at)
        for i in 0 .. n - 1 do
            let at = i * rows + r
            Simd.store w (Simd.fma w hv (Simd.load w z at) (Simd.load w y at)) y at

/// Z ← Z + ωh σ(Y K + 1bᵀ);  Y ← Y + h Z.
let leapfrogStep (act: Activation) (sc: Scratch) (rows: int) (n: int) (h: float) (omega: float) (k: float[]) (b: float[]) (y: float[]) (z: float[]) =
    if useVector512 then
        match act with
        | Tanh -> leapfrogStepWith V8 (tanh V8) sc rows n h omega k b y z
        | Relu -> leapfrogStepWith V8 (relu V8) sc rows n h omega k b y z
        | Identity -> leapfrogStepWith V8 id sc rows n h omega k b y z
    else
        match act with
        | Tanh -> leapfrogStepWith V4 (tanh V4) sc rows n h omega k b y z
        | Relu -> leapfrogStepWith V4 (relu V4) sc rows n h omega k b y z
        | Identity -> leapfrogStepWith V4 id sc rows n h omega k b y z

let inline private leapfrogSensitivityWith (w: ^W) ([<InlineIfLambda>] sigma: ^V -> struct (^V * ^V)) (sc: Scratch) (rows: int) (n: int) (h: float) (omega: float) (k: float[]) (b: float[]) (dk: float[]) (db: float[]) (y: float[]) (z: float[]) (dy: float[]) (dz: float[]) =
    splatBias w b n sc.BN
    splatBias w db n sc.DN
    let hv: ^V = Simd.splat w h
    let wh: ^V = Simd.splat w (omega * h)
    for r in 0 .. Simd.lanes w .. rows - 1 do
        for o in 0 .. n - 1 do
            let struct (t, d) = sigma (direct w y rows r n k o (Simd.load w sc.BN (o * Lanes)))
            let da = direct w dy rows r n k o (direct w y rows r n dk o (Simd.load w sc.DN (o * Lanes)))
            Simd.store w t sc.T (o * Lanes)
            Simd.store w (d * da) sc.V (o * Lanes)
        for i in 0 .. n - 1 do
            let at = i * rows + r
            let zi = Simd.fma w wh (Simd.load w sc.T (i * Lanes)) (Simd.load w z at)
            let dzi = Simd.fma w wh (Simd.load w sc.V (i * Lanes)) (Simd.load w dz at)
            Simd.store w zi z at
            Simd.store w dzi dz at
            Simd.store w (Simd.fma w hv zi (Simd.load w y at)) y at
            Simd.store w (Simd.fma w hv dzi (Simd.load w dy at)) dy at

/// The linearisation of `leapfrogStep` in direction (δK, δb) run alongside it: with
/// a = Y K + 1bᵀ, δZ ← δZ + ωh σ'(a) ⊙ (δY K + Y δK + 1δbᵀ), δY ← δY + h δZ, then the step.
let leapfrogSensitivity (act: Activation) (sc: Scratch) (rows: int) (n: int) (h: float) (omega: float) (k: float[]) (b: float[]) (dk: float[]) (db: float[]) (y: float[]) (z: float[]) (dy: float[]) (dz: float[]) =
    if useVector512 then
        match act with
        | Tanh -> leapfrogSensitivityWith V8 (tanhWithDerivative V8) sc rows n h omega k b dk db y z dy dz
        | Relu -> leapfrogSensitivityWith V8 (reluWithDerivative V8) sc rows n h omega k b dk db y z dy dz
        | Identity -> leapfrogSensitivityWith V8 (identityWithDerivative V8) sc rows n h omega k b dk db y z dy dz
    else
        match act with
        | Tanh -> leapfrogSensitivityWith V4 (tanhWithDerivative V4) sc rows n h omega k b dk db y z dy dz
        | Relu -> leapfrogSensitivityWith V4 (reluWithDerivative V4) sc rows n h omega k b dk db y z dy dz
        | Identity -> leapfrogSensitivityWith V4 (identityWithDerivative V4) sc rows n h omega k b dk db y z dy dz

let inline private leapfrogReverseWith (w: ^W) ([<InlineIfLambda>] sigma: ^V -> ^V) (sc: Scratch) (rows: int) (n: int) (h: float) (omega: float) (k: float[]) (b: float[]) (y: float[]) (z: float[]) =
    splatBias w b n sc.BN
    let hv: ^V = Simd.splat w h
    let wh: ^V = Simd.splat w (omega * h)
    for r in 0 .. Simd.lanes w .. rows - 1 do
        for i in 0 .. n - 1 do
            let at = i * rows + r
            Simd.store w (Simd.fma w -hv (Simd.load w z at) (Simd.load w y at)) y at
        directAll w y rows r n n k sc.BN (fun o a -> Simd.store w (sigma a) sc.T (o * Lanes))
        for o in 0 .. n - 1 do
            let at = o * rows + r
            Simd.store w (Simd.fma w -wh (Simd.load w sc.T (o * Lanes)) (Simd.load w z at)) z at

/// The exact inverse of `leapfrogStep`: Y ← Y − h Z;  Z ← Z − ωh σ(Y K + 1bᵀ).
let leapfrogReverse (act: Activation) (sc: Scratch) (rows: int) (n: int) (h: float) (omega: float) (k: float[]) (b: float[]) (y: float[]) (z: float[]) =
    if useVector512 then
        match act with
        | Tanh -> leapfrogReverseWith V8 (tanh V8) sc rows n h omega k b y z
        | Relu -> leapfrogReverseWith V8 (relu V8) sc rows n h omega k b y z
        | Identity -> leapfrogReverseWith V8 id sc rows n h omega k b y z
    else
        match act with
        | Tanh -> leapfrogReverseWith V4 (tanh V4) sc rows n h omega k b y z
        | Relu -> leapfrogReverseWith V4 (relu V4) sc rows n h omega k b y z
        | Identity -> leapfrogReverseWith V4 id sc rows n h omega k b y z

let inline private leapfrogAdjointWith (w: ^W) ([<InlineIfLambda>] sigma: ^V -> struct (^V * ^V)) (sc: Scratch) (reversing: bool) (rows: int) (n: int) (h: float) (omega: float) (k: float[]) (b: float[]) (y: float[]) (z: float[]) (yBar: float[]) (zBar: float[]) =
    splatBias w b n sc.BN
    let hv: ^V = Simd.splat w h
    let wh: ^V = Simd.splat w (omega * h)
    for r in 0 .. Simd.lanes w .. rows - 1 do
        for i in 0 .. n - 1 do
            let at = i * rows + r
            if reversing then Simd.store w (Simd.fma w -hv (Simd.load w z at) (Simd.load w y at)) y at
            Simd.store w (Simd.fma w hv (Simd.load w yBar at) (Simd.load w zBar at)) zBar at
        directAll w y rows r n n k sc.BN (fun o a ->
            let struct (t, d) = sigma a
            Simd.store w t sc.V (o * Lanes)
            let wv = wh * d * Simd.load w zBar (o * rows + r)
            Simd.store w wv sc.T (o * Lanes)
            Simd.store w (Simd.load w sc.GN (o * Lanes) + wv) sc.GN (o * Lanes))
        if reversing then
            for o in 0 .. n - 1 do
                let at = o * rows + r
                Simd.store w (Simd.fma w -wh (Simd.load w sc.V (o * Lanes)) (Simd.load w z at)) z at
        transposeDirect w sc sc.T rows r n n k y yBar

/// The adjoint of leapfrog step j, optionally fused with its inverse. Without `reversing`, y
/// holds Y_j; with it, (y, z) hold (Y_{j+1}, Z_{j+½}) and become (Y_j, Z_{j−½}). Then
/// Z̄ ← Z̄ + h Ȳ, w = ωh σ'(a) ⊙ Z̄ with a = Y_j K + 1bᵀ, Ȳ ← Ȳ + w Kᵀ, and Y_jᵀ w, colsum w
/// accumulated in the scratch.
let leapfrogAdjoint (act: Activation) (sc: Scratch) (reversing: bool) (rows: int) (n: int) (h: float) (omega: float) (k: float[]) (b: float[]) (y: float[]) (z: float[]) (yBar: float[]) (zBar: float[]) =
    if useVector512 then
        match act with
        | Tanh -> leapfrogAdjointWith V8 (tanhWithDerivative V8) sc reversing rows n h omega k b y z yBar zBar
        | Relu -> leapfrogAdjointWith V8 (reluWithDerivative V8) sc reversing rows n h omega k b y z yBar zBar
        | Identity -> leapfrogAdjointWith V8 (identityWithDerivative V8) sc reversing rows n h omega k b y z yBar zBar
    else
        match act with
        | Tanh -> leapfrogAdjointWith V4 (tanhWithDerivative V4) sc reversing rows n h omega k b y z yBar zBar
        | Relu -> leapfrogAdjointWith V4 (reluWithDerivative V4) sc reversing rows n h omega k b y z yBar zBar
        | Identity -> leapfrogAdjointWith V4 (identityWithDerivative V4) sc reversing rows n h omega k b y z yBar zBar

// ---- Verlet, K n×m: Z ← Z − h σ(Y K + 1cᵀ), Y ← Y + h σ(Z Kᵀ + 1bᵀ) ------------------------

let inline private verletStepWith (w: ^W) ([<InlineIfLambda>] sigma: ^V -> ^V) (sc: Scratch) (rows: int) (n: int) (m: int) (h: float) (k: float[]) (b: float[]) (c: float[]) (y: float[]) (z: float[]) =
    splatBias w b n sc.BN
    splatBias w c m sc.BM
    let hv: ^V = Simd.splat w h
    let lanes = Simd.lanes w
    for tile in 0 .. TileRows .. rows - 1 do
        let last = min rows (tile + TileRows) - 1
        for r in tile .. lanes .. last do
            directAll w y rows r n m k sc.BM (fun o a ->
                let at = o * rows + r
                Simd.store w (Simd.fma w -hv (sigma a) (Simd.load w z at)) z at)
        for r in tile .. lanes .. last do
            transposedAll w z rows r n m k sc.BN (fun i a ->
                let at = i * rows + r
                Simd.store w (Simd.fma w hv (sigma a) (Simd.load w y at)) y at)

/// One Verlet step: (Y_j, Z_{j−½}) ← (Y_{j+1}, Z_{j+½}).
let verletStep (act: Activation) (sc: Scratch) (rows: int) (n: int) (m: int) (h: float) (k: float[]) (b: float[]) (c: float[]) (y: float[]) (z: float[]) =
    if useVector512 then
        match act with
        | Tanh -> verletStepWith V8 (tanh V8) sc rows n m h k b c y z
        | Relu -> verletStepWith V8 (relu V8) sc rows n m h k b c y z
        | Identity -> verletStepWith V8 id sc rows n m h k b c y z
    else
        match act with
        | Tanh -> verletStepWith V4 (tanh V4) sc rows n m h k b c y z
        | Relu -> verletStepWith V4 (relu V4) sc rows n m h k b c y z
        | Identity -> verletStepWith V4 id sc rows n m h k b c y z

let inline private verletSensitivityWith (w: ^W) ([<InlineIfLambda>] sigma: ^V -> struct (^V * ^V)) (sc: Scratch) (rows: int) (n: int) (m: int) (h: float) (k: float[]) (b: float[]) (c: float[]) (dk: float[]) (db: float[]) (dc: float[]) (y: float[]) (z: float[]) (dy: float[]) (dz: float[]) =
    splatBias w b n sc.BN
    splatBias w c m sc.BM
    splatBias w db n sc.DN
    splatBias w dc m sc.DM
    let hv: ^V = Simd.splat w h
    let lanes = Simd.lanes w
    for tile in 0 .. TileRows .. rows - 1 do
        let last = min rows (tile + TileRows) - 1
        for r in tile .. lanes .. last do
            for o in 0 .. m - 1 do
                let at = o * rows + r
                let struct (t, d) = sigma (direct w y rows r n k o (Simd.load w sc.BM (o * Lanes)))
                let de = direct w dy rows r n k o (direct w y rows r n dk o (Simd.load w sc.DM (o * Lanes)))
                Simd.store w (Simd.fma w -hv t (Simd.load w z at)) z at
                Simd.store w (Simd.fma w -hv (d * de) (Simd.load w dz at)) dz at
        for r in tile .. lanes .. last do
            for i in 0 .. n - 1 do
                let at = i * rows + r
                let struct (t, d) = sigma (transposed w z rows r n m k i (Simd.load w sc.BN (i * Lanes)))
                let da = transposed w dz rows r n m k i (transposed w z rows r n m dk i (Simd.load w sc.DN (i * Lanes)))
                Simd.store w (Simd.fma w hv t (Simd.load w y at)) y at
                Simd.store w (Simd.fma w hv (d * da) (Simd.load w dy at)) dy at

/// The linearisation of `verletStep` in direction (δK, δb, δc) run alongside it: with
/// e = Y_j K + 1cᵀ, δZ ← δZ − h σ'(e) ⊙ (δY K + Y_j δK + 1δcᵀ) and Z ← Z − h σ(e); then with
/// a = Z_{j+½} Kᵀ + 1bᵀ, δY ← δY + h σ'(a) ⊙ (δZ Kᵀ + Z_{j+½} δKᵀ + 1δbᵀ) and Y ← Y + h σ(a).
let verletSensitivity (act: Activation) (sc: Scratch) (rows: int) (n: int) (m: int) (h: float) (k: float[]) (b: float[]) (c: float[]) (dk: float[]) (db: float[]) (dc: float[]) (y: float[]) (z: float[]) (dy: float[]) (dz: float[]) =
    if useVector512 then
        match act with
        | Tanh -> verletSensitivityWith V8 (tanhWithDerivative V8) sc rows n m h k b c dk db dc y z dy dz
        | Relu -> verletSensitivityWith V8 (reluWithDerivative V8) sc rows n m h k b c dk db dc y z dy dz
        | Identity -> verletSensitivityWith V8 (identityWithDerivative V8) sc rows n m h k b c dk db dc y z dy dz
    else
        match act with
        | Tanh -> verletSensitivityWith V4 (tanhWithDerivative V4) sc rows n m h k b c dk db dc y z dy dz
        | Relu -> verletSensitivityWith V4 (reluWithDerivative V4) sc rows n m h k b c dk db dc y z dy dz
        | Identity -> verletSensitivityWith V4 (identityWithDerivative V4) sc rows n m h k b c dk db dc y z dy dz

let inline private verletReverseWith (w: ^W) ([<InlineIfLambda>] sigma: ^V -> ^V) (sc: Scratch) (rows: int) (n: int) (m: int) (h: float) (k: float[]) (b: float[]) (c: float[]) (y: float[]) (z: float[]) =
    splatBias w b n sc.BN
    splatBias w c m sc.BM
    let hv: ^V = Simd.splat w h
    let lanes = Simd.lanes w
    for tile in 0 .. TileRows .. rows - 1 do
        let last = min rows (tile + TileRows) - 1
        for r in tile .. lanes .. last do
            transposedAll w z rows r n m k sc.BN (fun i a ->
                let at = i * rows + r
                Simd.store w (Simd.fma w -hv (sigma a) (Simd.load w y at)) y at)
        for r in tile .. lanes .. last do
            directAll w y rows r n m k sc.BM (fun o a ->
                let at = o * rows + r
                Simd.store w (Simd.fma w hv (sigma a) (Simd.load w z at)) z at)

/// The exact inverse of `verletStep`: Y ← Y − h σ(Z Kᵀ + 1bᵀ);  Z ← Z + h σ(Y K + 1cᵀ).
let verletReverse (act: Activation) (sc: Scratch) (rows: int) (n: int) (m: int) (h: float) (k: float[]) (b: float[]) (c: float[]) (y: float[]) (z: float[]) =
    if useVector512 then
        match act with
        | Tanh -> verletReverseWith V8 (tanh V8) sc rows n m h k b c y z
        | Relu -> verletReverseWith V8 (relu V8) sc rows n m h k b c y z
        | Identity -> verletReverseWith V8 id sc rows n m h k b c y z
    else
        match act with
        | Tanh -> verletReverseWith V4 (tanh V4) sc rows n m h k b c y z
        | Relu -> verletReverseWith V4 (relu V4) sc rows n m h k b c y z
        | Identity -> verletReverseWith V4 id sc rows n m h k b c y z

let inline private verletAdjointWith (w: ^W) ([<InlineIfLambda>] sigma: ^V -> struct (^V * ^V)) (sc: Scratch) (reversing: bool) (rows: int) (n: int) (m: int) (h: float) (k: float[]) (b: float[]) (c: float[]) (y: float[]) (z: float[]) (yBar: float[]) (zBar: float[]) =
    splatBias w b n sc.BN
    splatBias w c m sc.BM
    let hv: ^V = Simd.splat w h
    let lanes = Simd.lanes w
    for tile in 0 .. TileRows .. rows - 1 do
        let last = min rows (tile + TileRows) - 1
        for r in tile .. lanes .. last do
            transposedAll w z rows r n m k sc.BN (fun i a ->
                let at = i * rows + r
                let struct (t, d) = sigma a
                if reversing then Simd.store w (Simd.fma w -hv t (Simd.load w y at)) y at
                let wv = hv * d * Simd.load w yBar at
                Simd.store w wv sc.T (i * Lanes)
                Simd.store w (Simd.load w sc.GN (i * Lanes) + wv) sc.GN (i * Lanes))
            transposeTransposed w sc sc.T rows r n m k z zBar
        for r in tile .. lanes .. last do
            directAll w y rows r n m k sc.BM (fun o a ->
                let at = o * rows + r
                let struct (t, d) = sigma a
                if reversing then Simd.store w (Simd.fma w hv t (Simd.load w z at)) z at
                let v = -hv * d * Simd.load w zBar at
                Simd.store w v sc.V (o * Lanes)
                Simd.store w (Simd.load w sc.GM (o * Lanes) + v) sc.GM (o * Lanes))
            transposeDirect w sc sc.V rows r n m k y yBar

/// The adjoint of Verlet step j, optionally fused with its inverse. z holds Z_{j+½}; without
/// `reversing`, y holds Y_j; with it, (y, z) hold (Y_{j+1}, Z_{j+½}) and become (Y_j, Z_{j−½}).
/// With a = Z_{j+½} Kᵀ + 1bᵀ and e = Y_j K + 1cᵀ: w = h σ'(a) ⊙ Ȳ, Z̄ ← Z̄ + w K;
/// v = −h σ'(e) ⊙ Z̄, Ȳ ← Ȳ + v Kᵀ; wᵀ Z_{j+½} + Y_jᵀ v, colsum w (b) and colsum v (c)
/// accumulated in the scratch. A tile's first halves (a, w, Z̄) run before its second halves.
let verletAdjoint (act: Activation) (sc: Scratch) (reversing: bool) (rows: int) (n: int) (m: int) (h: float) (k: float[]) (b: float[]) (c: float[]) (y: float[]) (z: float[]) (yBar: float[]) (zBar: float[]) =
    if useVector512 then
        match act with
        | Tanh -> verletAdjointWith V8 (tanhWithDerivative V8) sc reversing rows n m h k b c y z yBar zBar
        | Relu -> verletAdjointWith V8 (reluWithDerivative V8) sc reversing rows n m h k b c y z yBar zBar
        | Identity -> verletAdjointWith V8 (identityWithDerivative V8) sc reversing rows n m h k b c y z yBar zBar
    else
        match act with
        | Tanh -> verletAdjointWith V4 (tanhWithDerivative V4) sc reversing rows n m h k b c y z yBar zBar
        | Relu -> verletAdjointWith V4 (reluWithDerivative V4) sc reversing rows n m h k b c y z yBar zBar
        | Identity -> verletAdjointWith V4 (identityWithDerivative V4) sc reversing rows n m h k b c y z yBar zBar

// ---- one kick of any scheme: T ← T + α σ(S K̂ + 1βᵀ), K̂ = K (S = Y) or Kᵀ (S = Z) ---------

/// The pre-activation of output feature o of a kick for the rows at r: Σ_i x_i K[i, o] + β_o
/// when the kick reads Y (`fromY`), Σ_o' z_o' K[o, o'] + β_o when it reads Z.
let inline private kickPre (w: ^W) (fromY: bool) (x: float[]) (rows: int) (r: int) (n: int) (m: int) (k: float[]) (o: int) (b0: ^V) : ^V =
    if fromY then direct w x rows r n k o b0 else transposed w x rows r n m k o b0

/// `output o a` for every output feature o of a kick with its pre-activation a for the rows at r
/// (`kickPre`, four outputs at a time: `products`).
let inline private kickAll (w: ^W) (fromY: bool) (x: float[]) (rows: int) (r: int) (n: int) (m: int) (k: float[]) (biasV: float[]) ([<InlineIfLambda>] output: int -> ^V -> unit) =
    let inputs, outputs = (if fromY then n else m), (if fromY then m else n)
    products w x rows r inputs outputs k (if fromY then n else 1) (if fromY then 1 else n) biasV output

let inline private kickWith (w: ^W) ([<InlineIfLambda>] sigma: ^V -> ^V) (sc: Scratch) (fromY: bool) (rows: int) (n: int) (m: int) (alpha: float) (k: float[]) (bias: float[]) (biasV: float[]) (source: float[]) (target: float[]) =
    let width = if fromY then m else n
    splatBias w bias width biasV
    let av: ^V = Simd.splat w alpha
    for r in 0 .. Simd.lanes w .. rows - 1 do
        kickAll w fromY source rows r n m k biasV (fun o a -> Simd.store w (sigma a) sc.T (o * Lanes))
        for o in 0 .. width - 1 do
            let at = o * rows + r
            Simd.store w (Simd.fma w av (Simd.load w sc.T (o * Lanes)) (Simd.load w target at)) target at

/// A kick T ← T + α σ(S K̂ + 1βᵀ) on the rows of a block (α = a·h). `fromY` says whether S is
/// Y (K̂ = K, T of width m) or Z (K̂ = Kᵀ, T of width n); `biasV` is the scratch vector of the
/// bias's side (`BN` for b, `BM` for c). Source and target may be the same array.
let kick (act: Activation) (sc: Scratch) (fromY: bool) (rows: int) (n: int) (m: int) (alpha: float) (k: float[]) (bias: float[]) (biasV: float[]) (source: float[]) (target: float[]) =
    if useVector512 then
        match act with
        | Tanh -> kickWith V8 (tanh V8) sc fromY rows n m alpha k bias biasV source target
        | Relu -> kickWith V8 (relu V8) sc fromY rows n m alpha k bias biasV source target
        | Identity -> kickWith V8 id sc fromY rows n m alpha k bias biasV source target
    else
        match act with
        | Tanh -> kickWith V4 (tanh V4) sc fromY rows n m alpha k bias biasV source target
        | Relu -> kickWith V4 (relu V4) sc fromY rows n m alpha k bias biasV source target
        | Identity -> kickWith V4 id sc fromY rows n m alpha k bias biasV source target

let inline private kickSensitivityWith (w: ^W) ([<InlineIfLambda>] sigma: ^V -> struct (^V * ^V)) (sc: Scratch) (fromY: bool) (rows: int) (n: int) (m: int) (alpha: float) (k: float[]) (bias: float[]) (biasV: float[]) (dk: float[]) (dBias: float[]) (dBiasV: float[]) (source: float[]) (dSource: float[]) (target: float[]) (dTarget: float[]) =
    let width = if fromY then m else n
    splatBias w bias width biasV
    splatBias w dBias width dBiasV
    let av: ^V = Simd.splat w alpha
    for r in 0 .. Simd.lanes w .. rows - 1 do
        for o in 0 .. width - 1 do
            let struct (t, d) = sigma (kickPre w fromY source rows r n m k o (Simd.load w biasV (o * Lanes)))
            let da = kickPre w fromY dSource rows r n m k o (kickPre w fromY source rows r n m dk o (Simd.load w dBiasV (o * Lanes)))
            Simd.store w t sc.T (o * Lanes)
            Simd.store w (d * da) sc.V (o * Lanes)
        for o in 0 .. width - 1 do
            let at = o * rows + r
            Simd.store w (Simd.fma w av (Simd.load w sc.T (o * Lanes)) (Simd.load w target at)) target at
            Simd.store w (Simd.fma w av (Simd.load w sc.V (o * Lanes)) (Simd.load w dTarget at)) dTarget at

/// The linearisation of `kick` in direction (δK, δβ) run alongside it: with a = S K̂ + 1βᵀ,
/// δT ← δT + α σ'(a) ⊙ (δS K̂ + S δK̂ + 1δβᵀ), then T ← T + α σ(a).
let kickSensitivity (act: Activation) (sc: Scratch) (fromY: bool) (rows: int) (n: int) (m: int) (alpha: float) (k: float[]) (bias: float[]) (biasV: float[]) (dk: float[]) (dBias: float[]) (dBiasV: float[]) (source: float[]) (dSource: float[]) (target: float[]) (dTarget: float[]) =
    if useVector512 then
        match act with
        | Tanh -> kickSensitivityWith V8 (tanhWithDerivative V8) sc fromY rows n m alpha k bias biasV dk dBias dBiasV source dSource target dTarget
        | Relu -> kickSensitivityWith V8 (reluWithDerivative V8) sc fromY rows n m alpha k bias biasV dk dBias dBiasV source dSource target dTarget
        | Identity -> kickSensitivityWith V8 (identityWithDerivative V8) sc fromY rows n m alpha k bias biasV dk dBias dBiasV source dSource target dTarget
    else
        match act with
        | Tanh -> kickSensitivityWith V4 (tanhWithDerivative V4) sc fromY rows n m alpha k bias biasV dk dBias dBiasV source dSource target dTarget
        | Relu -> kickSensitivityWith V4 (reluWithDerivative V4) sc fromY rows n m alpha k bias biasV dk dBias dBiasV source dSource target dTarget
        | Identity -> kickSensitivityWith V4 (identityWithDerivative V4) sc fromY rows n m alpha k bias biasV dk dBias dBiasV source dSource target dTarget

let inline private kickAdjointWith (w: ^W) ([<InlineIfLambda>] sigma: ^V -> struct (^V * ^V)) (sc: Scratch) (fromY: bool) (rows: int) (n: int) (m: int) (alpha: float) (k: float[]) (bias: float[]) (biasV: float[]) (gBiasV: float[]) (source: float[]) (tBar: float[]) (sBar: float[]) =
    let width = if fromY then m else n
    splatBias w bias width biasV
    let av: ^V = Simd.splat w alpha
    for r in 0 .. Simd.lanes w .. rows - 1 do
        kickAll w fromY source rows r n m k biasV (fun o a ->
            let struct (_, d) = sigma a
            let wv = av * d * Simd.load w tBar (o * rows + r)
            Simd.store w wv sc.T (o * Lanes)
            Simd.store w (Simd.load w gBiasV (o * Lanes) + wv) gBiasV (o * Lanes))
        if fromY then
            transposeDirect w sc sc.T rows r n m k source sBar
        else
            transposeTransposed w sc sc.T rows r n m k source sBar

/// The transpose of `kick` at the source S it read: with w = α σ'(S K̂ + 1βᵀ) ⊙ T̄,
/// S̄ ← S̄ + w K̂ᵀ, and the gradient of K and colsum w (into `gBiasV`, the accumulator of the
/// bias's side: `GN` for b, `GM` for c) accumulated in the scratch. S̄ may be T̄'s array.
let kickAdjoint (act: Activation) (sc: Scratch) (fromY: bool) (rows: int) (n: int) (m: int) (alpha: float) (k: float[]) (bias: float[]) (biasV: float[]) (gBiasV: float[]) (source: float[]) (tBar: float[]) (sBar: float[]) =
    if useVector512 then
        match act with
        | Tanh -> kickAdjointWith V8 (tanhWithDerivative V8) sc fromY rows n m alpha k bias biasV gBiasV source tBar sBar
        | Relu -> kickAdjointWith V8 (reluWithDerivative V8) sc fromY rows n m alpha k bias biasV gBiasV source tBar sBar
        | Identity -> kickAdjointWith V8 (identityWithDerivative V8) sc fromY rows n m alpha k bias biasV gBiasV source tBar sBar
    else
        match act with
        | Tanh -> kickAdjointWith V4 (tanhWithDerivative V4) sc fromY rows n m alpha k bias biasV gBiasV source tBar sBar
        | Relu -> kickAdjointWith V4 (reluWithDerivative V4) sc fromY rows n m alpha k bias biasV gBiasV source tBar sBar
        | Identity -> kickAdjointWith V4 (identityWithDerivative V4) sc fromY rows n m alpha k bias biasV gBiasV source tBar sBar
