/// The learning objective of SPEC §5 (Eq. 2.4),
///   (1/|T|) Σ_{i∈T} S(h(y_iᵀ(θ) W + μᵀ), c_i) + α_θ R(θ) + α_W R(W),
/// split into the two convex-or-smooth subproblems of block coordinate descent: the
/// classification problem in (W, μ) with Y_N fixed, and the propagation problem in θ with the
/// classifier fixed, whose curvature is Gauss–Newton's v ↦ J_θᵀ(∇²_Y S)J_θ v + α_θ∇²R v,
/// applied matrix-free by the products of the network's Jacobian or by sensitivity and adjoint solves.
namespace StableOde.Core

open MathNet.Numerics.LinearAlgebra
open StableOde.Core.Kernels

/// Records the Jacobian of a network at (θ, Y_0): `Solve.linearise`, or the linearise that
/// `Solve.withJacobiansFrom` lends.
type JacobianRecorder = Network -> Parameters -> Matrix<float> -> Jacobian

/// A subproblem for the optimisers: its value alone, and its linearisation at a point.
type Subproblem =
    { /// f(x), for line searches.
      Evaluate: float[] -> float
      /// f, ∇f, the curvature and the preconditioner at x.
      Linearise: float[] -> Linearisation }

/// The forward pass of a trial point θ of the propagation subproblem on its batch
/// (`Objective.propagationTrial`), which the caller keeps when the step is accepted: Y_N(θ) for
/// the classification step and the accuracies, and, under the reversal strategy, Z_N(θ), from which
/// with Y_N the gradient at θ starts its adjoint without repeating the forward pass
/// (`Objective.propagation`, `Solve.withReversalTapeOfRows`).
type TrialForward =
    { /// θ, as the vector of the trial.
      Theta: float[]
      /// The layout of this rank's rows of the batch.
      Layout: Layout
      /// Y_N(θ) of this rank's rows of the batch.
      YN: Matrix<float>
      /// Z_N(θ) of the same rows under the reversal strategy for a scheme that names Z; None
      /// otherwise (the other strategies record states that grow with the depth).
      ZN: Matrix<float> option }

/// A regulariser with its weight α and the shift ε of its preconditioner (α∇²R + εI)⁻¹.
type Weighted<'r> =
    { /// Which regulariser.
      Regulariser: 'r
      /// Its weight α ≥ 0 in the objective.
      Alpha: float
      /// The shift ε > 0 of the preconditioner (α∇²R + εI)⁻¹.
      Shift: float }

