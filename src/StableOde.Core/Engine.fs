/// The fast solves: the propagators of ResNet.fs, Leapfrog.fs and Verlet.fs re-expressed as
/// allocation-free, in-place updates on one block of examples with reused workspaces. Examples
/// are independent, so a batch is cut into row blocks that run on all cores with no
/// synchronisation between layers; only parameter gradients are summed, in block order, so the
/// result does not depend on the number of cores. Dense operators (and their antisymmetric and
/// negative-semidefinite parametrisations) run the fused kernels of `Fused` on machines with
/// 512-bit or 256-bit vectors, and ResNet and Verlet with a 3×3 convolution those of
/// `FusedConv` on machines with 512-bit vectors; every other case runs the generic path below, whole-column operator products (convolutions
/// by the direct kernels of `Operator.fast…`). Results agree with the
/// reference step functions to round-off (tests hold them to 1e-12).
[<OptimisedFromFirstCall>]
module StableOde.Core.Engine

open System.Threading.Tasks
open StableOde.Core.Kernels
open StableOde.Core.Layer

/// Scratch buffers of one block: pre-activations, activations, derivatives and temporaries of
/// width n (features) and m (Verlet's Z; equal to n otherwise), and a copy of Z.
type Workspace =
    { An: float[]; Un: float[]; Dn: float[]; Tn: float[]
      Am: float[]; Um: float[]; Dm: float[]; Tm: float[]; Zs: float[] }

/// One block of examples: the solve's context for its rows and its workspace.
type Block =
    { /// The context of the block's arrays: `Ctx.S` is their row count, a multiple of
      /// `Fused.Lanes` (rows past `Rows` are padding).
      Ctx: Context
      /// The first row of the batch this block holds.
      Start: int
      /// The number of examples the block holds.
      Rows: int
      /// Whole-width workspaces of the generic path, allocated on its first use (the fused
      /// paths never need them).
      Ws: System.Lazy<Workspace>
      /// Scratch of the fused dense kernels (empty unless the network runs them: its gradient
      /// accumulators grow as n·m).
      Scratch: Fused.Scratch
      /// The effective dense matrix of a parametrised dense operator (n×m), else empty.
      Matrix: float[]
      /// The gradient with respect to `Matrix`, before it is pulled back to θ.
      MatrixGradient: float[]
      /// The derivative of `Matrix` in a direction δθ (sensitivity).
      MatrixDirection: float[] }

/// Features from which a network counts as wide (a convolution on images, say): its blocks are
/// cut small so that each block's states stay in cache from one layer to the next.
[<Literal>]
let WideFrom = 512

/// The number of blocks, chosen from the batch size and the width alone so that results do not
/// depend on the machine: a power of two (at most 8) with at least 128 rows each for narrow
/// networks; for networks of `WideFrom` features or more, blocks of 32–40 rows (whole groups of
/// eight), whose arrays of a few megabytes stay in cache across layers instead of streaming a
/// tall block's every column (each on its own page) through memory at every layer.
let blockCount (width: int) (s: int) =
    if width >= WideFrom then max 1 ((s + Fused.Lanes - 1) / Fused.Lanes / 4)
    else
        let mutable b = 1
        while b < 8 && s / (2 * b) >= 128 do
            b <- 2 * b
        b

let private zWidth (net: Network) =
    match net.Propagator with
    | Verlet -> Operator.outWidth net.Operator
    | _ -> Operator.inWidth net.Operator

/// Whether a propagator carries the second variable Z.
let hasZ (net: Network) =
    match net.Propagator with
    | Leapfrog | Verlet -> true
    | ResNet | AntisymmetricResNet -> false

/// Whether a network's steps run the fused kernels: a dense operator, plain or parametrised,
/// on a machine with 512-bit or 256-bit vectors.
let isFused (net: Network) =
    Fused.available
    && (match net.Operator with
        | Dense _ | Antisymmetric(Dense _, _) | NegativeSemidefinite(Dense _) -> true
        | _ -> false)

/// Whether a network's steps run the fused convolution kernels: ResNet or Verlet with a plain
/// 3×3 convolution, on a machine with 512-bit vectors.
let isConvFused (net: Network) =
    FusedConv.available
    && (match net.Propagator, net.Operator with
        | (ResNet | Verlet), Conv3x3 _ -> true
        | _ -> false)

