/// The solves of SPEC §2, written once for every propagator: the forward scan, the sensitivity
/// fold (forward substitution of Eq. 4.22) and the adjoint fold-back (back substitution) under
/// the three adjoint strategies.
namespace StableOde.Core

open MathNet.Numerics.LinearAlgebra
open StableOde.Core.Kernels
open StableOde.Core.Layer

/// The state of a propagator after j steps: Y_j and, for leapfrog and Verlet, Z_{j−½}.
type State =
    { /// Y_j ∈ R^{s×n}.
      Y: Matrix<float>
      /// Z_{j−½}: Verlet's second variable (s×m) or leapfrog's velocity (s×n); None for ResNets.
      Z: Matrix<float> option }

/// How the adjoint solve obtains the forward states it needs, from last to first.
type AdjointStrategy =
    /// Keep every state of the forward pass: memory ∝ N, no recomputation. The default.
    | StoreAll
    /// Keep every `interval`-th state and recompute the states between two checkpoints
    /// segment by segment: memory ∝ N/interval + interval (√N is optimal), one extra forward pass.
    | Checkpoints of interval: int
    /// Rebuild each state from the next by the scheme's exact inverse: memory independent of N.
    /// Leapfrog and Verlet only (forward Euler has no explicit inverse). Not for networks whose
    /// backward dynamics amplify round-off strongly (large h‖K‖): measure the reconstruction
    /// drift with `Solve.reconstruct` first.
    | Reversal

/// What a forward pass kept for the adjoint: the strategy's states and the output Y_N.
type Tape =
    internal
        { Strategy: AdjointStrategy
          Ctx: Context
          Weights: Weights[]
          /// States kept: all (StoreAll), every interval-th (Checkpoints), or the last (Reversal).
          Kept: struct (float[] * float[])[]
          Final: struct (float[] * float[]) }

    /// The output Y_N.
    member t.YN: Matrix<float> =
        let struct (y, _) = t.Final
        ofStorage t.Ctx.S (Operator.inWidth t.Ctx.Net.Operator) (Array.copy y)

