namespace StableOde.Cli;

/// <summary>The training and validation images of a seeded split, when the user chose them (null: the experiment's <c>SplitCounts</c>).</summary>
/// <param name="Training">--train-size.</param>
/// <param name="Validation">--validation-size.</param>
internal sealed record ImageSizes(int? Training, int? Validation);

/// <summary>
/// Where training data come from, chosen by exactly one group of options: a built-in two-dimensional data set
/// (<c>--dataset ellipses|swissroll|peaks</c>), a CSV pair (<c>--train</c>, <c>--validation</c>, <c>--classes</c>),
/// an IDX pair (<c>--images</c>, <c>--labels</c>) or an MNIST-style folder (<c>--dataset mnist|fashion-mnist</c>, <c>--data</c>);
/// the image choices take <c>--train-size</c> and <c>--validation-size</c>.
/// </summary>
internal abstract record DataChoice
{
    /// <summary>Where Debian's <c>dataset-fashion-mnist</c> installs Fashion-MNIST.</summary>
    public const string FashionMnistFolder = "/usr/share/datasets/fashion-mnist";

    private DataChoice()
    {
    }

    /// <summary>The data choice of the options; any other combination is a <see cref="UsageException"/> that says what goes together.</summary>
    /// <param name="options">The command's options.</param>
    /// <returns>The choice.</returns>
    public static DataChoice Of(ParsedOptions options)
    {
        var dataset = options.Value("dataset")?.ToLowerInvariant();
        var (train, validation) = (options.Value("train"), options.Value("validation"));
        var (images, labels) = (options.Value("images"), options.Value("labels"));
        var groups = (dataset is null ? 0 : 1) + (train is null && validation is null ? 0 : 1) + (images is null && labels is null ? 0 : 1);
        if (groups > 1)
        {
            throw new UsageException("give one of --dataset NAME, --train FILE with --validation FILE, or --images FILE with --labels FILE");
        }

        var folder = dataset is "mnist" or "fashion-mnist";
        var imageData = folder || images is not null || labels is not null;
        if (options.Has("data") && !folder)
        {
            throw new UsageException("--data DIR goes with --dataset mnist or fashion-mnist");
        }

        foreach (var name in new[] { "train-size", "validation-size", "hessian-subsample" })
        {
            if (options.Has(name) && !imageData)
            {
                throw new UsageException($"--{name} applies to image data (--dataset mnist or fashion-mnist, or --images with --labels)");
            }
        }

        if (options.Has("classes") && (imageData || dataset is not null))
        {
            throw new UsageException("--classes applies to CSV data (--train and --validation)");
        }

        var sizes = new ImageSizes(options.Has("train-size") ? options.Integer("train-size", 0) : null, options.Has("validation-size") ? options.Integer("validation-size", 0) : null);
        if (folder)
        {
            var directory = options.Value("data") ?? (dataset == "fashion-mnist" && Directory.Exists(FashionMnistFolder)
                ? FashionMnistFolder
                : throw new UsageException($"--dataset {dataset} needs --data DIR, the folder of its IDX files" + (dataset == "fashion-mnist" ? $" (none at {FashionMnistFolder}; apt-get install dataset-fashion-mnist puts it there)" : string.Empty)));
            return new Folder(dataset!, directory, sizes);
        }

        if (images is not null || labels is not null)
        {
            return images is not null && labels is not null
                ? new IdxPair(images, labels, sizes)
                : throw new UsageException($"--{(images is null ? "labels" : "images")} needs --{(images is null ? "images" : "labels")} FILE as well");
        }

        if (dataset is not null)
        {
            return new BuiltIn(Core.Experiments.tryFind(dataset)?.Value
                ?? throw new UsageException($"unknown data set '{dataset}'; expected ellipses, swissroll, peaks, mnist or fashion-mnist"));
        }

        if (train is null || validation is null)
        {
            throw new UsageException(train is null && validation is null
                ? "'train' needs --dataset NAME, --train FILE --validation FILE, or --images FILE --labels FILE"
                : $"--{(train is null ? "validation" : "train")} needs --{(train is null ? "train" : "validation")} FILE as well");
        }

        return new CsvPair(train, validation, options.Has("classes") ? options.Integer("classes", 0) : null);
    }

    /// <summary>A built-in two-dimensional data set: the experiment's seeded split.</summary>
    /// <param name="Experiment">The experiment.</param>
    public sealed record BuiltIn(Core.Experiment Experiment) : DataChoice;

    /// <summary>Training and validation CSV files.</summary>
    /// <param name="Training">The training file.</param>
    /// <param name="Validation">The validation file.</param>
    /// <param name="Classes">The number of classes, when given.</param>
    public sealed record CsvPair(string Training, string Validation, int? Classes) : DataChoice;

    /// <summary>An IDX image file and its label file, split at random.</summary>
    /// <param name="Images">The image file.</param>
    /// <param name="Labels">The label file.</param>
    /// <param name="Sizes">The split's sizes.</param>
    public sealed record IdxPair(string Images, string Labels, ImageSizes Sizes) : DataChoice;

    /// <summary>An MNIST-style folder of IDX files, split at random.</summary>
    /// <param name="Dataset">mnist or fashion-mnist.</param>
    /// <param name="Location">The folder.</param>
    /// <param name="Sizes">The split's sizes.</param>
    public sealed record Folder(string Dataset, string Location, ImageSizes Sizes) : DataChoice;
}
