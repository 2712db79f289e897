/// The fast backend: every scheme's stages (SPEC §1b) as allocation-free, in-place updates on
/// one block of examples with reused workspaces. Examples are independent, so a batch is cut
/// into row blocks that run on all cores with no synchronisation between layers; only parameter
/// gradients are summed, in block order, so the result does not depend on the number of cores.
///
/// A layer is its stages: forward in order, linearised in order, transposed in reverse order,
/// undone in reverse order. Each stage runs a primitive — a kick (its forward, linearisation and
/// transpose) or a drift — on the fused per-stage kernels on machines with 512-bit or 256-bit
/// vectors: `Fused` for dense operators (and their antisymmetric and negative-semidefinite
/// parametrisations), `FusedConv` for 3×3 convolutions (and their antisymmetric
/// parametrisation), the linearised layer of the recorded Jacobian on a convolution included
/// (its kicks from their kept activations); every other case on whole-column operator products
/// (`Operator.fast…`).
/// A parametrised operator runs the kernels of the plain one on its effective weights, and the
/// gradient is pulled back to θ. Fusion across stages is this backend's business: it recognises
/// the stage lists of ResNet, leapfrog and Verlet and runs their whole-layer kernels (`Fused`,
/// and `FusedConv` for ResNet and Verlet on a convolution). Results agree with the plain backend
/// to round-off (tests hold them to 1e-12).
[<OptimisedFromFirstCall>]
module StableOde.Core.Engine

open System.Threading.Tasks
open StableOde.Core.Kernels
open StableOde.Core.Layer

/// How a block runs a layer: one of the whole-layer kernels of a recognised stage list, or the
/// stages one at a time.
type Fusion =
    /// `Fused.resnet…`: the stage list of `Scheme.resnet` on a dense operator.
    | FusedResNet
    /// `Fused.leapfrog…`: `Scheme.leapfrog` on a dense operator.
    | FusedLeapfrog
    /// `Fused.verlet…`: `Scheme.verlet` on a dense operator (tiles of 32 rows).
    | FusedVerlet
    /// `FusedConv.resnet…`: `Scheme.resnet` on a 3×3 convolution (plain or antisymmetric).
    | ConvResNet
    /// `FusedConv.verlet…`: `Scheme.verlet` on a 3×3 convolution (plain or antisymmetric).
    | ConvVerlet
    /// Stage by stage on the fused per-stage kernels `Fused.kick…` (dense operators).
    | FusedStages
    /// Stage by stage on the fused per-stage kernels `FusedConv.kick…` (3×3 convolutions).
    | ConvStages
    /// Stage by stage on whole-column operator products.
    | Stages

/// Scratch buffers of one block: pre-activations, activations, derivatives and temporaries of
/// width n (features) and m (Z) (empty on a convolution: `workspace`), working copies of (Y, Z),
/// and the source a kick read, one per stage (the transposed stages need them).
type Workspace =
    { An: float[]; Un: float[]; Dn: float[]; Tn: float[]
      Am: float[]; Um: float[]; Dm: float[]; Tm: float[]
      Yw: float[]; Zw: float[]
      Sources: float[][] }

/// The sizes of a block's workspace: its rows, n and m, whether it has the whole-column buffers
/// of the operator products (An … Tm; not on a convolution, whose fused kernels keep their
/// intermediates in their own scratch) and the width of the source each stage's kick keeps (0
/// for a drift).
type WorkspaceShape = { BlockRows: int; Width: int; AuxWidth: int; WholeColumns: bool; KickSources: int[] }

/// The bytes of a workspace of this shape.
let private workspaceBytes (shape: WorkspaceShape) =
    let whole = if shape.WholeColumns then 4L * int64 (shape.Width + shape.AuxWidth) else 0L
    8L * int64 shape.BlockRows * (whole + int64 (shape.Width + shape.AuxWidth) + (shape.KickSources |> Array.sumBy int64))

/// A thread's workspace and its shape.
type private HeldWorkspace = { Shape: WorkspaceShape; Workspace: Kept<Workspace> }

let private heldWorkspace = new System.Threading.ThreadLocal<HeldWorkspace option>(fun () -> None)

/// The calling thread's workspace of this shape: the one of the last block of the shape it ran,
/// else a new one, which it keeps (one shape a thread; `Kept`). A workspace serves within one
/// call of a step (nothing in it outlives the call), and a thread runs one block's step at a
/// time, so the blocks of a pass share as many workspaces as threads run them, and the passes
/// after it too.
let private threadWorkspace (shape: WorkspaceShape) : Workspace =
    let kept =
        match heldWorkspace.Value with
        | Some h when obj.ReferenceEquals(h.Shape, shape) -> h.Workspace.TryGet()
        | Some h when h.Shape = shape ->
            // The same shape from another set of blocks: held under this one's, so that its next
            // calls find it by reference.
            heldWorkspace.Value <- Some { h with Shape = shape }
            h.Workspace.TryGet()
        | _ -> None
    match kept with
    | Some w -> w
    | None ->
        let buf w = Array.zeroCreate (shape.BlockRows * w)
        let whole w = if shape.WholeColumns then buf w else Array.empty
        let n, m = shape.Width, shape.AuxWidth
        let w =
            { An = whole n; Un = whole n; Dn = whole n; Tn = whole n; Am = whole m; Um = whole m; Dm = whole m; Tm = whole m
              Yw = buf n; Zw = buf m
              Sources = shape.KickSources |> Array.map (fun width -> if width = 0 then Array.empty else buf width) }
        heldWorkspace.Value <- Some { Shape = shape; Workspace = Kept<Workspace>.Of(workspaceBytes shape, w) }
        w

