using Microsoft.FSharp.Core;
using StableOde.Core;

namespace StableOde.Cli.Reproduce;

using TrainingProgress = StableOde.Core.TrainingProgress;
using TrainingResult = StableOde.Core.TrainingResult;

/// <summary>One multilevel run of the image experiment (§6.4).</summary>
/// <param name="Propagator">The propagator's name.</param>
/// <param name="Result">The multilevel result.</param>
internal sealed record ImageRun(string Propagator, TrainingResult Result);

/// <summary>Labelled images split into training and validation sets, widened to the network's channels.</summary>
/// <param name="Name">Where they came from.</param>
/// <param name="Split">The two sets, every image repeated into each channel.</param>
/// <param name="Height">Image height in pixels.</param>
/// <param name="Width">Image width in pixels.</param>
internal sealed record ImageData(string Name, Split Split, int Height, int Width);

/// <summary>The image experiment of §6.4 (Table 1, Figure 7): 3×3 convolutions of six channels, T = 6,
/// multilevel block coordinate descent with the library's image settings.</summary>
internal static class PaperImages
{
    /// <summary>The network's channels (§6.4).</summary>
    public static int Channels => Experiments.images.Channels;

    /// <summary>The paper's three networks.</summary>
    public static IReadOnlyList<string> Propagators { get; } = Experiments.images.Propagators.Select(NetworkModule.propagatorName).ToList();

    /// <summary>Reads an MNIST-style folder and splits it at random (seed 1) into the given counts, each at most what the folder holds.</summary>
    public static ImageData Load(string folder, int trainingCount, int validationCount)
    {
        var (imagesPath, labelsPath) = Idx.findPair(folder);
        var set = Idx.imageSet(imagesPath, labelsPath);
        var count = set.Data.Labels.Length;
        var validation = Math.Min(validationCount, count / 5);
        var training = Math.Min(trainingCount, count - validation);
        var split = DatasetModule.splitCounts(1, training, validation, set.Data);
        var width = Channels * set.Height * set.Width;
        return new ImageData($"{Path.GetFileName(imagesPath)} ({count} images)",
            new Split(DatasetModule.widen(width, split.Training), DatasetModule.widen(width, split.Validation)), set.Height, set.Width);
    }

    /// <summary>Trains one network from 4 layers up to <paramref name="maxDepth"/> with the image settings
    /// (<see cref="TrainingOptionsModule.images"/>), with their iterations per level unless <paramref name="iterations"/> is given.</summary>
    public static ImageRun Train(ImageData data, string propagator, int maxDepth, int? iterations, Action<TrainingProgress> progress, CancellationToken cancel)
    {
        var kind = NetworkModule.tryParsePropagator(propagator).Value;
        var defaults = TrainingOptionsModule.images(kind, Channels, data.Height, data.Width);
        var options = TrainingOptionsModule.withSchedule(iterations ?? defaults.Iterations, maxDepth, defaults);
        var control = new TrainingControl(FSharpOption<FSharpFunc<TrainingProgress, Unit>>.Some(FuncConvert.FromAction(progress)), cancel, RanksModule.single, FSharpOption<FSharpFunc<string, Unit>>.None);
        var network = Experiments.imageNetwork(kind, data.Height, data.Width, Experiments.images.Levels.Head);
        return new ImageRun(propagator, Training.multilevel(options, control, network, data.Split));
    }

    /// <summary>
    /// Figure 7: for two validation images of different classes (a 0 and an 8 when there are both),
    /// the input image, its channels propagated through the best network, and the classifier's
    /// weight image of each channel for the image's class.
    /// </summary>
    /// <returns>The two classes shown.</returns>
    public static (int First, int Second) Figure7(string path, ImageData data, ImageRun run)
    {
        var model = run.Result.Best;
        var validation = data.Split.Validation;
        var labels = validation.Labels;
        var (first, second) = Array.IndexOf(labels, 0) >= 0 && Array.IndexOf(labels, 8) >= 0 ? (0, 8) : (labels[0], labels.First(l => l != labels[0]));
        var pixels = data.Height * data.Width;
        double[,] Image(Func<int, double> value) => Picture(data.Height, data.Width, value);
        var rows = new List<IReadOnlyList<(string, double[,])>>();
        foreach (var digit in new[] { first, second })
        {
            var index = Array.IndexOf(labels, digit);
            var example = DatasetModule.select([index], validation).Features;
            var yN = Solve.forward(model.Network, model.Parameters, example);
            var row = new List<(string, double[,])> { ($"input \"{digit}\"", Image(p => example[0, p])) };
            row.AddRange(Enumerable.Range(0, Channels).Select(c => ($"propagated, ch. {c + 1}", Image(p => yN[0, (c * pixels) + p]))));
            row.AddRange(Enumerable.Range(0, Channels).Select(c => ($"weights \"{digit}\", ch. {c + 1}", Image(p => model.Classifier.W[(c * pixels) + p, digit]))));
            rows.Add(row);
        }

        Figures.ImageGrid(path, rows, 1 + (2 * Channels));
        return (first, second);
    }

    private static double[,] Picture(int height, int width, Func<int, double> value)
    {
        var image = new double[height, width];
        for (var r = 0; r < height; r++)
        for (var c = 0; c < width; c++)
        {
            image[r, c] = value((r * width) + c);
        }

        return image;
    }
}
