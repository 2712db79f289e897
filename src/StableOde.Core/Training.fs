/// Learning (SPEC §5, paper §5.3 and §6): block coordinate descent on the objective of Eq. 2.4,
/// keeping the parameters with the best validation accuracy, and multilevel training that
/// doubles the depth by piecewise-linear prolongation in time. A first-order baseline (SGD with
/// momentum or Adam on the same objective) is here for comparison.
namespace StableOde.Core

open System
open System.Diagnostics
open System.Threading
open MathNet.Numerics.LinearAlgebra

/// The classification step: inexact Newton–PCG in (W, μ) with Y_N fixed.
type ClassificationOptions =
    { /// Newton–PCG iterations per block coordinate descent iteration (paper §6.1–6.3: 2).
      NewtonIterations: int
      /// Newton–PCG iterations of every iteration after the first of a level, which starts from
      /// the classifier the previous iteration fitted to features one Gauss–Newton step away;
      /// None: NewtonIterations in every iteration.
      LaterNewtonIterations: int option
      /// PCG iterations per Newton iteration (paper: 2).
      PcgIterations: int
      /// Relative residual at which PCG stops early.
      PcgTolerance: float
      /// R(W) with its weight α_W (paper §6.1–6.3: none, α_W = 0) and preconditioner shift ε.
      Regulariser: Weighted<ClassifierRegulariser> }

/// The classifier fitted anew for the finer network after every prolongation of multilevel training.
type RefitOptions =
    { /// Newton–PCG iterations from W = 0, μ = 0 on the whole training set.
      NewtonIterations: int
      /// PCG iterations per Newton iteration.
      PcgIterations: int }

/// The propagation step: one Gauss–Newton–PCG step in θ with the classifier fixed.
type PropagationOptions =
    { /// PCG iterations for the Gauss–Newton direction (paper: 20).
      PcgIterations: int
      /// Relative residual at which PCG stops early.
      PcgTolerance: float
      /// R(θ) with its weight α_θ (paper: smoothness in time, α per data set) and the shift ε of
      /// the preconditioner (α_θ∇²R + εI)⁻¹.
      Regulariser: Weighted<ParameterRegulariser>
      /// The Levenberg–Marquardt damping λ ≥ 0 added to the Gauss–Newton curvature (with
      /// AdaptiveDamping: its value at the start of every level and its lower bound).
      Damping: float
      /// Adapt λ from one iteration to the next (Levenberg–Marquardt with the trust-region rule of
      /// `Training.adaptDamping`) by the gain ratio ρ of the step taken: the decrease of the
      /// objective over the decrease the damped Gauss–Newton model predicted. λ stays within
      /// [Damping, `Training.maxDamping`].
      AdaptiveDamping: bool
      /// Examples of the batch on which the Gauss–Newton curvature is evaluated (a random
      /// subsample of the batch; the whole batch when at least its size).
      HessianSubsample: int }

/// Everything block coordinate descent and multilevel training need.
type TrainingOptions =
    { /// Block coordinate descent iterations at every level after those of `LevelIterations`.
      Iterations: int
      /// The iterations of the first levels of multilevel training, in order (the first level's
      /// first); every later level takes `Iterations`. Empty: `Iterations` at every level.
      LevelIterations: int list
      /// Training examples drawn (without replacement) for the batch T of every iteration; the
      /// whole training set when at least its size.
      BatchSize: int
      /// Seed of every random choice (initial θ, batches, Hessian subsamples).
      Seed: int
      /// Standard deviation of the random initial θ of the first level.
      InitialScale: float
      /// The hypothesis; None chooses logistic regression for two classes, softmax otherwise.
      Hypothesis: Hypothesis option
      /// The classification step.
      Classification: ClassificationOptions
      /// The propagation step.
      Propagation: PropagationOptions
      /// The Armijo line search of both steps.
      LineSearch: LineSearchOptions
      /// How the adjoint solves obtain the forward states.
      Strategy: AdjointStrategy
      /// Multilevel training doubles the depth while it stays at most MaxDepth.
      MaxDepth: int
      /// After every prolongation, fit the classifier anew to the finer network's features on the
      /// training set (with the classification step's hypothesis and regulariser) before its first
      /// iteration; None keeps the coarse level's classifier (the paper's §5.3).
      Refit: RefitOptions option }

/// One block coordinate descent iteration.
type TrainingIteration =
    { /// 1, 2, … within the level.
      Iteration: int
      /// The objective (Eq. 2.4) on the iteration's batch after both steps.
      Objective: float
      /// Accuracy on the whole training set after the iteration.
      TrainingAccuracy: float
      /// Accuracy on the validation set after the iteration.
      ValidationAccuracy: float
      /// PCG iterations of the classification step (summed over its Newton iterations).
      ClassificationPcgIterations: int
      /// PCG iterations of the Gauss–Newton direction.
      PropagationPcgIterations: int
      /// The step length accepted by the propagation step's line search.
      StepLength: float
      /// The Levenberg–Marquardt damping λ of the propagation step.
      Damping: float
      /// Seconds since the level started.
      Seconds: float }

/// The training of one level (one depth).
type LevelResult =
    { /// N, the number of layers.
      Depth: int
      /// Why the level stopped: MaxIterations normally; LineSearchFailed, Diverged or Cancelled
      /// when it stopped early (the best parameters so far are kept).
      Status: OptimisationStatus
      /// One entry per iteration.
      History: TrainingIteration list
      /// Validation accuracy of the level's starting model (iteration 0).
      InitialValidationAccuracy: float
      /// The best validation accuracy of the level (the starting model included).
      BestValidationAccuracy: float
      /// The iteration at which it was reached (0: the starting model).
      BestIteration: int
      /// The training accuracy of the best model.
      TrainingAccuracy: float
      /// Seconds the level took.
      Seconds: float
      /// The model with the best validation accuracy.
      Best: Model
      /// The last iterate (the last finite one when the level diverged).
      Final: Model }

/// The outcome of multilevel training.
type TrainingResult =
    { /// The levels in order of depth.
      Levels: LevelResult list
      /// How the run ended: Cancelled or Diverged when a level stopped so (training stops there),
      /// otherwise LineSearchFailed when any level's line search failed, otherwise the last
      /// level's status (MaxIterations: completed).
      Status: OptimisationStatus
      /// The best validation accuracy over all levels.
      BestValidationAccuracy: float
      /// The model that reached it (the shallowest one on a tie).
      Best: Model
      /// Seconds for all levels.
      Seconds: float }

