using System.Globalization;
using System.Text.Json;
using StableOde.Cli;

namespace StableOde.Tests;

/// <summary>The command line run in-process: exit codes, standard output, one line on standard error.</summary>
public sealed class CliTests : IDisposable
{
    private readonly TempFolder folder = new();

    public void Dispose() => folder.Dispose();

    private static (int Code, string Out, string Error) Run(params string[] args) => CliRunner.Run(args);

    private string SaveModel(Model model, string name = "model.json")
    {
        var path = folder.File(name);
        model.Save(path);
        return path;
    }

    private string SaveData(Dataset data, string name = "data.csv")
    {
        var path = folder.File(name);
        data.SaveCsv(path);
        return path;
    }

    private static double[] Numbers(JsonElement e) => e.EnumerateArray().Select(x => x.GetDouble()).ToArray();

    private static double[,] Matrix(JsonElement e)
    {
        var rows = e.EnumerateArray().Select(Numbers).ToArray();
        var m = new double[rows.Length, rows[0].Length];
        for (var i = 0; i < rows.Length; i++)
        {
            Assert.Equal(rows[0].Length, rows[i].Length);
            for (var j = 0; j < rows[i].Length; j++)
            {
                m[i, j] = rows[i][j];
            }
        }

        return m;
    }

    [Theory]
    [InlineData("resnet")]
    [InlineData("leapfrog-nsd")]
    [InlineData("verlet")]
    public void GradientPrintsEveryFieldShapedAndEqualToTheLibrary(string kind)
    {
        var model = Fixtures.Model(kind);
        var data = Fixtures.Data(model.Network.Width, 4, 3, seed: 21);
        var expected = model.Gradient(data);

        var output = CliRunner.Succeed("gradient", "--model", SaveModel(model), "--data", SaveData(data));

        using var document = JsonDocument.Parse(output);
        var root = document.RootElement;
        Assert.Equal(expected.Loss, root.GetProperty("loss").GetDouble());
        Assert.Equal(Fixtures.Bits(expected.Features), Fixtures.Bits(Matrix(root.GetProperty("YN"))));
        Assert.Equal(model.Network.Depth, root.GetProperty("gradK").GetArrayLength());
        Assert.Equal(model.Network.Depth, root.GetProperty("gradB").GetArrayLength());
        for (var j = 0; j < model.Network.Depth; j++)
        {
            Assert.Equal(Fixtures.Bits(expected.WeightsGradient(j)), Fixtures.Bits(Matrix(root.GetProperty("gradK")[j])));
            Assert.Equal(Fixtures.Bits(expected.BiasGradient(j)), Fixtures.Bits(Numbers(root.GetProperty("gradB")[j])));
        }

        var verlet = model.Network.UsesAuxBias;
        Assert.Equal(verlet, root.TryGetProperty("gradC", out var gradC));
        if (verlet)
        {
            Assert.Equal(model.Network.Depth, gradC.GetArrayLength());
            Assert.Equal(Fixtures.Bits(expected.AuxBiasGradient(1)), Fixtures.Bits(Numbers(gradC[1])));
        }

        Assert.Equal(Fixtures.Bits(expected.ClassifierWeightsGradient), Fixtures.Bits(Matrix(root.GetProperty("gradW"))));
        Assert.Equal(Fixtures.Bits(expected.ClassifierBiasGradient), Fixtures.Bits(Numbers(root.GetProperty("gradMu"))));
        Assert.Equal(Fixtures.Bits(expected.FeaturesGradient), Fixtures.Bits(Matrix(root.GetProperty("gradY0"))));
    }

    [Fact]
    public void GradientOfAConvolutionIsOutInRowsColumns()
    {
        var model = Fixtures.Model("conv");
        var data = Fixtures.Data(model.Network.Width, 2, 3, seed: 22);
        var expected = model.Gradient(data).WeightsGradient(1);

        var output = CliRunner.Succeed("gradient", "--model", SaveModel(model), "--data", SaveData(data));

        using var document = JsonDocument.Parse(output);
        var k = document.RootElement.GetProperty("gradK")[1];
        Assert.Equal(2, k.GetArrayLength());
        for (var o = 0; o < 2; o++)
        {
            Assert.Equal(2, k[o].GetArrayLength());
            for (var i = 0; i < 2; i++)
            {
                for (var a = 0; a < 3; a++)
                {
                    Assert.Equal(3, k[o][i][a].GetArrayLength());
                    for (var b = 0; b < 3; b++)
                    {
                        Assert.Equal(expected[o, (9 * i) + (3 * a) + b], k[o][i][a][b].GetDouble());
                    }
                }
            }
        }
    }

