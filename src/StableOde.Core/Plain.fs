/// The plain backend: every scheme's stages applied literally (SPEC §1b), one allocation per
/// operation, the whole batch at once and every state kept. Each stage travels with its
/// linearisation, its transpose and its inverse; a layer is its stages in order (the
/// linearisation in order, the transpose in reverse order, the inverse undone in reverse order).
/// Slow and obviously correct on purpose: the fast solves of `Solve` are tested against it.
module StableOde.Core.Plain

open MathNet.Numerics.LinearAlgebra
open StableOde.Core.Kernels
open StableOde.Core.Layer

/// A state (Y, Z) as two arrays, indexed by `slot`; Z has m columns (zero while no stage writes
/// it).
type private State = float[][]

let private slot (v: Variable) =
    match v with
    | Variable.Y -> 0
    | Variable.Z -> 1

/// The state with `target` replaced by T + α·u.
let private updated (x: State) (target: Variable) (alpha: float) (u: float[]) : State =
    let t = Array.copy x[slot target]
    axpy alpha u t
    let x' = Array.copy x
    x'[slot target] <- t
    x'

/// The increment a stage adds before its coefficient: σ(S K̂ + β) for a kick, S for a drift.
let private increment (ctx: Context) (w: Weights) (stage: Stage) (x: State) =
    let source = x[slot stage.Source]
    match stage.Kind with
    | Kick -> value ctx (sideOf stage) w.K (biasOf stage w) source
    | Drift -> source

/// A stage: T ← T + a h σ(S K̂ + β) (kick) or T ← T + a h S (drift).
let private stageForward (ctx: Context) (j: int) (w: Weights) (x: State) (stage: Stage) : State =
    updated x stage.Target (Scheme.coefficient j stage * ctx.H) (increment ctx w stage x)

/// The stage undone (S ≠ T, so S is unchanged by it): T ← T − a h σ(S K̂ + β) or T ← T − a h S.
let private stageInverse (ctx: Context) (j: int) (w: Weights) (x: State) (stage: Stage) : State =
    updated x stage.Target (-(Scheme.coefficient j stage) * ctx.H) (increment ctx w stage x)

/// The linearised stage at x in direction (δθ, δx): δT ← δT + a h σ'(S K̂ + β) ⊙ (δS K̂ + S K̂'[δθ] + δβ)
/// for a kick, δT ← δT + a h δS for a drift.
let private stageSensitivity (ctx: Context) (j: int) (w: Weights) (dw: Weights) (x: State) (dx: State) (stage: Stage) : State =
    let source, dSource = x[slot stage.Source], dx[slot stage.Source]
    let du =
        match stage.Kind with
        | Kick ->
            let side, bias = sideOf stage, biasOf stage w
            let a = preActivation ctx side w.K bias source
            Layer.sensitivity ctx side w.K a source dSource dw.K (biasOf stage dw)
        | Drift -> dSource
    updated dx stage.Target (Scheme.coefficient j stage * ctx.H) du

/// The transposed stage at x (the state before it): S̄ ← S̄ + a h K̂ᵀ(σ' ⊙ T̄) for a kick (with
/// the gradients of K and β added to g), S̄ ← S̄ + a h T̄ for a drift; T̄ is kept.
let private stageAdjoint (ctx: Context) (j: int) (w: Weights) (g: Weights) (x: State) (xBar: State) (stage: Stage) : State =
    let alpha = Scheme.coefficient j stage * ctx.H
    let tBar = xBar[slot stage.Target]
    match stage.Kind with
    | Kick ->
        let source, side = x[slot stage.Source], sideOf stage
        let a = preActivation ctx side w.K (biasOf stage w) source
        updated xBar stage.Source 1.0 (Layer.adjoint ctx side w.K a source alpha tBar g.K (biasOf stage g))
    | Drift -> updated xBar stage.Source alpha tBar

/// One layer: the stages in order.
let private step (ctx: Context) (scheme: Scheme) (j: int) (w: Weights) (x: State) : State =
    List.fold (stageForward ctx j w) x scheme.Stages

