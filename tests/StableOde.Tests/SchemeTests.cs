using System.Text.Json;

namespace StableOde.Tests;

/// <summary>Schemes as stage lists through the C# API and the command line: the builder, its validation, verlet4 and custom schemes in training, gradient and model files.</summary>
public sealed class SchemeTests : IDisposable
{
    private readonly TempFolder folder = new();

    public void Dispose() => folder.Dispose();

    [Fact]
    public void TheBuilderMakesASchemeThatQueriesItsStages()
    {
        var scheme = Fixtures.SymmetricVerlet;
        Assert.Equal(3, scheme.Count);
        Assert.True(scheme.IsInvertible);
        Assert.True(scheme.UsesZ);
        Assert.True(scheme.UsesAuxBias);
        Assert.False(Fixtures.Mixed.IsInvertible);
        Assert.False(Scheme.Of(Propagator.ResNet).UsesZ);
        Assert.Equal(7, Scheme.Of(Propagator.Verlet4).Count);
        Assert.Equal(scheme, Scheme.FromJson(scheme.ToString()));
        var network = Network.Custom(scheme, width: 2, depth: 4, finalTime: 1.0);
        Assert.Equal(Propagator.Custom, network.Propagator);
        Assert.Equal(scheme, network.Scheme);
        Assert.True(network.IsInvertible);
    }

    [Fact]
    public void BadStagesAreRefusedNamingTheStageAndTheField()
    {
        var drift = Assert.Throws<ArgumentException>(() => Scheme.Create().Kick(SchemeVariable.Z, SchemeVariable.Y, SchemeBias.C, 1.0).Drift(SchemeVariable.Y, SchemeVariable.Y, 1.0));
        Assert.Contains("stage 1", drift.Message, StringComparison.Ordinal);
        Assert.Equal("a", Assert.Throws<ArgumentException>(() => Scheme.Create().Drift(SchemeVariable.Y, SchemeVariable.Z, double.NaN)).ParamName);
        Assert.Equal("aFirst", Assert.Throws<ArgumentException>(() => Scheme.Create().Drift(SchemeVariable.Y, SchemeVariable.Z, 1.0, double.PositiveInfinity)).ParamName);
        Assert.Contains("at least one stage", Assert.Throws<ArgumentException>(() => Network.Custom(Scheme.Create(), 2, 3, 1.0)).Message, StringComparison.Ordinal);
        var bias = Assert.Throws<ArgumentException>(() => Network.Custom(Scheme.Create().Kick(SchemeVariable.Z, SchemeVariable.Y, SchemeBias.B, -1.0), width: 3, depth: 2, finalTime: 1.0, auxWidth: 2));
        Assert.Equal("scheme[0].bias", bias.ParamName);
        var widths = Assert.Throws<ArgumentException>(() => Network.Custom(Scheme.Create().Drift(SchemeVariable.Y, SchemeVariable.Z, 1.0), width: 3, depth: 2, finalTime: 1.0, auxWidth: 2));
        Assert.Contains("drift between different widths", widths.Message, StringComparison.Ordinal);
        var model = Model.Create(Network.Custom(Fixtures.Mixed, 2, 3, 1.0), NetworkParameters.Random(Network.Custom(Fixtures.Mixed, 2, 3, 1.0), 1), Classifier.Random(Hypothesis.Softmax, 2, 2, 2));
        var reversal = Assert.Throws<ArgumentException>(() => model.Gradient(Fixtures.Data(2, 4, 2, 3), AdjointStrategy.Reversal));
        Assert.Contains("reads its own target", reversal.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => Network.Convolutional(Propagator.Custom, 2, 2, 2, 2, 1.0));
    }

    [Fact]
    public void TrainWithVerlet4AndWithASchemeFileThenGradientAndPredict()
    {
        var verlet4 = folder.File("verlet4.json");
        var custom = folder.File("custom.json");
        var schemeFile = folder.Write("symmetric.json", Fixtures.SymmetricVerlet.ToString());
        CliRunner.Succeed("train", "--dataset", "swissroll", "--propagator", "verlet4", "--levels", "2", "--iterations", "1", "--json", "--model-out", verlet4);
        CliRunner.Succeed("train", "--dataset", "swissroll", "--scheme", schemeFile, "--width", "2", "--levels", "2", "--iterations", "1", "--json", "--model-out", custom);
        Assert.Equal(Propagator.Verlet4, Model.Load(verlet4).Network.Propagator);
        var customModel = Model.Load(custom);
        Assert.Equal(Propagator.Custom, customModel.Network.Propagator);
        Assert.Equal(Fixtures.SymmetricVerlet, customModel.Network.Scheme);
        var data = folder.Write("data.csv", "x1,x2,label\n0.1,0.2,0\n-0.3,0.5,1\n");
        foreach (var path in new[] { verlet4, custom })
        {
            using var document = JsonDocument.Parse(CliRunner.Succeed("gradient", "--model", path, "--data", data));
            Assert.Equal(2, document.RootElement.GetProperty("gradC").GetArrayLength());
            Assert.Equal(3, CliRunner.Succeed("predict", "--model", path, "--data", data).Trim().Split('\n').Length);
            CliRunner.Succeed("stability", "--model", path, "--data", data);
        }
    }

    [Theory]
    [InlineData("scheme[0].target", """[{"stage": "kick", "target": "X", "source": "Y", "bias": "c", "a": -1}]""")]
    [InlineData("stage 0: bias b has width 8, not the width 32 of the target Z", """[{"stage": "kick", "target": "Z", "source": "Y", "bias": "b", "a": -1}]""")]
    [InlineData("must list at least one stage", "[]")]
    public void ABadSchemeFileIsOneLine(string expected, string json)
    {
        var schemeFile = folder.Write("bad.json", json);
        var error = CliRunner.Fail("train", "--dataset", "peaks", "--scheme", schemeFile, "--levels", "2", "--iterations", "1");
        Assert.Contains(expected, error, StringComparison.Ordinal);
        Assert.Single(error.Trim().Split('\n'));
    }
}