    [Fact]
    public void GradientAcceptsAModelWithMoreClassesThanTheDataShows()
    {
        var model = Fixtures.Model("resnet", classes: 5);
        var data = folder.Write("data.csv", "a,b,label\n0.1,0.2,0\n0.3,-0.4,1\n");

        var output = CliRunner.Succeed("gradient", "--model", SaveModel(model), "--data", data);

        using var document = JsonDocument.Parse(output);
        Assert.Equal(5, document.RootElement.GetProperty("gradMu").GetArrayLength());
        Assert.Equal(model.Gradient(Dataset.FromArrays(new[,] { { 0.1, 0.2 }, { 0.3, -0.4 } }, [0, 1], classes: 5)).Loss, document.RootElement.GetProperty("loss").GetDouble());
    }

    [Fact]
    public void NarrowDataIsWidenedByRepetition()
    {
        var model = Fixtures.Model("verlet-tied");
        var data = folder.Write("narrow.csv", "0.5,0\n-0.5,1\n");

        var output = CliRunner.Succeed("gradient", "--model", SaveModel(model), "--data", data);

        using var document = JsonDocument.Parse(output);
        Assert.Equal(Fixtures.Bits(model.Gradient(Dataset.FromArrays(new[,] { { 0.5, 0.5, 0.5 }, { -0.5, -0.5, -0.5 } }, [0, 1], classes: 3)).FeaturesGradient), Fixtures.Bits(Matrix(document.RootElement.GetProperty("gradY0"))));
    }

    [Fact]
    public void PredictPrintsLabelsAndProbabilities()
    {
        var model = Fixtures.Model("antisymmetric", classes: 3);
        var data = Fixtures.Data(2, 5, 3, seed: 23);
        var expected = model.Predict(data);

        var output = CliRunner.Succeed("predict", "--model", SaveModel(model), "--data", SaveData(data));

        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("label,p0,p1,p2", lines[0]);
        Assert.Equal(6, lines.Length);
        var probabilities = expected.Probabilities;
        for (var i = 0; i < 5; i++)
        {
            var cells = lines[i + 1].Split(',');
            Assert.Equal(4, cells.Length);
            Assert.Equal(expected.Labels[i], int.Parse(cells[0], CultureInfo.InvariantCulture));
            for (var k = 0; k < 3; k++)
            {
                Assert.Equal(probabilities[i, k], double.Parse(cells[k + 1], CultureInfo.InvariantCulture));
            }
        }
    }