/// The states before each stage of layer j and after the last.
let private stageStates (ctx: Context) (scheme: Scheme) (j: int) (w: Weights) (x: State) : State list =
    List.scan (stageForward ctx j w) x scheme.Stages

let private setup (net: Network) (p: Parameters) (y0: Matrix<float>) =
    Network.validate net
    Parameters.validate net p
    let ctx = { Net = net; S = y0.RowCount; H = Network.stepSize net }
    let weights (q: Parameters) =
        Array.init net.Depth (fun j ->
            { K = storage q.K[j]; b = vstorage q.b[j]; c = if q.c.Length > 0 then vstorage q.c[j] else Array.empty })
    let scheme = Network.scheme net
    ctx, scheme, weights, [| y0.ToColumnMajorArray(); Array.zeroCreate (ctx.S * Network.auxWidth net) |]

let private states (net: Network) (p: Parameters) (y0: Matrix<float>) =
    let ctx, scheme, weights, x0 = setup net p y0
    let w = weights p
    let all = Array.zeroCreate (net.Depth + 1)
    all[0] <- x0
    for j in 0 .. net.Depth - 1 do
        all[j + 1] <- step ctx scheme j w[j] all[j]
    ctx, scheme, weights, w, all

/// Y_N.
let forward (net: Network) (p: Parameters) (y0: Matrix<float>) : Matrix<float> =
    let ctx, _, _, _, all = states net p y0
    ofStorage ctx.S y0.ColumnCount (all[net.Depth][0])

/// δY_N for a direction (δθ, δY_0); δZ_0 = 0.
let sensitivity (net: Network) (p: Parameters) (y0: Matrix<float>) (dTheta: Parameters) (dY0: Matrix<float>) : Matrix<float> =
    let ctx, scheme, weights, w, all = states net p y0
    Parameters.validate net dTheta
    let dw = weights dTheta
    let mutable dx = [| dY0.ToColumnMajorArray(); Array.zeroCreate (ctx.S * Network.auxWidth net) |]
    for j in 0 .. net.Depth - 1 do
        let before = stageStates ctx scheme j w[j] all[j]
        dx <- List.fold2 (fun d x stage -> stageSensitivity ctx j w[j] dw[j] x d stage) dx (List.take scheme.Stages.Length before) scheme.Stages
    ofStorage ctx.S y0.ColumnCount (dx[0])

/// (∂L/∂θ, ∂L/∂Y_0) for Ȳ_N = ∂L/∂Y_N: the stages transposed, in reverse order.
let adjoint (net: Network) (p: Parameters) (y0: Matrix<float>) (yBarN: Matrix<float>) : Parameters * Matrix<float> =
    let ctx, scheme, weights, w, all = states net p y0
    let grad = Parameters.zeros net
    let g = weights grad
    let mutable xBar = [| yBarN.ToColumnMajorArray(); Array.zeroCreate (ctx.S * Network.auxWidth net) |]
    for j in net.Depth - 1 .. -1 .. 0 do
        let before = List.take scheme.Stages.Length (stageStates ctx scheme j w[j] all[j])
        xBar <- List.foldBack2 (fun x stage xb -> stageAdjoint ctx j w[j] g[j] x xb stage) before scheme.Stages xBar
    grad, ofStorage ctx.S y0.ColumnCount (xBar[0])

/// The exact inverse from a final state (Y_N, Z_N) back to j = 0: the stages undone in reverse
/// order, layer by layer. Throws when a stage reads its own target.
let reconstruct (net: Network) (p: Parameters) (yN: Matrix<float>) (zN: Matrix<float>) : Matrix<float> * Matrix<float> =
    let ctx, scheme, weights, _ = setup net p yN
    Scheme.requireInvertible "net" scheme
    let w = weights p
    let mutable x = [| yN.ToColumnMajorArray(); zN.ToColumnMajorArray() |]
    for j in net.Depth - 1 .. -1 .. 0 do
        x <- List.fold (stageInverse ctx j w[j]) x (List.rev scheme.Stages)
    ofStorage ctx.S yN.ColumnCount (x[0]), ofStorage ctx.S zN.ColumnCount (x[1])
