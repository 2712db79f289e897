using System.Globalization;
using System.Numerics;
using ScottPlot;
using StableOde.Cli.Reproduce;

namespace StableOde.Tests;

/// <summary>What a new user tripped over (issue 13, item 5): each case as the user met it.</summary>
public sealed class NewUserTests : IDisposable
{
    private readonly TempFolder folder = new();

    public void Dispose() => folder.Dispose();

    private static string Repository([System.Runtime.CompilerServices.CallerFilePath] string here = "") =>
        Path.GetFullPath(Path.Combine(Path.GetDirectoryName(here)!, "..", ".."));

    [Fact]
    public void AFirstRowWithATypoIsAnErrorNamingLineAndColumnNotAHeader()
    {
        var error = Assert.Throws<InvalidDataException>(() => Core.DataFile.parse("typo.csv", "0.5,abc,1\n0.25,0.75,0\n"));

        Assert.Equal("typo.csv line 1, column 2: \"abc\" is not a number (a header line has no numeric cell)", error.Message);
        var data = Core.DataFile.parse("header.csv", "\n x, y ,label\n0.5,1.5,1\n");
        Assert.Equal((1, 2), (data.Labels.Length, data.Features.ColumnCount));
    }

    [Fact]
    public void PredictAndStabilityTakeAFileOfFeaturesOnlyWhenItHasTheModelsWidth()
    {
        var model = folder.File("model.json");
        Fixtures.Model("resnet", classes: 3).Save(model);
        var featuresOnly = folder.Write("features.csv", "x1,x2\n1,2\n0,1\n2,0\n");
        var labelled = folder.Write("labelled.csv", "x1,x2,label\n1,2,0\n0,1,2\n2,0,1\n");

        var fromFeatures = CliRunner.Succeed("predict", "--model", model, "--data", featuresOnly);

        Assert.Equal(CliRunner.Succeed("predict", "--model", model, "--data", labelled), fromFeatures);
        Assert.Equal(4, fromFeatures.TrimEnd('\n').Split('\n').Length);
        Assert.Contains("at the 3 examples of features.csv", CliRunner.Succeed("stability", "--model", model, "--data", featuresOnly), StringComparison.Ordinal);
    }

    [Fact]
    public void TrainingLabelsThatSkipAClassAreAnErrorUnlessTheClassesAreGiven()
    {
        var train = folder.Write("train.csv", "x1,x2,label\n0,0,0\n1,0,1\n0,1,7\n1,1,0\n");
        var validation = folder.Write("validation.csv", "x1,x2,label\n0,0,0\n1,1,1\n");

        var error = CliRunner.Fail("train", "--train", train, "--validation", validation, "--levels", "2", "--iterations", "1");

        Assert.Equal("stableode: train.csv: the labels run to 7 but no example has the classes 2, 3, 4, 5, 6; give --classes 8 if the data has 8 classes, or number the classes without gaps", error);
        var model = folder.File("eight.json");
        CliRunner.Succeed("train", "--train", train, "--validation", validation, "--levels", "2", "--iterations", "1", "--classes", "8", "--model-out", model, "--json");
        Assert.Equal(8, Model.Load(model).Classes);
        Assert.Equal("stableode: train.csv: label 7 of example 3 is not one of the 7 classes of --classes (0…6)", CliRunner.Fail("train", "--train", train, "--validation", validation, "--classes", "7"));
    }

    [Fact]
    public void AnUnwritableModelOutNamesTheUsersPath()
    {
        var error = CliRunner.Fail("train", "--dataset", "ellipses", "--levels", "2", "--iterations", "1", "--model-out", "/proc/model.json");

        Assert.Contains("/proc/model.json", error, StringComparison.Ordinal);
        Assert.DoesNotContain(".probe", error, StringComparison.Ordinal);
        Assert.DoesNotContain(".tmp", error, StringComparison.Ordinal);
    }