/// What the progress callback receives after every iteration.
type TrainingProgress =
    { /// The depth of the level being trained.
      Depth: int
      /// The iterations the level runs unless it stops early.
      Iterations: int
      /// The iteration just finished.
      Latest: TrainingIteration
      /// The best validation accuracy of the level so far.
      BestValidationAccuracy: float
      /// The level's model with that accuracy.
      Best: Model }

/// Where multilevel training starts.
type MultilevelStart =
    /// Train from this model at its depth.
    | From of Model
    /// Continue after these levels (in order of depth, as a run with the same options and data
    /// trained them, such as a checkpoint holds): the next level starts from the last one's final
    /// iterate, prolongated, exactly as the uninterrupted run would.
    | After of LevelResult list

/// How a caller watches and stops training, and the ranks it trains on.
type TrainingControl =
    { /// Called after every iteration.
      Progress: (TrainingProgress -> unit) option
      /// Cancels training; the best model so far is returned with status Cancelled. With several
      /// ranks, a cancellation on any rank stops every rank after the same iteration.
      Cancellation: CancellationToken
      /// The ranks of data-parallel training (SPEC §11), whose training and validation sets are
      /// this rank's shards (`Ranks.shard`); `Ranks.single` for one process.
      Ranks: Ranks
      /// Where the phases of every iteration report their time and memory (`Profile`), one line
      /// each; None reports nothing.
      Profile: (string -> unit) option }

/// A first-order method for the baseline.
type FirstOrderMethod =
    /// SGD with momentum.
    | Sgd of SgdOptions
    /// Adam.
    | Adam of AdamOptions

/// The outcome of a first-order baseline run.
type FirstOrderResult =
    { /// The trained model (the optimiser's final iterate).
      Model: Model
      /// The optimiser's status and per-epoch history.
      Optimiser: OptimiserResult
      /// Its accuracy on the whole training set.
      TrainingAccuracy: float
      /// Its accuracy on the validation set.
      ValidationAccuracy: float }

