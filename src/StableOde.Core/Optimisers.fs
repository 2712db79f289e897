/// The optimisers of SPEC §5 on flat parameter vectors: preconditioned conjugate gradients with
/// the operator and the preconditioner as functions (never a matrix), Armijo backtracking,
/// inexact Newton–PCG (Gauss–Newton–PCG when the curvature is Gauss–Newton's), and the
/// first-order baselines SGD with momentum and Adam on mini-batches.
namespace StableOde.Core

open System
open System.Diagnostics
open System.Threading
open StableOde.Core.Kernels

/// How an optimisation ended. Expected outcomes are values, never exceptions.
type OptimisationStatus =
    /// The gradient norm fell below the requested tolerance.
    | Converged
    /// The iteration budget ran out.
    | MaxIterations
    /// No step along the search direction gave sufficient decrease.
    | LineSearchFailed
    /// The objective or its gradient became NaN or infinite.
    | Diverged
    /// The caller's cancellation token was signalled.
    | Cancelled

/// Limits of preconditioned conjugate gradients.
type PcgOptions =
    { /// The largest number of iterations (operator applications).
      MaxIterations: int
      /// Stop when ‖r_k‖ ≤ RelativeTolerance · ‖b‖.
      RelativeTolerance: float }

/// The outcome of a PCG solve of A x = b.
type PcgResult =
    { /// The approximate solution x (x = 0 before the first iteration).
      Solution: float[]
      /// The number of iterations (operator applications) done.
      Iterations: int
      /// ‖b − A x‖ / ‖b‖ (0 when b = 0).
      RelativeResidual: float
      /// A x, as PCG's recurrence of the residual r = b − A x has it (b − r, no further
      /// application of A; zeros before the first iteration).
      Product: float[] }

/// Armijo backtracking: try t = InitialStep, Shrink·t, … until f(x + t d) ≤ f(x) + c t ∇f·d.
type LineSearchOptions =
    { /// The first step length tried (1 for Newton-type directions).
      InitialStep: float
      /// The factor in (0, 1) by which a rejected step is shortened.
      Shrink: float
      /// The sufficient-decrease constant c in (0, 1).
      SufficientDecrease: float
      /// The most step lengths tried before giving up.
      MaxTrials: int }

/// The outcome of a line search whose trials give the objective and a 'trial (what the caller
/// keeps of a trial point, such as the features it computed).
type LineSearchResult<'trial> =
    /// A step with sufficient decrease, the objective there, how many evaluations it took, and
    /// what the accepted trial gave beside the objective.
    | Accepted of step: float * value: float * evaluations: int * trial: 'trial
    /// Every trial failed (or gave a non-finite value); how many evaluations were made.
    | Rejected of evaluations: int

/// Options of inexact Newton–PCG.
type NewtonOptions =
    { /// The largest number of Newton iterations.
      MaxIterations: int
      /// Converged when ‖∇f‖ ≤ GradientTolerance (absolute).
      GradientTolerance: float
      /// Limits of the inner PCG solve for the direction.
      Pcg: PcgOptions
      /// The line search along the direction.
      LineSearch: LineSearchOptions }

/// One iteration of an optimiser.
type OptimiserIteration =
    { /// The objective after the iteration.
      Objective: float
      /// ‖∇f‖ at the start of the iteration.
      GradientNorm: float
      /// PCG iterations spent on the direction (0 for first-order methods).
      PcgIterations: int
      /// The accepted step length (the learning rate for first-order methods).
      StepLength: float
      /// Wall-clock seconds since the optimiser started.
      Seconds: float }

/// An optimiser's final point, why it stopped, and its history.
type OptimiserResult =
    { /// The final iterate (the last finite one when the run diverged).
      Solution: float[]
      /// Why the optimiser stopped.
      Status: OptimisationStatus
      /// One entry per iteration (per epoch for the first-order methods).
      History: OptimiserIteration list }

/// What a second-order method needs of the objective at a point.
type Linearisation =
    { /// f(x).
      Value: float
      /// ∇f(x).
      Gradient: float[]
      /// The curvature v ↦ H v (the Hessian, or a positive semidefinite approximation).
      Curvature: float[] -> float[]
      /// The preconditioner v ↦ M⁻¹ v (symmetric positive definite).
      Preconditioner: float[] -> float[] }

