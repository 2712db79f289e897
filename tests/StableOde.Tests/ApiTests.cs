using System.Text.Json;
using Microsoft.FSharp.Core;

namespace StableOde.Tests;

public sealed class ApiTests
{
    [Fact]
    public void BuildPropagateAndDifferentiateInAFewLines()
    {
        var network = Network.Verlet(width: 2, depth: 4, finalTime: 2.0, Activation.Tanh);
        var parameters = NetworkParameters.Random(network, seed: 1);
        var data = Dataset.FromArrays(new[,] { { 0.5, -1.0 }, { 1.0, 2.0 }, { -0.3, 0.1 } }, [0, 1, 1]);
        var model = Model.Create(network, parameters, Classifier.Random(Hypothesis.Softmax, network.Width, data.Classes, seed: 2));

        var output = network.Propagate(parameters, data.Features);
        var gradient = model.Gradient(data);

        Assert.Equal(0.5, network.StepSize);
        Assert.Equal(Fixtures.Bits(output), Fixtures.Bits(gradient.Features));
        Assert.True(gradient.Loss > 0.0 && double.IsFinite(gradient.Loss));
        Assert.Equal(4, gradient.Depth);
        Assert.Equal(2, gradient.WeightsGradient(3).GetLength(0));
        Assert.Equal(2, gradient.BiasGradient(0).Length);
        Assert.Equal(2, gradient.AuxBiasGradient(0).Length);
        Assert.Equal(new[] { 3, 2 }, new[] { gradient.FeaturesGradient.GetLength(0), gradient.FeaturesGradient.GetLength(1) });
        Assert.Equal(model.Loss(data), gradient.Loss);
    }

    [Fact]
    public void TrajectoryStartsAtTheInputAndEndsAtTheOutput()
    {
        var model = Fixtures.Model("leapfrog");
        var features = Fixtures.Data(2, 4, 3, seed: 5).Features;

        var states = model.Network.Trajectory(model.Parameters, features);

        Assert.Equal(model.Network.Depth + 1, states.Count);
        Assert.Equal(Fixtures.Bits(features), Fixtures.Bits(states[0].Features));
        Assert.Equal(Fixtures.Bits(model.Propagate(features)), Fixtures.Bits(states[^1].Features));
        Assert.All(states[0].Momentum!.Cast<double>(), z => Assert.Equal(0.0, z));
        Assert.Null(Fixtures.Model("resnet").Network.Trajectory(Fixtures.Model("resnet").Parameters, features)[1].Momentum);
    }

    public static TheoryData<string> Kinds() => new(Fixtures.Kinds);