/// Cuts a batch of s rows into blocks of whole groups of `Fused.Lanes` rows (the last block
/// padded), each with its own context and workspaces.
let blocks (net: Network) (s: int) : Block[] =
    let count = blockCount (Operator.inWidth net.Operator) s
    let groups = (s + Fused.Lanes - 1) / Fused.Lanes
    let n, m = Operator.inWidth net.Operator, zWidth net
    let h = Network.stepSize net
    let matrixSize =
        match net.Operator with
        | Antisymmetric(Dense _, _) | NegativeSemidefinite(Dense _) -> n * m
        | _ -> 0
    Array.init count (fun i ->
        let first = groups * i / count * Fused.Lanes
        let stride = groups * (i + 1) / count * Fused.Lanes - first
        let buf w = Array.zeroCreate (stride * w)
        { Ctx = { Net = net; S = stride; H = h }
          Start = first
          Rows = min s (first + stride) - first
          Ws = System.Lazy<Workspace>(fun () ->
              { An = buf n; Un = buf n; Dn = buf n; Tn = buf n; Am = buf m; Um = buf m; Dm = buf m; Tm = buf m; Zs = buf m })
          Scratch = if isFused net then Fused.scratch n m else Fused.scratch 0 0
          Matrix = Array.zeroCreate matrixSize
          MatrixGradient = Array.zeroCreate matrixSize
          MatrixDirection = Array.zeroCreate matrixSize })

/// The rows of a column-major s×w array that a block holds, as a new array of the block's
/// layout; padding rows repeat the block's last example, so they stay finite wherever it does.
let extract (b: Block) (s: int) (w: int) (src: float[]) : float[] =
    let rows = b.Ctx.S
    let dst = Array.zeroCreate (rows * w)
    for c in 0 .. w - 1 do
        System.Array.Copy(src, c * s + b.Start, dst, c * rows, b.Rows)
        System.Array.Fill(dst, src[c * s + b.Start + b.Rows - 1], c * rows + b.Rows, rows - b.Rows)
    dst

/// As `extract`, with zero padding rows: for adjoint states, so that padding contributes
/// nothing to the parameter gradients.
let extractZeroPadded (b: Block) (s: int) (w: int) (src: float[]) : float[] =
    let rows = b.Ctx.S
    let dst = Array.zeroCreate (rows * w)
    for c in 0 .. w - 1 do
        System.Array.Copy(src, c * s + b.Start, dst, c * rows, b.Rows)
    dst

/// Writes a block's examples back into a column-major s×w array.
let insert (b: Block) (s: int) (w: int) (src: float[]) (dst: float[]) =
    let rows = b.Ctx.S
    for c in 0 .. w - 1 do
        System.Array.Copy(src, c * rows, dst, c * s + b.Start, b.Rows)

/// At most one worker a core: without the cap the thread pool injects threads into long loops
/// (dozens on a big convolutional batch), which then compete for the same cores.
let private onePerCore = ParallelOptions(MaxDegreeOfParallelism = System.Environment.ProcessorCount)

/// Runs f on every block (with its index), on all cores.
let parallelFor (blocks: Block[]) (f: int -> Block -> unit) =
    if blocks.Length = 1 then f 0 blocks[0]
    else Parallel.For(0, blocks.Length, onePerCore, fun i -> f i blocks[i]) |> ignore

// ---- the layer map on a block, in place -------------------------------------------------

/// dst ← X K(θ) + 1bᵀ (Direct) or X K(θ)ᵀ + 1bᵀ (Transposed).
let private pre (b: Block) (side: Side) (theta: float[]) (bias: float[]) (x: float[]) (dst: float[]) =
    let op = b.Ctx.Net.Operator
    match side with
    | Direct -> Operator.fastApplyInto false 1.0 op b.Ctx.S theta x dst
    | Transposed -> Operator.fastApplyTransposeInto false 1.0 op b.Ctx.S theta x dst
    addBias b.Ctx.S (outputWidth op side) bias dst

/// u ← σ(a), d ← σ'(a) (d may be null) on a buffer of the given width.
let private activate (b: Block) (width: int) (a: float[]) (u: float[]) (d: float[]) =
    Activation.evaluateInto b.Ctx.Net.Activation (b.Ctx.S * width) a u d