    [Fact]
    public void StabilityPrintsATableAtZeroAndAtData()
    {
        var model = Fixtures.Model("verlet");
        var path = SaveModel(model);

        var atZero = CliRunner.Succeed("stability", "--model", path);
        var atData = CliRunner.Succeed("stability", "--model", path, "--data", SaveData(Fixtures.Data(2, 3, 3, seed: 24)));

        Assert.Contains("at Y_0 = 0", atZero, StringComparison.Ordinal);
        Assert.Contains("at the 3 examples of data.csv", atData, StringComparison.Ordinal);
        foreach (var text in new[] { atZero, atData })
        {
            Assert.Contains("amplification", text, StringComparison.Ordinal);
            Assert.Contains("Stable layers: ", text, StringComparison.Ordinal);
            Assert.Contains("largest singular value", text, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void StabilityJsonMatchesTheLibrary()
    {
        var model = Fixtures.Model("resnet");
        var data = Fixtures.Data(2, 3, 3, seed: 25);
        var expected = model.Stability(data.Features);

        var output = CliRunner.Succeed("stability", "--model", SaveModel(model), "--data", SaveData(data), "--json");

        using var document = JsonDocument.Parse(output);
        var root = document.RootElement;
        Assert.Equal("resnet", root.GetProperty("propagator").GetString());
        Assert.Equal(3, root.GetProperty("examples").GetInt32());
        Assert.Equal(expected.IsStable, root.GetProperty("stable").GetBoolean());
        var layers = root.GetProperty("layers");
        Assert.Equal(model.Network.Depth, layers.GetArrayLength());
        for (var j = 0; j < model.Network.Depth; j++)
        {
            Assert.Equal(expected.Layers[j].Amplification, layers[j].GetProperty("amplification").GetDouble());
            Assert.Equal(expected.Layers[j].Stable, layers[j].GetProperty("stable").GetBoolean());
            Assert.Equal(expected.Layers[j].Eigenvalues.Select(z => z.Real), layers[j].GetProperty("eigenvalues").EnumerateArray().Select(z => z.GetProperty("re").GetDouble()));
        }

        Assert.Equal(expected.JacobianLargest, root.GetProperty("jacobian").GetProperty("largest").GetDouble());
        Assert.Equal(expected.JacobianSmallest, root.GetProperty("jacobian").GetProperty("smallest").GetDouble());
    }

    [Theory]
    [InlineData("--help")]
    [InlineData("help")]
    public void HelpListsTheCommands(string flag)
    {
        var output = CliRunner.Succeed(flag);

        foreach (var command in new[] { "gradient", "predict", "stability", "bench", "help" })
        {
            Assert.Contains($"\n  {command} ", output, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData("help", "gradient")]
    [InlineData("gradient", "--help")]
    [InlineData("stability", "--help")]
    public void CommandHelpShowsItsUsage(string first, string second)
    {
        var output = CliRunner.Succeed(first, second);

        Assert.StartsWith("Usage: stableode ", output, StringComparison.Ordinal);
        Assert.Contains("--model FILE", output, StringComparison.Ordinal);
    }

    [Fact]
    public void UserMistakesGiveOneLineAndExitCodeOne()
    {
        var model = SaveModel(Fixtures.Model("resnet", Hypothesis.Logistic));
        var data = SaveData(Fixtures.Data(2, 3, 2, seed: 26));
        var wide = SaveData(Fixtures.Data(3, 3, 2, seed: 27), "wide.csv");
        var manyClasses = folder.Write("three.csv", "1,2,0\n3,4,2\n");
        var truncated = folder.Write("truncated.json", File.ReadAllText(model)[..60]);
        var badCsv = folder.Write("bad.csv", "x,y,label\n1,2,0\n1,abc,1\n");
        var absent = folder.File("absent.json");

        Assert.Equal("stableode: no command given; run 'stableode --help' for the list of commands", CliRunner.Fail());
        Assert.Equal("stableode: unknown command 'train-me'; run 'stableode --help' for the list of commands", CliRunner.Fail("train-me"));
        Assert.Equal("stableode: unknown option '--modle' for 'gradient'; run 'stableode gradient --help'", CliRunner.Fail("gradient", "--modle", model, "--data", data));
        Assert.Equal("stableode: option '--model' needs a value (FILE)", CliRunner.Fail("predict", "--data", data, "--model"));
        Assert.Equal("stableode: option '--model' needs a value (FILE)", CliRunner.Fail("predict", "--model", "--data", data));
        Assert.Equal("stableode: 'gradient' needs --data FILE", CliRunner.Fail("gradient", "--model", model));
        Assert.Equal("stableode: unexpected argument 'extra' for 'stability'; options are written --name value", CliRunner.Fail("stability", "--model", model, "extra"));
        Assert.Equal("stableode: option '--model' is given twice", CliRunner.Fail("stability", "--model", model, "--model", model));
        Assert.Equal("stableode: unknown option '--json' for 'predict'; run 'stableode predict --help'", CliRunner.Fail("predict", "--model", model, "--data", data, "--json"));
        Assert.Equal("stableode: unknown command 'nothing'; run 'stableode --help' for the list of commands", CliRunner.Fail("help", "nothing"));
        Assert.Equal($"stableode: Could not find file '{absent}'.", CliRunner.Fail("gradient", "--model", absent, "--data", data));
        Assert.StartsWith("stableode: truncated.json: invalid JSON at line ", CliRunner.Fail("predict", "--model", truncated, "--data", data), StringComparison.Ordinal);
        Assert.Equal("stableode: bad.csv line 3, column 2: \"abc\" is not a number", CliRunner.Fail("gradient", "--model", model, "--data", badCsv));
        Assert.Equal("stableode: wide.csv: the data has 3 features but the model's network has width 2", CliRunner.Fail("predict", "--model", model, "--data", wide));
        Assert.Equal("stableode: three.csv: label 2 of example 2 is not one of the 2 classes of the model (0…1)", CliRunner.Fail("gradient", "--model", model, "--data", manyClasses));
        Assert.Equal("stableode: path must not be empty or blank.", CliRunner.Fail("stability", "--model", " "));
    }

    [Fact]
    public void OptionParserReadsNumbersAndListsAndRejectsBadOnes()
    {
        Option[] declared = [new("iterations", "n", "N"), new("alpha", "a", "X"), new("levels", "l", "LIST"), new("json", "flag")];

        var options = ParsedOptions.Parse("train", declared, ["--iterations", "12", "--alpha", "-5e-3", "--levels", "4, 8,16", "--json"]);
        var defaults = ParsedOptions.Parse("train", declared, []);

        Assert.Equal(12, options.Integer("iterations", 1));
        Assert.Equal(-5e-3, options.Number("alpha", 0.0));
        Assert.Equal([4, 8, 16], options.Integers("levels", []));
        Assert.True(options.Has("json"));
        Assert.Equal((3, 0.5, false), (defaults.Integer("iterations", 3), defaults.Number("alpha", 0.5), defaults.Has("json")));
        Assert.Equal("--iterations expects an integer, got '1.5'", Assert.Throws<UsageException>(() => ParsedOptions.Parse("train", declared, ["--iterations", "1.5"]).Integer("iterations", 1)).Message);
        Assert.Equal("--alpha expects a number, got 'NaN'", Assert.Throws<UsageException>(() => ParsedOptions.Parse("train", declared, ["--alpha", "NaN"]).Number("alpha", 1.0)).Message);
        Assert.Equal("--levels expects comma-separated integers, got '4,x'", Assert.Throws<UsageException>(() => ParsedOptions.Parse("train", declared, ["--levels", "4,x"]).Integers("levels", [])).Message);
    }
}