/// The workspace of the blocks of one shape: `Value` is the calling thread's (`threadWorkspace`).
type Workspaces internal (shape: WorkspaceShape) =
    member _.Value = threadWorkspace shape

/// One block of examples: the solve's context for its rows and its workspace.
type Block =
    { /// The context of the block's arrays: `Ctx.S` is their row count, a multiple of
      /// `Fused.Lanes` (rows past `Rows` are padding).
      Ctx: Context
      /// The first row of the batch this block holds.
      Start: int
      /// The number of examples the block holds.
      Rows: int
      /// The network's stages, in order.
      Stages: Stage[]
      /// How the block runs a layer.
      Fusion: Fusion
      /// Whole-width workspaces, the calling thread's (`workspace`; the whole-layer kernels never
      /// need them).
      Ws: Workspaces
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
/// networks; for networks of `WideFrom` features or more, blocks of 16–23 rows (two groups of
/// eight, the last block up to three): the fused convolution kernels walk a block in chunks of
/// 8 or 16 examples, and with so few rows a chunk's entries of every feature lie next to each
/// other, so the block's states stream through the cache in order. Blocks of 32–40 rows spread
/// a chunk's entries 256 bytes apart and ran 1.4× slower on a Zen 3 (docs/performance.md).
let blockCount (width: int) (s: int) =
    if width >= WideFrom then max 1 ((s + Fused.Lanes - 1) / Fused.Lanes / 2)
    else
        let mutable b = 1
        while b < 8 && s / (2 * b) >= 128 do
            b <- 2 * b
        b

/// Whether a network's state carries Z (a stage names it).
let hasZ (net: Network) = Scheme.usesZ (Network.scheme net)

/// Whether a network's operator runs the fused dense kernels: dense, plain or parametrised, on a
/// machine with 512-bit or 256-bit vectors.
let isFused (net: Network) =
    Fused.available
    && (match net.Operator with
        | Dense _ | Antisymmetric(Dense _, _) | NegativeSemidefinite(Dense _) -> true
        | _ -> false)

/// Whether a network's operator runs the fused convolution kernels: a 3×3 convolution, plain or
/// antisymmetric, on a machine with 512-bit or 256-bit vectors.
let isFusedConv (net: Network) =
    FusedConv.available
    && (match net.Operator with
        | Conv3x3 _ | Antisymmetric(Conv3x3 _, _) -> true
        | _ -> false)

/// How a network's layers run: a whole-layer kernel when its stage list is one the backend
/// fuses, else stage by stage.
let fusion (net: Network) : Fusion =
    let scheme = Network.scheme net
    if isFused net then
        if scheme = Scheme.resnet then FusedResNet
        elif scheme = Scheme.leapfrog then FusedLeapfrog
        elif scheme = Scheme.verlet then FusedVerlet
        else FusedStages
    elif isFusedConv net then
        if scheme = Scheme.resnet then ConvResNet
        elif scheme = Scheme.verlet then ConvVerlet
        else ConvStages
    else Stages

/// Whether a layer run this way runs the fused convolution kernels (whole layers or stages).
let private isConv (how: Fusion) =
    match how with
    | ConvResNet | ConvVerlet | ConvStages -> true
    | _ -> false

/// Whether a block runs the fused convolution kernels (whole layers or stages).
let private onConv (b: Block) = isConv b.Fusion

/// The workspaces of a block of `rows` rows of the network.
let workspace (net: Network) (rows: int) : Workspaces =
    let n, m = Network.width net, Network.auxWidth net
    let widthOf v = if v = Variable.Y then n else m
    Workspaces
        { BlockRows = rows
          Width = n
          AuxWidth = m
          WholeColumns = not (isConv (fusion net))
          KickSources = (Network.scheme net).Stages |> List.toArray |> Array.map (fun st -> if st.Kind = Kick then widthOf st.Source else 0) }

/// Cuts a batch of s rows into blocks of whole groups of `Fused.Lanes` rows (the last block
/// padded), each with its own context and scratch; their whole-width workspaces are those of
/// the threads that run them (`workspace`).
let blocks (net: Network) (s: int) : Block[] =
    let count = blockCount (Operator.inWidth net.Operator) s
    let groups = (s + Fused.Lanes - 1) / Fused.Lanes
    let n, m = Network.width net, Network.auxWidth net
    let h = Network.stepSize net
    let stages = List.toArray (Network.scheme net).Stages
    let how = fusion net
    let matrixSize =
        match net.Operator with
        | Antisymmetric(Dense _, _) | NegativeSemidefinite(Dense _) -> n * m
        | Antisymmetric(Conv3x3(c, _, _), _) -> 9 * c * c
        | _ -> 0
    // One set of workspaces a stride (blocks differ by at most a group), so that a thread moving
    // from block to block finds its workspace by reference.
    let workspaces = System.Collections.Generic.Dictionary<int, Workspaces>()
    let workspaceOf stride =
        match workspaces.TryGetValue stride with
        | true, w -> w
        | _ ->
            let w = workspace net stride
            workspaces[stride] <- w
            w
    Array.init count (fun i ->
        let first = groups * i / count * Fused.Lanes
        let stride = groups * (i + 1) / count * Fused.Lanes - first
        { Ctx = { Net = net; S = stride; H = h }
          Start = first
          Rows = min s (first + stride) - first
          Stages = stages
          Fusion = how
          Ws = workspaceOf stride
          Scratch = if isFused net then Fused.scratch n m else Fused.scratch 0 0
          Matrix = Array.zeroCreate matrixSize
          MatrixGradient = Array.zeroCreate matrixSize
          MatrixDirection = Array.zeroCreate matrixSize })

/// The rows of a column-major s×w array that a block holds, written into `dst` in the block's
/// layout; padding rows repeat the block's last example, so they stay finite wherever it does.
let extractInto (b: Block) (s: int) (w: int) (src: float[]) (dst: float[]) =
    let rows = b.Ctx.S
    for c in 0 .. w - 1 do
        System.Array.Copy(src, c * s + b.Start, dst, c * rows, b.Rows)
        System.Array.Fill(dst, src[c * s + b.Start + b.Rows - 1], c * rows + b.Rows, rows - b.Rows)

/// `extractInto` a new array.
let extract (b: Block) (s: int) (w: int) (src: float[]) : float[] =
    let dst = Array.zeroCreate (b.Ctx.S * w)
    extractInto b s w src dst
    dst

/// As `extractInto`, with zero padding rows: for adjoint states, so that padding contributes
/// nothing to the parameter gradients.
let extractZeroPaddedInto (b: Block) (s: int) (w: int) (src: float[]) (dst: float[]) =
    let rows = b.Ctx.S
    for c in 0 .. w - 1 do
        System.Array.Copy(src, c * s + b.Start, dst, c * rows, b.Rows)
        System.Array.Clear(dst, c * rows + b.Rows, rows - b.Rows)

/// Writes a block's examples back into a column-major s×w array.
let insert (b: Block) (s: int) (w: int) (src: float[]) (dst: float[]) =
    let rows = b.Ctx.S
    for c in 0 .. w - 1 do
        System.Array.Copy(src, c * rows, dst, c * s + b.Start, b.Rows)

/// At most one worker a core: without the cap the thread pool injects threads into long loops
/// (dozens on a big convolutional batch), which then compete for the same cores.
let private onePerCore = ParallelOptions(MaxDegreeOfParallelism = System.Environment.ProcessorCount)

/// Runs f on 0 … count − 1, on all cores (at most one worker a core), each index taken as a
/// worker frees up.
let parallelRange (count: int) (f: int -> unit) =
    if count = 1 then f 0
    else Parallel.For(0, count, onePerCore, f) |> ignore

/// Runs f on every block (with its index), on all cores.
let parallelFor (blocks: Block[]) (f: int -> Block -> unit) = parallelRange blocks.Length (fun i -> f i blocks[i])

// ---- the effective weights of the fused kernels ------------------------------------------

/// The calling thread's scratch of the fused convolution kernels for a network's sizes.
let private convScratch (net: Network) =
    match net.Operator with
    | Conv3x3(c, h, w) | Antisymmetric(Conv3x3(c, h, w), _) -> FusedConv.scratchFor c h w net.BiasWidth net.AuxBiasWidth
    | _ -> invalidOp "the fused convolution kernels need a 3×3 convolution"

/// For entry e of a square base operator's weights: the entry the transpose puts there, and
/// whether e lies on the identity. A dense n×n K: (o·n + i) ↦ (i·n + o), the identity i = o; a
/// 3×3 convolution of c channels: (9i + tap)·c + o ↦ (9o + 8 − tap)·c + i, the identity i = o
/// at the centre tap 4.
let private transposedEntry (op: Operator) (e: int) =
    match op with
    | Conv3x3(c, _, _) ->
        let o, i, tap = e % c, e / c / 9, e / c % 9
        struct ((9 * o + 8 - tap) * c + i, i = o && tap = 4)
    | _ ->
        let n = Operator.inWidth op
        let o, i = e / n, e % n
        struct (i * n + o, i = o)

/// The weights the fused kernels multiply by for θ: K itself, ½(K − Kᵀ − γI) for the
/// antisymmetric parametrisation (dense or convolution), −B Bᵀ for the negative-semidefinite
/// one (dense, B = θ).
let private matrixOf (b: Block) (theta: float[]) : float[] =
    match b.Ctx.Net.Operator with
    | Antisymmetric(op, gamma) ->
        let mat = b.Matrix
        for e in 0 .. mat.Length - 1 do
            let struct (t, diagonal) = transposedEntry op e
            mat[e] <- 0.5 * (theta[e] - theta[t]) - (if diagonal then 0.5 * gamma else 0.0)
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
    | Antisymmetric(op, _) ->
        let dm = b.MatrixDirection
        for e in 0 .. dm.Length - 1 do
            let struct (t, _) = transposedEntry op e
            dm[e] <- 0.5 * (dTheta[e] - dTheta[t])
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

/// Whether an adjoint step is asked for the input adjoint alone (`Solve.backwardInput`): its
/// gradient g has no K. The stage kernels and the fused convolution kernels then skip the
/// parameter products; the fused dense kernels, which accumulate them on the way, have their
/// accumulators cleared instead of reduced.
let private inputOnly (g: Weights) = g.K.Length = 0

/// The layer gradient of an input-only adjoint step (see `inputOnly`).
let noGradient: Weights = { K = Array.empty; b = Array.empty; c = Array.empty }

/// Adds the layer gradient accumulated by a fused adjoint kernel (dense or convolution) to g:
/// the gradient with respect to the effective weights, pulled back to θ (G ↦ ½(G − Gᵀ) for the
/// antisymmetric parametrisation, G ↦ −(G + Gᵀ) B for −B Bᵀ) into g.K, and the bias gradients
/// (g.b, and gbM, g.c or empty for a kernel without c); for an input-only step (`inputOnly g`)
/// it only clears the dense kernels' accumulators (the convolution kernels accumulate nothing then).
let private reduceInto (b: Block) (theta: float[]) (g: Weights) (gbM: float[]) =
    let net = b.Ctx.Net
    let n, m = Network.width net, Network.auxWidth net
    let gTheta = g.K
    let reduceTo (gk: float[]) =
        if onConv b then FusedConv.reduce (convScratch net) gk g.b gbM else Fused.reduce b.Scratch n m gk g.b gbM
    match net.Operator with
    | _ when inputOnly g ->
        if not (onConv b) then
            System.Array.Clear b.Scratch.GK
            System.Array.Clear b.Scratch.GN
            System.Array.Clear b.Scratch.GM
    | Antisymmetric(op, _) ->
        let gm = b.MatrixGradient
        System.Array.Clear gm
        reduceTo gm
        for e in 0 .. gm.Length - 1 do
            let struct (t, _) = transposedEntry op e
            gTheta[e] <- gTheta[e] + 0.5 * (gm[e] - gm[t])
    | NegativeSemidefinite(Dense(_, r)) ->
        let gm = b.MatrixGradient
        System.Array.Clear gm
        reduceTo gm
        for l in 0 .. r - 1 do
            for i in 0 .. n - 1 do
                let mutable acc = 0.0
                for o in 0 .. n - 1 do
                    acc <- acc + (gm[o * n + i] + gm[i * n + o]) * theta[l * n + o]
                gTheta[l * n + i] <- gTheta[l * n + i] - acc
    | _ -> reduceTo gTheta

// ---- the primitives: a kick and a drift, their linearisation, transpose and inverse -------

/// A kick's coefficient times h in layer j.
let private alphaOf (b: Block) (j: int) (stage: Stage) = Scheme.coefficient j stage * b.Ctx.H

let inline private pick (stage: Variable) (y: float[]) (z: float[]) = if stage = Variable.Y then y else z

/// The whole-column buffers (a, u, d, t) of a kick's output width.
let private buffers (ws: Workspace) (stage: Stage) =
    if sideOf stage = Direct then struct (ws.Am, ws.Um, ws.Dm, ws.Tm) else struct (ws.An, ws.Un, ws.Dn, ws.Tn)

/// The fused kernels' scratch vectors of a kick's bias: (bias, direction, gradient) for b or c.
let private biasVectors (sc: Fused.Scratch) (stage: Stage) =
    if stage.Bias = Some BiasName.C then struct (sc.BM, sc.DM, sc.GM) else struct (sc.BN, sc.DN, sc.GN)

/// dst ← X K̂ + 1βᵀ for the side of a kick, over whole columns.
let private pre (b: Block) (side: Side) (theta: float[]) (bias: float[]) (x: float[]) (dst: float[]) =
    let op = b.Ctx.Net.Operator
    match side with
    | Direct -> Operator.fastApplyInto false 1.0 op b.Ctx.S theta x dst
    | Transposed -> Operator.fastApplyTransposeInto false 1.0 op b.Ctx.S theta x dst
    addBias b.Ctx.S (outputWidth op side) bias dst

/// u ← σ(a), d ← σ'(a) (d may be null).
let private activate (b: Block) (a: float[]) (u: float[]) (d: float[]) =
    Activation.evaluateInto b.Ctx.Net.Activation a.Length a u d

/// T ← T + α σ(S K̂ + 1βᵀ) for a kick stage (k: the matrix of the fused kernels, or θ).
let private kick (b: Block) (stage: Stage) (alpha: float) (k: float[]) (w: Weights) (source: float[]) (target: float[]) =
    let bias = biasOf stage w
    let net = b.Ctx.Net
    if b.Fusion = FusedStages then
        let struct (bv, _, _) = biasVectors b.Scratch stage
        Fused.kick net.Activation b.Scratch (stage.Source = Variable.Y) b.Ctx.S (Network.width net) (Network.auxWidth net) alpha k bias bv source target
    elif onConv b then
        let sc = convScratch net
        FusedConv.prepare sc k
        FusedConv.kick net.Activation sc (stage.Source = Variable.Y) b.Ctx.S alpha bias source target
    else
        let struct (a, u, _, _) = buffers b.Ws.Value stage
        pre b (sideOf stage) w.K bias source a
        activate b a u null
        axpy alpha u target

/// A stage applied in place in layer j; a negative `sign` undoes it (S ≠ T).
let private applyStage (b: Block) (j: int) (sign: float) (stage: Stage) (k: float[]) (w: Weights) (y: float[]) (z: float[]) =
    let source, target = pick stage.Source y z, pick stage.Target y z
    match stage.Kind with
    | Kick -> kick b stage (sign * alphaOf b j stage) k w source target
    | Drift -> axpy (sign * alphaOf b j stage) source target

/// The linearised kick at σ'(a) = d and the source S it read, over whole columns:
/// δT ← δT + α d ⊙ (δS K̂ + S K̂'[δθ] + 1δβᵀ).
let private kickLinearised (b: Block) (stage: Stage) (alpha: float) (w: Weights) (dw: Weights) (d: float[]) (source: float[]) (dSource: float[]) (dTarget: float[]) =
    let op, s, side = b.Ctx.Net.Operator, b.Ctx.S, sideOf stage
    let struct (_, _, _, t) = buffers b.Ws.Value stage
    match side with
    | Direct ->
        Operator.fastApplyInto false 1.0 op s w.K dSource t
        Operator.fastDerivativeInto true 1.0 op s w.K source dw.K t
    | Transposed ->
        Operator.fastApplyTransposeInto false 1.0 op s w.K dSource t
        Operator.fastTransposeDerivativeInto true 1.0 op s w.K source dw.K t
    addBias s (outputWidth op side) (biasOf stage dw) t
    multiplyInPlace d t
    axpy alpha t dTarget

/// The transposed kick at σ'(a) = d and the source S it read, over whole columns: with
/// t = d ⊙ T̄, S̄ ← S̄ + α t K̂ᵀ, and the gradients α ∂⟨S K̂, t⟩/∂θ and α 1ᵀt added to g (not
/// when `inputOnly g`).
let private kickTransposed (b: Block) (stage: Stage) (alpha: float) (w: Weights) (g: Weights) (d: float[]) (source: float[]) (tBar: float[]) (sBar: float[]) =
    let op, s, side = b.Ctx.Net.Operator, b.Ctx.S, sideOf stage
    let struct (_, _, _, t) = buffers b.Ws.Value stage
    System.Numerics.Tensors.TensorPrimitives.Multiply(System.ReadOnlySpan d, System.ReadOnlySpan tBar, System.Span t)
    match side with
    | Direct -> Operator.fastApplyTransposeInto true alpha op s w.K t sBar
    | Transposed -> Operator.fastApplyInto true alpha op s w.K t sBar
    if not (inputOnly g) then
        match side with
        | Direct -> Operator.fastDerivativeTransposeInto true alpha op s w.K source t g.K
        | Transposed -> Operator.fastDerivativeTransposeInto true alpha op s w.K t source g.K
        addBiasTranspose alpha s (outputWidth op side) t (biasOf stage g)

/// The linearised stage and the stage, in place: for a kick, `linearisedKick α S δS δT` adds
/// α σ'(a) ⊙ (δS K̂ + S K̂'[δθ] + 1δβᵀ) to δT and returns the activation u = σ(a), and then
/// T ← T + α u; for a drift δT ← δT + α δS and T ← T + α S.
let inline private linearisedStage (b: Block) (j: int) (stage: Stage) ([<InlineIfLambda>] linearisedKick: float -> float[] -> float[] -> float[] -> float[]) (y: float[]) (z: float[]) (dy: float[]) (dz: float[]) =
    let alpha = alphaOf b j stage
    let source, target = pick stage.Source y z, pick stage.Target y z
    let dSource, dTarget = pick stage.Source dy dz, pick stage.Target dy dz
    match stage.Kind with
    | Drift ->
        axpy alpha dSource dTarget
        axpy alpha source target
    | Kick -> axpy alpha (linearisedKick alpha source dSource dTarget) target

/// The linearised stage and the stage, in place (`linearisedStage`), with the kick's activation
/// evaluated at its pre-activation, or by the fused per-stage kernel (dense or convolution).
let private stageSensitivity (b: Block) (j: int) (stage: Stage) (k: float[]) (dk: float[]) (w: Weights) (dw: Weights) (y: float[]) (z: float[]) (dy: float[]) (dz: float[]) =
    if stage.Kind = Kick && b.Fusion = FusedStages then
        let net = b.Ctx.Net
        let struct (bv, dv, _) = biasVectors b.Scratch stage
        Fused.kickSensitivity net.Activation b.Scratch (stage.Source = Variable.Y) b.Ctx.S (Network.width net) (Network.auxWidth net)
            (alphaOf b j stage) k (biasOf stage w) bv dk (biasOf stage dw) dv (pick stage.Source y z) (pick stage.Source dy dz) (pick stage.Target y z) (pick stage.Target dy dz)
    elif stage.Kind = Kick && onConv b then
        let net = b.Ctx.Net
        let sc = convScratch net
        FusedConv.prepare sc k
        FusedConv.prepareDirection sc dk
        FusedConv.kickSensitivity net.Activation sc (stage.Source = Variable.Y) b.Ctx.S (alphaOf b j stage) (biasOf stage w) (biasOf stage dw)
            (pick stage.Source y z) (pick stage.Source dy dz) (pick stage.Target y z) (pick stage.Target dy dz)
    else
        linearisedStage b j stage (fun alpha source dSource dTarget ->
            let struct (a, u, d, _) = buffers b.Ws.Value stage
            pre b (sideOf stage) w.K (biasOf stage w) source a
            activate b a u d
            kickLinearised b stage alpha w dw d source dSource dTarget
            u) y z dy dz

/// The transposed stage at the source S it read: S̄ ← S̄ + α K̂ᵀ(σ'(a) ⊙ T̄) with the gradients
/// of K and β added to g (or to the fused kernels' accumulators; neither when `inputOnly g`) for
/// a kick; S̄ ← S̄ + α T̄ for a drift. T̄ is kept.
let private stageAdjoint (b: Block) (j: int) (stage: Stage) (k: float[]) (w: Weights) (g: Weights) (source: float[]) (yBar: float[]) (zBar: float[]) =
    let alpha = alphaOf b j stage
    let sBar, tBar = pick stage.Source yBar zBar, pick stage.Target yBar zBar
    match stage.Kind with
    | Drift -> axpy alpha tBar sBar
    | Kick when b.Fusion = FusedStages ->
        let net = b.Ctx.Net
        let struct (bv, _, gv) = biasVectors b.Scratch stage
        Fused.kickAdjoint net.Activation b.Scratch (stage.Source = Variable.Y) b.Ctx.S (Network.width net) (Network.auxWidth net)
            alpha k (biasOf stage w) bv gv source tBar sBar
    | Kick when onConv b ->
        let net = b.Ctx.Net
        let sc = convScratch net
        FusedConv.prepare sc k
        let gBias = if stage.Bias = Some BiasName.C then sc.GC else sc.GB
        FusedConv.kickAdjoint net.Activation sc (not (inputOnly g)) (stage.Source = Variable.Y) b.Ctx.S alpha (biasOf stage w) gBias source tBar sBar
    | Kick ->
        let struct (a, u, d, _) = buffers b.Ws.Value stage
        pre b (sideOf stage) w.K (biasOf stage w) source a
        activate b a u d
        kickTransposed b stage alpha w g d source tBar sBar

/// The weights the stage kernels multiply by: the fused kernels' effective weights, else θ.
let private stageMatrix (b: Block) (w: Weights) = if b.Fusion = Stages then w.K else matrixOf b w.K

/// The adjoint of layer j stage by stage from its input state (y, z): the stages are run again
/// on working copies to recover the source each kick read, then transposed in reverse order.
let private stagesAdjoint (b: Block) (j: int) (w: Weights) (y: float[]) (z: float[]) (yBar: float[]) (zBar: float[]) (g: Weights) =
    let ws = b.Ws.Value
    let k = stageMatrix b w
    System.Array.Copy(y, ws.Yw, y.Length)
    if not (isNull z) then System.Array.Copy(z, ws.Zw, z.Length)
    let zw = if isNull z then null else ws.Zw
    for i in 0 .. b.Stages.Length - 1 do
        let stage = b.Stages[i]
        if stage.Kind = Kick then
            let source = pick stage.Source ws.Yw zw
            System.Array.Copy(source, ws.Sources[i], source.Length)
        if i < b.Stages.Length - 1 then applyStage b j 1.0 stage k w ws.Yw zw
    for i in b.Stages.Length - 1 .. -1 .. 0 do
        stageAdjoint b j b.Stages[i] k w g ws.Sources[i] yBar zBar
    if b.Fusion <> Stages then reduceInto b w.K g g.c

// ---- the layer: whole-layer kernels or stages --------------------------------------------

let private omega (j: int) = if j = 0 then 0.5 else 1.0

/// What the whole-layer kernels take from a block: the network, σ, the rows, h, n and m.
let private sizes (b: Block) =
    let net = b.Ctx.Net
    struct (net, net.Activation, b.Ctx.S, b.Ctx.H, Network.width net, Network.auxWidth net)

/// (Y_j, Z_j) ← (Y_{j+1}, Z_{j+1}).
let step (b: Block) (j: int) (w: Weights) (y: float[]) (z: float[]) =
    let struct (net, act, rows, h, n, m) = sizes b
    match b.Fusion with
    | ConvResNet | ConvVerlet ->
        let sc = convScratch net
        FusedConv.prepare sc (matrixOf b w.K)
        if b.Fusion = ConvVerlet then FusedConv.verletStep act sc rows h w.b w.c y z
        else FusedConv.resnetStep act sc rows h w.b y
    | FusedResNet -> Fused.resnetStep act b.Scratch rows n h (matrixOf b w.K) w.b y
    | FusedLeapfrog -> Fused.leapfrogStep act b.Scratch rows n h (omega j) (matrixOf b w.K) w.b y z
    | FusedVerlet -> Fused.verletStep act b.Scratch rows n m h (matrixOf b w.K) w.b w.c y z
    | FusedStages | ConvStages | Stages ->
        let k = stageMatrix b w
        for stage in b.Stages do
            applyStage b j 1.0 stage k w y z

/// Sensitivity step: (δY, δZ) and (Y, Z) advance together from j to j+1, in place, for the
/// direction dw of layer j's parameters.
let sensitivityStep (b: Block) (j: int) (w: Weights) (dw: Weights) (y: float[]) (z: float[]) (dy: float[]) (dz: float[]) =
    let struct (_, act, rows, h, n, m) = sizes b
    match b.Fusion with
    | FusedResNet | FusedLeapfrog | FusedVerlet ->
        let k, dk = matrixOf b w.K, matrixDirectionOf b w.K dw.K
        match b.Fusion with
        | FusedResNet -> Fused.resnetSensitivity act b.Scratch rows n h k w.b dk dw.b y dy
        | FusedLeapfrog -> Fused.leapfrogSensitivity act b.Scratch rows n h (omega j) k w.b dk dw.b y z dy dz
        | _ -> Fused.verletSensitivity act b.Scratch rows n m h k w.b w.c dk dw.b dw.c y z dy dz
    | _ ->
        let k, dk = (if b.Fusion = Stages then w.K, dw.K else matrixOf b w.K, matrixDirectionOf b w.K dw.K)
        for stage in b.Stages do
            stageSensitivity b j stage k dk w dw y z dy dz

/// (Y_{j+1}, Z_{j+1}) ← (Y_j, Z_j) by the exact inverse: the stages undone in reverse order
/// (invertible schemes only; `Solve` checks).
let reverse (b: Block) (j: int) (w: Weights) (y: float[]) (z: float[]) =
    let struct (_, act, rows, h, n, m) = sizes b
    match b.Fusion with
    | FusedLeapfrog -> Fused.leapfrogReverse act b.Scratch rows n h (omega j) (matrixOf b w.K) w.b y z
    | FusedVerlet -> Fused.verletReverse act b.Scratch rows n m h (matrixOf b w.K) w.b w.c y z
    | _ ->
        let k = stageMatrix b w
        for i in b.Stages.Length - 1 .. -1 .. 0 do
            applyStage b j -1.0 b.Stages[i] k w y z

/// The adjoint of a whole-layer kernel, optionally fused with its inverse; y and z' as in
/// `adjointStep` (or, reversing, the layer's output state).
let private fusedAdjoint (b: Block) (reversing: bool) (j: int) (w: Weights) (y: float[]) (z': float[]) (yBar: float[]) (zBar: float[]) (g: Weights) =
    let struct (net, act, rows, h, n, m) = sizes b
    match b.Fusion with
    | ConvResNet | ConvVerlet ->
        let sc = convScratch net
        FusedConv.prepare sc (matrixOf b w.K)
        if b.Fusion = ConvVerlet then FusedConv.verletAdjoint act sc (not (inputOnly g)) reversing rows h w.b w.c y z' yBar zBar
        else FusedConv.resnetAdjoint act sc (not (inputOnly g)) rows h w.b y yBar
        reduceInto b w.K g g.c
    | FusedResNet ->
        Fused.resnetAdjoint act b.Scratch rows n h (matrixOf b w.K) w.b y yBar
        reduceInto b w.K g Array.empty
    | FusedLeapfrog ->
        Fused.leapfrogAdjoint act b.Scratch reversing rows n h (omega j) (matrixOf b w.K) w.b y z' yBar zBar
        reduceInto b w.K g Array.empty
    | _ ->
        Fused.verletAdjoint act b.Scratch reversing rows n m h (matrixOf b w.K) w.b w.c y z' yBar zBar
        reduceInto b w.K g g.c

/// Adjoint step j: (Ȳ, Z̄) go from j+1 back to j in place, given the layer's input state
/// (Y_j, Z_j) and Z_{j+1}; the gradients of layer j are added to g (none for `noGradient`).
let adjointStep (b: Block) (j: int) (w: Weights) (y: float[]) (z: float[]) (z': float[]) (yBar: float[]) (zBar: float[]) (g: Weights) =
    match b.Fusion with
    | FusedStages | ConvStages | Stages -> stagesAdjoint b j w y z yBar zBar g
    | _ -> fusedAdjoint b false j w y z' yBar zBar g

/// The reversal strategy's step j (invertible schemes): (Y, Z) go from (Y_{j+1}, Z_{j+1}) back
/// to (Y_j, Z_j) by the exact inverse and (Ȳ, Z̄) from j+1 back to j, in place; the gradients
/// of layer j are added to g (none for `noGradient`). The whole-layer kernels share the
/// pre-activations of the inverse and the adjoint, one pass over the block.
let reverseAdjointStep (b: Block) (j: int) (w: Weights) (y: float[]) (z: float[]) (yBar: float[]) (zBar: float[]) (g: Weights) =
    match b.Fusion with
    | FusedLeapfrog | FusedVerlet | ConvVerlet -> fusedAdjoint b true j w y z yBar zBar g
    | _ ->
        reverse b j w y z
        stagesAdjoint b j w y z yBar zBar g

// ---- the linearised layer: recorded once, applied by every Jacobian product -------------
// On a convolution (`onConv`) every kick runs the fused per-stage kernels from its kept
// activation (`FusedConv.kickKeeping`, `kickLinearised`, `kickTransposed`) on the effective
// weights, the gradient pulled back to θ once a layer (`reduceInto`); elsewhere whole-column
// operator products.

/// The weights the linearised layer multiplies by: the fused convolution kernels' effective
/// weights on a convolution, else θ (the whole-column products take the parametrisation).
let private linearisedMatrix (b: Block) (w: Weights) = if onConv b then matrixOf b w.K else w.K

/// The calling thread's convolution scratch with the weights k packed, for a kick's kernel.
let private preparedConv (b: Block) (k: float[]) =
    let sc = convScratch b.Ctx.Net
    FusedConv.prepare sc k
    sc

/// Layer j stage by stage, keeping for every kick i its activation u = σ(a) (written into
/// `activations[i]`, of the block's rows); (Y_j, Z_j) ← (Y_{j+1}, Z_{j+1}) in place.
let lineariseStep (b: Block) (j: int) (w: Weights) (y: float[]) (z: float[]) (activations: float[][]) =
    let k = linearisedMatrix b w
    for i in 0 .. b.Stages.Length - 1 do
        let stage = b.Stages[i]
        let alpha = alphaOf b j stage
        let source, target = pick stage.Source y z, pick stage.Target y z
        match stage.Kind with
        | Drift -> axpy alpha source target
        | Kick when onConv b ->
            FusedConv.kickKeeping b.Ctx.Net.Activation (preparedConv b k) (stage.Source = Variable.Y) b.Ctx.S alpha (biasOf stage w) source target activations[i]
        | Kick ->
            let struct (a, _, _, _) = buffers b.Ws.Value stage
            let u = activations[i]
            pre b (sideOf stage) w.K (biasOf stage w) source a
            activate b a u null
            axpy alpha u target

/// σ'(a) of a kick from its kept activation u, into the whole-column buffer d of its width.
let private keptDerivative (b: Block) (stage: Stage) (u: float[]) =
    let struct (_, _, d, _) = buffers b.Ws.Value stage
    Activation.derivativeOfValueInto b.Ctx.Net.Activation u.Length u d
    d

/// The linearised layer j from the activations `lineariseStep` kept, in place: (δY, δZ) advance
/// for the direction dw of layer j's parameters, and (Y, Z), which start as (Y_j, Z_j), advance
/// to (Y_{j+1}, Z_{j+1}) by adding the kept increments: no activation is evaluated, and a kick
/// applies the operator to (S, δS) for δT alone (two convolutions on a convolution).
let linearisedStep (b: Block) (j: int) (w: Weights) (dw: Weights) (activations: float[][]) (y: float[]) (z: float[]) (dy: float[]) (dz: float[]) =
    let conv = onConv b
    let sc = if conv then convScratch b.Ctx.Net else Unchecked.defaultof<_>
    if conv then
        FusedConv.prepare sc (matrixOf b w.K)
        FusedConv.prepareDirection sc (matrixDirectionOf b w.K dw.K)
    for i in 0 .. b.Stages.Length - 1 do
        let stage, u = b.Stages[i], activations[i]
        linearisedStage b j stage (fun alpha source dSource dTarget ->
            if conv then FusedConv.kickLinearised b.Ctx.Net.Activation sc (stage.Source = Variable.Y) b.Ctx.S alpha (biasOf stage dw) u source dSource dTarget
            else kickLinearised b stage alpha w dw (keptDerivative b stage u) source dSource dTarget
            u) y z dy dz

/// The transposed kick from its kept activation u at the source S it read (null when
/// `inputOnly g`): S̄ ← S̄ + α K̂ᵀ(σ'(u) ⊙ T̄), with the gradients of K and β added to g (on a
/// convolution, to the fused kernels' accumulators) unless `inputOnly g`.
let private keptTransposed (b: Block) (stage: Stage) (alpha: float) (k: float[]) (w: Weights) (g: Weights) (u: float[]) (source: float[]) (tBar: float[]) (sBar: float[]) =
    if onConv b then
        let sc = preparedConv b k
        let gBias = if stage.Bias = Some BiasName.C then sc.GC else sc.GB
        FusedConv.kickTransposed b.Ctx.Net.Activation sc (not (inputOnly g)) (stage.Source = Variable.Y) b.Ctx.S alpha (biasOf stage w) gBias u source tBar sBar
    else kickTransposed b stage alpha w g (keptDerivative b stage u) source tBar sBar

/// The transpose of `linearisedStep`, in place: (Y, Z) go from (Y_{j+1}, Z_{j+1}) back to
/// (Y_j, Z_j) by subtracting the kept increments stage by stage in reverse order (exact for every
/// scheme, since the increments are kept, to round-off that does not grow), and (Ȳ, Z̄) from j+1
/// back to j, each stage transposed at the source it read; the gradients of layer j are added to g.
let linearisedAdjointStep (b: Block) (j: int) (w: Weights) (activations: float[][]) (y: float[]) (z: float[]) (yBar: float[]) (zBar: float[]) (g: Weights) =
    let k = linearisedMatrix b w
    for i in b.Stages.Length - 1 .. -1 .. 0 do
        let stage = b.Stages[i]
        let alpha = alphaOf b j stage
        let source, target = pick stage.Source y z, pick stage.Target y z
        let sBar, tBar = pick stage.Source yBar zBar, pick stage.Target yBar zBar
        match stage.Kind with
        | Drift ->
            axpy -alpha source target
            axpy alpha tBar sBar
        | Kick ->
            let u = activations[i]
            axpy -alpha u target
            keptTransposed b stage alpha k w g u source tBar sBar
    if onConv b then reduceInto b w.K g g.c

/// The input-only transpose of layer j's linearisation from the activations `lineariseStep`
/// kept, in place: (Ȳ, Z̄) go from j+1 back to j, Ȳ_j = (∂Y_{j+1}/∂Y_j)ᵀ Ȳ_{j+1} (and Z̄ alike),
/// each kick transposed from σ'(u) alone: no state is rebuilt and no parameter gradient formed
/// (one convolution a kick on a convolution).
let linearisedInputAdjointStep (b: Block) (j: int) (w: Weights) (activations: float[][]) (yBar: float[]) (zBar: float[]) =
    let k = linearisedMatrix b w
    for i in b.Stages.Length - 1 .. -1 .. 0 do
        let stage = b.Stages[i]
        let alpha = alphaOf b j stage
        let sBar, tBar = pick stage.Source yBar zBar, pick stage.Target yBar zBar
        match stage.Kind with
        | Drift -> axpy alpha tBar sBar
        | Kick -> keptTransposed b stage alpha k w noGradient activations[i] null tBar sBar