/// t ← σ'(a) ⊙ (δX K + X K'(θ)[δθ] + 1δbᵀ) with d = σ'(a) already computed.
let private linearised (b: Block) (side: Side) (theta: float[]) (x: float[]) (dx: float[]) (dTheta: float[]) (db: float[]) (d: float[]) (t: float[]) =
    let op = b.Ctx.Net.Operator
    let s = b.Ctx.S
    match side with
    | Direct ->
        Operator.fastApplyInto false 1.0 op s theta dx t
        Operator.fastDerivativeInto true 1.0 op s theta x dTheta t
    | Transposed ->
        Operator.fastApplyTransposeInto false 1.0 op s theta dx t
        Operator.fastTransposeDerivativeInto true 1.0 op s theta x dTheta t
    addBias s (outputWidth op side) db t
    multiplyInPlace d t

/// The transpose of `linearised` scaled by α, for t = σ'(a) ⊙ ū already formed:
/// x̄ ← x̄ + α t Kᵀ, gθ ← gθ + α ∂⟨X K(θ), t⟩/∂θ, gb ← gb + α colsum(t).
let private transposed (b: Block) (side: Side) (theta: float[]) (x: float[]) (alpha: float) (t: float[]) (xBar: float[]) (gTheta: float[]) (gb: float[]) =
    let op = b.Ctx.Net.Operator
    let s = b.Ctx.S
    match side with
    | Direct ->
        Operator.fastApplyTransposeInto true alpha op s theta t xBar
        Operator.fastDerivativeTransposeInto true alpha op s theta x t gTheta
    | Transposed ->
        Operator.fastApplyInto true alpha op s theta t xBar
        Operator.fastDerivativeTransposeInto true alpha op s theta t x gTheta
    addBiasTranspose alpha s (outputWidth op side) t gb

/// t ← d ⊙ v over a buffer of the given width.
let private hadamard (b: Block) (width: int) (d: float[]) (v: float[]) (t: float[]) =
    let count = b.Ctx.S * width
    System.Numerics.Tensors.TensorPrimitives.Multiply(System.ReadOnlySpan(d, 0, count), System.ReadOnlySpan(v, 0, count), System.Span(t, 0, count))

let private omega (j: int) = if j = 0 then 0.5 else 1.0

// ---- the generic path: operator products over whole columns ----------------------------

/// (Y_j, Z_{j−½}) ← (Y_{j+1}, Z_{j+½}) on the generic path.
let private genericStep (b: Block) (j: int) (w: Weights) (y: float[]) (z: float[]) =
    let ws = b.Ws.Value
    let h = b.Ctx.H
    let n = Operator.inWidth b.Ctx.Net.Operator
    match b.Ctx.Net.Propagator with
    | ResNet | AntisymmetricResNet ->
        pre b Direct w.K w.b y ws.An
        activate b n ws.An ws.Un null
        axpy h ws.Un y
    | Leapfrog ->
        pre b Direct w.K w.b y ws.An
        activate b n ws.An ws.Un null
        axpy (omega j * h) ws.Un z
        axpy h z y
    | Verlet ->
        let m = Operator.outWidth b.Ctx.Net.Operator
        pre b Direct w.K w.c y ws.Am
        activate b m ws.Am ws.Um null
        axpy (-h) ws.Um z
        pre b Transposed w.K w.b z ws.An
        activate b n ws.An ws.Un null
        axpy h ws.Un y

/// (Y_{j+1}, Z_{j+½}) ← (Y_j, Z_{j−½}) by the exact inverse, on the generic path.
let private genericReverse (b: Block) (j: int) (w: Weights) (y: float[]) (z: float[]) =
    let ws = b.Ws.Value
    let h = b.Ctx.H
    let n = Operator.inWidth b.Ctx.Net.Operator
    match b.Ctx.Net.Propagator with
    | Leapfrog ->
        axpy (-h) z y
        pre b Direct w.K w.b y ws.An
        activate b n ws.An ws.Un null
        axpy (-(omega j) * h) ws.Un z
    | Verlet ->
        let m = Operator.outWidth b.Ctx.Net.Operator
        pre b Transposed w.K w.b z ws.An
        activate b n ws.An ws.Un null
        axpy (-h) ws.Un y
        pre b Direct w.K w.c y ws.Am
        activate b m ws.Am ws.Um null
        axpy h ws.Um z
    | ResNet | AntisymmetricResNet -> invalidArg "strategy" "reversal needs leapfrog or Verlet: forward Euler is not invertible in closed form"

