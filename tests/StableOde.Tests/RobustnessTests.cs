using System.Text.Json;

namespace StableOde.Tests;

/// <summary><c>Model.Robustness</c> and <c>stableode robustness</c> (SPEC §10): the JSON object, the table, IDX input, bad input.</summary>
public sealed class RobustnessTests : IDisposable
{
    private readonly TempFolder folder = new();

    public void Dispose() => folder.Dispose();

    private string SaveModel(Model model)
    {
        var path = folder.File("model.json");
        model.Save(path);
        return path;
    }

    private string SaveData(Dataset data, string name = "data.csv")
    {
        var path = folder.File(name);
        data.SaveCsv(path);
        return path;
    }

    [Theory]
    [InlineData("fgsm")]
    [InlineData("pgd")]
    [InlineData("noise")]
    public void JsonHasExactlyTheSpecifiedFieldsAndEqualsTheLibrary(string attack)
    {
        var model = Fixtures.Model("verlet");
        var data = Fixtures.Data(2, 12, 3, seed: 31);
        var kind = attack switch { "fgsm" => Attack.Fgsm, "pgd" => Attack.Pgd, _ => Attack.Noise };
        var expected = model.Robustness(data, kind, [0.0, 0.05, 0.3], steps: 10, seed: 1);

        var output = CliRunner.Succeed("robustness", "--model", SaveModel(model), "--data", SaveData(data), "--attack", attack, "--epsilon", "0,0.05,0.3", "--json");

        using var document = JsonDocument.Parse(output);
        var root = document.RootElement;
        Assert.Equal(["attack", "cleanAccuracy", "results"], root.EnumerateObject().Select(p => p.Name).ToArray());
        Assert.Equal(attack, root.GetProperty("attack").GetString());
        Assert.Equal(expected.CleanAccuracy, root.GetProperty("cleanAccuracy").GetDouble());
        var results = root.GetProperty("results").EnumerateArray().ToArray();
        Assert.Equal(3, results.Length);
        for (var i = 0; i < results.Length; i++)
        {
            Assert.Equal(["epsilon", "accuracy", "amplificationMean", "amplificationMax"], results[i].EnumerateObject().Select(p => p.Name).ToArray());
            Assert.Equal(expected.Results[i].Epsilon, results[i].GetProperty("epsilon").GetDouble());
            Assert.Equal(expected.Results[i].Accuracy, results[i].GetProperty("accuracy").GetDouble());
            Assert.Equal(expected.Results[i].AmplificationMean, results[i].GetProperty("amplificationMean").GetDouble());
            Assert.Equal(expected.Results[i].AmplificationMax, results[i].GetProperty("amplificationMax").GetDouble());
        }

        Assert.Equal(expected.CleanAccuracy, expected.Results[0].Accuracy);
        Assert.Equal(0.0, expected.Results[0].AmplificationMax);
        Assert.True(expected.Results[2].AmplificationMean > 0.0);
    }

    [Fact]
    public void DefaultsArePgdWithTenStepsAtThreeEpsilons()
    {
        var model = Fixtures.Model("resnet");
        var data = Fixtures.Data(2, 8, 3, seed: 32);
        var expected = model.Robustness(data, Attack.Pgd, [0.01, 0.05, 0.1]);

        var output = CliRunner.Succeed("robustness", "--model", SaveModel(model), "--data", SaveData(data), "--json");

        using var document = JsonDocument.Parse(output);
        var results = document.RootElement.GetProperty("results").EnumerateArray().ToArray();
        Assert.Equal("pgd", document.RootElement.GetProperty("attack").GetString());
        Assert.Equal([0.01, 0.05, 0.1], results.Select(r => r.GetProperty("epsilon").GetDouble()).ToArray());
        Assert.Equal(expected.Results.Select(r => r.Accuracy).ToArray(), results.Select(r => r.GetProperty("accuracy").GetDouble()).ToArray());
        Assert.Equal(10, expected.Steps);
    }

