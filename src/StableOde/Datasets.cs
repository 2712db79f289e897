namespace StableOde;

/// <summary>The two-dimensional data sets of the paper's experiments (§6.1–6.3).</summary>
public enum PaperDataset
{
    /// <summary>Concentric ellipses (§6.1): two classes, 1,000 training and 200 validation examples.</summary>
    Ellipses,

    /// <summary>The swiss roll (§6.2): two interleaved spirals, 513 training and 513 validation examples.</summary>
    SwissRoll,

    /// <summary>Peaks (§6.3): five classes by the value of MATLAB's <c>peaks</c>, 4,000 training and 1,000 validation examples.</summary>
    Peaks,
}

/// <summary>Seeded generators of the paper's two-dimensional data sets; the same seed gives the same sets.</summary>
public static class Datasets
{
    /// <summary>
    /// Concentric ellipses (§6.1): class 0 at radius r ~ U(0, 1), class 1 at r ~ U(1, 2), the point
    /// <c>(r cos φ, 0.4 r sin φ)</c>, 600 points a class, split at random into 1,000 and 200.
    /// </summary>
    /// <param name="seed">The seed of every random choice.</param>
    /// <returns>The training and validation sets (two features each).</returns>
    public static (Dataset Training, Dataset Validation) Ellipses(int seed = 1) => Wrap(Core.Datasets.ellipses(seed));

    /// <summary>
    /// The swiss roll (§6.2): two spirals of 513 points each; alternate points go to training and
    /// validation. The seed only shuffles the order of the examples within each set.
    /// </summary>
    /// <param name="seed">The seed of the shuffling.</param>
    /// <returns>The training and validation sets (two features each).</returns>
    public static (Dataset Training, Dataset Validation) SwissRoll(int seed = 1) => Wrap(Core.Datasets.swissRoll(seed));

    /// <summary>
    /// Peaks (§6.3): MATLAB's <c>peaks</c> on a 256×256 grid over [−3, 3]², five classes by
    /// equal-width bins of its value, 1,000 grid points drawn from each class, 20 % held out.
    /// </summary>
    /// <param name="seed">The seed of every random choice.</param>
    /// <returns>The training and validation sets (two features each).</returns>
    public static (Dataset Training, Dataset Validation) Peaks(int seed = 1) => Wrap(Core.Datasets.peaks(seed));

    /// <summary>One of the paper's data sets by name.</summary>
    /// <param name="dataset">Which data set.</param>
    /// <param name="seed">The seed of every random choice.</param>
    /// <returns>The training and validation sets (two features each).</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="dataset"/> is not a defined value.</exception>
    public static (Dataset Training, Dataset Validation) Load(PaperDataset dataset, int seed = 1)
    {
        Guard.Defined(dataset, nameof(dataset));
        return Wrap(Experiment(dataset).Data.Invoke(seed));
    }

    /// <summary>The core's experiment (data, network, schedule and options) of a paper data set.</summary>
    internal static Core.Experiment Experiment(PaperDataset dataset) => dataset switch
    {
        PaperDataset.Ellipses => Core.Experiments.ellipses,
        PaperDataset.SwissRoll => Core.Experiments.swissRoll,
        _ => Core.Experiments.peaks,
    };

    private static (Dataset Training, Dataset Validation) Wrap(Core.Split split) => (new Dataset(split.Training), new Dataset(split.Validation));
}
