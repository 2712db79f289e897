using System.Text.Json;

namespace StableOde.Tests;

/// <summary><c>stableode train</c> run in-process on tiny problems: its JSON, its model file and its one-line errors.</summary>
public sealed class TrainCliTests : IDisposable
{
    private readonly TempFolder folder = new();

    public void Dispose() => folder.Dispose();

    private string Csv(string name, params string[] lines) => folder.Write(name, "x1,x2,label\n" + string.Join('\n', lines) + "\n");

    [Fact]
    public void JsonHoldsEveryLevelAndTheModelFileHoldsTheBestModel()
    {
        var path = folder.File("best.json");

        var output = CliRunner.Succeed("train", "--dataset", "ellipses", "--propagator", "resnet", "--levels", "2,4", "--iterations", "2", "--json", "--model-out", path);

        using var document = JsonDocument.Parse(output);
        var root = document.RootElement;
        var levels = root.GetProperty("levels").EnumerateArray().ToList();
        Assert.Equal([2, 4], levels.Select(l => l.GetProperty("layers").GetInt32()));
        Assert.All(levels, l => Assert.Equal("completed", l.GetProperty("status").GetString()));
        Assert.All(levels, l => Assert.True(l.GetProperty("seconds").GetDouble() >= 0.0));
        Assert.Equal("completed", root.GetProperty("status").GetString());
        Assert.Equal(path, root.GetProperty("model").GetString());
        var best = root.GetProperty("bestValidationAccuracy").GetDouble();
        Assert.Equal(levels.Max(l => l.GetProperty("bestValidationAccuracy").GetDouble()), best);
        foreach (var level in levels)
        {
            var history = level.GetProperty("history").EnumerateArray().ToList();
            Assert.Equal([1, 2], history.Select(i => i.GetProperty("iteration").GetInt32()));
            var seconds = history.Select(i => i.GetProperty("seconds").GetDouble()).ToList();
            Assert.True(seconds[0] >= 0.0 && seconds[1] >= seconds[0] && seconds[1] <= level.GetProperty("seconds").GetDouble(), "seconds into the level, increasing");
            var accuracies = history.Select(i => i.GetProperty("validationAccuracy").GetDouble()).ToList();
            var bestIteration = level.GetProperty("bestIteration").GetInt32();
            if (bestIteration > 0)
            {
                Assert.Equal(level.GetProperty("bestValidationAccuracy").GetDouble(), accuracies[bestIteration - 1]);
            }

            Assert.All(history, i => Assert.InRange(i.GetProperty("trainingAccuracy").GetDouble(), 0.0, 1.0));
        }
        var model = Model.Load(path);
        Assert.Equal(Propagator.ResNet, model.Network.Propagator);
        Assert.Equal((2, 20.0), (model.Network.Width, model.Network.FinalTime));
        Assert.Equal(root.GetProperty("bestLayers").GetInt32(), model.Network.Depth);
        Assert.Equal(best, model.Accuracy(Datasets.Ellipses(seed: 1).Validation));
    }

    [Fact]
    public void DefaultsFollowThePaperPerDataSetAndPropagator()
    {
        var resnet = folder.File("resnet.json");
        var verlet = folder.File("verlet.json");
        var peaksVerlet = folder.File("peaks-verlet.json");

        CliRunner.Succeed("train", "--dataset", "peaks", "--propagator", "resnet", "--levels", "2", "--iterations", "1", "--model-out", resnet);
        CliRunner.Succeed("train", "--dataset", "swissroll", "--levels", "2", "--iterations", "1", "--model-out", verlet, "--json");
        CliRunner.Succeed("train", "--dataset", "peaks", "--levels", "2", "--iterations", "1", "--model-out", peaksVerlet, "--json");

        var peaksModel = Model.Load(resnet);
        Assert.Equal((8, 5.0, Hypothesis.Softmax, 5), (peaksModel.Network.Width, peaksModel.Network.FinalTime, peaksModel.Classifier.Hypothesis, peaksModel.Classes));
        var swissModel = Model.Load(verlet);
        Assert.Equal((Propagator.Verlet, 2, 2, 20.0, Hypothesis.Logistic), (swissModel.Network.Propagator, swissModel.Network.Width, swissModel.Network.AuxWidth, swissModel.Network.FinalTime, swissModel.Classifier.Hypothesis));
        var peaksVerletModel = Model.Load(peaksVerlet);
        Assert.Equal((Propagator.Verlet, 2, 8), (peaksVerletModel.Network.Propagator, peaksVerletModel.Network.Width, peaksVerletModel.Network.AuxWidth));
    }