    [Fact]
    public void TablePrintsCleanAccuracyEveryEpsilonAndTheSingularValues()
    {
        var model = Fixtures.Model("antisymmetric");
        var data = Fixtures.Data(2, 6, 3, seed: 33);

        var output = CliRunner.Succeed("robustness", "--model", SaveModel(model), "--data", SaveData(data), "--attack", "fgsm", "--epsilon", "0.02,0.2");

        Assert.Contains("FGSM", output, StringComparison.Ordinal);
        Assert.Contains("Clean accuracy:", output, StringComparison.Ordinal);
        Assert.Contains("0.02", output, StringComparison.Ordinal);
        Assert.Contains("0.2 ", output, StringComparison.Ordinal);
        Assert.Contains("Largest singular value of dY_N/dY_0 per example (exact)", output, StringComparison.Ordinal);
    }

    [Fact]
    public void NarrowDataIsPerturbedBeforeWidening()
    {
        var model = Fixtures.Model("conv");
        var data = Fixtures.Data(6, 5, 3, seed: 34);
        var widened = data.Widen(model.Network.Width);

        var narrow = model.Robustness(data, Attack.Fgsm, [0.1]);
        var wide = model.Robustness(widened, Attack.Fgsm, [0.1]);

        Assert.Equal(narrow.CleanAccuracy, wide.CleanAccuracy);
        var output = CliRunner.Succeed("robustness", "--model", SaveModel(model), "--data", SaveData(data), "--attack", "fgsm", "--epsilon", "0.1", "--json");
        using var document = JsonDocument.Parse(output);
        Assert.Equal(narrow.Results[0].AmplificationMean, document.RootElement.GetProperty("results")[0].GetProperty("amplificationMean").GetDouble());
    }

    [Fact]
    public void IdxImagesAreClippedToTheUnitIntervalByDefault()
    {
        var (images, labels) = IdxFiles.WriteTwoClassImages(folder.Path, count: 6, height: 3, width: 2);
        var set = ImageSet.Load(images, labels);
        var network = Network.Convolutional(Propagator.Verlet, channels: 2, height: 3, width: 2, depth: 2, finalTime: 1.0);
        var model = Model.Create(network, NetworkParameters.Random(network, seed: 3, scale: 0.5), Classifier.Random(Hypothesis.Softmax, network.Width, 10, seed: 4, scale: 0.5));
        var path = SaveModel(model);
        string Json(params string[] extra) => CliRunner.Succeed(["robustness", "--model", path, "--images", images, "--labels", labels, "--attack", "noise", "--epsilon", "0.5", "--json", .. extra]);

        Assert.Equal(Json(), Json("--clip"));
        Assert.Equal(model.Robustness(set.Data, Attack.Noise, [0.5], seed: 1, clip: true).Results[0].AmplificationMean,
            JsonDocument.Parse(Json()).RootElement.GetProperty("results")[0].GetProperty("amplificationMean").GetDouble());
        Assert.Equal(model.Robustness(set.Data, Attack.Noise, [0.5], seed: 1, clip: false).Results[0].AmplificationMean,
            JsonDocument.Parse(Json("--no-clip")).RootElement.GetProperty("results")[0].GetProperty("amplificationMean").GetDouble());
    }

    [Theory]
    [InlineData("--epsilon", "-0.1", "stableode: --epsilon: every ε must be a finite number ≥ 0, got -0.1")]
    [InlineData("--epsilon", "NaN", "stableode: --epsilon: every ε must be a finite number ≥ 0, got NaN")]
    [InlineData("--epsilon", "0.1,Infinity", "stableode: --epsilon: every ε must be a finite number ≥ 0, got Infinity")]
    [InlineData("--epsilon", ",", "stableode: --epsilon: the list of ε is empty")]
    [InlineData("--epsilon", "0.1,,0.2", "stableode: --epsilon expects comma-separated numbers, got '0.1,,0.2'")]
    [InlineData("--steps", "0", "stableode: --steps must be at least 1, got 0")]
    [InlineData("--attack", "cw", "stableode: --attack must be fgsm, pgd or noise, got 'cw'")]
    public void BadOptionsAreOneLineAndExitOne(string option, string value, string message)
    {
        var model = SaveModel(Fixtures.Model("resnet"));
        var data = SaveData(Fixtures.Data(2, 4, 3, seed: 35));

        Assert.Equal(message, CliRunner.Fail("robustness", "--model", model, "--data", data, option, value));
    }