    /// <summary>Every entry of the gradient equals a central finite difference of the loss.</summary>
    [Theory]
    [MemberData(nameof(Kinds))]
    public void GradientEqualsCentralFiniteDifferences(string kind)
    {
        var model = Fixtures.Model(kind, classes: 3);
        var data = Fixtures.Data(model.Network.Width, 3, 3, seed: 7);
        var gradient = model.Gradient(data);
        const double step = 1e-6;

        void Check(string what, double analytic, Func<double, double> loss)
        {
            var numeric = (loss(step) - loss(-step)) / (2 * step);
            Assert.True(Math.Abs(numeric - analytic) <= 1e-7 * (1 + Math.Abs(analytic)), $"{kind} {what}: adjoint {analytic}, finite difference {numeric}");
        }

        double WithParameters(NetworkParameters p) => Model.Create(model.Network, p, model.Classifier).Loss(data);

        for (var j = 0; j < model.Network.Depth; j++)
        {
            var layer = j;
            var weights = model.Parameters.Weights(layer);
            var weightsGradient = gradient.WeightsGradient(layer);
            for (var r = 0; r < weights.GetLength(0); r++)
            {
                for (var c = 0; c < weights.GetLength(1); c++)
                {
                    var (row, column) = (r, c);
                    Check($"K[{layer}][{row},{column}]", weightsGradient[row, column], t =>
                    {
                        var shifted = (double[,])weights.Clone();
                        shifted[row, column] += t;
                        return WithParameters(model.Parameters.WithWeights(layer, shifted));
                    });
                }
            }

            var bias = model.Parameters.Bias(layer);
            for (var i = 0; i < bias.Length; i++)
            {
                var index = i;
                Check($"b[{layer}][{index}]", gradient.BiasGradient(layer)[index], t =>
                {
                    var shifted = (double[])bias.Clone();
                    shifted[index] += t;
                    return WithParameters(model.Parameters.WithBias(layer, shifted));
                });
            }

            var auxBias = model.Parameters.AuxBias(layer);
            for (var i = 0; i < auxBias.Length; i++)
            {
                var index = i;
                Check($"c[{layer}][{index}]", gradient.AuxBiasGradient(layer)[index], t =>
                {
                    var shifted = (double[])auxBias.Clone();
                    shifted[index] += t;
                    return WithParameters(model.Parameters.WithAuxBias(layer, shifted));
                });
            }
        }

        var w = model.ClassifierWeights;
        var mu = model.ClassifierBias;
        for (var r = 0; r < w.GetLength(0); r++)
        {
            for (var c = 0; c < w.GetLength(1); c++)
            {
                var (row, column) = (r, c);
                Check($"W[{row},{column}]", gradient.ClassifierWeightsGradient[row, column], t =>
                {
                    var shifted = (double[,])w.Clone();
                    shifted[row, column] += t;
                    return Model.Create(model.Network, model.Parameters, Classifier.FromArrays(Hypothesis.Softmax, shifted, mu)).Loss(data);
                });
            }
        }

        for (var k = 0; k < mu.Length; k++)
        {
            var index = k;
            Check($"mu[{index}]", gradient.ClassifierBiasGradient[index], t =>
            {
                var shifted = (double[])mu.Clone();
                shifted[index] += t;
                return Model.Create(model.Network, model.Parameters, Classifier.FromArrays(Hypothesis.Softmax, w, shifted)).Loss(data);
            });
        }

        var features = data.Features;
        for (var i = 0; i < features.GetLength(0); i++)
        {
            for (var f = 0; f < features.GetLength(1); f++)
            {
                var (example, feature) = (i, f);
                Check($"Y0[{example},{feature}]", gradient.FeaturesGradient[example, feature], t =>
                {
                    var shifted = (double[,])features.Clone();
                    shifted[example, feature] += t;
                    return model.Loss(Dataset.FromArrays(shifted, data.Labels, data.Classes));
                });
            }
        }
    }

    [Theory]
    [InlineData("leapfrog")]
    [InlineData("verlet")]
    [InlineData("conv-verlet")]
    public void AdjointStrategiesAgree(string kind)
    {
        var model = Fixtures.Model(kind);
        var data = Fixtures.Data(model.Network.Width, 4, 3, seed: 3);
        var reference = model.Gradient(data, AdjointStrategy.StoreAll);

        foreach (var strategy in new[] { AdjointStrategy.Checkpoints(2), AdjointStrategy.SquareRootCheckpoints(model.Network), AdjointStrategy.Reversal })
        {
            var other = model.Gradient(data, strategy);
            Assert.Equal(reference.Loss, other.Loss);
            for (var j = 0; j < model.Network.Depth; j++)
            {
                AssertClose(reference.WeightsGradient(j).Cast<double>(), other.WeightsGradient(j).Cast<double>(), 1e-10);
                AssertClose(reference.BiasGradient(j), other.BiasGradient(j), 1e-10);
            }

            AssertClose(reference.FeaturesGradient.Cast<double>(), other.FeaturesGradient.Cast<double>(), 1e-10);
        }
    }

    private static void AssertClose(IEnumerable<double> expected, IEnumerable<double> actual, double tolerance)
    {
        foreach (var (e, a) in expected.Zip(actual, (e, a) => (e, a)))
        {
            Assert.True(Math.Abs(e - a) <= tolerance * (1 + Math.Abs(e)), $"expected {e}, got {a}");
        }
    }

    [Fact]
    public void PredictionsAreTheMostProbableClasses()
    {
        var model = Fixtures.Model("verlet", classes: 4);
        var data = Fixtures.Data(2, 6, 4, seed: 11);

        var prediction = model.Predict(data);
        var probabilities = prediction.Probabilities;

        Assert.Equal(6, prediction.Count);
        Assert.Equal(4, prediction.Classes);
        for (var i = 0; i < prediction.Count; i++)
        {
            var row = Enumerable.Range(0, 4).Select(k => probabilities[i, k]).ToArray();
            Assert.Equal(1.0, row.Sum(), 12);
            Assert.Equal(Array.IndexOf(row, row.Max()), prediction.Labels[i]);
        }

        Assert.Equal(prediction.Labels.Zip(data.Labels).Count(p => p.First == p.Second) / 6.0, model.Accuracy(data));
    }

