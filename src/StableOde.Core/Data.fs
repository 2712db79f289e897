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
        if not (allFinite (d.Features.ToColumnMajorArray())) then invalidArg "features" "features contain NaN or infinity"
        d.Labels
        |> Array.iteri (fun i l ->
            if l < 0 || l >= d.Classes then invalidArg "labels" $"label {l} of example {i} is outside 0…{d.Classes - 1}")

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
        let n = d.Features.ColumnCount
        let y = zeros indices.Length n
        let src = d.Features
        for c in 0 .. n - 1 do
            for r in 0 .. indices.Length - 1 do
                y[r, c] <- src[indices[r], c]
        { Features = y; Labels = Array.map (fun i -> d.Labels[i]) indices; Classes = d.Classes }

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

    /// A seeded random split with `validationCount` examples held out for validation.
    let split (seed: int) (validationCount: int) (d: Dataset) : Split =
        let s = count d
        if validationCount < 1 || validationCount >= s then
            invalidArg (nameof validationCount) $"the validation set must hold between 1 and {s - 1} examples, got {validationCount}"
        let p = permutation seed s
        { Training = select p[validationCount..] d
          Validation = select p[.. validationCount - 1] d }

    /// The features widened to `width` columns by repeating the input features cyclically
    /// (width expansion by duplication, SPEC §8).
    let widen (width: int) (d: Dataset) : Dataset =
        let n = d.Features.ColumnCount
        if width < n then invalidArg (nameof width) $"cannot widen {n} features to {width}"
        let y = Matrix<float>.Build.Dense(d.Features.RowCount, width, fun i j -> d.Features[i, j % n])
        { d with Features = y }