    [Fact]
    public void BadInputIsOneLineAndExitOne()
    {
        var model = SaveModel(Fixtures.Model("resnet"));
        var wide = SaveData(Fixtures.Data(3, 4, 3, seed: 36), "wide.csv");
        var data = SaveData(Fixtures.Data(2, 4, 3, seed: 36));
        var fiveClasses = SaveData(Fixtures.Data(2, 5, 5, seed: 36), "classes.csv");

        Assert.Equal("stableode: wide.csv: the data has 3 features but the model's network has width 2", CliRunner.Fail("robustness", "--model", model, "--data", wide));
        Assert.StartsWith("stableode: classes.csv: label 3 of example 4 is not one of the 3 classes of the model", CliRunner.Fail("robustness", "--model", model, "--data", fiveClasses), StringComparison.Ordinal);
        Assert.Equal("stableode: --steps applies to --attack pgd", CliRunner.Fail("robustness", "--model", model, "--data", data, "--attack", "fgsm", "--steps", "3"));
        Assert.Equal("stableode: --seed applies to --attack noise", CliRunner.Fail("robustness", "--model", model, "--data", data, "--seed", "3"));
        Assert.Equal("stableode: 'robustness' needs --data FILE, or --images FILE with --labels FILE", CliRunner.Fail("robustness", "--model", model));
        Assert.Equal("stableode: --labels needs --images FILE as well", CliRunner.Fail("robustness", "--model", model, "--labels", data));
        Assert.Equal("stableode: --clip and --no-clip contradict each other", CliRunner.Fail("robustness", "--model", model, "--data", data, "--clip", "--no-clip"));
    }

    [Fact]
    public void TheFacadeValidatesItsArguments()
    {
        var model = Fixtures.Model("verlet");
        var data = Fixtures.Data(2, 4, 3, seed: 37);

        Assert.Throws<ArgumentNullException>("data", () => model.Robustness(null!, Attack.Fgsm, [0.1]));
        Assert.Throws<ArgumentNullException>("epsilons", () => model.Robustness(data, Attack.Fgsm, null!));
        Assert.Equal("epsilons", Assert.Throws<ArgumentException>(() => model.Robustness(data, Attack.Fgsm, [])).ParamName);
        Assert.Throws<ArgumentOutOfRangeException>("epsilons", () => model.Robustness(data, Attack.Fgsm, [0.1, -1.0]));
        Assert.Throws<ArgumentOutOfRangeException>("epsilons", () => model.Robustness(data, Attack.Fgsm, [double.PositiveInfinity]));
        Assert.Throws<ArgumentOutOfRangeException>("steps", () => model.Robustness(data, Attack.Pgd, [0.1], steps: 0));
        Assert.Throws<ArgumentOutOfRangeException>("attack", () => model.Robustness(data, (Attack)7, [0.1]));
        Assert.Equal("data", Assert.Throws<ArgumentException>(() => model.Robustness(Fixtures.Data(3, 4, 3, seed: 37), Attack.Fgsm, [0.1])).ParamName);
        Assert.Equal("data", Assert.Throws<ArgumentException>(() => model.Robustness(Fixtures.Data(2, 5, 5, seed: 37), Attack.Fgsm, [0.1])).ParamName);
    }

    [Fact]
    public void LargestSingularValuesAreOnePerExampleAndBoundTheAmplificationOfSmallPerturbations()
    {
        var model = Fixtures.Model("leapfrog");
        var data = Fixtures.Data(2, 7, 3, seed: 38);

        var sigma = model.Network.LargestSingularValues(model.Parameters, data.Features);
        var report = model.Robustness(data, Attack.Noise, [1e-7]);

        Assert.Equal(7, sigma.Count);
        Assert.All(sigma, s => Assert.True(s > 0.0));
        Assert.True(report.Results[0].AmplificationMax <= sigma.Max() * (1 + 1e-5), $"{report.Results[0].AmplificationMax} vs {sigma.Max()}");
    }
}