    public static TheoryData<string, Hypothesis> RoundTripCases() => new()
    {
        { "resnet", Hypothesis.Softmax },
        { "antisymmetric", Hypothesis.Logistic },
        { "leapfrog-nsd", Hypothesis.LeastSquares },
        { "verlet", Hypothesis.Softmax },
        { "verlet-tied", Hypothesis.Softmax },
        { "conv", Hypothesis.Softmax },
        { "conv-verlet", Hypothesis.Logistic },
    };

    /// <summary>Save then load gives the same network and the same bits, awkward numbers included.</summary>
    [Theory]
    [MemberData(nameof(RoundTripCases))]
    public void SaveAndLoadRoundTripBitExact(string kind, Hypothesis hypothesis)
    {
        var original = Fixtures.Model(kind, hypothesis, seed: 17);
        var weights = original.Parameters.Weights(0);
        weights[0, 0] = -0.0;
        weights[0, 1] = double.Epsilon;
        var (last, lastColumn) = (weights.GetLength(0) - 1, weights.GetLength(1) - 1);
        weights[last, lastColumn] = double.MaxValue;
        weights[last, 0] = 0.1 + 0.2;
        var model = Model.Create(original.Network, original.Parameters.WithWeights(0, weights), original.Classifier);
        using var folder = new TempFolder();
        var path = folder.File("model.json");

        model.Save(path);
        var loaded = Model.Load(path);

        Assert.Equal(model.Network, loaded.Network);
        Assert.Equal(model.Classifier.Hypothesis, loaded.Classifier.Hypothesis);
        for (var j = 0; j < model.Network.Depth; j++)
        {
            Assert.Equal(Fixtures.Bits(model.Parameters.Weights(j)), Fixtures.Bits(loaded.Parameters.Weights(j)));
            Assert.Equal(Fixtures.Bits(model.Parameters.Bias(j)), Fixtures.Bits(loaded.Parameters.Bias(j)));
            Assert.Equal(Fixtures.Bits(model.Parameters.AuxBias(j)), Fixtures.Bits(loaded.Parameters.AuxBias(j)));
        }

        Assert.Equal(Fixtures.Bits(model.ClassifierWeights), Fixtures.Bits(loaded.ClassifierWeights));
        Assert.Equal(Fixtures.Bits(model.ClassifierBias), Fixtures.Bits(loaded.ClassifierBias));
        Assert.Equal(File.ReadAllText(path), loaded.ToJson());
        Assert.Equal(["model.json"], Directory.GetFiles(folder.Path).Select(Path.GetFileName));
    }

    [Fact]
    public void ConvolutionWeightsAreWrittenOutInChannelsRowsColumns()
    {
        var network = Network.Convolutional(Propagator.ResNet, channels: 2, height: 2, width: 2, depth: 1, finalTime: 1.0);
        var theta = new double[2, 18];
        for (var o = 0; o < 2; o++)
        {
            for (var column = 0; column < 18; column++)
            {
                theta[o, column] = (100 * o) + column;
            }
        }

        var parameters = NetworkParameters.Zeros(network).WithWeights(0, theta);
        var model = Model.Create(network, parameters, Classifier.Zeros(Hypothesis.Softmax, network.Width, 2));

        using var document = JsonDocument.Parse(model.ToJson());
        var k = document.RootElement.GetProperty("K")[0];

        for (var o = 0; o < 2; o++)
        {
            for (var i = 0; i < 2; i++)
            {
                for (var a = 0; a < 3; a++)
                {
                    for (var b = 0; b < 3; b++)
                    {
                        Assert.Equal(theta[o, (9 * i) + (3 * a) + b], k[o][i][a][b].GetDouble());
                    }
                }
            }
        }
    }

