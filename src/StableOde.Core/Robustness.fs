/// Robustness to perturbations of the input (SPEC §10, the paper's motivation in §1): the fast
/// gradient sign method, projected gradient descent in ℓ∞ and seeded Gaussian noise, each example
/// attacked through its own cross-entropy ℓ_i and the exact input gradient (the transposed
/// product of the network's recorded Jacobian, `Solve.vjpInputInto`);
/// per ε the accuracy on the perturbed inputs and the observed amplification of the perturbation
/// by the network, next to each example's largest singular value of ∂Y_N/∂Y_0.
namespace StableOde.Core

open System
open MathNet.Numerics.LinearAlgebra
open StableOde.Core.Kernels

/// How the inputs are perturbed (SPEC §10).
type Attack =
    /// The fast gradient sign method: y' = y + ε·sign(∇ℓ_i(y)), sign(0) = 0.
    | Fgsm
    /// Projected gradient ascent of ℓ_i in ℓ∞ without a random start: `steps` steps
    /// y ← Π_ε(y + α·sign(∇ℓ_i(y))) with α = 2.5ε/steps, Π_ε the projection onto ‖y − y_i‖∞ ≤ ε.
    | Pgd of steps: int
    /// Gaussian noise y_i + ε·ξ_i, ξ_i ~ N(0, I) drawn from a generator seeded with `seed`: the
    /// same ξ for every ε, so that the accuracies of a list of ε are comparable.
    | Noise of seed: int

/// The settings of a robustness evaluation.
type RobustnessOptions =
    { /// The perturbation.
      Attack: Attack
      /// Clip every iterate to [0, 1] (image data: pixels stay pixels).
      Clip: bool }

    /// PGD with 10 steps, no clipping.
    static member defaults = { Attack = Pgd 10; Clip = false }

/// What one ε does to a model on a data set.
type RobustnessResult =
    { /// The size of the perturbation (ℓ∞ for FGSM and PGD, the noise's standard deviation).
      Epsilon: float
      /// The fraction of perturbed examples classified correctly.
      Accuracy: float
      /// The mean over examples of ‖Y_N(y') − Y_N(y)‖ / ‖y' − y‖ (Euclidean norms of the
      /// network's input and output, so that it compares with σ_max of ∂Y_N/∂Y_0); an example the
      /// perturbation leaves unchanged counts as 0.
      AmplificationMean: float
      /// The largest of those ratios.
      AmplificationMax: float }

/// A robustness evaluation over a list of ε.
type RobustnessReport =
    { /// The perturbation.
      Attack: Attack
      /// The accuracy on the unperturbed data.
      CleanAccuracy: float
      /// One result per ε, in the order given.
      Results: RobustnessResult[] }

