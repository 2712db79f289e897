/// The hypothesis function and its loss (SPEC §3): P = h(Y_N W + 1μᵀ) against labels C.
namespace StableOde.Core

open System
open MathNet.Numerics.LinearAlgebra
open StableOde.Core.Kernels

/// The hypothesis h and its loss.
type Hypothesis =
    /// Softmax (Eq. 2.3) with cross-entropy S = −(1/s) Σ_i Σ_k C_ik log P_ik.
    | Softmax
    /// Logistic regression (Eq. 2.2) for two classes with binary cross-entropy; W is n×1, C is s×1 in {0, 1}.
    | Logistic
    /// Identity hypothesis with the sum of squares ½‖P − C‖²_F / s.
    | LeastSquares

/// The classifier (W, μ) with its hypothesis.
type Classifier =
    { Hypothesis: Hypothesis
      /// W ∈ R^{n×m}.
      W: Matrix<float>
      /// μ ∈ R^m.
      mu: Vector<float> }

/// The loss's value and its gradients with respect to W, μ and Y_N.
type LossGradient =
    { Loss: float
      GradW: Matrix<float>
      GradMu: Vector<float>
      GradY: Matrix<float> }

/// Hypotheses, losses, their derivatives and labels.
module Classifier =

    /// The name used in model files.
    let hypothesisName (h: Hypothesis) =
        match h with
        | Softmax -> "softmax"
        | Logistic -> "logistic"
        | LeastSquares -> "leastsquares"

    /// Parses a hypothesis name (case-insensitive).
    let tryParseHypothesis (text: string) =
        match (if isNull text then "" else text.Trim().ToLowerInvariant()) with
        | "softmax" -> Some Softmax
        | "logistic" -> Some Logistic
        | "leastsquares" -> Some LeastSquares
        | _ -> None

    /// Columns of C (and of W) needed for `classes` classes: 1 for logistic regression.
    let labelWidth (h: Hypothesis) (classes: int) = if h = Logistic then 1 else classes

    /// The number of classes a classifier distinguishes.
    let classes (c: Classifier) = if c.Hypothesis = Logistic then 2 else c.W.ColumnCount

    /// A zero classifier for width n and `classes` classes.
    let zero (h: Hypothesis) (width: int) (classes: int) =
        let m = labelWidth h classes
        { Hypothesis = h; W = Kernels.zeros width m; mu = vzeros m }

    /// A classifier for width n and `classes` classes with every entry of W and μ drawn from
    /// N(0, scale²) by a generator seeded with `seed` (W column by column, then μ).
    let random (seed: int) (scale: float) (h: Hypothesis) (width: int) (classes: int) =
        let m = labelWidth h classes
        let draws = Parameters.gaussians (Random seed) (width * m + m)
        { Hypothesis = h
          W = Matrix<float>.Build.Dense(width, m, fun i k -> scale * draws[k * width + i])
          mu = Vector<float>.Build.Dense(m, fun k -> scale * draws[width * m + k]) }

    /// Checks the classifier against a feature width; throws ArgumentException naming the problem.
    let validate (width: int) (c: Classifier) =
        if isNull c.W || isNull c.mu then invalidArg "classifier" "W and μ must not be null"
        if c.W.RowCount <> width then invalidArg "W" $"W must have {width} rows (the network's width), got {c.W.RowCount}"
        if c.mu.Count <> c.W.ColumnCount then invalidArg "mu" $"μ must have {c.W.ColumnCount} entries (the columns of W), got {c.mu.Count}"
        if c.Hypothesis = Logistic && c.W.ColumnCount <> 1 then invalidArg "W" "logistic regression needs W with one column"
        if not (allFinite (c.W.ToColumnMajorArray())) then invalidArg "W" "W contains NaN or infinity"
        if not (allFinite (c.mu.ToArray())) then invalidArg "mu" "μ contains NaN or infinity"

    /// Throws ArgumentException, naming `argument` and the first offending example, when a label is
    /// not one of the classes 0…classes−1.
    let checkLabels (argument: string) (classes: int) (labels: int[]) =
        labels
        |> Array.iteri (fun i l ->
            if l < 0 || l >= classes then invalidArg argument $"label {l} of example {i} is outside 0…{classes - 1}")

    /// The label matrix C for integer labels 0…classes−1: one-hot, or a 0/1 column for logistic.
    let labelMatrix (h: Hypothesis) (classes: int) (labels: int[]) : Matrix<float> =
        if isNull labels then invalidArg (nameof labels) "labels must not be null"
        if h = Logistic && classes <> 2 then invalidArg (nameof classes) "logistic regression distinguishes exactly two classes"
        checkLabels (nameof labels) classes labels
        let c = zeros labels.Length (labelWidth h classes)
        labels |> Array.iteri (fun i l -> if h = Logistic then c[i, 0] <- float l else c[i, l] <- 1.0)
        c

    /// The scores Z = Y W + 1μᵀ of the rows first … first+rows−1 of Y, read in place.
    let scoresOfRows (c: Classifier) (y: Matrix<float>) (first: int) (rows: int) : Matrix<float> =
        let n, m = c.W.RowCount, c.W.ColumnCount
        if y.ColumnCount <> n then invalidArg (nameof y) $"Y must have {n} columns (the rows of W), got {y.ColumnCount}"
        if first < 0 || rows < 0 || first + rows > y.RowCount then invalidArg (nameof rows) $"rows {first} … {first + rows - 1} are not rows of the {y.RowCount} of Y"
        let z = Kernels.zeros rows m
        mulAddRows false 1.0 y.RowCount first rows n m (columnMajor y) (columnMajor c.W) (storage z)
        Layer.addBias rows m (c.mu.ToArray()) (storage z)
        z

    /// The scores Z = Y W + 1μᵀ.
    let scores (c: Classifier) (y: Matrix<float>) : Matrix<float> = scoresOfRows c y 0 y.RowCount

    let private softplus (x: float) = max x 0.0 + Math.Log(1.0 + Math.Exp(-(abs x)))

    let private sigmoid (x: float) =
        if x >= 0.0 then 1.0 / (1.0 + Math.Exp(-x))
        else
            let e = Math.Exp x
            e / (1.0 + e)

    /// log Σ_k exp z[k·rows + i] over the m scores of row i of a column-major array, shifted by
    /// their largest for range.
    let private logSumExp (zs: float[]) (rows: int) (m: int) (i: int) =
        let mutable mx = Double.NegativeInfinity
        for k in 0 .. m - 1 do
            mx <- max mx zs[k * rows + i]
        let mutable sum = 0.0
        for k in 0 .. m - 1 do
            sum <- sum + Math.Exp(zs[k * rows + i] - mx)
        mx + Math.Log sum

    /// P = h(Z): class probabilities (logistic: P(class 1)); the identity for least squares.
    let probabilitiesOfScores (h: Hypothesis) (z: Matrix<float>) : Matrix<float> =
        match h with
        | Softmax ->
            let rows, m = z.RowCount, z.ColumnCount
            let zs = columnMajor z
            let p = zeros rows m
            let ps = storage p
            for i in 0 .. rows - 1 do
                let lse = logSumExp zs rows m i
                for k in 0 .. m - 1 do
                    ps[k * rows + i] <- Math.Exp(zs[k * rows + i] - lse)
            p
        | Logistic -> z.Map sigmoid
        | LeastSquares -> copy z

    /// The loss S(Z, C) and ∂S/∂Z.
    let lossOfScores (h: Hypothesis) (z: Matrix<float>) (c: Matrix<float>) : float * Matrix<float> =
        let s = float z.RowCount
        match h with
        | Softmax ->
            let rows, m = z.RowCount, z.ColumnCount
            let zs, cs = columnMajor z, columnMajor c
            let g = zeros rows m
            let gs = storage g
            let mutable total = 0.0
            for i in 0 .. rows - 1 do
                let lse = logSumExp zs rows m i
                let mutable mass = 0.0
                for k in 0 .. m - 1 do
                    let e = k * rows + i
                    total <- total - cs[e] * (zs[e] - lse)
                    mass <- mass + cs[e]
                for k in 0 .. m - 1 do
                    let e = k * rows + i
                    gs[e] <- (Math.Exp(zs[e] - lse) * mass - cs[e]) / s
            total / s, g
        | Logistic ->
            let mutable total = 0.0
            let g = copy z
            for i in 0 .. z.RowCount - 1 do
                let zi, ci = z[i, 0], c[i, 0]
                total <- total + ci * softplus (-zi) + (1.0 - ci) * softplus zi
                g[i, 0] <- (sigmoid zi - ci) / s
            total / s, g
        | LeastSquares ->
            let r = z - c
            0.5 * r.FrobeniusNorm() ** 2.0 / s, r / s

    /// ∇²_Z S applied to δZ (positive semidefinite; constant for least squares).
    let hessianOfScores (h: Hypothesis) (z: Matrix<float>) (c: Matrix<float>) (dz: Matrix<float>) : Matrix<float> =
        let s = float z.RowCount
        match h with
        | Softmax ->
            let rows, m = z.RowCount, z.ColumnCount
            let ps = storage (probabilitiesOfScores Softmax z)
            let cs, ds = columnMajor c, columnMajor dz
            let out = zeros rows m
            let os = storage out
            for i in 0 .. rows - 1 do
                let mutable mass = 0.0
                let mutable pd = 0.0
                for k in 0 .. m - 1 do
                    let e = k * rows + i
                    mass <- mass + cs[e]
                    pd <- pd + ps[e] * ds[e]
                for k in 0 .. m - 1 do
                    let e = k * rows + i
                    os[e] <- mass * ps[e] * (ds[e] - pd) / s
            out
        | Logistic ->
            let out = copy dz
            for i in 0 .. z.RowCount - 1 do
                let p = sigmoid z[i, 0]
                out[i, 0] <- p * (1.0 - p) * dz[i, 0] / s
            out
        | LeastSquares -> dz / s

    let private checkLabelMatrix (cl: Classifier) (rows: int) (c: Matrix<float>) =
        if isNull c || c.RowCount <> rows || c.ColumnCount <> cl.W.ColumnCount then
            invalidArg "labels" $"labels must be {rows}×{cl.W.ColumnCount}"
        if not (allFinite (c.ToColumnMajorArray())) then invalidArg "labels" "labels contain NaN or infinity"

    /// The loss of the rows first … first+rows−1 of Y, read in place, whose labels are C
    /// (rows × classes), and its gradient ∂S/∂Z with respect to their scores.
    let private lossAndScoreGradientOfRows (cl: Classifier) (y: Matrix<float>) (first: int) (rows: int) (c: Matrix<float>) =
        validate y.ColumnCount cl
        checkLabelMatrix cl rows c
        lossOfScores cl.Hypothesis (scoresOfRows cl y first rows) c

    /// The loss S(h(Y W + 1μᵀ), C) of the rows first … first+rows−1 of Y, read in place, whose
    /// labels are C (rows × classes).
    let lossOfRows (cl: Classifier) (y: Matrix<float>) (first: int) (rows: int) (c: Matrix<float>) : float =
        fst (lossAndScoreGradientOfRows cl y first rows c)

    /// The loss S(h(Y W + 1μᵀ), C).
    let loss (cl: Classifier) (y: Matrix<float>) (c: Matrix<float>) : float = lossOfRows cl y 0 y.RowCount c

    /// The loss and its gradients with respect to W, μ and Y.
    let lossGradient (cl: Classifier) (y: Matrix<float>) (c: Matrix<float>) : LossGradient =
        let value, gz = lossAndScoreGradientOfRows cl y 0 y.RowCount c
        { Loss = value
          GradW = transposeTimes y gz
          GradMu = gz.ColumnSums()
          GradY = timesTranspose gz cl.W }

    /// The loss of the rows first … first+rows−1 of Y, read in place, whose labels are C, with
    /// its gradient (∂S/∂Z) Wᵀ with respect to those rows written into `gradY` (rows × n,
    /// column-major, overwritten): `lossGradientOfRows` into a buffer of the caller's.
    let lossGradientOfRowsInto (cl: Classifier) (y: Matrix<float>) (first: int) (rows: int) (c: Matrix<float>) (gradY: float[]) : float =
        let n = y.ColumnCount
        if isNull gradY || gradY.Length <> rows * n then invalidArg (nameof gradY) $"the gradient's buffer must hold {rows}×{n} doubles"
        let value, gz = lossAndScoreGradientOfRows cl y first rows c
        mulTransposeAdd false 1.0 rows n cl.W.ColumnCount (columnMajor gz) (columnMajor cl.W) gradY
        value

    /// The loss of the rows first … first+rows−1 of Y, read in place, whose labels are C, and its
    /// gradient (∂S/∂Z) Wᵀ with respect to those rows (`lossGradient`'s GradY, without GradW and
    /// Gradμ).
    let lossGradientOfRows (cl: Classifier) (y: Matrix<float>) (first: int) (rows: int) (c: Matrix<float>) : float * Matrix<float> =
        let gradY = Array.zeroCreate (rows * y.ColumnCount)
        let value = lossGradientOfRowsInto cl y first rows c gradY
        value, ofStorage rows y.ColumnCount gradY

    /// Class probabilities for each example (s × classes; logistic gives both columns).
    let probabilities (cl: Classifier) (y: Matrix<float>) : Matrix<float> =
        validate y.ColumnCount cl
        let p = probabilitiesOfScores cl.Hypothesis (scores cl y)
        match cl.Hypothesis with
        | Logistic -> Matrix<float>.Build.Dense(y.RowCount, 2, fun i k -> if k = 1 then p[i, 0] else 1.0 - p[i, 0])
        | _ -> p

    /// The predicted class of each row of scores Z = Y_N W + 1μᵀ: the index of the largest score,
    /// the first of them on a tie (as torch.argmax); logistic: class 1 when z > 0, so z = 0 (P = ½)
    /// is class 0. The decision is taken on Z, not on P: softmax can round scores a few ulps apart
    /// to equal probabilities, and sigmoid a z of 1e-17 to exactly ½.
    let predictOfScores (h: Hypothesis) (z: Matrix<float>) : int[] =
        let zs = columnMajor z
        let s = z.RowCount
        let firstLargest i =
            let mutable best = 0
            for k in 1 .. z.ColumnCount - 1 do
                if zs[k * s + i] > zs[best * s + i] then best <- k
            best
        match h with
        | Logistic -> Array.init s (fun i -> if zs[i] > 0.0 then 1 else 0)
        | Softmax | LeastSquares -> Array.init s firstLargest

    /// The predicted label of each example (`predictOfScores` of its scores).
    let predict (cl: Classifier) (y: Matrix<float>) : int[] =
        validate y.ColumnCount cl
        predictOfScores cl.Hypothesis (scores cl y)

    /// The number of examples whose predicted label equals the given one.
    let correct (cl: Classifier) (y: Matrix<float>) (labels: int[]) : int =
        if labels.Length <> y.RowCount then invalidArg (nameof labels) $"expected {y.RowCount} labels, got {labels.Length}"
        Array.fold2 (fun acc p l -> if p = l then acc + 1 else acc) 0 (predict cl y) labels

    /// The fraction of examples whose predicted label equals the given one.
    let accuracy (cl: Classifier) (y: Matrix<float>) (labels: int[]) : float =
        let right = correct cl y labels
        if labels.Length = 0 then invalidArg (nameof labels) "accuracy of no examples is undefined"
        float right / float labels.Length