/// Options with the paper's settings.
module TrainingOptions =

    /// The paper's block coordinate descent (§6.1–6.3): classification ≤ 2 Newton–PCG iterations of
    /// ≤ 2 PCG iterations without regularisation; propagation one Gauss–Newton step of ≤ 20 PCG
    /// iterations preconditioned by the smoothness-in-time regulariser, α_θ = 1e-3 (the ellipses).
    /// Choices the paper leaves open, tuned on the peaks data: the preconditioner's shift ε = α_θ,
    /// so that (α_θ∇²R + εI)⁻¹ ∝ (∇²R + I)⁻¹ damps directions rough in time by up to 1 + 4/h;
    /// batches of 2,000 training examples (all of them for the ellipses and the swiss roll; `peaks`
    /// takes all 4,000) with the Gauss–Newton curvature on 1,000 of them (smaller batches made the
    /// Verlet network lose accuracy after prolongation); PCG tolerances 1e-4 (classification) and
    /// 1e-2 (propagation);
    /// Levenberg–Marquardt damping λ adapted by the gain ratio from (and never below) α_θ, the
    /// preconditioner's shift, which keeps the curvature definite along weights constant in time
    /// (a floor of 1e-3 for every data set left the swiss roll's Verlet network at 99.81 %); Armijo with t = 1, c = 1e-4,
    /// halving up to 40 times (the preconditioner scales directions by up to 1/ε, so a search that
    /// gave up after 20 halvings failed at a saturated classifier and the level collapsed to one
    /// class); initial θ with standard deviation 0.1; 40 iterations per level; depths 4 … 1024; all
    /// states stored for the adjoint. After every prolongation the classifier is fitted anew to the
    /// finer network (≤ 10 Newton–PCG iterations of ≤ 10 PCG iterations from zero): with T = 20 the
    /// coarse networks are far from the ODE regime (h = 5 at 4 layers), the prolongated network
    /// computes other features, and against the kept, unregularised classifier — grown large on
    /// separable features — the first Gauss–Newton steps met a nearly linear loss, took steps of
    /// the size 1/λ allows and drove ‖K_j‖ up by two orders of magnitude, after which the deeper
    /// levels stayed saturated (the ellipses ResNet fell from 100 % at 4 layers to 53–86 % at
    /// every deeper level with seed 2).
    let defaults =
        { Iterations = 40
          LevelIterations = []
          BatchSize = 2000
          Seed = 1
          InitialScale = 0.1
          Hypothesis = None
          Classification =
            { NewtonIterations = 2
              LaterNewtonIterations = None
              PcgIterations = 2
              PcgTolerance = 1e-4
              Regulariser = { Regulariser = Tikhonov; Alpha = 0.0; Shift = 1.0 } }
          Propagation =
            { PcgIterations = 20
              PcgTolerance = 1e-2
              Regulariser = { Regulariser = TimeSmoothness; Alpha = 1e-3; Shift = 1e-3 }
              Damping = 1e-3
              AdaptiveDamping = true
              HessianSubsample = 1000 }
          LineSearch = { Optimisers.lineSearchDefaults with MaxTrials = 40 }
          Strategy = StoreAll
          MaxDepth = 1024
          Refit = Some { NewtonIterations = 10; PcgIterations = 10 } }

    /// The same options with α_θ, the weight of the time regulariser, the preconditioner's shift
    /// ε = α_θ and the damping floor λ_min = α_θ: the damping is measured in the regulariser's units.
    let withSmoothness (alpha: float) (o: TrainingOptions) =
        { o with
            Propagation =
                { o.Propagation with
                    Regulariser = { o.Propagation.Regulariser with Alpha = alpha; Shift = alpha }
                    Damping = alpha } }

    /// The same options with another schedule: `iterations` at every level, depths up to `maxDepth`.
    let withSchedule (iterations: int) (maxDepth: int) (o: TrainingOptions) =
        { o with Iterations = iterations; LevelIterations = []; MaxDepth = maxDepth }

    /// The same options with `first` Newton–PCG iterations in the classification step of a level's
    /// first iteration and `later` in every later one.
    let withClassificationNewton (first: int) (later: int) (o: TrainingOptions) =
        { o with Classification = { o.Classification with NewtonIterations = first; LaterNewtonIterations = Some later } }

    /// The same options with depths up to `maxDepth`.
    let withMaxDepth (maxDepth: int) (o: TrainingOptions) = { o with MaxDepth = maxDepth }

    /// The same options with the iterations of the levels in order, the last for every deeper
    /// level too (one number: that many at every level).
    let withLevelIterations (iterations: int list) (o: TrainingOptions) =
        match List.rev iterations with
        | [] -> invalidArg (nameof iterations) "give the iterations of at least one level"
        | last :: earlier -> { o with Iterations = last; LevelIterations = List.rev earlier }

    /// The iterations of multilevel training's level `index` (0 for the first).
    let iterationsAt (index: int) (o: TrainingOptions) =
        List.tryItem index o.LevelIterations |> Option.defaultValue o.Iterations

    /// The same options with batches of `batchSize` training examples.
    let withBatchSize (batchSize: int) (o: TrainingOptions) = { o with BatchSize = batchSize }

    /// The same options with the Gauss–Newton curvature on `count` examples of the batch.
    let withHessianSubsample (count: int) (o: TrainingOptions) =
        { o with Propagation = { o.Propagation with HessianSubsample = count } }

    /// The same options with initial θ of standard deviation `scale`.
    let withInitialScale (scale: float) (o: TrainingOptions) = { o with InitialScale = scale }

    /// The same options with the classifier's hypothesis fixed.
    let withHypothesis (hypothesis: Hypothesis) (o: TrainingOptions) = { o with Hypothesis = Some hypothesis }

    /// The same options with the seed of every random choice.
    let withSeed (seed: int) (o: TrainingOptions) = { o with Seed = seed }

    /// The same options with the classifier fitted anew after every prolongation (`defaults`'
    /// refit, unless the options have their own) or kept.
    let withRefit (refit: bool) (o: TrainingOptions) =
        { o with Refit = if refit then Option.orElse defaults.Refit o.Refit else None }

    /// The concentric ellipses (§6.1): α_θ = 1e-3.
    let ellipses = defaults

    /// The swiss roll (§6.2): α_θ = 5e-3.
    let swissRoll = withSmoothness 5e-3 defaults

    /// Peaks (§6.3): α_θ = 5e-6, and the batch of every iteration is the whole training set
    /// (4,000 examples), as for the ellipses and the swiss roll, with the Gauss–Newton curvature
    /// still on 1,000 of them — the paper's MNIST scheme (§6.4: the full gradient, the Hessian on a
    /// subsample). Every Gauss–Newton step then descends the training objective itself rather than
    /// a half of it drawn anew each iteration. With seeds 1, 2 and 3 the Verlet network (n = 2,
    /// m = 4, the classifier kept at prolongation) reached 99.0 %, 99.3 % and 99.9 % best validation
    /// accuracy this way and 99.1 %, 98.9 % and 99.8 % with batches of 2,000.
    let peaks = { withSmoothness 5e-6 defaults with BatchSize = 4000 }

    /// Images of `channels` channels of height×width pixels (§6.4, MNIST) for a network of the given
    /// propagator: α_θ = 5e-3; the gradient over the whole training set and the Gauss–Newton
    /// curvature on a fresh random 1,000 of its examples every iteration, ≤ 10 PCG iterations; the
    /// classification step ≤ 5 Newton–PCG iterations of ≤ 10 PCG iterations with the Laplacian on
    /// every image of W (Eq. 5.25), α_W = 0.01, preconditioned by its shifted symmetric product
    /// (α_W A² + α_W I)⁻¹, which favours smooth weights; 10 iterations at the first level and 5
    /// at every deeper one, depths up to 16.
    /// The paper's curvature subsample (5,000) and PCG limit (20) are the fields
    /// `Propagation.HessianSubsample` and `Propagation.PcgIterations`: on MNIST 8,000/2,000 at 4
    /// layers (docs/images.md, "Cheaper iterations") 1,000 examples gave the validation accuracy of
    /// 2,000 and 5,000 after every iteration at a fraction of the time, and 10 PCG iterations more
    /// accuracy per second than 20 or 5. The paper does not give the iterations per level. The
    /// coarsest level is the cheapest and the one that gets furthest: on MNIST 8,000/2,000 at 4
    /// layers the validation accuracy went 96.30, 97.30, 97.95, 97.65, 98.20 % in the first five
    /// iterations and 98.30, 98.20, 98.35, 98.15, 98.55 % in the next five (docs/images.md,
    /// fifteenth session), while every prolongated 8-layer level has stayed below its 4-layer level;
    /// so the first level takes 10 and the finer ones 5. Leapfrog and Verlet recompute their states
    /// backwards for the adjoint (Reversal): a recorded state of 5,000 images of 6 channels takes
    /// 188 MB, and storing all of them per depth would dominate the memory of training. After
    /// every prolongation the classifier is fitted anew (5 Newton–PCG iterations of ≤ 10 PCG
    /// iterations from zero; the paper keeps it): at 4 → 8 layers the prolongated Verlet network
    /// computes other features on MNIST (the kept classifier scores 24 % on them, one fitted anew
    /// 93 %), and the finer level's first three iterations reached 94.80, 95.60 and 96.90 % from
    /// the classifier fitted anew against 90.70, 94.95 and 96.20 % from the kept one
    /// (docs/images.md, sixth session). A warm classification step of 2 Newton iterations after a
    /// level's first lost 0.3–0.55 % an iteration for 8–10 s.
    let images (propagator: Propagator) (channels: int) (height: int) (width: int) =
        let o = withSmoothness 5e-3 defaults
        { o with
            Iterations = 5
            LevelIterations = [ 10 ]
            BatchSize = Int32.MaxValue
            Classification =
                { o.Classification with
                    NewtonIterations = 5
                    PcgIterations = 10
                    Regulariser = { Regulariser = ImageLaplacian(channels, height, width); Alpha = 0.01; Shift = 0.01 } }
            Propagation = { o.Propagation with HessianSubsample = 1000; PcgIterations = 10 }
            Strategy = if Scheme.isInvertible (Scheme.ofPropagator propagator) then Reversal else StoreAll
            MaxDepth = 16
            Refit = Some { NewtonIterations = 5; PcgIterations = 10 } }