/// Sensitivity step on the generic path.
let private genericSensitivityStep (b: Block) (j: int) (w: Weights) (dw: Weights) (y: float[]) (z: float[]) (dy: float[]) (dz: float[]) =
    let ws = b.Ws.Value
    let h = b.Ctx.H
    let n = Operator.inWidth b.Ctx.Net.Operator
    match b.Ctx.Net.Propagator with
    | ResNet | AntisymmetricResNet ->
        pre b Direct w.K w.b y ws.An
        activate b n ws.An ws.Un ws.Dn
        linearised b Direct w.K y dy dw.K dw.b ws.Dn ws.Tn
        axpy h ws.Tn dy
        axpy h ws.Un y
    | Leapfrog ->
        pre b Direct w.K w.b y ws.An
        activate b n ws.An ws.Un ws.Dn
        linearised b Direct w.K y dy dw.K dw.b ws.Dn ws.Tn
        axpy (omega j * h) ws.Tn dz
        axpy h dz dy
        axpy (omega j * h) ws.Un z
        axpy h z y
    | Verlet ->
        let m = Operator.outWidth b.Ctx.Net.Operator
        pre b Direct w.K w.c y ws.Am
        activate b m ws.Am ws.Um ws.Dm
        linearised b Direct w.K y dy dw.K dw.c ws.Dm ws.Tm
        axpy (-h) ws.Tm dz
        axpy (-h) ws.Um z
        pre b Transposed w.K w.b z ws.An
        activate b n ws.An ws.Un ws.Dn
        linearised b Transposed w.K z dz dw.K dw.b ws.Dn ws.Tn
        axpy h ws.Tn dy
        axpy h ws.Un y