/// Attacks and their evaluation. The data is perturbed as the user gives it: a data set narrower
/// than the network is widened (`Dataset.widenFeatures`) after perturbation, and its input
/// gradient sums over the copies of each feature.
module Robustness =

    /// The name used on the command line and in JSON.
    let attackName (a: Attack) =
        match a with
        | Fgsm -> "fgsm"
        | Pgd _ -> "pgd"
        | Noise _ -> "noise"

    let private checkData (model: Model) (y: Matrix<float>) (labels: int[]) =
        Model.validate model
        if isNull y then invalidArg "data" "the data must not be null"
        if isNull labels then invalidArg "labels" "labels must not be null"
        let n = Network.width model.Network
        if y.RowCount = 0 then invalidArg "data" "the data has no examples"
        if y.ColumnCount > n then invalidArg "data" $"the data has {y.ColumnCount} features but the network has width {n}"
        if labels.Length <> y.RowCount then invalidArg "labels" $"expected {y.RowCount} labels (one per example), got {labels.Length}"
        if not (allFinite (columnMajor y)) then invalidArg "data" "the data contains NaN or infinity"

    let private widened (model: Model) (y: Matrix<float>) =
        let n = Network.width model.Network
        if y.ColumnCount = n then y else Dataset.widenFeatures n y

    let private labelMatrix (model: Model) (labels: int[]) =
        Classifier.labelMatrix model.Classifier.Hypothesis (Classifier.classes model.Classifier) labels

    /// Rows r0…r0+len−1 of a matrix (the matrix itself when that is all of it).
    let private rows (m: Matrix<float>) (r0: int) (len: int) = if len = m.RowCount then m else m.SubMatrix(r0, len, 0, m.ColumnCount)

    /// The input gradient of a widened input folded back onto the data's d features: column k
    /// sums the network's columns j with j mod d = k (the copies of feature k).
    let private foldCopies (d: int) (g: Matrix<float>) =
        if g.ColumnCount = d then g
        else
            let s = g.RowCount
            let src = columnMajor g
            let dst = Array.zeroCreate (s * d)
            for j in 0 .. g.ColumnCount - 1 do
                let into = (j % d) * s
                for r in 0 .. s - 1 do
                    dst[into + r] <- dst[into + r] + src[j * s + r]
            ofStorage s d dst

    /// Each example's own loss ℓ_i (for softmax its cross-entropy) on the data y (s×d, d ≤ n).
    let losses (model: Model) (y: Matrix<float>) (labels: int[]) : float[] =
        checkData model y labels
        let c = labelMatrix model labels
        let z = Classifier.scores model.Classifier (Solve.forward model.Network model.Parameters (widened model y))
        Array.init y.RowCount (fun i -> fst (Classifier.lossOfScores model.Classifier.Hypothesis (rows z i 1) (rows c i 1)))

    /// The bytes one chunk of an attack may hold in its Jacobian and states: 256 MiB.
    [<Literal>]
    let ChunkBytes = 268435456L

    /// Examples per chunk of an attack: as many as `ChunkBytes` holds, at 8 bytes a double, of
    /// what the attack's Jacobian keeps per example (`Solve.jacobianBytes`: every kick's
    /// activation in every layer, Y_0 and the final state) and four more states of n (the widened
    /// input, Y_N, Ȳ_N and ∂L/∂Y_0); in whole multiples of 64, at least 64 (four of the 16-row
    /// blocks of a wide network, two a core) and at most `Solve.ChunkRows`. Each chunk is attacked
    /// and evaluated on its own, so that memory holds one chunk's Jacobian and workspaces a core
    /// (`evaluate` runs a chunk a core at once), however many examples there are: 256 images of
    /// 6×28×28 through an 8-layer Verlet network.
    let chunkRows (model: Model) =
        let net = model.Network
        let perExample = Solve.jacobianBytes net 1 + 8L * 4L * int64 (Network.width net)
        let rows = ChunkBytes / perExample
        int (max 64L (min (int64 Solve.ChunkRows) (rows / 64L * 64L)))

    /// ∇ℓ_i of every example of one chunk y (s×d, with its label matrix c) and the network's
    /// output Y_N at y: the chunk's Jacobian recorded by one forward pass (`Solve.withJacobian`,
    /// its activations reused from the last chunk's) and its input-only transposed product
    /// (`Solve.vjpInputInto`: one transposed operator product a kick, no state rebuilt), all
    /// cores at once.
    let private gradientAndOutput (model: Model) (c: Matrix<float>) (y: Matrix<float>) : Matrix<float> * Matrix<float> =
        Solve.withJacobian model.Network model.Parameters (widened model y) (fun jac ->
            let yN = jac.YN
            let lg = Classifier.lossGradient model.Classifier yN c
            // The loss is the mean over the chunk: ∇ℓ_i is s times row i of its gradient. The
            // product overwrites its output, so Ȳ_N's own matrix (scaled in place) receives it.
            let yBar = lg.GradY
            yBar.Multiply(float y.RowCount, yBar)
            Solve.vjpInputInto jac yBar yBar
            foldCopies y.ColumnCount yBar, yN)

    /// ∇ℓ_i for every example i at once (s×d): row i is the gradient of example i's own loss with
    /// respect to its features as given, by one forward pass and one input-only transposed
    /// product of its Jacobian on chunks of at most `chunkRows` examples, all cores at once.
    let inputGradient (model: Model) (y: Matrix<float>) (labels: int[]) : Matrix<float> =
        checkData model y labels
        let c = labelMatrix model labels
        let s, d = y.RowCount, y.ColumnCount
        let out = Array.zeroCreate (s * d)
        let chunk = chunkRows model
        for r0 in 0 .. chunk .. s - 1 do
            let len = min chunk (s - r0)
            let g = columnMajor (fst (gradientAndOutput model (rows c r0 len) (rows y r0 len)))
            for k in 0 .. d - 1 do
                Array.blit g (k * len) out (k * s + r0) len
        ofStorage s d out

    let private clipped (clip: bool) (y: Matrix<float>) = if clip then y.Map(fun v -> Math.Clamp(v, 0.0, 1.0)) else y

    let private signs (g: Matrix<float>) = g.Map(fun v -> float (Math.Sign v))

    /// y + ε·sign(g) (clipped to [0, 1] when `clip`).
    let private fgsmMove (clip: bool) (epsilon: float) (y: Matrix<float>) (g: Matrix<float>) = clipped clip (y + epsilon * signs g)

    /// The FGSM perturbation of every example with budget ε (clipped to [0, 1] when `clip`).
    let fgsm (clip: bool) (epsilon: float) (model: Model) (y: Matrix<float>) (labels: int[]) : Matrix<float> =
        fgsmMove clip epsilon y (inputGradient model y labels)

    let private checkSteps (steps: int) =
        if steps < 1 then invalidArg (nameof steps) $"PGD needs at least 1 step, got {steps}"

    /// The PGD step from x, whose gradient is g, for the examples y: x ← Π_ε(x + α·sign(g)),
    /// α = 2.5ε/steps (clipped to [0, 1] when `clip`).
    let private pgdMove (clip: bool) (steps: int) (epsilon: float) (y: Matrix<float>) (x: Matrix<float>) (g: Matrix<float>) =
        let alpha = 2.5 * epsilon / float steps
        let origin, xs, gs = columnMajor y, columnMajor x, columnMajor g
        let moved = Array.init xs.Length (fun i -> Math.Clamp(xs[i] + alpha * float (Math.Sign gs[i]), origin[i] - epsilon, origin[i] + epsilon))
        clipped clip (ofStorage x.RowCount x.ColumnCount moved)

    /// The last PGD iterate from y, given the gradient g0 at y and the gradient at any other iterate.
    let private pgdFrom (clip: bool) (steps: int) (epsilon: float) (gradient: Matrix<float> -> Matrix<float>) (y: Matrix<float>) (g0: Matrix<float>) =
        Seq.fold (fun x _ -> pgdMove clip steps epsilon y x (gradient x)) (pgdMove clip steps epsilon y y g0) (seq { 2 .. steps })

    /// Every PGD iterate of every example, from y itself (iterate 0) to iterate `steps`.
    let pgdIterates (clip: bool) (steps: int) (epsilon: float) (model: Model) (y: Matrix<float>) (labels: int[]) : Matrix<float>[] =
        checkSteps steps
        Array.scan (fun x _ -> pgdMove clip steps epsilon y x (inputGradient model x labels)) y (Array.zeroCreate steps)

    /// The PGD perturbation of every example: the last of `pgdIterates`, keeping only the current one.
    let pgd (clip: bool) (steps: int) (epsilon: float) (model: Model) (y: Matrix<float>) (labels: int[]) : Matrix<float> =
        checkSteps steps
        pgdFrom clip steps epsilon (fun x -> inputGradient model x labels) y (inputGradient model y labels)

    /// ξ ~ N(0, I) shaped like the data, from a generator seeded with `seed` (column by column).
    let noiseDirections (seed: int) (rows: int) (cols: int) : Matrix<float> =
        ofStorage rows cols (Parameters.gaussians (Random seed) (rows * cols))

    /// y + ε·ξ (clipped to [0, 1] when `clip`).
    let private noisy (clip: bool) (xi: Matrix<float>) (epsilon: float) (y: Matrix<float>) = clipped clip (y + epsilon * xi)

    /// y + ε·ξ with ξ from `noiseDirections seed` (clipped to [0, 1] when `clip`).
    let noise (clip: bool) (seed: int) (epsilon: float) (y: Matrix<float>) : Matrix<float> =
        noisy clip (noiseDirections seed y.RowCount y.ColumnCount) epsilon y

    /// The perturbed data of an attack with budget ε.
    let perturb (options: RobustnessOptions) (epsilon: float) (model: Model) (y: Matrix<float>) (labels: int[]) : Matrix<float> =
        match options.Attack with
        | Fgsm -> fgsm options.Clip epsilon model y labels
        | Pgd steps -> pgd options.Clip steps epsilon model y labels
        | Noise seed -> noise options.Clip seed epsilon y

    let private checkOptions (options: RobustnessOptions) (epsilons: float[]) =
        match options.Attack with
        | Pgd steps when steps < 1 -> invalidArg "steps" $"PGD needs at least 1 step, got {steps}"
        | _ -> ()
        if isNull epsilons || epsilons.Length = 0 then invalidArg "epsilons" "the list of ε is empty"
        for e in epsilons do
            if not (Double.IsFinite e) || e < 0.0 then invalidArg "epsilons" $"every ε must be a finite number ≥ 0, got {e}"

    let private correctOf (predicted: int[]) (labels: int[]) =
        Array.fold2 (fun acc p l -> if p = l then acc + 1 else acc) 0 predicted labels

    /// Per-example ratios ‖a_i − b_i‖ / ‖x_i − y_i‖ of output and input differences (0 where x_i = y_i).
    let private ratios (outA: Matrix<float>) (outB: Matrix<float>) (inA: Matrix<float>) (inB: Matrix<float>) =
        let dOut, dIn = outA - outB, inA - inB
        Array.init dIn.RowCount (fun i ->
            let denominator = dIn.Row(i).L2Norm()
            if denominator = 0.0 then 0.0 else dOut.Row(i).L2Norm() / denominator)

    /// `evaluate` with the examples attacked and evaluated in chunks of `chunk` rows.
    let internal evaluateInChunks (chunk: int) (options: RobustnessOptions) (epsilons: float[]) (model: Model) (data: Dataset) : RobustnessReport =
        if chunk < 1 then invalidArg (nameof chunk) $"a chunk needs at least 1 example, got {chunk}"
        checkOptions options epsilons
        checkData model data.Features data.Labels
        let classes = Classifier.classes model.Classifier
        Classifier.checkLabels "labels" classes data.Labels
        let net, p, y, labels = model.Network, model.Parameters, data.Features, data.Labels
        let s = y.RowCount
        let xi =
            match options.Attack with
            | Noise seed -> Some(noiseDirections seed s y.ColumnCount)
            | Fgsm | Pgd _ -> None
        let amplification = epsilons |> Array.map (fun _ -> Array.zeroCreate s)
        // Chunk r0's correct clean examples and its correct examples per ε; its amplifications
        // go into their rows of `amplification`.
        let attack (r0: int) =
            let len = min chunk (s - r0)
            let yc, lc = rows y r0 len, Array.sub labels r0 len
            let c = labelMatrix model lc
            let y0 = widened model yc
            // The gradient at the clean examples serves FGSM and the first PGD step of every ε,
            // and its forward pass gives the clean output.
            let yN, perturbed =
                match options.Attack with
                | Noise _ ->
                    let xic = rows (Option.get xi) r0 len
                    Solve.forward net p y0, (fun epsilon -> noisy options.Clip xic epsilon yc)
                | Fgsm ->
                    let g0, yN = gradientAndOutput model c yc
                    yN, (fun epsilon -> fgsmMove options.Clip epsilon yc g0)
                | Pgd steps ->
                    let g0, yN = gradientAndOutput model c yc
                    yN, (fun epsilon -> pgdFrom options.Clip steps epsilon (fun x -> fst (gradientAndOutput model c x)) yc g0)
            let correct =
                epsilons |> Array.mapi (fun e epsilon ->
                    if epsilon > 0.0 then
                        let y0' = widened model (perturbed epsilon)
                        let yN' = Solve.forward net p y0'
                        Array.blit (ratios yN' yN y0' y0) 0 amplification[e] r0 len
                        correctOf (Classifier.predict model.Classifier yN') lc
                    else 0)
            correctOf (Classifier.predict model.Classifier yN) lc, correct
        // A chunk a core at once, each with its solves on all cores: one chunk's serial steps
        // (widening, the classifier's gradient, folding the copies) overlap another's solves.
        // Counts are summed in chunk order, so the result does not depend on the cores.
        let counts = Array.zeroCreate ((s + chunk - 1) / chunk)
        Engine.parallelRange counts.Length (fun i -> counts[i] <- attack (i * chunk))
        let cleanCorrect = counts |> Array.sumBy fst
        let correct = Array.init epsilons.Length (fun e -> counts |> Array.sumBy (fun (_, c) -> c[e]))
        let clean = float cleanCorrect / float s
        let result (e: int) (epsilon: float) =
            if epsilon = 0.0 then { Epsilon = 0.0; Accuracy = clean; AmplificationMean = 0.0; AmplificationMax = 0.0 }
            else
                { Epsilon = epsilon
                  Accuracy = float correct[e] / float s
                  AmplificationMean = Array.average amplification[e]
                  AmplificationMax = Array.max amplification[e] }
        { Attack = options.Attack; CleanAccuracy = clean; Results = Array.mapi result epsilons }

    /// The accuracy and the observed amplification for every ε of a list, next to the clean
    /// accuracy. ε = 0 leaves the data unchanged: its accuracy is the clean accuracy exactly and
    /// its amplification 0 (no example is perturbed). The examples are attacked and evaluated
    /// chunk by chunk (`chunkRows`), so memory does not grow with their number. Throws
    /// ArgumentException for an empty list, a negative or non-finite ε, fewer than one PGD step,
    /// or data wider than the network.
    let evaluate (options: RobustnessOptions) (epsilons: float[]) (model: Model) (data: Dataset) : RobustnessReport =
        evaluateInChunks (chunkRows model) options epsilons model data

    /// Power iterations on each example's JᵢᵀJᵢ when the network is too wide for exact Jacobians.
    [<Literal>]
    let PowerIterations = 30

    /// Each example's largest singular value of ∂y_N/∂y_0 at the network's input Y_0 (s×n) by
    /// `iterations` power iterations on every example's JᵢᵀJᵢ at once (∂Y_N/∂Y_0 is block
    /// diagonal, so each row is normalised on its own), each a sensitivity and an adjoint solve,
    /// from a seeded start: the square root of a Rayleigh quotient, an estimate from below whose
    /// error falls as (σ₂/σ₁)⁴ an iteration.
    let largestSingularValuesIterative (iterations: int) (net: Network) (p: Parameters) (y0: Matrix<float>) : float[] =
        if iterations < 1 then invalidArg (nameof iterations) $"at least 1 iteration, got {iterations}"
        let tape = Solve.record StoreAll net p y0
        let zeroTheta = Parameters.zeros net
        let normalRows (v: Matrix<float>) =
            let norms = Array.init v.RowCount (fun i -> v.Row(i).L2Norm())
            Matrix<float>.Build.Dense(v.RowCount, v.ColumnCount, fun i j -> if norms[i] = 0.0 then 0.0 else v[i, j] / norms[i])
        let step (v: Matrix<float>, _) =
            let w = snd (Solve.backward tape (Solve.sensitivity net p y0 zeroTheta v))
            normalRows w, Array.init v.RowCount (fun i -> v.Row(i).DotProduct(w.Row i))
        let start = normalRows (noiseDirections 0 y0.RowCount y0.ColumnCount), Array.zeroCreate y0.RowCount
        let _, lambda = Seq.fold (fun state _ -> step state) start (seq { 1 .. iterations })
        lambda |> Array.map (fun l -> sqrt (max l 0.0))

    /// Each example's largest singular value of ∂y_N/∂y_0 at the network's input Y_0 (s×n):
    /// exact (`Stability.exampleSingularValues`) up to `Stability.MaxDenseWidth` features, wider by
    /// `PowerIterations` iterations of `largestSingularValuesIterative`.
    let largestSingularValues (net: Network) (p: Parameters) (y0: Matrix<float>) : float[] =
        if y0.ColumnCount <= Stability.MaxDenseWidth then
            Stability.exampleSingularValues net p y0 |> Array.map (fun v -> v.Maximum())
        else largestSingularValuesIterative PowerIterations net p y0