    [Fact]
    public void AtomicWritesNameTheTargetNotTheTemporaryFile()
    {
        var target = Path.Combine(folder.Path, "missing", "model.json");

        var error = Assert.Throws<DirectoryNotFoundException>(() => Core.AtomicFile.writeAllText(target, "{}"));

        Assert.Contains(target, error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(".tmp", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("images", 4, "expected an IDX image file (magic number 0x00000803: unsigned bytes, 3 dimensions), got magic number 0x00000804")]
    [InlineData("labels", 2, "expected an IDX label file (magic number 0x00000801: unsigned bytes, 1 dimension), got magic number 0x00000802")]
    public void AnIdxFileWithAPlausibleWrongMagicSaysWhichFileWasExpected(string wrong, byte rank, string message)
    {
        var images = IdxFiles.Bytes([2, 2, 2], [1, 2, 3, 4, 5, 6, 7, 8]);
        var labels = IdxFiles.Bytes([2], [0, 1]);
        (wrong == "images" ? images : labels)[3] = rank;
        var imagesPath = folder.File("images-idx3-ubyte");
        var labelsPath = folder.File("labels-idx1-ubyte");
        File.WriteAllBytes(imagesPath, images);
        File.WriteAllBytes(labelsPath, labels);

        var error = Assert.Throws<InvalidDataException>(() => ImageSet.Load(imagesPath, labelsPath));

        Assert.Equal($"{(wrong == "images" ? "images-idx3-ubyte" : "labels-idx1-ubyte")}: {message}", error.Message);
    }

    [Fact]
    public void HelpAndVersionFlagsWorkAndTrainHelpGivesTheIterationsDefault()
    {
        Assert.StartsWith("stableode — ", CliRunner.Succeed("-h"), StringComparison.Ordinal);
        Assert.StartsWith("stableode — ", CliRunner.Succeed("--help"), StringComparison.Ordinal);
        Assert.Matches(@"^stableode \d+\.\d+\.\d+\S*\n$", CliRunner.Succeed("--version"));
        var help = CliRunner.Succeed("help", "train");
        Assert.Equal(help, CliRunner.Succeed("train", "-h"));
        Assert.Equal(help, CliRunner.Succeed("train", "--help"));
        var iterations = help.Split('\n').Single(l => l.TrimStart().StartsWith("--iterations", StringComparison.Ordinal));
        Assert.Contains($"(default {Core.TrainingOptionsModule.defaults.Iterations}; 10,5 for images)", iterations, StringComparison.Ordinal);
    }

    [Fact]
    public void StabilityPrintsEigenvaluesRoundedToTheScaleOfTheSpectrum()
    {
        var model = folder.File("antisymmetric.json");
        var network = Network.Antisymmetric(width: 3, depth: 2, finalTime: 1.0);
        StableOde.Model.Create(network, NetworkParameters.Random(network, seed: 3, scale: 0.7), Classifier.Random(Hypothesis.Softmax, 3, 2, seed: 4)).Save(model);

        var output = CliRunner.Succeed("stability", "--model", model);

        var rows = output.Split('\n').Where(l => l.Contains('i', StringComparison.Ordinal) && l.Contains('│', StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(rows);
        Assert.All(rows, r => Assert.DoesNotContain("E-", r, StringComparison.Ordinal));
        Assert.Contains("0 + ", output, StringComparison.Ordinal);
    }

    [Fact]
    public void PhasePlaneAxesAreScaledEachToItsOwnData()
    {
        var (xmin, xmax) = Figures.Limits([-10.0, 10.0]);
        var (ymin, ymax) = Figures.Limits([0.0, 0.01]);

        Assert.Equal((-12.0, 12.0), (xmin, xmax));
        Assert.Equal(-0.001, ymin, 12);
        Assert.Equal(0.011, ymax, 12);
    }

    [Fact]
    public void SpectraHaveDistinctMarkersAndLegendsStayOutsideTheData()
    {
        Complex[] values = [new(0, 0.5), new(0, -0.5)];

        var plot = Figures.SpectraPlot("spectra", [("antisymmetric", values), ("Verlet", values), ("ResNet", values)]);

        var markers = plot.GetPlottables().OfType<ScottPlot.Plottables.Markers>().ToList();
        Assert.Equal(3, markers.Select(m => m.MarkerStyle.Shape).Distinct().Count());
        Assert.False(plot.Legend.IsVisible);
    }

    [Fact]
    public void TheReadmesFSharpQuickStartIsTheExampleScriptThatRunsFromAnyFolder()
    {
        var readme = File.ReadAllText(Path.Combine(Repository(), "README.md"));
        var start = readme.IndexOf("```fsharp\n", StringComparison.Ordinal) + "```fsharp\n".Length;
        var snippet = readme[start..readme.IndexOf("```", start, StringComparison.Ordinal)];
        var script = File.ReadAllText(Path.Combine(Repository(), "examples", "fsharp-quickstart.fsx"));

        Assert.EndsWith(snippet, script, StringComparison.Ordinal);
        var dll = snippet.Split('\n').Single(l => l.StartsWith("#r \"../", StringComparison.Ordinal))[4..^1];
        Assert.True(File.Exists(Path.Combine(Repository(), "examples", dll)), dll);
    }

    [Fact]
    public void TheReadmesImageSnippetChecksTheFolderHoldsEnoughImages()
    {
        var readme = File.ReadAllText(Path.Combine(Repository(), "README.md"));
        var load = readme.IndexOf("ImageSet.LoadFolder", StringComparison.Ordinal);
        var split = readme.IndexOf(".Split(trainingCount", load, StringComparison.Ordinal);

        Assert.Contains("images.Data.Count <", readme[load..split], StringComparison.Ordinal);
    }
}