    [Fact]
    public void CsvRoundTripIsBitExact()
    {
        var features = new[,] { { 0.1 + 0.2, -0.0 }, { double.Epsilon, -1e300 }, { 3.0, 1.0 / 3.0 } };
        var data = Dataset.FromArrays(features, [2, 0, 1]);
        using var folder = new TempFolder();
        var path = folder.File("data.csv");

        data.SaveCsv(path);
        var loaded = Dataset.FromCsv(path);

        Assert.Equal(Fixtures.Bits(features), Fixtures.Bits(loaded.Features));
        Assert.Equal(data.Labels, loaded.Labels);
        Assert.Equal(3, loaded.Classes);
        Assert.StartsWith("x1,x2,label\n", File.ReadAllText(path), StringComparison.Ordinal);
    }

    [Fact]
    public void AFailedWriteLeavesTheOldFileAndNoTemporaryFile()
    {
        using var folder = new TempFolder();
        var path = folder.Write("model.json", "old content");

        var error = Assert.Throws<IOException>(() => Core.AtomicFile.write(path, FuncConvert.FromAction<Stream>(stream =>
        {
            stream.Write("new, half written"u8);
            throw new IOException("disk full");
        })));

        Assert.Equal("disk full", error.Message);
        Assert.Equal("old content", File.ReadAllText(path));
        Assert.Equal([path], Directory.GetFiles(folder.Path));
    }

    [Fact]
    public void SavingIntoAMissingFolderCreatesNothing()
    {
        using var folder = new TempFolder();
        var model = Fixtures.Model("resnet");

        Assert.Throws<DirectoryNotFoundException>(() => model.Save(Path.Combine(folder.Path, "missing", "model.json")));
        Assert.Empty(Directory.GetFileSystemEntries(folder.Path));
    }

    [Fact]
    public void StabilityReportCoversEveryLayer()
    {
        var model = Fixtures.Model("antisymmetric");

        var atZero = model.Stability();
        var atData = model.Stability(Fixtures.Data(2, 5, 3, seed: 2).Features);

        Assert.Equal(Propagator.Antisymmetric, atZero.Propagator);
        Assert.Equal(model.Network.StepSize, atZero.StepSize);
        Assert.Equal(model.Network.Depth, atData.Layers.Count);
        Assert.All(atZero.Layers, l => Assert.Equal(2, l.Eigenvalues.Count));
        Assert.All(atZero.Layers, l => Assert.All(l.Eigenvalues, z => Assert.Equal(-0.05, z.Real, 12)));
        Assert.True(atData.JacobianLargest >= atData.JacobianSmallest && atData.JacobianSmallest > 0.0);
        Assert.Equal(atZero.Layers.All(l => l.Stable), atZero.IsStable);
    }

    [Fact]
    public void ParametersAreCopiesAndWithMethodsLeaveTheOriginal()
    {
        var network = Network.ResNet(width: 2, depth: 2, finalTime: 1.0);
        var parameters = NetworkParameters.Random(network, seed: 4);
        var before = Fixtures.Bits(parameters.Weights(1));

        parameters.Weights(1)[0, 0] = 42.0;
        var changed = parameters.WithWeights(1, new double[2, 2]);

        Assert.Equal(before, Fixtures.Bits(parameters.Weights(1)));
        Assert.All(changed.Weights(1).Cast<double>(), v => Assert.Equal(0.0, v));
        Assert.Equal(Fixtures.Bits(NetworkParameters.Random(network, seed: 4).Weights(0)), Fixtures.Bits(parameters.Weights(0)));
        Assert.NotEqual(Fixtures.Bits(NetworkParameters.Random(network, seed: 5).Weights(0)), Fixtures.Bits(parameters.Weights(0)));
    }

    [Fact]
    public void SplitAndWidenKeepTheExamples()
    {
        var data = Fixtures.Data(2, 10, 2, seed: 9);

        var (training, validation) = data.Split(validationCount: 3, seed: 1);
        var wide = data.Widen(5);

        Assert.Equal((7, 3), (training.Count, validation.Count));
        Assert.Equal(data.Labels.OrderBy(l => l), training.Labels.Concat(validation.Labels).OrderBy(l => l));
        Assert.Equal(5, wide.Width);
        Assert.Equal(data.Features[4, 1], wide.Features[4, 3]);
    }
}
