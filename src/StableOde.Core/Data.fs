/// Labelled examples: features one example per row (SPEC §0) and integer class labels.
namespace StableOde.Core

open System
open MathNet.Numerics.LinearAlgebra
open StableOde.Core.Kernels

/// A labelled data set: Y_0 ∈ R^{s×n} and one label in 0…Classes−1 per example.
type Dataset =
    { /// The features, one example per row.
      Features: Matrix<float>
      /// The class of each example.
      Labels: int[]
      /// The number of classes m.
      Classes: int }

/// A training set and a validation set drawn from the same source.
type Split =
    { Training: Dataset
      Validation: Dataset }

/// Construction, validation and selection of data sets.
module Dataset =

    /// Checks a data set; throws ArgumentException naming the problem.
    let validate (d: Dataset) =
        if isNull d.Features || isNull d.Labels then invalidArg "dataset" "features and labels must not be null"
        if d.Features.RowCount = 0 then invalidArg "dataset" "the data set has no examples"
        if d.Labels.Length <> d.Features.RowCount then
            invalidArg "labels" $"expected {d.Features.RowCount} labels (one per example), got {d.Labels.Length}"
        if d.Classes < 2 then invalidArg "classes" $"a classification needs at least 2 classes, got {d.Classes}"
        if not (allFinite (columnMajor d.Features)) then invalidArg "features" "features contain NaN or infinity"
        Classifier.checkLabels "labels" d.Classes d.Labels

    /// A validated data set; the number of classes is the largest label + 1 unless given.
    let create (features: Matrix<float>) (labels: int[]) (classes: int option) : Dataset =
        if isNull labels then invalidArg (nameof labels) "labels must not be null"
        let m =
            match classes with
            | Some m -> m
            | None -> if labels.Length = 0 then 0 else Array.max labels + 1
        let d = { Features = (if isNull features then null else copy features); Labels = Array.copy labels; Classes = max m 2 }
        validate d
        d

    /// The number of examples s.
    let count (d: Dataset) = d.Labels.Length

    /// The examples at the given row indices, in that order.
    let select (indices: int[]) (d: Dataset) : Dataset =
        let s, n, t = d.Features.RowCount, d.Features.ColumnCount, indices.Length
        indices |> Array.iter (fun i -> if i < 0 || i >= s then invalidArg (nameof indices) $"row {i} is outside 0…{s - 1}")
        let src = columnMajor d.Features
        let dst = Array.zeroCreate (t * n)
        for c in 0 .. n - 1 do
            let from, into = c * s, c * t
            for r in 0 .. t - 1 do
                dst[into + r] <- src[from + indices[r]]
        { Features = ofStorage t n dst; Labels = Array.map (fun i -> d.Labels[i]) indices; Classes = d.Classes }

    /// A seeded random permutation of 0…count−1 (Fisher–Yates).
    let permutation (seed: int) (count: int) : int[] =
        let rng = Random seed
        let p = Array.init count id
        for i in count - 1 .. -1 .. 1 do
            let j = rng.Next(i + 1)
            let t = p[i]
            p[i] <- p[j]
            p[j] <- t
        p

    /// A seeded random split into `trainingCount` training and `validationCount` validation
    /// examples, disjoint, drawn from one random permutation (the validation set first); examples
    /// beyond the two counts are left out.
    let splitCounts (seed: int) (trainingCount: int) (validationCount: int) (d: Dataset) : Split =
        let s = count d
        if validationCount < 1 then invalidArg (nameof validationCount) $"the validation set needs at least 1 example, got {validationCount}"
        if trainingCount < 1 then invalidArg (nameof trainingCount) $"the training set needs at least 1 example, got {trainingCount}"
        if int64 trainingCount + int64 validationCount > int64 s then
            invalidArg (nameof trainingCount) $"{trainingCount} training and {validationCount} validation examples are more than the {s} there are"
        let p = permutation seed s
        { Training = select p[validationCount .. validationCount + trainingCount - 1] d
          Validation = select p[.. validationCount - 1] d }

    /// A seeded random split with `validationCount` examples held out for validation.
    let split (seed: int) (validationCount: int) (d: Dataset) : Split =
        let s = count d
        if validationCount < 1 || validationCount >= s then
            invalidArg (nameof validationCount) $"the validation set must hold between 1 and {s - 1} examples, got {validationCount}"
        splitCounts seed (s - validationCount) validationCount d

    /// Features (one example a row) widened to `width` columns by repeating them cyclically
    /// (width expansion by duplication, SPEC §8): column j copies input column j mod n, so an image
    /// of n pixels is replicated into width / n channels.
    let widenFeatures (width: int) (features: Matrix<float>) : Matrix<float> =
        let s, n = features.RowCount, features.ColumnCount
        if width < n then invalidArg (nameof width) $"cannot widen {n} features to {width}"
        let src = columnMajor features
        let dst = Array.zeroCreate (s * width)
        for j in 0 .. width - 1 do
            Array.blit src ((j % n) * s) dst (j * s) s
        ofStorage s width dst

    /// The data set with its features widened to `width` columns (`widenFeatures`).
    let widen (width: int) (d: Dataset) : Dataset = { d with Features = widenFeatures width d.Features }