/// Forward, sensitivity and adjoint solves.
module Solve =

    let private weights (net: Network) (p: Parameters) : Weights[] =
        Array.init net.Depth (fun j ->
            { K = storage p.K[j]
              b = vstorage p.b[j]
              c = if p.c.Length > 0 then vstorage p.c[j] else Array.empty })

    let private hasZ (net: Network) =
        match net.Propagator with
        | Leapfrog | Verlet -> true
        | ResNet | AntisymmetricResNet -> false

    let private zWidth (net: Network) =
        match net.Propagator with
        | Verlet -> Operator.outWidth net.Operator
        | _ -> Operator.inWidth net.Operator

    let private context (net: Network) (y0: Matrix<float>) =
        Network.validate net
        if isNull y0 then invalidArg "y0" "the input Y_0 must not be null"
        let n = Operator.inWidth net.Operator
        if y0.ColumnCount <> n then invalidArg "y0" $"Y_0 must have {n} columns (the network's width), got {y0.ColumnCount}"
        if not (allFinite (y0.ToColumnMajorArray())) then invalidArg "y0" "Y_0 contains NaN or infinity"
        { Net = net; S = y0.RowCount; H = Network.stepSize net }

    let private prepare (net: Network) (p: Parameters) (y0: Matrix<float>) =
        let ctx = context net y0
        Parameters.validate net p
        ctx, weights net p

    let private initial (ctx: Context) (y0: Matrix<float>) : struct (float[] * float[]) =
        let z = if hasZ ctx.Net then Array.zeroCreate (ctx.S * zWidth ctx.Net) else null
        struct (y0.ToColumnMajorArray(), z)

    let private step (ctx: Context) (w: Weights[]) (j: int) (struct (y, z): struct (float[] * float[])) =
        match ctx.Net.Propagator with
        | ResNet | AntisymmetricResNet -> struct (ResNet.step ctx w[j] y, null)
        | Leapfrog -> Leapfrog.step ctx j w[j] y z
        | Verlet -> Verlet.step ctx w[j] y z

    let private reverseStep (ctx: Context) (w: Weights[]) (j: int) (struct (y', z'): struct (float[] * float[])) =
        match ctx.Net.Propagator with
        | Leapfrog -> Leapfrog.reverse ctx j w[j] y' z'
        | Verlet -> Verlet.reverse ctx w[j] y' z'
        | ResNet | AntisymmetricResNet -> invalidArg "strategy" "reversal needs leapfrog or Verlet: forward Euler is not invertible in closed form"

    /// Transpose of step j at (state_j, state_{j+1}); adds the parameter gradient of layer j to g.
    let private adjointStep (ctx: Context) (w: Weights[]) (j: int) (struct (y, _): struct (float[] * float[]))
                            (struct (_, z'): struct (float[] * float[])) (struct (yBar', zBar'): struct (float[] * float[])) (g: Weights) =
        match ctx.Net.Propagator with
        | ResNet | AntisymmetricResNet -> struct (ResNet.adjoint ctx w[j] y yBar' g, null)
        | Leapfrog -> Leapfrog.adjoint ctx j w[j] y yBar' zBar' g
        | Verlet -> Verlet.adjoint ctx w[j] y z' yBar' zBar' g

    let private toState (ctx: Context) (struct (y, z): struct (float[] * float[])) =
        { Y = ofStorage ctx.S (Operator.inWidth ctx.Net.Operator) y
          Z = if isNull z then None else Some(ofStorage ctx.S (zWidth ctx.Net) z) }

    /// Y_N: the network's output for the batch Y_0 (s×n).
    let forward (net: Network) (p: Parameters) (y0: Matrix<float>) : Matrix<float> =
        let ctx, w = prepare net p y0
        let mutable state = initial ctx y0
        for j in 0 .. net.Depth - 1 do
            state <- step ctx w j state
        (toState ctx state).Y

    /// Every state (Y_j, Z_{j−½}), j = 0…N.
    let trajectory (net: Network) (p: Parameters) (y0: Matrix<float>) : State[] =
        let ctx, w = prepare net p y0
        let states = Array.zeroCreate (net.Depth + 1)
        states[0] <- initial ctx y0
        for j in 0 .. net.Depth - 1 do
            states[j + 1] <- step ctx w j states[j]
        Array.map (toState ctx) states

    /// Sensitivity (Jacobian–vector product): δY_N for a direction (δθ, δY_0), by running the
    /// linearised recursion forward (forward substitution of Eq. 4.22). δZ_{−½} = 0.
    let sensitivity (net: Network) (p: Parameters) (y0: Matrix<float>) (dTheta: Parameters) (dY0: Matrix<float>) : Matrix<float> =
        let ctx, w = prepare net p y0
        Parameters.validate net dTheta
        if isNull dY0 || dY0.RowCount <> y0.RowCount || dY0.ColumnCount <> y0.ColumnCount then
            invalidArg "dY0" $"δY_0 must be shaped like Y_0 ({y0.RowCount}×{y0.ColumnCount})"
        let dw = weights net dTheta
        let mutable state = initial ctx y0
        let mutable struct (dy, dz) = initial ctx dY0
        for j in 0 .. net.Depth - 1 do
            let struct (y, z) = state
            let struct (dy', dz') =
                match net.Propagator with
                | ResNet | AntisymmetricResNet -> struct (ResNet.sensitivity ctx w[j] y dw[j] dy, null)
                | Leapfrog -> Leapfrog.sensitivity ctx j w[j] y dw[j] dy dz
                | Verlet -> Verlet.sensitivity ctx w[j] y z dw[j] dy dz
            dy <- dy'
            dz <- dz'
            state <- step ctx w j state
        ofStorage ctx.S (Operator.inWidth net.Operator) dy

    /// Runs the forward pass and keeps what `strategy` needs for the adjoint.
    let record (strategy: AdjointStrategy) (net: Network) (p: Parameters) (y0: Matrix<float>) : Tape =
        let ctx, w = prepare net p y0
        let n = net.Depth
        let kept, final =
            match strategy with
            | StoreAll ->
                let states = Array.zeroCreate (n + 1)
                states[0] <- initial ctx y0
                for j in 0 .. n - 1 do
                    states[j + 1] <- step ctx w j states[j]
                states, states[n]
            | Checkpoints interval ->
                if interval < 1 then invalidArg "strategy" $"checkpoint interval must be at least 1, got {interval}"
                let kept = Array.zeroCreate ((n - 1) / interval + 1)
                let mutable state = initial ctx y0
                for j in 0 .. n - 1 do
                    if j % interval = 0 then kept[j / interval] <- state
                    state <- step ctx w j state
                kept, state
            | Reversal ->
                if not (hasZ net) then invalidArg "strategy" "reversal needs leapfrog or Verlet: forward Euler is not invertible in closed form"
                let mutable state = initial ctx y0
                for j in 0 .. n - 1 do
                    state <- step ctx w j state
                [| state |], state
        { Strategy = strategy; Ctx = ctx; Weights = w; Kept = kept; Final = final }

    /// Adjoint (transpose product) from a recorded forward pass: given Ȳ_N = ∂L/∂Y_N, returns
    /// (∂L/∂θ, ∂L/∂Y_0) by running the transposed recursion backward (back substitution).
    let backward (tape: Tape) (yBarN: Matrix<float>) : Parameters * Matrix<float> =
        let ctx = tape.Ctx
        let net = ctx.Net
        let n = Operator.inWidth net.Operator
        if isNull yBarN || yBarN.RowCount <> ctx.S || yBarN.ColumnCount <> n then
            invalidArg "yBarN" $"Ȳ_N must be {ctx.S}×{n}"
        let grad = Parameters.zeros net
        let g = weights net grad
        let w = tape.Weights
        let mutable bar = struct (yBarN.ToColumnMajorArray(), (if hasZ net then Array.zeroCreate (ctx.S * zWidth net) else null))
        match tape.Strategy with
        | StoreAll ->
            for j in net.Depth - 1 .. -1 .. 0 do
                bar <- adjointStep ctx w j tape.Kept[j] tape.Kept[j + 1] bar g[j]
        | Checkpoints interval ->
            for segment in tape.Kept.Length - 1 .. -1 .. 0 do
                let first = segment * interval
                let last = min net.Depth (first + interval)
                let states = Array.zeroCreate (last - first + 1)
                states[0] <- tape.Kept[segment]
                for j in first .. last - 1 do
                    states[j - first + 1] <- step ctx w j states[j - first]
                for j in last - 1 .. -1 .. first do
                    bar <- adjointStep ctx w j states[j - first] states[j - first + 1] bar g[j]
        | Reversal ->
            let mutable next = tape.Final
            for j in net.Depth - 1 .. -1 .. 0 do
                let current = reverseStep ctx w j next
                bar <- adjointStep ctx w j current next bar g[j]
                next <- current
        let struct (yBar0, _) = bar
        grad, ofStorage ctx.S n yBar0

    /// Adjoint (transpose product): (∂L/∂θ, ∂L/∂Y_0) for Ȳ_N = ∂L/∂Y_N, under `strategy`.
    let adjoint (strategy: AdjointStrategy) (net: Network) (p: Parameters) (y0: Matrix<float>) (yBarN: Matrix<float>) =
        backward (record strategy net p y0) yBarN

    /// The checkpoint strategy with the interval ⌈√N⌉ that minimises memory.
    let sqrtCheckpoints (net: Network) = Checkpoints(max 1 (int (ceil (sqrt (float net.Depth)))))

    /// Runs the exact inverse of leapfrog or Verlet from a final state back to j = 0: how far the
    /// result lies from the true initial state measures the drift of the reversal strategy.
    let reconstruct (net: Network) (p: Parameters) (final: State) : State =
        let ctx = context net final.Y
        Parameters.validate net p
        if not (hasZ net) then invalidArg "net" "reversal needs leapfrog or Verlet: forward Euler is not invertible in closed form"
        let w = weights net p
        let z =
            match final.Z with
            | Some z when z.RowCount = ctx.S && z.ColumnCount = zWidth net -> z.ToColumnMajorArray()
            | _ -> invalidArg "final" $"the final state needs Z of shape {ctx.S}×{zWidth net}"
        let mutable state = struct (final.Y.ToColumnMajorArray(), z)
        for j in net.Depth - 1 .. -1 .. 0 do
            state <- reverseStep ctx w j state
        toState ctx state