/// Where training spends its time and memory (docs/images.md): given a sink, every timed phase
/// gives it one line — its name, seconds, the bytes it allocated, the heap after the last
/// collection, the memory the collector has committed, the process's resident and peak resident
/// memory, and the collector's pauses so far. Without one (None, the default of
/// `Training.noControl`) a phase is only its function call. The command line supplies a sink that
/// writes to standard error when the environment variable STABLEODE_PROFILE is set.
module Profile =

    /// Gives the sink, if any, the line `profile <text>`.
    let note (sink: (string -> unit) option) (text: string) =
        match sink with
        | Some write -> write ("profile " + text)
        | None -> ()

    /// Runs f, and with a sink reports it as the phase `name`.
    let timed (sink: (string -> unit) option) (name: string) (f: unit -> 'a) : 'a =
        match sink with
        | None -> f ()
        | Some write ->
            let allocated = System.GC.GetTotalAllocatedBytes false
            let clock = System.Diagnostics.Stopwatch.StartNew()
            let result = f ()
            let seconds = clock.Elapsed.TotalSeconds
            let info = System.GC.GetGCMemoryInfo()
            use self = System.Diagnostics.Process.GetCurrentProcess()
            let mb (bytes: int64) = float bytes / 1e6
            write (
                sprintf
                    "profile %s: %.2f s, %.0f MB allocated, heap %.0f MB, committed %.0f MB, RSS %.0f MB, peak RSS %.0f MB, gen2 collections %d, paused %.1f s in all"
                    name seconds (mb (System.GC.GetTotalAllocatedBytes false - allocated)) (mb info.HeapSizeBytes) (mb info.TotalCommittedBytes)
                    (mb self.WorkingSet64) (mb self.PeakWorkingSet64) (System.GC.CollectionCount 2) (System.GC.GetTotalPauseDuration()).TotalSeconds
            )
            result

/// The objective and its subproblems.
module Objective =

    /// The classifier (W, μ) as one vector: W column by column, then μ.
    let classifierToVector (c: Classifier) : float[] = Array.append (c.W.ToColumnMajorArray()) (c.mu.ToArray())

    /// The inverse of `classifierToVector` for W ∈ R^{n×m}.
    let classifierOfVector (h: Hypothesis) (n: int) (m: int) (x: float[]) : Classifier =
        if x.Length <> n * m + m then invalidArg (nameof x) $"expected {n * m + m} classifier entries, got {x.Length}"
        { Hypothesis = h; W = ofStorage n m (Array.sub x 0 (n * m)); mu = vofStorage (Array.sub x (n * m) m) }

    /// θ as one vector (`Parameters.toVector`'s layout).
    let parametersToVector (p: Parameters) : float[] = vstorage (Parameters.toVector p)

    /// The inverse of `parametersToVector` for a network.
    let parametersOfVector (net: Network) (x: float[]) : Parameters = Parameters.ofVector net (vofStorage x)

    /// α_W R(W) of a classifier.
    let classifierPenalty (reg: Weighted<ClassifierRegulariser>) (c: Classifier) =
        if reg.Alpha = 0.0 then 0.0 else reg.Alpha * Regulariser.classifierValue reg.Regulariser c.W

    /// α_θ R(θ).
    let parameterPenalty (reg: Weighted<ParameterRegulariser>) (net: Network) (p: Parameters) =
        if reg.Alpha = 0.0 then 0.0 else reg.Alpha * Regulariser.value reg.Regulariser net p

    /// Rows r0 … r0+len−1 of a matrix (the matrix itself when they are all of its rows).
    let private rowsOf (m: Matrix<float>) (r0: int) (len: int) =
        if len = m.RowCount then m else m.SubMatrix(r0, len, 0, m.ColumnCount)

    /// The classification subproblem with Y_N fixed: x = (W, μ) ↦ S(h(Y_N W + 1μᵀ), C) + α_W R(W),
    /// the loss a mean over the batch of all ranks whose rows of Y_N and C on this rank are laid
    /// out by `layout` (`Ranks.mean`, part by part). It is convex; its curvature is the exact
    /// Hessian (from `Classifier.hessianOfScores`) and its preconditioner (α_W∇²R + εI)⁻¹ on W and ε⁻¹ on μ.
    /// Every part reads its rows of Y_N in place (`Classifier.scoresOfRows`, `Kernels.transposeMulAddRows`)
    /// and writes its share of a gradient or of a curvature product into a buffer of its own,
    /// allocated here and reused by every linearisation and product, so these must not run concurrently.
    let classification (ranks: Ranks) (layout: Layout) (reg: Weighted<ClassifierRegulariser>) (h: Hypothesis) (yN: Matrix<float>) (labels: Matrix<float>) : Subproblem =
        let n, m = yN.ColumnCount, labels.ColumnCount
        if labels.RowCount <> yN.RowCount then invalidArg (nameof labels) "Y_N and the labels must have the same number of rows"
        let unpack = classifierOfVector h n m
        let size = n * m + m
        let y = columnMajor yN
        let partLabels = layout.Rows |> Array.map (fun (struct (r0, rows)) -> if rows = 0 then null else rowsOf labels r0 rows)
        let buffers (length: int) = layout.Rows |> Array.map (fun (struct (_, rows)) -> if rows = 0 then null else Array.zeroCreate<float> length)
        // A part's (W, μ) share of a gradient ([W; μ; the loss]) or of a product ([W; μ]):
        // (Y_N's rows)ᵀ dZ and dZ's column sums.
        let gradientBuffers, productBuffers = buffers (size + 1), buffers size
        let share (buffer: float[]) (r0: int) (rows: int) (dz: Matrix<float>) =
            transposeMulAddRows false 1.0 yN.RowCount r0 rows n m y (columnMajor dz) buffer
            let sums = dz.ColumnSums()
            for k in 0 .. m - 1 do
                buffer[n * m + k] <- sums[k]
            buffer
        let evaluate (x: float[]) =
            let c = unpack x
            let loss = Ranks.mean ranks layout 1 (fun k r0 rows -> [| fst (Classifier.lossOfScores h (Classifier.scoresOfRows c yN r0 rows) partLabels[k]) |])
            loss[0] + classifierPenalty reg c
        let linearise (x: float[]) =
            let c = unpack x
            let z = layout.Rows |> Array.map (fun (struct (r0, rows)) -> if rows = 0 then None else Some(Classifier.scoresOfRows c yN r0 rows))
            let gradientAndValue =
                Ranks.mean ranks layout (size + 1) (fun k r0 rows ->
                    let value, gz = Classifier.lossOfScores h z[k].Value partLabels[k]
                    let buffer = share gradientBuffers[k] r0 rows gz
                    buffer[size] <- value
                    buffer)
            let value = gradientAndValue[size]
            let g = unpack gradientAndValue[.. size - 1]
            let gW = g.W
            if reg.Alpha <> 0.0 then gW.Add(reg.Alpha * Regulariser.classifierGradient reg.Regulariser c.W, gW)
            let curvature (v: float[]) =
                let d = unpack v
                let hd =
                    Ranks.mean ranks layout size (fun k r0 rows ->
                        let hz = Classifier.hessianOfScores h z[k].Value partLabels[k] (Classifier.scoresOfRows d yN r0 rows)
                        share productBuffers[k] r0 rows hz)
                    |> unpack
                let hW = hd.W
                if reg.Alpha <> 0.0 then hW.Add(reg.Alpha * Regulariser.classifierHessian reg.Regulariser d.W, hW)
                classifierToVector { hd with W = hW }
            let preconditioner (v: float[]) =
                let d = unpack v
                classifierToVector
                    { d with
                        W = Regulariser.classifierSolveShifted reg.Regulariser reg.Alpha reg.Shift d.W
                        mu = d.mu / reg.Shift }
            { Value = value + classifierPenalty reg c
              Gradient = classifierToVector { g with W = gW }
              Curvature = curvature
              Preconditioner = preconditioner }
        { Evaluate = evaluate; Linearise = linearise }

    /// The row blocks (first row, rows) of a batch of s examples, at most `rows` each, with the
    /// weight rows/s of each block's mean in the batch's mean.
    let private chunks (rows: int) (s: int) =
        [| for r0 in 0 .. rows .. s - 1 ->
               let len = min rows (s - r0)
               struct (r0, len, float len / float s) |]

    /// The bytes of one state (s×n doubles) of a block of the data term's gradient or of a
    /// Gauss–Newton product: both propagate their batch block by block, so that what one block
    /// holds (its tape and a few states of its rows) does not grow with the batch.
    [<Literal>]
    let BlockStateBytes = 33554432

    /// Examples per block for features of the given width: as many as fit `BlockStateBytes`
    /// (891 images of 6×28×28), at most `Solve.ChunkRows` (4,096, the whole batch of every
    /// two-dimensional data set).
    let blockRows (width: int) =
        if width < 1 then invalidArg (nameof width) $"the width must be at least 1, got {width}"
        max 1 (min Solve.ChunkRows (BlockStateBytes / (8 * width)))

    /// The data term on the rows first … first+rows−1 of a batch (one part) and its gradient in
    /// θ, each block of at most `blockRows n` examples recorded, differentiated and released in
    /// turn, its rows of Y_0 read in place and its tape's states and adjoint states reused by the
    /// next block and the next call (`Solve.withTapeOfRows`, `Solve.backwardParameters`).
    /// `final` given, the final state (Y_N, Z_N) of the batch's forward pass at θ, the tapes of
    /// the blocks start from its rows (`Solve.withReversalTapeOfRows`) instead of a forward pass,
    /// and their losses read its rows of Y_N in place.
    let private partGradient (strategy: AdjointStrategy) (net: Network) (p: Parameters) (c: Classifier) (final: State option) (y0: Matrix<float>) (labels: Matrix<float>) (first: int) (rows: int) : float * Parameters =
        let n = y0.ColumnCount
        let block (struct (b0, len, weight)) =
            let r0 = first + b0
            let differentiate (yN: Matrix<float>) (r: int) (tape: Tape) =
                // Ȳ_N in an array of the thread's store of seeds, kept for the next block and pass.
                let seed (gradY: float[]) =
                    let loss = Classifier.lossGradientOfRowsInto c yN r len (rowsOf labels r0 len) gradY
                    weight * loss, Parameters.scale weight (Solve.backwardParameters tape (ofStorage len n gradY))
                TapeStore.Lend(StoreSlot.Seeds, (fun store -> store.Rent(len * n)), seed, (fun gradY -> [ gradY ]))
            match final with
            | Some f -> Solve.withReversalTapeOfRows net p f r0 len (differentiate f.Y r0)
            | None -> Solve.withTapeOfRows strategy net p y0 r0 len (fun tape -> differentiate tape.YN 0 tape)
        chunks (blockRows y0.ColumnCount) rows
        |> Array.map block
        |> Array.reduce (fun (v, g) (v', g') -> v + v', Parameters.addScaled g 1.0 g')

    /// The data term (1/s) Σ S(h(y_iᵀ(θ) W + μᵀ), c_i) on a batch of all ranks and its gradient in
    /// θ; this rank's rows of Y_0 and C are laid out by `layout`, and every part is propagated and
    /// differentiated on its own (`Ranks.mean`). With `known`, the forward pass of a trial at θ on
    /// the same rows that kept Z_N (`propagationTrial` under the reversal strategy), the adjoints
    /// start from its final states: the same gradient to the last bit, without a forward pass.
    let dataGradientFrom (known: TrialForward option) (ranks: Ranks) (layout: Layout) (strategy: AdjointStrategy) (net: Network) (p: Parameters) (c: Classifier) (y0: Matrix<float>) (labels: Matrix<float>) : float * Parameters =
        let final =
            match known with
            | Some({ ZN = Some _ } as f) ->
                if strategy <> Reversal then invalidArg (nameof known) "a trial's final states serve the reversal strategy only"
                if f.Layout.Rows <> layout.Rows || f.YN.RowCount <> y0.RowCount then invalidArg (nameof known) "the trial's forward pass is not of this batch's rows"
                if f.Theta <> parametersToVector p then invalidArg (nameof known) "the trial's forward pass is not at these parameters"
                Some { Y = f.YN; Z = f.ZN }
            | _ -> None
        let both =
            Ranks.mean ranks layout (1 + Parameters.count net) (fun _ r0 rows ->
                let loss, g = partGradient strategy net p c final y0 labels r0 rows
                Array.append [| loss |] (parametersToVector g))
        both[0], parametersOfVector net both[1..]

    /// `dataGradientFrom` without a known forward pass.
    let dataGradient (ranks: Ranks) (layout: Layout) (strategy: AdjointStrategy) (net: Network) (p: Parameters) (c: Classifier) (y0: Matrix<float>) (labels: Matrix<float>) : float * Parameters =
        dataGradientFrom None ranks layout strategy net p c y0 labels

    /// The Gauss–Newton curvature of the data term at θ on a batch, v ↦ J_θᵀ (∇²_Y S) J_θ v with
    /// ∇²_Y S δY = (∇²_Z S (δY W)) Wᵀ, by the products of the Jacobian J_θ = ∂Y_N/∂θ: every block
    /// of `blockRows n` examples is linearised once, here, by `linearise` (`Solve.linearise`, or
    /// that of `Solve.withJacobiansFrom`, whose Jacobians serve only inside its function), with its
    /// scores, and every product applies the linearised layers from it (`Solve.jvpInto`,
    /// `Solve.vjpInto`) through one buffer of a block's δY_N allocated here, so the products must
    /// not run concurrently. Symmetric positive semidefinite.
    let jacobianGaussNewtonBy (linearise: JacobianRecorder) (net: Network) (p: Parameters) (c: Classifier) (y0: Matrix<float>) (labels: Matrix<float>) : Parameters -> Parameters =
        let n, classes = y0.ColumnCount, c.W.ColumnCount
        let blocks =
            chunks (blockRows n) y0.RowCount
            |> Array.map (fun (struct (r0, len, weight)) ->
                let jacobian = linearise net p (rowsOf y0 r0 len)
                jacobian, rowsOf labels r0 len, Classifier.scores c jacobian.YN, weight)
        let buffers =
            blocks |> Array.map (fun (_, l, _, _) -> l.RowCount) |> Array.distinct |> Array.map (fun len -> len, zeros len n) |> dict
        let g = Parameters.zeros net
        fun v ->
            blocks
            |> Array.fold (fun total (jacobian, labelsb, z, weight) ->
                let dY = buffers[labelsb.RowCount]
                Solve.jvpInto jacobian v dY
                let hz = Classifier.hessianOfScores c.Hypothesis z labelsb (times dY c.W)
                mulTransposeAdd false 1.0 dY.RowCount n classes (columnMajor hz) (columnMajor c.W) (storage dY)
                Solve.vjpInto jacobian dY g
                Parameters.addScaled total weight g) (Parameters.zeros net)

    /// `jacobianGaussNewtonBy` on Jacobians of their own (`Solve.linearise`).
    let jacobianGaussNewton (net: Network) (p: Parameters) (c: Classifier) (y0: Matrix<float>) (labels: Matrix<float>) : Parameters -> Parameters =
        jacobianGaussNewtonBy Solve.linearise net p c y0 labels

    /// The most bytes the kept activations of a curvature subsample of a convolutional network may
    /// take for its Gauss–Newton products to run from its Jacobian: 512 MiB, the Jacobian of
    /// 1,000 images of 6×28×28 through 4 Verlet layers (414 MB) but not through 8 (715 MB), so
    /// that a deeper network keeps the tape, whose memory does not grow with the depth.
    [<Literal>]
    let JacobianBudget = 536870912L

    /// Whether the Gauss–Newton products of a network on a curvature subsample of `rows` examples
    /// (of all ranks, so that every rank chooses alike) run from its Jacobian
    /// (`jacobianGaussNewtonBy`): where its solves have no fused kernels (`Engine.isFused`,
    /// `Engine.isFusedConv`), and on the fused convolution kernels, whose products from kept
    /// activations take 0.84 s against the tape's 1.55 s (1,000 images, 4 layers;
    /// docs/performance.md), where the subsample's Jacobian fits in `JacobianBudget`.
    let usesJacobian (net: Network) (rows: int) =
        not (Engine.isFused net || Engine.isFusedConv net)
        || (Engine.isFusedConv net && Solve.jacobianBytes net rows <= JacobianBudget)

    /// How the Gauss–Newton products of a curvature subsample of `rows` examples (of all ranks)
    /// run (`gaussNewton`): from Jacobians recorded by `linearise` where `usesJacobian`, else
    /// (None) by the solves on a tape.
    let jacobiansFor (net: Network) (rows: int) (linearise: JacobianRecorder) =
        if usesJacobian net rows then Some linearise else None

    /// The Gauss–Newton curvature of the data term at θ on the rows of one part: with `jacobians`,
    /// from the Jacobians it records (`jacobianGaussNewtonBy`), on whose whole-column operator
    /// products or fused convolution kernels a product evaluates no activation and rebuilds no
    /// state. Without, by the products of one pass each, faster where the fused dense kernels run
    /// (`Engine.isFused`; docs/images.md): a sensitivity solve (δY_0 = 0) and an adjoint solve on
    /// the forward pass of every block, recorded once, here, under `strategy`, whose memory does
    /// not grow with the depth under the reversal strategy. `zeroY0` gives δY_0 = 0 for a block of
    /// the given rows (read only, shared by all parts).
    let private partGaussNewton (jacobians: JacobianRecorder option) (strategy: AdjointStrategy) (net: Network) (p: Parameters) (c: Classifier) (zeroY0: int -> Matrix<float>) (y0: Matrix<float>) (labels: Matrix<float>) : Parameters -> Parameters =
        match jacobians with
        | Some linearise -> jacobianGaussNewtonBy linearise net p c y0 labels
        | None ->
            let parts = chunks (blockRows y0.ColumnCount) y0.RowCount
            let blocks =
                parts
                |> Array.map (fun (struct (r0, len, weight)) ->
                    let y0b = rowsOf y0 r0 len
                    let tape = Solve.record strategy net p y0b
                    y0b, rowsOf labels r0 len, tape, Classifier.scores c tape.YN, weight)
            fun v ->
                blocks
                |> Array.map (fun (y0b, labelsb, tape, z, weight) ->
                    let dY = Solve.sensitivity net p y0b v (zeroY0 y0b.RowCount)
                    let hz = Classifier.hessianOfScores c.Hypothesis z labelsb (times dY c.W)
                    Parameters.scale weight (Solve.backwardParameters tape (timesTranspose hz c.W)))
                |> Array.reduce (fun g g' -> Parameters.addScaled g 1.0 g')

    /// The Gauss–Newton curvature of the data term at θ on a batch (a curvature subsample) of all
    /// ranks, this rank's rows laid out by `layout`: `partGaussNewton` on every part (its Jacobians
    /// recorded one part after another on the calling thread), the products' mean by
    /// `Ranks.mean`. `jacobians` as `jacobiansFor` gives it. One zero δY_0 serves every block of a
    /// length, in every part.
    let gaussNewton (jacobians: JacobianRecorder option) (ranks: Ranks) (layout: Layout) (strategy: AdjointStrategy) (net: Network) (p: Parameters) (c: Classifier) (y0: Matrix<float>) (labels: Matrix<float>) : Parameters -> Parameters =
        let n = y0.ColumnCount
        let zeroY0 =
            lazy
                (layout.Rows
                 |> Array.collect (fun (struct (_, rows)) -> chunks (blockRows n) rows |> Array.map (fun (struct (_, len, _)) -> len))
                 |> Array.distinct
                 |> Array.map (fun len -> len, zeros len n)
                 |> dict)
        let zeroOf (rows: int) = zeroY0.Value[rows]
        let parts = layout.Rows |> Array.map (fun (struct (r0, rows)) -> if rows = 0 then None else Some(partGaussNewton jacobians strategy net p c zeroOf (rowsOf y0 r0 rows) (rowsOf labels r0 rows)))
        fun v -> parametersOfVector net (Ranks.mean ranks layout (Parameters.count net) (fun k _ _ -> parametersToVector (parts[k].Value v)))

    /// The most bytes of Z_N that a line-search trial keeps for the next gradient
    /// (`propagationTrial`): 1 GiB, Z_N of 8,000 images of 6×28×28 (301 MB) but not of 50,000
    /// (1.9 GB), whose gradient repeats the forward pass instead (the same gradient to the last
    /// bit), so that the trial's Y_N and Z_N do not both stay beside the training images.
    [<Literal>]
    let KeptZBudget = 1073741824L

    /// Whether a line-search trial under the reversal strategy keeps Z_N of a batch of `rows`
    /// examples for the next gradient: for a scheme that names Z, where Z_N fits in `KeptZBudget`.
    let keepsZ (net: Network) (rows: int) =
        Engine.hasZ net && 8L * int64 rows * int64 (Network.auxWidth net) <= KeptZBudget

    /// A trial point x = θ of the propagation subproblem on the batch (y0, labels): its objective
    /// S(h(Y_N(θ) W + 1μᵀ), C) + α_θ R(θ) and the forward pass it made (`TrialForward`), which the
    /// caller may reuse (for the accuracies and the next classification step at an accepted step,
    /// and for the gradient there); NaN and no forward pass when x is not finite. The loss is the
    /// mean over a batch of all ranks, this rank's rows laid out by `layout`. Under the reversal
    /// strategy, where `keepsZ` for this rank's rows, every part propagates its blocks of
    /// `blockRows` examples, the gradient's, and Z_N is kept too (the memory of a second Y_N);
    /// otherwise the batch is propagated chunk by chunk (`Solve.forwardInto`). Y_N does not depend
    /// on the blocks. `into`, a state of the batch's shape that is no longer needed (the forward
    /// pass of an earlier iterate), receives Y_N (and Z_N where kept) instead of new arrays.
    let propagationTrialInto (into: State option) (ranks: Ranks) (layout: Layout) (strategy: AdjointStrategy) (reg: Weighted<ParameterRegulariser>) (net: Network) (c: Classifier) (y0: Matrix<float>) (labels: Matrix<float>) (x: float[]) : float * TrialForward option =
        if not (allFinite x) then nan, None
        else
            let p = parametersOfVector net x
            let s, n, m = y0.RowCount, y0.ColumnCount, Network.auxWidth net
            let fits (width: int) (a: Matrix<float>) = a.RowCount = s && a.ColumnCount = width
            let yOut () = match into with Some st when fits n st.Y -> st.Y | _ -> zeros s n
            match strategy with
            | Reversal when keepsZ net y0.RowCount ->
                let yN = yOut ()
                let zN = match into with Some { Z = Some z } when fits m z -> z | _ -> zeros s m
                // A block's rows of a final state of width `width`, into rows r + b.Start … of the
                // column-major s×width `dst` (as `Engine.insert` into a chunk at row r).
                let place (b: Engine.Block) (width: int) (src: float[]) (r: int) (dst: Matrix<float>) =
                    let out = storage dst
                    for col in 0 .. width - 1 do
                        System.Array.Copy(src, col * b.Ctx.S, out, col * s + r + b.Start, b.Rows)
                let loss =
                    Ranks.mean ranks layout 1 (fun _ r0 rows ->
                        for struct (b0, len, _) in chunks (blockRows n) rows do
                            Solve.withTapeOfRows Reversal net p y0 (r0 + b0) len (fun tape ->
                                tape.Blocks |> Array.iteri (fun i b ->
                                    let struct (y, z) = tape.Final[i]
                                    place b n y (r0 + b0) yN
                                    place b m z (r0 + b0) zN))
                        [| Classifier.lossOfRows c yN r0 rows (rowsOf labels r0 rows) |])
                loss[0] + parameterPenalty reg net p, Some { Theta = Array.copy x; Layout = layout; YN = yN; ZN = Some zN }
            | _ ->
                let yN = yOut ()
                Solve.forwardInto net p y0 yN
                let loss = Ranks.mean ranks layout 1 (fun _ r0 rows -> [| Classifier.lossOfRows c yN r0 rows (rowsOf labels r0 rows) |])
                loss[0] + parameterPenalty reg net p, Some { Theta = Array.copy x; Layout = layout; YN = yN; ZN = None }

    /// `propagationTrialInto` new arrays.
    let propagationTrial (ranks: Ranks) (layout: Layout) (strategy: AdjointStrategy) (reg: Weighted<ParameterRegulariser>) (net: Network) (c: Classifier) (y0: Matrix<float>) (labels: Matrix<float>) (x: float[]) : float * TrialForward option =
        propagationTrialInto None ranks layout strategy reg net c y0 labels x

    /// The propagation subproblem with the classifier fixed: θ ↦ S(h(Y_N(θ) W + 1μᵀ), C) + α_θ R(θ)
    /// on the batch (y0, labels). Its curvature is Gauss–Newton's on the subsample
    /// (y0Hessian, labelsHessian) plus α_θ∇²R plus the Levenberg–Marquardt damping λI (λ ≥ 0),
    /// its preconditioner (α_θ∇²R + εI)⁻¹. The damping keeps the curvature definite where the data
    /// term has none along the null space of ∇²R (weights constant in time) — a saturated
    /// classifier does that — which would otherwise let PCG take unbounded steps. The batch and the
    /// subsample are of all ranks, this rank's rows laid out by `layout` and `layoutHessian`.
    /// With a `profile` sink, the gradient, the curvature's set-up and every product report their
    /// time and memory to it (`Profile.timed`). `known`, the forward pass of an earlier trial on
    /// the same batch (`propagationTrial`), serves the gradient at its θ once where it kept Z_N (`dataGradientFrom`)
    /// and is then let go. `jacobians` is how the curvature's products run (`gaussNewton`,
    /// `jacobiansFor`): with a `Solve.withJacobiansFrom` linearise, the subproblem's curvature
    /// serves only inside that function.
    let propagation (jacobians: JacobianRecorder option) (ranks: Ranks) (profile: (string -> unit) option) (strategy: AdjointStrategy) (reg: Weighted<ParameterRegulariser>) (damping: float) (net: Network) (c: Classifier)
                    (known: TrialForward option) (layout: Layout) (y0: Matrix<float>) (labels: Matrix<float>) (layoutHessian: Layout) (y0Hessian: Matrix<float>) (labelsHessian: Matrix<float>) : Subproblem =
        let unpack = parametersOfVector net
        let evaluate (x: float[]) = fst (propagationTrial ranks layout strategy reg net c y0 labels x)
        // Only a trial that kept Z_N serves the gradient (`dataGradientFrom`); Y_N alone would
        // only hold memory through it.
        let pending = ref (known |> Option.filter (fun f -> f.ZN.IsSome))
        let linearise (x: float[]) =
            let p = unpack x
            let start =
                match pending.Value with
                | Some f when f.Theta = x ->
                    pending.Value <- None
                    Some f
                | _ -> None
            let loss, gTheta = Profile.timed profile "gradient" (fun () -> dataGradientFrom start ranks layout strategy net p c y0 labels)
            let data = Profile.timed profile "curvature set-up" (fun () -> gaussNewton jacobians ranks layoutHessian strategy net p c y0Hessian labelsHessian)
            let withPenalty (q: Parameters) (v: Parameters) =
                if reg.Alpha = 0.0 then q else Parameters.addScaled q reg.Alpha (Regulariser.hessian reg.Regulariser net v)
            { Value = loss + parameterPenalty reg net p
              Gradient = parametersToVector (withPenalty gTheta p)
              Curvature =
                fun v ->
                    let d = unpack v
                    let hv = parametersToVector (withPenalty (Profile.timed profile "Gauss–Newton product" (fun () -> data d)) d)
                    if damping <> 0.0 then axpy damping v hv
                    hv
              Preconditioner = fun v -> parametersToVector (Regulariser.solveShifted reg.Regulariser net reg.Alpha reg.Shift (unpack v)) }
        { Evaluate = evaluate; Linearise = linearise }

    /// The whole objective (Eq. 2.4) of a model on a batch of all ranks (this rank's rows laid out
    /// by `layout`): (1/s) Σ S + α_θ R(θ) + α_W R(W).
    let value (ranks: Ranks) (layout: Layout) (thetaReg: Weighted<ParameterRegulariser>) (classifierReg: Weighted<ClassifierRegulariser>) (model: Model) (y0: Matrix<float>) (labels: Matrix<float>) : float =
        let loss = Ranks.mean ranks layout 1 (fun _ r0 rows -> [| Model.loss model (rowsOf y0 r0 rows) (rowsOf labels r0 rows) |])
        loss[0] + parameterPenalty thetaReg model.Network model.Parameters + classifierPenalty classifierReg model.Classifier

    /// The whole objective and its gradient with respect to (θ, W, μ), as one vector: θ
    /// (`parametersToVector`), then W and μ (`classifierToVector`). For the first-order methods.
    let valueAndGradient (strategy: AdjointStrategy) (thetaReg: Weighted<ParameterRegulariser>) (classifierReg: Weighted<ClassifierRegulariser>)
                         (model: Model) (y0: Matrix<float>) (labels: Matrix<float>) : float * float[] =
        let g = Model.gradient strategy model y0 labels
        let net, p, c = model.Network, model.Parameters, model.Classifier
        let gTheta = if thetaReg.Alpha = 0.0 then g.GradTheta else Parameters.addScaled g.GradTheta thetaReg.Alpha (Regulariser.gradient thetaReg.Regulariser net p)
        let gW = if classifierReg.Alpha = 0.0 then g.GradW else g.GradW + classifierReg.Alpha * Regulariser.classifierGradient classifierReg.Regulariser c.W
        g.Loss + parameterPenalty thetaReg net p + classifierPenalty classifierReg c,
        Array.append (parametersToVector gTheta) (classifierToVector { c with W = gW; mu = g.GradMu })