/// Block coordinate descent, prolongation and multilevel training. Compiled optimised from the
/// first call so that a local of a level's loop, such as the batch's Y_N (1.9 GB for 50,000
/// images), can die at its last use: tier-0 code reports every local of `train` alive until it
/// is overwritten.
[<OptimisedFromFirstCall>]
module Training =

    /// No progress reports, no cancellation, one process and no profile.
    let noControl = { Progress = None; Cancellation = CancellationToken.None; Ranks = Ranks.single; Profile = None }

    /// The piecewise-linear prolongation in time of §5.3 from N to 2N layers (h → h/2): fine layer
    /// 2j copies coarse layer j, fine layer 2j+1 averages coarse layers j and j+1, and the last fine
    /// layer 2N−1 copies the last coarse layer N−1. T and everything else stay.
    let prolongate (net: Network) (p: Parameters) : Network * Parameters =
        Parameters.validate net p
        let n = net.Depth
        let fineNet = Network.withDepth (2 * n) net
        let fine (coarse: 'a[]) (average: 'a -> 'a -> 'a) (copy: 'a -> 'a) =
            Array.init (if coarse.Length = 0 then 0 else 2 * n) (fun f ->
                let j = f / 2
                if f % 2 = 0 || j = n - 1 then copy coarse[j] else average coarse[j] coarse[j + 1])
        let avgM (a: Matrix<float>) (b: Matrix<float>) = 0.5 * (a + b)
        let avgV (a: Vector<float>) (b: Vector<float>) = 0.5 * (a + b)
        fineNet,
        { K = fine p.K avgM Kernels.copy
          b = fine p.b avgV Kernels.vcopy
          c = fine p.c avgV Kernels.vcopy }

    /// The largest λ adaptive damping reaches.
    let maxDamping = 1e3

    /// The gain ratio ρ of a step from the value f0 to the value f1: the actual decrease f0 − f1
    /// over the decrease the quadratic model predicted (`NewtonStep.PredictedDecrease`,
    /// `Optimisers.predictedDecrease`); 1 when the model predicts none (a step that does not move).
    let gainRatio (f0: float) (predicted: float) (f1: float) : float =
        if predicted > 0.0 then (f0 - f1) / predicted else 1.0

    /// The trust-region update of the Levenberg–Marquardt damping λ from the gain ratio ρ of the
    /// step taken: a poor model (ρ < ¼) doubles λ, a good one (ρ > ¾) divides it by 3, anything
    /// between keeps it; λ stays within [floor, maxDamping]. The Armijo search guards every step,
    /// so λ only follows clear evidence and never climbs on the moderate ratios of a shortened step.
    let adaptDamping (floor: float) (lambda: float) (rho: float) : float =
        let lambda' = if rho < 0.25 then 2.0 * lambda elif rho > 0.75 then lambda / 3.0 else lambda
        min maxDamping (max floor lambda')

    let private hypothesisFor (options: TrainingOptions) (classes: int) =
        match options.Hypothesis with
        | Some h -> h
        | None -> if classes = 2 then Logistic else Softmax

    let private checkOptions (o: TrainingOptions) =
        if o.Iterations < 0 || List.exists (fun k -> k < 0) o.LevelIterations then invalidArg "options" "Iterations must be ≥ 0"
        if o.BatchSize < 1 then invalidArg "options" "BatchSize must be ≥ 1"
        if o.Propagation.HessianSubsample < 1 then invalidArg "options" "HessianSubsample must be ≥ 1"
        let refitNegative = match o.Refit with Some r -> r.NewtonIterations < 0 || r.PcgIterations < 0 | None -> false
        let laterNegative = o.Classification.LaterNewtonIterations |> Option.exists (fun k -> k < 0)
        if o.Classification.NewtonIterations < 0 || laterNegative || o.Classification.PcgIterations < 0 || o.Propagation.PcgIterations < 0 || refitNegative then
            invalidArg "options" "iteration limits must be ≥ 0"
        if not (o.Propagation.Regulariser.Shift > 0.0 && o.Classification.Regulariser.Shift > 0.0) then
            invalidArg "options" "preconditioner shifts must be > 0"
        if not (o.Propagation.Regulariser.Alpha >= 0.0 && o.Classification.Regulariser.Alpha >= 0.0) then
            invalidArg "options" "regularisation weights must be ≥ 0"

    let private checkData (width: int) (split: Split) =
        Dataset.validate split.Training
        Dataset.validate split.Validation
        if split.Training.Features.ColumnCount <> width || split.Validation.Features.ColumnCount <> width then
            invalidArg "split" $"the features must have {width} columns (the network's width)"
        if split.Training.Classes <> split.Validation.Classes then
            invalidArg "split" "training and validation sets must have the same number of classes"

    /// The bytes block coordinate descent at the network's depth cannot do without at its peak,
    /// estimated from the sizes alone, with `trainingCount` training and `validationCount`
    /// validation examples: the features of both sets (and of a batch drawn from the training
    /// set), and for a convolutional network the caller's images before they were repeated into
    /// the channels (one channel); the level's one forward pass of the batch, Y_N (and Z_N where
    /// a line-search trial keeps it for the next gradient: `Objective.keepsZ`), which every trial
    /// overwrites; the curvature subsample with its Jacobian where the products use it
    /// (`Objective.usesJacobian`; `Solve.jacobianBytes`: an activation a kick and layer, which
    /// grows with the depth, with the copies of the subsample and of its parts, the Jacobians'
    /// working states and a product's δY_N: 4n + 2m doubles a row more) or else its tape (one
    /// state for Reversal, N + 1 for StoreAll, N/interval + 1 + interval for Checkpoints) and
    /// two copies, which the level keeps from step to step; and the larger of what a forward
    /// pass and the gradient add to them — a chunk's result and states (`Solve.chunkRows`),
    /// or the tapes and four more states of the parts of the gradient that run at once (one a
    /// core, of at most `Objective.blockRows n` examples). A state of a row is Y_j's n doubles
    /// and, for a propagator with a second variable, Z's (the larger of n and m).
    let memoryNeeded (options: TrainingOptions) (net: Network) (trainingCount: int) (validationCount: int) : int64 =
        if trainingCount < 1 || validationCount < 1 then invalidArg (nameof trainingCount) "the training and validation sets need at least 1 example each"
        let n = int64 (Network.width net)
        let m = int64 (Network.auxWidth net)
        let z = if Scheme.usesZ (Network.scheme net) then max n m else 0L
        let state = 8L * (n + z)
        let kept =
            match options.Strategy with
            | StoreAll -> int64 net.Depth + 1L
            | Checkpoints interval -> int64 ((net.Depth - 1) / max 1 interval + 1 + interval)
            | Reversal -> 1L
        let training, validation = int64 trainingCount, int64 validationCount
        let batch = min (int64 options.BatchSize) training
        let subsample = min (int64 options.Propagation.HessianSubsample) batch
        let channels =
            match net.Operator with
            | Conv3x3(c, _, _) | Antisymmetric(Conv3x3(c, _, _), _) -> int64 c
            | _ -> 0L
        let unwidened = if channels > 0L then 8L * (n / channels) * (training + validation) else 0L
        let features = 8L * n * (training + validation + (if batch < training then batch else 0L))
        let batchStates = 8L * n * batch + (if options.Strategy = Reversal && Objective.keepsZ net (int batch) then 8L * z * batch else 0L)
        let curvature =
            if Objective.usesJacobian net (int subsample) then Solve.jacobianBytes net (int subsample) + 8L * (4L * n + 2L * m) * subsample
            else 16L * n * subsample + state * kept * subsample
        let chunk = (8L * n + state) * int64 (Solve.chunkRows (Network.width net))
        let parts = int64 (Ranks.partCount trainingCount)
        let partRows = min (int64 (Objective.blockRows (Network.width net))) ((batch + parts - 1L) / parts)
        let gradient = min parts (int64 Environment.ProcessorCount) * state * partRows * (kept + 4L)
        unwidened + features + batchStates + curvature + max chunk gradient

    /// How far the collector lets the heap grow past what survived its last full collection before
    /// it collects again: with `System.GC.ConserveMemory` c = 1 … 9 (the command line sets 5)
    /// 1 + ½(10/c − 1), 1.5 for c = 5; without it 4.5, the runtime's limit for the large object
    /// heap, where every state of an image batch lives (docs/images.md).
    let heapGrowth () : float =
        match GC.GetConfigurationVariables().TryGetValue "GCConserveMem" with
        | true, (:? int64 as c) when c > 0L -> min 4.5 (1.0 + 0.5 * (10.0 / float c - 1.0))
        | _ -> 4.5

    /// An allowance for what the process holds besides training's data: the runtime, its compiled
    /// code and libraries (a two-layer run of the command line on the ellipses peaked at 0.05 GB
    /// resident).
    [<Literal>]
    let RuntimeBytes = 200_000_000L

    /// The peak resident memory block coordinate descent is expected to reach when the collector
    /// lets the heap grow by `growth` (`heapGrowth ()` for this process): `RuntimeBytes` plus
    /// `growth` times `memoryNeeded`.
    let memoryEstimate (growth: float) (options: TrainingOptions) (net: Network) (trainingCount: int) (validationCount: int) : int64 =
        if not (growth >= 1.0) then invalidArg (nameof growth) $"the heap's growth must be at least 1, got {growth}"
        RuntimeBytes + int64 (growth * float (memoryNeeded options net trainingCount validationCount))

    /// Throws when `memoryNeeded` exceeds `availableBytes`, saying both, so that a run too large
    /// for the machine stops before it starts instead of being killed by the kernel. (Near the
    /// limit the collector collects as often as it must, so the live bytes decide, not the growth.)
    let checkMemory (availableBytes: int64) (options: TrainingOptions) (net: Network) (trainingCount: int) (validationCount: int) =
        let needed = RuntimeBytes + memoryNeeded options net trainingCount validationCount
        if needed > availableBytes then
            let gb (b: int64) = float b / 1e9
            invalidArg
                "split"
                ($"training {trainingCount} and validating {validationCount} examples of {Network.width net} features at {net.Depth} layers needs about {gb needed:F1} GB, "
                 + $"more than the {gb availableBytes:F1} GB available: use fewer examples or a smaller curvature subsample")

    /// The memory this process may use: the machine's, or the container's or GC heap's limit.
    let private availableMemory () = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes

    /// The accuracy over every rank's shard from this rank's correct examples, its examples and
    /// whether its features were finite: the correct examples of all ranks over all their
    /// examples (one reduction of the counts, exact); 0 when the features of any rank are not finite.
    let private accuracyOfCounts (ranks: Ranks) (right: int) (total: int) (finite: bool) =
        match Ranks.sumCounts ranks [| (if finite then right else 0); total; (if finite then 0 else 1) |] with
        | [| right; total; 0 |] -> float right / float total
        | _ -> 0.0

    /// Accuracy of a classifier on the propagated features Y_N of this rank's shard of a data set,
    /// over every rank's shard (`accuracyOfCounts`).
    let private accuracyOf (ranks: Ranks) (c: Classifier) (yN: Matrix<float>) (d: Dataset) =
        let finite = Kernels.allFinite (Kernels.storage yN)
        accuracyOfCounts ranks (if finite then Classifier.correct c yN d.Labels else 0) (Dataset.count d) finite

    /// Accuracy of a model on this rank's shard of a data set, over every rank's shard, its
    /// forward pass chunk by chunk (`Solve.forwardEach`): Y_N of the whole set is never held.
    let private accuracyOn (ranks: Ranks) (model: Model) (d: Dataset) =
        let right, finite = ref 0, ref true
        Solve.forwardEach model.Network model.Parameters d.Features (fun first yN ->
            if Kernels.allFinite (Kernels.storage yN) then
                right.Value <- right.Value + Classifier.correct model.Classifier yN d.Labels[first .. first + yN.RowCount - 1]
            else finite.Value <- false)
        accuracyOfCounts ranks right.Value (Dataset.count d) finite.Value

    /// Accuracy of a model on a data set; 0 when the propagated features are not finite.
    let accuracy (model: Model) (d: Dataset) : float = accuracyOn Ranks.single model d

    /// `count` distinct indices of 0…total−1 drawn by `rng`, or all of them in order.
    let private sample (rng: Random) (count: int) (total: int) =
        if count >= total then Array.init total id else Array.sub (Dataset.permutation (rng.Next()) total) 0 count

    /// Newton–PCG on the classification problem (W, μ) for the features yN (Y_N of the examples
    /// whose label matrix is `labels`: this rank's rows, laid out by `layout`) from the
    /// classifier c, with the classification step's regulariser, PCG tolerance and line search;
    /// `cancel` stops it between iterations.
    let private fitClassifier (options: TrainingOptions) (cancel: CancellationToken) (ranks: Ranks) (layout: Layout) (newtonIterations: int) (pcgIterations: int) (yN: Matrix<float>) (labels: Matrix<float>) (c: Classifier) =
        let problem = Objective.classification ranks layout options.Classification.Regulariser c.Hypothesis yN labels
        let newton =
            { MaxIterations = newtonIterations
              GradientTolerance = 1e-12
              Pcg = { MaxIterations = pcgIterations; RelativeTolerance = options.Classification.PcgTolerance }
              LineSearch = options.LineSearch }
        let r = (Optimisers.newtonPcg newton cancel (fun x -> problem.Evaluate x, ()) problem.Linearise (Objective.classifierToVector c)).Result
        r, Objective.classifierOfVector c.Hypothesis c.W.RowCount c.W.ColumnCount r.Solution

    /// `refitClassifier` on this rank's shard of the training set, over every rank's shard; with
    /// the Y_N of the shard it was fitted to.
    let private refitOn (options: TrainingOptions) (ranks: Ranks) (refit: RefitOptions) (model: Model) (training: Dataset) : Classifier * Matrix<float> =
        let shard = Ranks.locate ranks (Dataset.count training)
        let layout = snd (Ranks.arrange ranks shard (Array.init shard.Total id))
        let c = model.Classifier
        let yN = Solve.forward model.Network model.Parameters training.Features
        let labels = Classifier.labelMatrix c.Hypothesis training.Classes training.Labels
        let start = Classifier.zero c.Hypothesis c.W.RowCount c.W.ColumnCount
        match fitClassifier options CancellationToken.None ranks layout refit.NewtonIterations refit.PcgIterations yN labels start with
        | { Status = Diverged }, _ -> c, yN
        | _, fitted -> fitted, yN

    /// The classifier fitted anew to a (prolongated) network: Newton–PCG from W = 0, μ = 0 on the
    /// features the network computes for the whole training set (`Refit` of the options).
    let refitClassifier (options: TrainingOptions) (refit: RefitOptions) (model: Model) (training: Dataset) : Classifier =
        fst (refitOn options Ranks.single refit model training)

    /// The training features, θ and a forward pass of them at θ, which a level hands to the next
    /// (the prolongation's refit propagated them) so that its first iteration need not again.
    type private KnownForward = Matrix<float> * Parameters * TrialForward

    /// `train` whose first iteration takes its features from `known` (the training features,
    /// θ and a forward pass of them at θ) when they are the batch's at the start's θ.
    let private trainFrom (knownCell: KnownForward option ref) (options: TrainingOptions) (control: TrainingControl) (start: Model) (split: Split) : LevelResult =
        // `known` comes in a cell that the level empties as it takes it, so that once the level
        // has let its forward pass go, nothing of the caller's keeps it (see `propagation`).
        let known = knownCell.Value
        knownCell.Value <- None
        checkOptions options
        Model.validate start
        let ranks = control.Ranks
        Ranks.validate ranks
        let net = start.Network
        checkData (Network.width net) split
        checkMemory (availableMemory ()) options net (Dataset.count split.Training) (Dataset.count split.Validation)
        let clock = Stopwatch.StartNew()
        let hyp = start.Classifier.Hypothesis
        let training = split.Training
        let classes = training.Classes
        let labelsOf (d: Dataset) = Classifier.labelMatrix hyp classes d.Labels
        let shard = Ranks.locate ranks (Dataset.count training)
        let rng = Random(options.Seed + 7919 * net.Depth)
        // A cancellation on one rank reaches the others only through the agreed check between
        // iterations (`Ranks.any`): inside a step it would leave them waiting in a reduction.
        let cancel = if ranks.Size = 1 then control.Cancellation else CancellationToken.None
        let classification (k: int) (layout: Layout) (yN: Matrix<float>) (labels: Matrix<float>) (c: Classifier) =
            let newtonIterations =
                if k = 1 then options.Classification.NewtonIterations
                else Option.defaultValue options.Classification.NewtonIterations options.Classification.LaterNewtonIterations
            fitClassifier options cancel ranks layout newtonIterations options.Classification.PcgIterations yN labels c
        let newton =
            { MaxIterations = 1
              GradientTolerance = 1e-12
              Pcg = { MaxIterations = options.Propagation.PcgIterations; RelativeTolerance = options.Propagation.PcgTolerance }
              LineSearch = options.LineSearch }
        // The activations of the Jacobians of the level's Gauss–Newton steps, where their products
        // use them (`Objective.jacobiansFor`): every step rents them and gives them back.
        let jacobians = JacobianStore()
        // One Gauss–Newton–PCG step on θ with damping λ, its gradient from the forward pass
        // `known` when that was made at θ on the same batch, its curvature on a subsample of
        // `subsample` examples of all ranks, whose Jacobians serve only inside the step. Returns
        // the optimiser's result, the new θ, the damping for the next step (adapted by the step's
        // gain ratio) and the forward pass of the batch at the new θ when the step was accepted
        // with finite features — reused for the training accuracy and, when every batch is the
        // whole training set, by the next classification step and the next gradient. `known`
        // comes in a cell that the step empties as it takes it: an argument of this function
        // stays on the stack, reported to the collector, until the step returns (a heap dump at
        // 50,000 images found the previous trial's Y_N, 1.9 GB, held so through the whole step).
        let propagation (damping: float) (known: TrialForward option ref) (spare: State) (p: Parameters) (c: Classifier) (layout: Layout) (y0: Matrix<float>) (labels: Matrix<float>) (subsample: int) (layoutH: Layout) (y0H: Matrix<float>) (labelsH: Matrix<float>) =
            Solve.withJacobiansFrom jacobians (fun linearise ->
                let start = known.Value
                known.Value <- None
                let problem = Objective.propagation (Objective.jacobiansFor net subsample linearise) ranks control.Profile options.Strategy options.Propagation.Regulariser damping net c start layout y0 labels layoutH y0H labelsH
                // The line search holds what every trial returned until it returns; each trial
                // empties the previous one's cell before it propagates, so that a rejected
                // trial's forward pass is let go. Every trial writes into `spare`, the arrays of
                // the iteration's forward pass at θ, which the gradient was the last to read.
                let latest = ref (ref None)
                let trial (x: float[]) =
                    latest.Value.Value <- None
                    let value, forward = Profile.timed control.Profile "line-search trial" (fun () -> Objective.propagationTrialInto (Some spare) ranks layout options.Strategy options.Propagation.Regulariser net c y0 labels x)
                    latest.Value <- ref forward
                    value, latest.Value
                let r = Optimisers.newtonPcg newton cancel trial problem.Linearise (Objective.parametersToVector p)
                let theta = Objective.parametersOfVector net r.Result.Solution
                let nextDamping =
                    match options.Propagation.AdaptiveDamping, r.LastStep, r.Result.History with
                    | true, Some last, [ step ] -> adaptDamping options.Propagation.Damping damping (gainRatio last.Linearisation.Value last.PredictedDecrease.Value step.Objective)
                    | _ -> damping
                let features = r.LastStep |> Option.bind (fun last -> last.Trial.Value) |> Option.map (fun forward -> y0, theta, forward)
                r.Result, theta, nextDamping, features)
        // Y_N of a data set at θ: the propagation step's when it was on the same features at the
        // same θ (the forward pass is deterministic), else a forward pass.
        let reusable (computed: KnownForward option) (theta: Parameters) (d: Dataset) =
            match computed with
            | Some(y0, at, forward) when obj.ReferenceEquals(y0, d.Features) && obj.ReferenceEquals(at, theta) -> Some forward
            | _ -> None
        let forwardAt computed (theta: Parameters) (d: Dataset) =
            match reusable computed theta d with
            | Some forward -> forward.YN
            | None -> Solve.forward net theta d.Features
        let initialValidation = accuracyOn ranks start split.Validation
        let mutable current = start
        let mutable best = start
        let mutable bestAccuracy = initialValidation
        let mutable bestIteration = 0
        let mutable bestTraining = nan
        let mutable history = []
        let mutable status = MaxIterations
        let mutable k = 0
        let mutable damping = options.Propagation.Damping
        let mutable computed = known
        while status = MaxIterations && k < options.Iterations do
            if Ranks.any ranks control.Cancellation.IsCancellationRequested then status <- Cancelled
            else
                k <- k + 1
                let batch = sample rng options.BatchSize shard.Total
                let sub = sample rng options.Propagation.HessianSubsample batch.Length
                let rowsT, layoutT = Ranks.arrange ranks shard batch
                let rowsH, layoutH = Ranks.arrange ranks shard (Array.map (fun i -> batch[i]) sub)
                if Ranks.any ranks (rowsT.Length = 0) then
                    invalidArg "options" $"a rank holds none of the {batch.Length} examples of the batch: use fewer ranks or a larger batch"
                let dataT = if batch.Length = shard.Total then training else Dataset.select rowsT training
                let labelsT = labelsOf dataT
                let yN = Profile.timed control.Profile "features for the classifier" (fun () -> forwardAt computed current.Parameters dataT)
                let known = ref (reusable computed current.Parameters dataT)
                // The arrays of the batch's forward pass at θ, which the step's trials overwrite
                // once the gradient has read them: the level holds one Y_N of the batch (1.9 GB
                // for 50,000 images), not a new one an iteration.
                let spare = { Y = yN; Z = known.Value |> Option.bind (fun f -> f.ZN) }
                // The previous step's forward pass is needed only by the next gradient, which lets it go.
                computed <- None
                let cr, classifier = Profile.timed control.Profile "classification" (fun () -> classification k layoutT yN labelsT current.Classifier)
                match cr.Status with
                | Diverged | LineSearchFailed | Cancelled -> status <- cr.Status
                | _ ->
                    let dataH = if sub.Length = batch.Length then dataT else Dataset.select rowsH training
                    let usedDamping = damping
                    let pr, theta, nextDamping, features = propagation damping known spare current.Parameters classifier layoutT dataT.Features labelsT sub.Length layoutH dataH.Features (labelsOf dataH)
                    damping <- nextDamping
                    computed <- features
                    let model = { current with Parameters = theta; Classifier = classifier }
                    match pr.Status with
                    | Diverged | LineSearchFailed | Cancelled ->
                        current <- { current with Classifier = classifier }
                        status <- pr.Status
                    | _ ->
                        current <- model
                        let objective =
                            match pr.History with
                            | [ last ] -> last.Objective + Objective.classifierPenalty options.Classification.Regulariser classifier
                            | _ -> Objective.value ranks layoutT options.Propagation.Regulariser options.Classification.Regulariser model dataT.Features labelsT
                        let trainingAccuracy =
                            Profile.timed control.Profile "training accuracy" (fun () ->
                                match reusable computed theta training with
                                | Some forward -> accuracyOf ranks classifier forward.YN training
                                | None -> accuracyOn ranks model training)
                        let validationAccuracy = Profile.timed control.Profile "validation accuracy" (fun () -> accuracyOn ranks model split.Validation)
                        let record =
                            { Iteration = k
                              Objective = objective
                              TrainingAccuracy = trainingAccuracy
                              ValidationAccuracy = validationAccuracy
                              ClassificationPcgIterations = cr.History |> List.sumBy (fun i -> i.PcgIterations)
                              PropagationPcgIterations = pr.History |> List.sumBy (fun i -> i.PcgIterations)
                              StepLength = (match pr.History with [ last ] -> last.StepLength | _ -> 0.0)
                              Damping = usedDamping
                              Seconds = clock.Elapsed.TotalSeconds }
                        history <- record :: history
                        Profile.note control.Profile $"iteration {k} at {net.Depth} layers: validation {validationAccuracy:P2}, training {trainingAccuracy:P2}, {record.Seconds:F1} s into the level"
                        if not (Double.IsFinite objective) then status <- Diverged
                        elif validationAccuracy > bestAccuracy then
                            best <- model
                            bestAccuracy <- validationAccuracy
                            bestIteration <- k
                            bestTraining <- trainingAccuracy
                        match control.Progress with
                        | Some report -> report { Depth = net.Depth; Iterations = options.Iterations; Latest = record; BestValidationAccuracy = bestAccuracy; Best = best }
                        | None -> ()
        { Depth = net.Depth
          Status = status
          History = List.rev history
          InitialValidationAccuracy = initialValidation
          BestValidationAccuracy = bestAccuracy
          BestIteration = bestIteration
          TrainingAccuracy = (if bestIteration = 0 then accuracyOn ranks start training else bestTraining)
          Seconds = clock.Elapsed.TotalSeconds
          Best = best
          Final = current }

    /// Block coordinate descent (SPEC §5) at the model's depth, from the given model. Every
    /// iteration draws a batch T, takes ≤ k Newton–PCG iterations on (W, μ) with Y_N fixed, one
    /// Gauss–Newton–PCG step on θ, and evaluates the validation accuracy; the model with the best
    /// validation accuracy is kept. A non-finite objective stops with Diverged, a failed line
    /// search with LineSearchFailed, cancellation with Cancelled — each keeping the best so far.
    /// With several ranks (`control.Ranks`) the split is this rank's shards, the batch and the
    /// curvature subsample are drawn over the global indices of all shards, and every mean over
    /// examples meets in a reduction: every rank computes the same iterates (SPEC §11).
    let train (options: TrainingOptions) (control: TrainingControl) (start: Model) (split: Split) : LevelResult =
        trainFrom (ref None) options control start split

    /// The starting model of multilevel training: θ ~ N(0, InitialScale²) (seeded) and a zero classifier.
    let initialModel (options: TrainingOptions) (net: Network) (classes: int) : Model =
        { Network = net
          Parameters = Parameters.random options.Seed options.InitialScale net
          Classifier = Classifier.zero (hypothesisFor options classes) (Network.width net) classes }

    /// The starting model of the level after `level`: its last iterate prolongated to twice the
    /// depth, with the classifier kept or fitted anew (`Refit`); None when multilevel training
    /// stops after it (it diverged or was cancelled, or twice its depth exceeds MaxDepth). A
    /// classifier fitted anew comes with the forward pass it was fitted to, for the level's first
    /// features (`trainFrom`): the level does not repeat it, nor hold a second Y_N of the
    /// training set while the first is collected.
    let private nextStart (options: TrainingOptions) (ranks: Ranks) (split: Split) (level: LevelResult) : (Model * KnownForward option) option =
        match level.Status with
        | Diverged | Cancelled -> None
        | _ when 2 * level.Depth > options.MaxDepth -> None
        | _ ->
            // The finished level's arrays (its Y_N of the training set, 1.9 GB at 50,000 images,
            // and its Jacobian store) are garbage now, but the collector, allowed to let the heap
            // grow past what survived its last collection, would keep them resident beside the
            // finer level's Y_N that the refit allocates: the peak of a 50,000-image run (Verlet,
            // 10.13 GB, at the 4 → 8 refit; docs/images.md). One full collection a level is cheap
            // against a level's minutes.
            GC.Collect(2, GCCollectionMode.Forced, true, true)
            let fineNet, fineTheta = prolongate level.Final.Network level.Final.Parameters
            let fine = { level.Final with Network = fineNet; Parameters = fineTheta }
            match options.Refit with
            | Some refit ->
                let classifier, yN = refitOn options ranks refit fine split.Training
                let forward = { Theta = Objective.parametersToVector fineTheta; Layout = Ranks.whole yN.RowCount; YN = yN; ZN = None }
                Some({ fine with Classifier = classifier }, Some(split.Training.Features, fineTheta, forward))
            | None -> Some(fine, None)

    /// Multilevel training (§5.3) from `start`: train at a depth, prolongate θ to twice the depth
    /// (the classifier kept, or fitted anew with `Refit`), train again, … while the depth is at
    /// most MaxDepth, level i (from 0) for `TrainingOptions.iterationsAt i` iterations. Each level
    /// continues from the previous level's last iterate. Stops early when a level diverges or is
    /// cancelled; a level whose line search failed is reported and the next level continues. `onLevel` receives the levels so far after every level (for checkpoints).
    /// Every level draws its random choices from the seed and its depth alone, so a run continued
    /// `After` the levels of an interrupted one ends where the uninterrupted run ends; its Seconds
    /// add the earlier levels' seconds to its own.
    let multilevelRun (options: TrainingOptions) (control: TrainingControl) (onLevel: LevelResult list -> unit) (start: MultilevelStart) (split: Split) : TrainingResult =
        checkOptions options
        let clock = Stopwatch.StartNew()
        let completed, first =
            match start with
            | From model ->
                if options.MaxDepth < model.Network.Depth then
                    invalidArg "options" $"MaxDepth {options.MaxDepth} is below the starting depth {model.Network.Depth}"
                [], Some(model, None)
            | After [] -> invalidArg "start" "a run continued after its finished levels needs at least one level"
            | After levels -> levels, nextStart options control.Ranks split (List.last levels)
        match first with
        | Some(m, _) ->
            let deepest = Seq.unfold (fun d -> if d <= options.MaxDepth then Some(d, 2 * d) else None) m.Network.Depth |> Seq.last
            checkMemory (availableMemory ()) options (Network.withDepth deepest m.Network) (Dataset.count split.Training) (Dataset.count split.Validation)
        | None -> ()
        // A level's start holds its first features in a cell, which the level empties.
        let inCell (start: (Model * KnownForward option) option) = start |> Option.map (fun (m, known) -> m, ref known)
        let rec levels (model: (Model * KnownForward option ref) option) (acc: LevelResult list) =
            match model with
            | None -> acc
            | Some(m, known) ->
                let level = trainFrom known { options with Iterations = TrainingOptions.iterationsAt acc.Length options } control m split
                let acc = level :: acc
                onLevel (List.rev acc)
                levels (inCell (nextStart options control.Ranks split level)) acc
        let results = List.rev (levels (inCell first) (List.rev completed))
        let best = results |> List.fold (fun (b: LevelResult) l -> if l.BestValidationAccuracy > b.BestValidationAccuracy then l else b) results.Head
        let any status = results |> List.exists (fun l -> l.Status = status)
        { Levels = results
          Status = [ Cancelled; Diverged; LineSearchFailed ] |> List.tryFind any |> Option.defaultValue (List.last results).Status
          BestValidationAccuracy = best.BestValidationAccuracy
          Best = best.Best
          Seconds = (completed |> List.sumBy (fun l -> l.Seconds)) + clock.Elapsed.TotalSeconds }

    /// Multilevel training from a given model (`multilevelRun` from it, without a level callback).
    let multilevelFrom (options: TrainingOptions) (control: TrainingControl) (start: Model) (split: Split) : TrainingResult =
        multilevelRun options control ignore (From start) split

    /// Multilevel training from `initialModel` at the network's depth.
    let multilevel (options: TrainingOptions) (control: TrainingControl) (net: Network) (split: Split) : TrainingResult =
        multilevelFrom options control (initialModel options net split.Training.Classes) split

    /// The first-order baseline: SGD with momentum or Adam on mini-batches of the whole objective
    /// (Eq. 2.4, with the regularisers and weights of `options`) in (θ, W, μ) jointly.
    let firstOrder (method: FirstOrderMethod) (options: TrainingOptions) (control: TrainingControl) (start: Model) (split: Split) : FirstOrderResult =
        checkOptions options
        if control.Ranks.Size <> 1 then invalidArg "control" "the first-order baseline trains on one process: give Ranks.single"
        Model.validate start
        let net = start.Network
        checkData (Network.width net) split
        let hyp = start.Classifier.Hypothesis
        let training = split.Training
        let n, m = Network.width net, start.Classifier.W.ColumnCount
        let thetaCount = Parameters.count net
        let unpack (x: float[]) =
            { start with
                Parameters = Objective.parametersOfVector net (Array.sub x 0 thetaCount)
                Classifier = Objective.classifierOfVector hyp n m (Array.sub x thetaCount (x.Length - thetaCount)) }
        let objective (batch: int[]) (x: float[]) =
            if not (Kernels.allFinite x) then nan, x
            else
                let d = Dataset.select batch training
                Objective.valueAndGradient options.Strategy options.Propagation.Regulariser options.Classification.Regulariser
                    (unpack x) d.Features (Classifier.labelMatrix hyp training.Classes d.Labels)
        let x0 = Array.append (Objective.parametersToVector start.Parameters) (Objective.classifierToVector start.Classifier)
        let count = Dataset.count training
        let result =
            match method with
            | Sgd o -> Optimisers.sgd o control.Cancellation objective count x0
            | Adam o -> Optimisers.adam o control.Cancellation objective count x0
        let model = unpack result.Solution
        { Model = model
          Optimiser = result
          TrainingAccuracy = accuracy model training
          ValidationAccuracy = accuracy model split.Validation }