    [Fact]
    public void WithoutJsonItPrintsATable()
    {
        var output = CliRunner.Succeed("train", "--dataset", "ellipses", "--propagator", "antisymmetric", "--levels", "2", "--iterations", "1");

        Assert.Contains("best validation", output, StringComparison.Ordinal);
        Assert.Contains("the model is not saved", output, StringComparison.Ordinal);
    }

    [Fact]
    public void TrainsOnCsvFilesWithTheOptionsGiven()
    {
        var train = Csv("train.csv", "0,0,0", "0.1,0.2,0", "2,2,1", "2.1,1.9,1", "-0.1,0.1,0", "1.9,2.2,1");
        var validation = Csv("validation.csv", "0.05,0,0", "2,2.05,1");
        var path = folder.File("csv-model.json");

        var output = CliRunner.Succeed("train", "--train", train, "--validation", validation, "--propagator", "verlet", "--width", "3", "--aux-width", "2",
            "--final-time", "2", "--activation", "relu", "--levels", "1,2", "--iterations", "3", "--alpha", "0.01", "--seed", "5", "--json", "--model-out", path);

        using var document = JsonDocument.Parse(output);
        Assert.Equal(2, document.RootElement.GetProperty("levels").GetArrayLength());
        var model = Model.Load(path);
        Assert.Equal((3, 2, 2.0, Activation.Relu), (model.Network.Width, model.Network.AuxWidth, model.Network.FinalTime, model.Network.Activation));
    }

    [Theory]
    [InlineData("unknown data set 'circles'", "--dataset", "circles")]
    [InlineData("no such folder", "--dataset", "mnist", "--data", "/nonexistent-folder-of-stableode")]
    [InlineData("no such folder", "--dataset", "fashion-mnist", "--data", "/nonexistent-folder-of-stableode")]
    [InlineData("needs --dataset", "--propagator", "verlet")]
    [InlineData("--levels must be", "--dataset", "ellipses", "--levels", "4,6")]
    [InlineData("--levels must be", "--dataset", "ellipses", "--levels", "0,0")]
    [InlineData("--levels expects", "--dataset", "ellipses", "--levels", "4,x")]
    [InlineData("--propagator expects resnet, antisymmetric, leapfrog, verlet or verlet4, got 'euler'", "--dataset", "ellipses", "--propagator", "euler")]
    [InlineData("--propagator custom needs its stages", "--dataset", "ellipses", "--propagator", "Custom")]
    [InlineData("--activation expects tanh, relu or identity, got 'sigmoid'", "--dataset", "ellipses", "--activation", "sigmoid")]
    [InlineData("--width 1 is less than", "--dataset", "ellipses", "--width", "1")]
    [InlineData("--aux-width applies to a scheme with a momentum Z", "--dataset", "ellipses", "--propagator", "resnet", "--aux-width", "3")]
    [InlineData("--alpha must be positive", "--dataset", "ellipses", "--alpha", "0")]
    [InlineData("--final-time must be positive", "--dataset", "ellipses", "--final-time", "-1")]
    [InlineData("--iterations must be at least 1", "--dataset", "ellipses", "--iterations", "0")]
    [InlineData("--data DIR goes with", "--dataset", "peaks", "--data", "/tmp")]
    [InlineData("the folder", "--dataset", "ellipses", "--model-out", "/nonexistent-folder-of-stableode/model.json")]
    public void BadInputIsOneLine(string expected, params string[] args)
    {
        Assert.Contains(expected, CliRunner.Fail(["train", .. args]), StringComparison.Ordinal);
    }

    [Fact]
    public void CsvMistakesNameTheFile()
    {
        var train = Csv("train.csv", "0,0,0", "1,1,1");
        var outOfRange = Csv("labels.csv", "0,0,0", "1,1,2");
        var wider = folder.Write("wide.csv", "0,0,0,1\n");

        Assert.Contains("--train needs --validation", CliRunner.Fail("train", "--train", train), StringComparison.Ordinal);
        Assert.Contains("--validation needs --train", CliRunner.Fail("train", "--validation", train), StringComparison.Ordinal);
        Assert.Contains("give one of --dataset NAME, --train FILE with --validation FILE, or --images FILE with --labels FILE", CliRunner.Fail("train", "--dataset", "peaks", "--train", train, "--validation", train), StringComparison.Ordinal);
        Assert.Contains("labels.csv: label 2 of example 2 is not one of the 2 classes of train.csv", CliRunner.Fail("train", "--train", train, "--validation", outOfRange), StringComparison.Ordinal);
        Assert.Contains("wide.csv has 3 features but train.csv has 2", CliRunner.Fail("train", "--train", train, "--validation", wider), StringComparison.Ordinal);
        Assert.Contains("is a folder", CliRunner.Fail("train", "--train", train, "--validation", train, "--model-out", folder.Path), StringComparison.Ordinal);
    }
}