/// The last step Newton–PCG accepted: where it started, the linearisation there, the decrease its
/// quadratic model predicted, and what the accepted trial gave beside the objective (its point is
/// the result's Solution).
type NewtonStep<'trial> =
    { /// The iterate the step started from.
      From: float[]
      /// The linearisation at `From` that gave the direction.
      Linearisation: Linearisation
      /// −(∇f·s + ½ sᵀH s) for the step s from `From` to the accepted point, H the linearisation's
      /// curvature (for the gain ratio of the step): along the Newton direction d, H s = t H d from
      /// PCG's residual (`PcgResult.Product`), no further curvature product; along the steepest-
      /// descent fallback, one curvature product when first asked.
      PredictedDecrease: Lazy<float>
      /// What `evaluate` gave beside the objective at the accepted point.
      Trial: 'trial }

/// The outcome of Newton–PCG: the optimiser's result and its last accepted step.
type NewtonResult<'trial> =
    { /// The final iterate, why Newton–PCG stopped, and one entry per iteration.
      Result: OptimiserResult
      /// The last accepted step; None when no step was accepted.
      LastStep: NewtonStep<'trial> option }

/// Options of SGD with (heavy-ball) momentum.
type SgdOptions =
    { /// Passes over the examples.
      Epochs: int
      /// Examples per mini-batch.
      BatchSize: int
      /// The step length η.
      LearningRate: float
      /// The momentum β in [0, 1): v ← β v + ∇f, x ← x − η v.
      Momentum: float
      /// Seed of the shuffling of examples in every epoch.
      Seed: int }

/// Options of Adam (Kingma & Ba).
type AdamOptions =
    { /// Passes over the examples.
      Epochs: int
      /// Examples per mini-batch.
      BatchSize: int
      /// The step length η.
      LearningRate: float
      /// Decay β₁ of the first-moment estimate.
      Beta1: float
      /// Decay β₂ of the second-moment estimate.
      Beta2: float
      /// ε added to the square root of the second moment.
      Epsilon: float
      /// Seed of the shuffling of examples in every epoch.
      Seed: int }

/// The optimisers.
module Optimisers =

    let private norm (x: float[]) = sqrt (dot x x)

    /// Preconditioned conjugate gradients for A x = b with A symmetric positive (semi)definite,
    /// starting from x = 0. Stops after `MaxIterations`, when the relative residual falls below
    /// the tolerance, or when a direction of non-positive curvature appears (then it returns the
    /// iterate so far). Never builds a matrix: `apply` and `precondition` are functions.
    let pcg (options: PcgOptions) (apply: float[] -> float[]) (precondition: float[] -> float[]) (b: float[]) : PcgResult =
        if options.MaxIterations < 0 then invalidArg (nameof options) "PCG needs MaxIterations ≥ 0"
        let bNorm = norm b
        let x = Array.zeroCreate b.Length
        if bNorm = 0.0 then { Solution = x; Iterations = 0; RelativeResidual = 0.0; Product = Array.zeroCreate b.Length }
        else
            let r = Array.copy b
            let mutable z = precondition r
            let p = Array.copy z
            let mutable rz = dot r z
            let mutable k = 0
            let mutable residual = 1.0
            let mutable stop = residual <= options.RelativeTolerance
            while not stop && k < options.MaxIterations do
                let ap = apply p
                let curvature = dot p ap
                if not (curvature > 0.0) then stop <- true
                else
                    let a = rz / curvature
                    axpy a p x
                    axpy (-a) ap r
                    k <- k + 1
                    residual <- norm r / bNorm
                    if residual <= options.RelativeTolerance then stop <- true
                    else
                        z <- precondition r
                        let rz' = dot r z
                        let beta = rz' / rz
                        rz <- rz'
                        for i in 0 .. p.Length - 1 do
                            p[i] <- z[i] + beta * p[i]
            { Solution = x; Iterations = k; RelativeResidual = residual; Product = Array.map2 (-) b r }

    /// Armijo backtracking on φ(t) = f(x + t d), given φ(0) and the slope φ'(0) = ∇f·d < 0; `phi`
    /// gives the objective and what the caller keeps of the trial, returned with the accepted step.
    let armijo (options: LineSearchOptions) (phi: float -> float * 'trial) (value0: float) (slope: float) : LineSearchResult<'trial> =
        if not (options.Shrink > 0.0 && options.Shrink < 1.0) then invalidArg (nameof options) "the shrink factor must lie in (0, 1)"
        let rec attempt (t: float) (trial: int) =
            if trial > options.MaxTrials then Rejected(trial - 1)
            else
                let v, kept = phi t
                if Double.IsFinite v && v <= value0 + options.SufficientDecrease * t * slope then Accepted(t, v, trial, kept)
                else attempt (t * options.Shrink) (trial + 1)
        if not (slope < 0.0) then Rejected 0 else attempt options.InitialStep 1

    /// x + t d, a new array.
    let private step (x: float[]) (t: float) (d: float[]) =
        let y = Array.copy x
        axpy t d y
        y

    /// The decrease −(∇f·s + ½ sᵀ(H s)) that the quadratic model of a linearisation predicts for
    /// the step s, given H s.
    let predictedDecrease (lin: Linearisation) (s: float[]) (hs: float[]) : float = -(dot lin.Gradient s + 0.5 * dot s hs)

    /// Inexact Newton–PCG: at each iterate the direction d solves H d = −∇f approximately by PCG
    /// (H from `linearise`, which may be Gauss–Newton's curvature), then an Armijo line search
    /// along d. When d is not a descent direction, or no step along it decreases f enough, the
    /// preconditioned steepest descent −M⁻¹∇f is searched instead; LineSearchFailed only when
    /// that fails too. `evaluate` gives f alone (for the line search) and what the caller keeps of
    /// the trial point, which the result returns for the last accepted step with the linearisation
    /// it started from. A signalled `cancel` stops before the next iteration with Cancelled.
    let newtonPcg (options: NewtonOptions) (cancel: CancellationToken) (evaluate: float[] -> float * 'trial) (linearise: float[] -> Linearisation) (x0: float[]) : NewtonResult<'trial> =
        let clock = Stopwatch.StartNew()
        let rec iterate (x: float[]) (k: int) (history: OptimiserIteration list) (last: NewtonStep<'trial> option) =
            let stop status = { Result = { Solution = x; Status = status; History = List.rev history }; LastStep = last }
            if k >= options.MaxIterations then stop MaxIterations
            elif cancel.IsCancellationRequested then stop Cancelled
            else
                let lin = linearise x
                let gNorm = norm lin.Gradient
                if not (Double.IsFinite lin.Value && Double.IsFinite gNorm) then stop Diverged
                elif gNorm <= options.GradientTolerance then stop Converged
                else
                    let minusG = Array.map (fun g -> -g) lin.Gradient
                    let solve = pcg options.Pcg lin.Curvature lin.Preconditioner minusG
                    let steepest = lazy (lin.Preconditioner minusG)
                    let search (d: float[]) = armijo options.LineSearch (fun t -> evaluate (step x t d)) lin.Value (dot d lin.Gradient)
                    let newton = Kernels.allFinite solve.Solution && dot solve.Solution lin.Gradient < 0.0
                    // H d for the direction taken, when known without a product: PCG's for its solution.
                    let d, curvatureOfD, outcome =
                        match (if newton then search solve.Solution else Rejected 0) with
                        | Accepted _ as accepted -> solve.Solution, Some solve.Product, accepted
                        | Rejected _ -> steepest.Value, None, search steepest.Value
                    match outcome with
                    | Accepted(t, v, _, trial) ->
                        let record =
                            { Objective = v; GradientNorm = gNorm; PcgIterations = solve.Iterations
                              StepLength = t; Seconds = clock.Elapsed.TotalSeconds }
                        let next = step x t d
                        let predicted =
                            lazy
                                (let s = Array.map2 (-) next x
                                 let hs =
                                     match curvatureOfD with
                                     | Some hd -> Array.map (fun v -> t * v) hd
                                     | None -> lin.Curvature s
                                 predictedDecrease lin s hs)
                        iterate next (k + 1) (record :: history) (Some { From = x; Linearisation = lin; PredictedDecrease = predicted; Trial = trial })
                    | Rejected _ -> stop (if allFinite d then LineSearchFailed else Diverged)
        iterate (Array.copy x0) 0 [] None

    /// Runs a first-order method: every epoch shuffles the examples (seeded), and for each
    /// mini-batch calls `update` with the batch objective's value and gradient at x.
    let private firstOrder epochs batchSize seed (learningRate: float) (cancel: CancellationToken)
                           (objective: int[] -> float[] -> float * float[]) (count: int) (x0: float[])
                           (update: int -> float[] -> float[] -> unit) : OptimiserResult =
        if epochs < 0 then invalidArg "epochs" "the number of epochs must be ≥ 0"
        if batchSize < 1 then invalidArg "batchSize" "the batch size must be ≥ 1"
        if count < 1 then invalidArg (nameof count) "there must be at least one example"
        let clock = Stopwatch.StartNew()
        let rng = Random seed
        let x = Array.copy x0
        let mutable last = Array.copy x0
        let mutable history = []
        let mutable status = MaxIterations
        let mutable epoch = 0
        let mutable t = 0
        while status = MaxIterations && epoch < epochs do
            let order = Dataset.permutation (rng.Next()) count
            let mutable total = 0.0
            let mutable gradSquares = 0.0
            let mutable batches = 0
            let mutable start = 0
            while status = MaxIterations && start < count do
                if cancel.IsCancellationRequested then status <- Cancelled
                else
                    let batch = order[start .. min count (start + batchSize) - 1]
                    let value, g = objective batch x
                    if not (Double.IsFinite value && allFinite g) then status <- Diverged
                    else
                        Array.blit x 0 last 0 x.Length
                        t <- t + 1
                        update t x g
                        total <- total + value
                        gradSquares <- gradSquares + dot g g
                        batches <- batches + 1
                    start <- start + batchSize
            if batches > 0 then
                history <-
                    { Objective = total / float batches; GradientNorm = sqrt (gradSquares / float batches)
                      PcgIterations = 0; StepLength = learningRate; Seconds = clock.Elapsed.TotalSeconds } :: history
            epoch <- epoch + 1
        { Solution = (if status = Diverged then last else x); Status = status; History = List.rev history }

    /// SGD with heavy-ball momentum on mini-batches: v ← β v + ∇f_B(x), x ← x − η v.
    /// `objective batch x` returns the value and gradient of the objective on the examples `batch`.
    /// The history holds one entry per epoch: the mean batch objective and the root-mean-square
    /// gradient norm over the epoch's batches.
    let sgd (options: SgdOptions) (cancel: CancellationToken) (objective: int[] -> float[] -> float * float[]) (count: int) (x0: float[]) : OptimiserResult =
        if not (options.Momentum >= 0.0 && options.Momentum < 1.0) then invalidArg (nameof options) "momentum must lie in [0, 1)"
        let velocity = Array.zeroCreate x0.Length
        firstOrder options.Epochs options.BatchSize options.Seed options.LearningRate cancel objective count x0 (fun _ x g ->
            for i in 0 .. x.Length - 1 do
                velocity[i] <- options.Momentum * velocity[i] + g[i]
                x[i] <- x[i] - options.LearningRate * velocity[i])

    /// Adam on mini-batches with bias-corrected moment estimates; the history as for `sgd`.
    let adam (options: AdamOptions) (cancel: CancellationToken) (objective: int[] -> float[] -> float * float[]) (count: int) (x0: float[]) : OptimiserResult =
        if not (options.Beta1 >= 0.0 && options.Beta1 < 1.0 && options.Beta2 >= 0.0 && options.Beta2 < 1.0) then
            invalidArg (nameof options) "β₁ and β₂ must lie in [0, 1)"
        let m = Array.zeroCreate x0.Length
        let v = Array.zeroCreate x0.Length
        firstOrder options.Epochs options.BatchSize options.Seed options.LearningRate cancel objective count x0 (fun t x g ->
            let c1 = 1.0 - options.Beta1 ** float t
            let c2 = 1.0 - options.Beta2 ** float t
            for i in 0 .. x.Length - 1 do
                m[i] <- options.Beta1 * m[i] + (1.0 - options.Beta1) * g[i]
                v[i] <- options.Beta2 * v[i] + (1.0 - options.Beta2) * g[i] * g[i]
                x[i] <- x[i] - options.LearningRate * (m[i] / c1) / (sqrt (v[i] / c2) + options.Epsilon))

    /// Default PCG limits: 20 iterations, relative tolerance 1e-2.
    let pcgDefaults = { MaxIterations = 20; RelativeTolerance = 1e-2 }

    /// Default Armijo search: t = 1, halve up to 20 times, c = 1e-4.
    let lineSearchDefaults = { InitialStep = 1.0; Shrink = 0.5; SufficientDecrease = 1e-4; MaxTrials = 20 }

    /// Default Newton–PCG: 20 iterations, ‖∇f‖ ≤ 1e-10, `pcgDefaults`, `lineSearchDefaults`.
    let newtonDefaults = { MaxIterations = 20; GradientTolerance = 1e-10; Pcg = pcgDefaults; LineSearch = lineSearchDefaults }

    /// Default SGD: 10 epochs, batches of 64, η = 0.01, β = 0.9, seed 1.
    let sgdDefaults = { Epochs = 10; BatchSize = 64; LearningRate = 0.01; Momentum = 0.9; Seed = 1 }

    /// Default Adam: 10 epochs, batches of 64, η = 1e-3, β₁ = 0.9, β₂ = 0.999, ε = 1e-8, seed 1.
    let adamDefaults = { Epochs = 10; BatchSize = 64; LearningRate = 1e-3; Beta1 = 0.9; Beta2 = 0.999; Epsilon = 1e-8; Seed = 1 }
