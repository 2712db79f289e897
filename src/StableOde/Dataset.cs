using Microsoft.FSharp.Core;

namespace StableOde;

/// <summary>Labelled examples: Features one example a row, and an integer class label per example. Immutable.</summary>
public sealed class Dataset
{
    internal Dataset(Core.Dataset inner)
    {
        Inner = inner;
    }

    internal Core.Dataset Inner { get; }

    /// <summary>
    /// Reads a data CSV (SPEC §9): comma-separated, invariant culture, an optional header line,
    /// features first and the integer class label last; blank lines are ignored.
    /// </summary>
    /// <param name="path">The file.</param>
    /// <returns>The data set; its number of classes is the largest label + 1 (at least 2).</returns>
    /// <exception cref="ArgumentException"><paramref name="path"/> is empty.</exception>
    /// <exception cref="System.IO.InvalidDataException">The file is malformed; the message names the file, line and column.</exception>
    /// <exception cref="System.IO.IOException">The file cannot be read.</exception>
    public static Dataset FromCsv(string path)
    {
        Guard.Path(path, nameof(path));
        return new Dataset(Core.DataFile.read(path));
    }

    /// <summary>A data set from arrays (copied).</summary>
    /// <param name="features">One example a row; at least one row and one column, all finite.</param>
    /// <param name="labels">One label per row, each in 0…classes − 1.</param>
    /// <param name="classes">The number of classes (at least 2); null for the largest label + 1 (at least 2).</param>
    /// <returns>The data set.</returns>
    /// <exception cref="ArgumentNullException">An array is null.</exception>
    /// <exception cref="ArgumentException">The shapes disagree, a feature is not finite, or a label is out of range.</exception>
    public static Dataset FromArrays(double[,] features, IReadOnlyList<int> labels, int? classes = null)
    {
        ArgumentNullException.ThrowIfNull(features);
        ArgumentNullException.ThrowIfNull(labels);
        if (features.GetLength(0) < 1 || features.GetLength(1) < 1)
        {
            throw new ArgumentException("features must have at least one row and one column.", nameof(features));
        }

        Guard.Finite(features, nameof(features));
        if (labels.Count != features.GetLength(0))
        {
            throw new ArgumentException($"labels must have one entry per row of features ({features.GetLength(0)}), got {labels.Count}.", nameof(labels));
        }

        if (classes is { } m && m < 2)
        {
            throw new ArgumentOutOfRangeException(nameof(classes), m, "a classification needs at least 2 classes.");
        }

        var count = classes ?? Math.Max(2, labels.Max() + 1);
        return new Dataset(Core.DatasetModule.create(Interop.ToMatrix(features), labels.ToArray(), FSharpOption<int>.Some(count)));
    }

    /// <summary>The number of examples s.</summary>
    public int Count => Inner.Labels.Length;

    /// <summary>The number of features n of an example.</summary>
    public int Width => Inner.Features.ColumnCount;

    /// <summary>The number of classes m.</summary>
    public int Classes => Inner.Classes;

    /// <summary>A copy of the Features (s×n, one example a row).</summary>
    public double[,] Features => Inner.Features.ToArray();

    /// <summary>The class of each example.</summary>
    public IReadOnlyList<int> Labels => Array.AsReadOnly((int[])Inner.Labels.Clone());

    /// <summary>Writes the data set as CSV (header <c>x1,…,xn,label</c>), atomically: the file is replaced completely or not at all.</summary>
    /// <param name="path">The file.</param>
    /// <exception cref="ArgumentException"><paramref name="path"/> is empty.</exception>
    /// <exception cref="System.IO.IOException">The file cannot be written.</exception>
    public void SaveCsv(string path)
    {
        Guard.Path(path, nameof(path));
        Core.DataFile.write(path, Inner);
    }