/// Adjoint step j on the generic path.
let private genericAdjointStep (b: Block) (j: int) (w: Weights) (y: float[]) (z': float[]) (yBar: float[]) (zBar: float[]) (g: Weights) =
    let ws = b.Ws.Value
    let h = b.Ctx.H
    let n = Operator.inWidth b.Ctx.Net.Operator
    match b.Ctx.Net.Propagator with
    | ResNet | AntisymmetricResNet ->
        pre b Direct w.K w.b y ws.An
        activate b n ws.An ws.Un ws.Dn
        hadamard b n ws.Dn yBar ws.Tn
        transposed b Direct w.K y h ws.Tn yBar g.K g.b
    | Leapfrog ->
        axpy h yBar zBar
        pre b Direct w.K w.b y ws.An
        activate b n ws.An ws.Un ws.Dn
        hadamard b n ws.Dn zBar ws.Tn
        transposed b Direct w.K y (omega j * h) ws.Tn yBar g.K g.b
    | Verlet ->
        let m = Operator.outWidth b.Ctx.Net.Operator
        pre b Transposed w.K w.b z' ws.An
        activate b n ws.An ws.Un ws.Dn
        hadamard b n ws.Dn yBar ws.Tn
        transposed b Transposed w.K z' h ws.Tn zBar g.K g.b
        pre b Direct w.K w.c y ws.Am
        activate b m ws.Am ws.Um ws.Dm
        hadamard b m ws.Dm zBar ws.Tm
        transposed b Direct w.K y (-h) ws.Tm yBar g.K g.c

// ---- the fused path and the public steps -------------------------------------------------

/// The dense matrix the fused kernels multiply by for θ: K itself, ½(K − Kᵀ − γI) for the
/// antisymmetric parametrisation, −B Bᵀ for the negative-semidefinite one (B = θ).
let private matrixOf (b: Block) (theta: float[]) : float[] =
    match b.Ctx.Net.Operator with
    | Antisymmetric(Dense(n, _), gamma) ->
        let mat = b.Matrix
        for o in 0 .. n - 1 do
            for i in 0 .. n - 1 do
                mat[o * n + i] <- 0.5 * (theta[o * n + i] - theta[i * n + o]) - (if i = o then 0.5 * gamma else 0.0)
        mat
    | NegativeSemidefinite(Dense(n, r)) ->
        let mat = b.Matrix
        for o in 0 .. n - 1 do
            for i in 0 .. n - 1 do
                let mutable acc = 0.0
                for l in 0 .. r - 1 do
                    acc <- acc + theta[l * n + i] * theta[l * n + o]
                mat[o * n + i] <- -acc
        mat
    | _ -> theta

/// The derivative of `matrixOf` at θ in direction δθ: δθ itself, ½(δθ − δθᵀ) for the
/// antisymmetric parametrisation, −(δB Bᵀ + B δBᵀ) for −B Bᵀ.
let private matrixDirectionOf (b: Block) (theta: float[]) (dTheta: float[]) : float[] =
    match b.Ctx.Net.Operator with
    | Antisymmetric(Dense(n, _), _) ->
        let dm = b.MatrixDirection
        for o in 0 .. n - 1 do
            for i in 0 .. n - 1 do
                dm[o * n + i] <- 0.5 * (dTheta[o * n + i] - dTheta[i * n + o])
        dm
    | NegativeSemidefinite(Dense(n, r)) ->
        let dm = b.MatrixDirection
        for o in 0 .. n - 1 do
            for i in 0 .. n - 1 do
                let mutable acc = 0.0
                for l in 0 .. r - 1 do
                    acc <- acc + dTheta[l * n + i] * theta[l * n + o] + theta[l * n + i] * dTheta[l * n + o]
                dm[o * n + i] <- -acc
        dm
    | _ -> dTheta

/// Adds the layer gradient accumulated by a fused adjoint kernel to g: the gradient with
/// respect to the effective matrix, pulled back to θ (G ↦ ½(G − Gᵀ) for the antisymmetric
/// parametrisation, G ↦ −(G + Gᵀ) B for −B Bᵀ), and the bias gradients.
let private reduceInto (b: Block) (theta: float[]) (gbN: float[]) (gbM: float[]) (gTheta: float[]) =
    let net = b.Ctx.Net
    let n, m = Operator.inWidth net.Operator, zWidth net
    match net.Operator with
    | Antisymmetric(Dense _, _) ->
        let gm = b.MatrixGradient
        System.Array.Clear gm
        Fused.reduce b.Scratch n m gm gbN gbM
        for o in 0 .. n - 1 do
            for i in 0 .. n - 1 do
                gTheta[o * n + i] <- gTheta[o * n + i] + 0.5 * (gm[o * n + i] - gm[i * n + o])
    | NegativeSemidefinite(Dense(_, r)) ->
        let gm = b.MatrixGradient
        System.Array.Clear gm
        Fused.reduce b.Scratch n m gm gbN gbM
        for l in 0 .. r - 1 do
            for i in 0 .. n - 1 do
                let mutable acc = 0.0
                for o in 0 .. n - 1 do
                    acc <- acc + (gm[o * n + i] + gm[i * n + o]) * theta[l * n + o]
                gTheta[l * n + i] <- gTheta[l * n + i] - acc
    | _ -> Fused.reduce b.Scratch n m gTheta gbN gbM

/// The calling thread's scratch of the fused convolution kernels for a network's sizes.
let private convScratch (net: Network) =
    match net.Operator with
    | Conv3x3(c, h, w) -> FusedConv.scratchFor c h w net.BiasWidth (if net.Propagator = Verlet then net.AuxBiasWidth else 0)
    | _ -> invalidOp "the fused convolution kernels need a 3×3 convolution"

/// (Y_j, Z_{j−½}) ← (Y_{j+1}, Z_{j+½}).
let step (b: Block) (j: int) (w: Weights) (y: float[]) (z: float[]) =
    let net = b.Ctx.Net
    if isConvFused net then
        let sc = convScratch net
        FusedConv.prepare sc w.K
        if net.Propagator = Verlet then FusedConv.verletStep net.Activation sc b.Ctx.S b.Ctx.H w.b w.c y z
        else FusedConv.resnetStep net.Activation sc b.Ctx.S b.Ctx.H w.b y
    elif isFused net then
        let act, rows, h, k = net.Activation, b.Ctx.S, b.Ctx.H, matrixOf b w.K
        let n = Operator.inWidth net.Operator
        match net.Propagator with
        | ResNet | AntisymmetricResNet -> Fused.resnetStep act b.Scratch rows n h k w.b y
        | Leapfrog -> Fused.leapfrogStep act b.Scratch rows n h (omega j) k w.b y z
        | Verlet -> Fused.verletStep act b.Scratch rows n (zWidth net) h k w.b w.c y z
    else genericStep b j w y z

/// Sensitivity step: (δY, δZ) and (Y, Z) advance together from j to j+1, in place, for the
/// direction dw of layer j's parameters.
let sensitivityStep (b: Block) (j: int) (w: Weights) (dw: Weights) (y: float[]) (z: float[]) (dy: float[]) (dz: float[]) =
    let net = b.Ctx.Net
    if isFused net then
        let act, rows, h = net.Activation, b.Ctx.S, b.Ctx.H
        let k, dk = matrixOf b w.K, matrixDirectionOf b w.K dw.K
        let n = Operator.inWidth net.Operator
        match net.Propagator with
        | ResNet | AntisymmetricResNet -> Fused.resnetSensitivity act b.Scratch rows n h k w.b dk dw.b y dy
        | Leapfrog -> Fused.leapfrogSensitivity act b.Scratch rows n h (omega j) k w.b dk dw.b y z dy dz
        | Verlet -> Fused.verletSensitivity act b.Scratch rows n (zWidth net) h k w.b w.c dk dw.b dw.c y z dy dz
    else genericSensitivityStep b j w dw y z dy dz

/// (Y_{j+1}, Z_{j+½}) ← (Y_j, Z_{j−½}) by the exact inverse (leapfrog and Verlet).
let reverse (b: Block) (j: int) (w: Weights) (y: float[]) (z: float[]) =
    let net = b.Ctx.Net
    match net.Propagator with
    | Leapfrog | Verlet when isFused net ->
        let act, rows, h, k = net.Activation, b.Ctx.S, b.Ctx.H, matrixOf b w.K
        let n = Operator.inWidth net.Operator
        if net.Propagator = Leapfrog then Fused.leapfrogReverse act b.Scratch rows n h (omega j) k w.b y z
        else Fused.verletReverse act b.Scratch rows n (zWidth net) h k w.b w.c y z
    | _ -> genericReverse b j w y z

let private fusedAdjoint (b: Block) (reversing: bool) (j: int) (w: Weights) (y: float[]) (z: float[]) (yBar: float[]) (zBar: float[]) (g: Weights) =
    let net = b.Ctx.Net
    let act, rows, h, k = net.Activation, b.Ctx.S, b.Ctx.H, matrixOf b w.K
    let n = Operator.inWidth net.Operator
    match net.Propagator with
    | ResNet | AntisymmetricResNet ->
        Fused.resnetAdjoint act b.Scratch rows n h k w.b y yBar
        reduceInto b w.K g.b Array.empty g.K
    | Leapfrog ->
        Fused.leapfrogAdjoint act b.Scratch reversing rows n h (omega j) k w.b y z yBar zBar
        reduceInto b w.K g.b Array.empty g.K
    | Verlet ->
        Fused.verletAdjoint act b.Scratch reversing rows n (zWidth net) h k w.b w.c y z yBar zBar
        reduceInto b w.K g.b g.c g.K

/// The adjoint of a step on the fused convolution path, optionally fused with its inverse
/// (Verlet); the layer's gradients are added to g.
let private convAdjoint (b: Block) (reversing: bool) (w: Weights) (y: float[]) (z: float[]) (yBar: float[]) (zBar: float[]) (g: Weights) =
    let net = b.Ctx.Net
    let sc = convScratch net
    FusedConv.prepare sc w.K
    if net.Propagator = Verlet then FusedConv.verletAdjoint net.Activation sc reversing b.Ctx.S b.Ctx.H w.b w.c y z yBar zBar
    else FusedConv.resnetAdjoint net.Activation sc b.Ctx.S b.Ctx.H w.b y yBar
    FusedConv.reduce sc g.K g.b g.c

/// Adjoint step j: (Ȳ, Z̄) go from j+1 back to j in place, given Y_j and Z_{j+½}; the
/// gradients of layer j are added to g.
let adjointStep (b: Block) (j: int) (w: Weights) (y: float[]) (z': float[]) (yBar: float[]) (zBar: float[]) (g: Weights) =
    if isConvFused b.Ctx.Net then convAdjoint b false w y z' yBar zBar g
    elif isFused b.Ctx.Net then fusedAdjoint b false j w y z' yBar zBar g
    else genericAdjointStep b j w y z' yBar zBar g

/// The reversal strategy's step j (leapfrog and Verlet): (Y, Z) go from (Y_{j+1}, Z_{j+½}) back
/// to (Y_j, Z_{j−½}) by the exact inverse and (Ȳ, Z̄) from j+1 back to j, in place; the
/// gradients of layer j are added to g. The fused path shares the pre-activations of the
/// inverse and the adjoint, one pass over the block.
let reverseAdjointStep (b: Block) (j: int) (w: Weights) (y: float[]) (z: float[]) (yBar: float[]) (zBar: float[]) (g: Weights) =
    if isConvFused b.Ctx.Net && b.Ctx.Net.Propagator = Verlet then convAdjoint b true w y z yBar zBar g
    elif isFused b.Ctx.Net then fusedAdjoint b true j w y z yBar zBar g
    else
        System.Array.Copy(z, b.Ws.Value.Zs, z.Length)
        genericReverse b j w y z
        genericAdjointStep b j w y b.Ws.Value.Zs yBar zBar g