    /// <summary>The features widened to <paramref name="width"/> columns by repeating the input features cyclically (SPEC §8).</summary>
    /// <param name="width">The new width; at least <see cref="Width"/>.</param>
    /// <returns>The widened data set with the same labels.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="width"/> is less than <see cref="Width"/>.</exception>
    public Dataset Widen(int width)
    {
        if (width < Width)
        {
            throw new ArgumentOutOfRangeException(nameof(width), width, $"cannot widen {Width} features to {width}.");
        }

        return new Dataset(Core.DatasetModule.widen(width, Inner));
    }

    /// <summary>Rank <paramref name="rank"/>'s shard of a training set for data-parallel training on <paramref name="size"/> ranks
    /// (SPEC §11, <see cref="Trainer.OnRanks"/>): the examples fall into fixed parts (one per 256 examples, at most 64), and
    /// each rank holds a contiguous run of whole parts, in rank order.</summary>
    /// <param name="rank">The rank, 0 … <paramref name="size"/> − 1.</param>
    /// <param name="size">The number of ranks; at least 1 and at most the number of parts.</param>
    /// <returns>The shard (this data set for one rank).</returns>
    /// <exception cref="ArgumentException">The rank is not one of the ranks, or there are fewer parts than ranks.</exception>
    public Dataset Shard(int rank, int size) =>
        new(Core.RanksModule.shard(rank, size, Inner));

    /// <summary>Rank <paramref name="rank"/>'s shard of a validation set for data-parallel training on <paramref name="size"/> ranks
    /// (SPEC §11): contiguous runs in rank order, their sizes differing by at most one (the only sums over a validation set are the
    /// exact counts of its accuracy).</summary>
    /// <param name="rank">The rank, 0 … <paramref name="size"/> − 1.</param>
    /// <param name="size">The number of ranks; at least 1 and at most <see cref="Count"/>.</param>
    /// <returns>The shard (this data set for one rank).</returns>
    /// <exception cref="ArgumentException">The rank is not one of the ranks, or some rank would hold no example.</exception>
    public Dataset ValidationShard(int rank, int size) => new(Core.RanksModule.validationShard(rank, size, Inner));

    /// <summary>A seeded random split into a training set and a validation set.</summary>
    /// <param name="validationCount">Examples held out for validation; between 1 and <see cref="Count"/> − 1.</param>
    /// <param name="seed">The seed; the same seed gives the same split.</param>
    /// <returns>The two sets.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="validationCount"/> is out of range.</exception>
    public (Dataset Training, Dataset Validation) Split(int validationCount, int seed)
    {
        if (validationCount < 1 || validationCount >= Count)
        {
            throw new ArgumentOutOfRangeException(nameof(validationCount), validationCount, $"the validation set must hold between 1 and {Count - 1} examples.");
        }

        var split = Core.DatasetModule.split(seed, validationCount, Inner);
        return (new Dataset(split.Training), new Dataset(split.Validation));
    }

    /// <summary>
    /// A seeded random split into <paramref name="trainingCount"/> training and
    /// <paramref name="validationCount"/> validation examples, disjoint; examples beyond the two
    /// counts are left out (50,000 and 10,000 of MNIST's 60,000 training images, §6.4).
    /// </summary>
    /// <param name="trainingCount">Examples for training; at least 1.</param>
    /// <param name="validationCount">Examples for validation; at least 1, and the two together at most <see cref="Count"/>.</param>
    /// <param name="seed">The seed; the same seed gives the same split.</param>
    /// <returns>The two sets.</returns>
    /// <exception cref="ArgumentOutOfRangeException">A count is below 1, or the two together exceed <see cref="Count"/>.</exception>
    public (Dataset Training, Dataset Validation) Split(int trainingCount, int validationCount, int seed)
    {
        Guard.Positive(trainingCount, nameof(trainingCount));
        Guard.Positive(validationCount, nameof(validationCount));
        if ((long)trainingCount + validationCount > Count)
        {
            throw new ArgumentOutOfRangeException(nameof(trainingCount), trainingCount, $"{trainingCount} training and {validationCount} validation examples are more than the {Count} there are.");
        }

        var split = Core.DatasetModule.splitCounts(seed, trainingCount, validationCount, Inner);
        return (new Dataset(split.Training), new Dataset(split.Validation));
    }
}
