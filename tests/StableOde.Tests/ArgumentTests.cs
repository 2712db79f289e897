namespace StableOde.Tests;

/// <summary>Misuse of the C# API throws an ArgumentException (or a subclass) that names the parameter.</summary>
public sealed class ArgumentTests
{
    private static readonly Network ResNet = Network.ResNet(width: 2, depth: 2, finalTime: 1.0);
    private static readonly Network Verlet = Network.Verlet(width: 2, depth: 2, finalTime: 1.0, auxWidth: 3);
    private static readonly NetworkParameters ResNetParameters = NetworkParameters.Random(ResNet, seed: 1);
    private static readonly Model SoftmaxModel = Model.Create(ResNet, ResNetParameters, Classifier.Zeros(Hypothesis.Softmax, 2, 2));
    private static readonly Dataset Data = Dataset.FromArrays(new[,] { { 1.0, 2.0 }, { 3.0, 4.0 } }, [0, 1]);

    private static readonly Dictionary<string, Action> Misuses = new()
    {
        ["ResNet width 0"] = () => Network.ResNet(width: 0, depth: 2, finalTime: 1.0),
        ["ResNet depth 0"] = () => Network.ResNet(width: 2, depth: 0, finalTime: 1.0),
        ["ResNet final time NaN"] = () => Network.ResNet(width: 2, depth: 2, finalTime: double.NaN),
        ["ResNet final time negative"] = () => Network.ResNet(width: 2, depth: 2, finalTime: -1.0),
        ["undefined activation"] = () => Network.Leapfrog(width: 2, depth: 2, finalTime: 1.0, (Activation)42),
        ["negative gamma"] = () => Network.Antisymmetric(width: 2, depth: 2, finalTime: 1.0, gamma: -1.0),
        ["Verlet auxWidth 0"] = () => Network.Verlet(width: 2, depth: 2, finalTime: 1.0, auxWidth: 0),
        ["convolution without channels"] = () => Network.Convolutional(Propagator.ResNet, channels: 0, height: 2, width: 2, depth: 1, finalTime: 1.0),
        ["undefined propagator"] = () => Network.Convolutional((Propagator)7, channels: 1, height: 2, width: 2, depth: 1, finalTime: 1.0),
        ["gamma on a ResNet convolution"] = () => Network.Convolutional(Propagator.ResNet, channels: 1, height: 2, width: 2, depth: 1, finalTime: 1.0, gamma: 0.5),
        ["WithDepth 0"] = () => ResNet.WithDepth(0),
        ["propagate without parameters"] = () => ResNet.Propagate(null!, new double[1, 2]),
        ["propagate parameters of another network"] = () => Verlet.Propagate(ResNetParameters, new double[1, 2]),
        ["propagate without features"] = () => ResNet.Propagate(ResNetParameters, null!),
        ["propagate features of the wrong width"] = () => ResNet.Propagate(ResNetParameters, new double[1, 3]),
        ["propagate no examples"] = () => ResNet.Propagate(ResNetParameters, new double[0, 2]),
        ["propagate NaN"] = () => ResNet.Propagate(ResNetParameters, new[,] { { 1.0, double.NaN } }),
        ["trajectory of the wrong width"] = () => ResNet.Trajectory(ResNetParameters, new double[2, 1]),
        ["stability of the wrong width"] = () => ResNet.Stability(ResNetParameters, new double[2, 1]),
        ["random parameters, negative scale"] = () => NetworkParameters.Random(ResNet, seed: 1, scale: -1.0),
        ["zeros without network"] = () => NetworkParameters.Zeros(null!),
        ["weights of layer 2 of 2"] = () => ResNetParameters.Weights(2),
        ["bias of layer -1"] = () => ResNetParameters.Bias(-1),
        ["from arrays, one layer missing"] = () => NetworkParameters.FromArrays(ResNet, [new double[2, 2]], [new double[2], new double[2]]),
        ["from arrays, misshapen weights"] = () => NetworkParameters.FromArrays(ResNet, [new double[2, 2], new double[2, 3]], [new double[2], new double[2]]),
        ["from arrays, short bias"] = () => NetworkParameters.FromArrays(ResNet, [new double[2, 2], new double[2, 2]], [new double[2], new double[1]]),
        ["from arrays, Verlet without c"] = () => NetworkParameters.FromArrays(Verlet, [new double[2, 3], new double[2, 3]], [new double[2], new double[2]]),
        ["with NaN weights"] = () => ResNetParameters.WithWeights(0, new[,] { { 0.0, 1.0 }, { double.PositiveInfinity, 0.0 } }),
        ["aux bias of a ResNet"] = () => ResNetParameters.WithAuxBias(0, [1.0, 2.0]),
        ["logistic with three classes"] = () => Classifier.Zeros(Hypothesis.Logistic, width: 2, classes: 3),
        ["softmax with one class"] = () => Classifier.Random(Hypothesis.Softmax, width: 2, classes: 1, seed: 1),
        ["classifier width 0"] = () => Classifier.Zeros(Hypothesis.Softmax, width: 0, classes: 2),
        ["logistic weights with two columns"] = () => Classifier.FromArrays(Hypothesis.Logistic, new double[2, 2], [0.0, 0.0]),
        ["classifier bias too short"] = () => Classifier.FromArrays(Hypothesis.Softmax, new double[2, 3], [0.0, 0.0]),
        ["data labels of the wrong count"] = () => Dataset.FromArrays(new double[2, 2], [0]),
        ["data negative label"] = () => Dataset.FromArrays(new double[2, 2], [0, -1]),
        ["data label beyond classes"] = () => Dataset.FromArrays(new double[2, 2], [0, 3], classes: 3),
        ["data one class"] = () => Dataset.FromArrays(new double[2, 2], [0, 0], classes: 1),
        ["data NaN feature"] = () => Dataset.FromArrays(new[,] { { double.NaN } }, [0]),
        ["data without features"] = () => Dataset.FromArrays(null!, [0]),
        ["CSV path empty"] = () => Dataset.FromCsv(" "),
        ["widen to fewer features"] = () => Data.Widen(1),
        ["split with no validation examples"] = () => Data.Split(validationCount: 0, seed: 1),
        ["checkpoint interval 0"] = () => AdjointStrategy.Checkpoints(0),
        ["model with a classifier of another width"] = () => Model.Create(ResNet, ResNetParameters, Classifier.Zeros(Hypothesis.Softmax, 3, 2)),
        ["model with parameters of another network"] = () => Model.Create(Verlet, ResNetParameters, Classifier.Zeros(Hypothesis.Softmax, 2, 2)),
        ["gradient on data of another width"] = () => SoftmaxModel.Gradient(Dataset.FromArrays(new double[2, 3], [0, 1])),
        ["gradient with a label the model lacks"] = () => SoftmaxModel.Gradient(Dataset.FromArrays(new double[2, 2], [0, 2])),
        ["gradient by reversal of a ResNet"] = () => SoftmaxModel.Gradient(Data, AdjointStrategy.Reversal),
        ["gradient without data"] = () => SoftmaxModel.Gradient(null!),
        ["predict features of the wrong width"] = () => SoftmaxModel.Predict(new double[1, 5]),
        ["load from an empty path"] = () => Model.Load(string.Empty),
        ["save to an empty path"] = () => SoftmaxModel.Save(" "),
        ["model from null JSON"] = () => Model.FromJson(null!),
        ["gradient of layer 9"] = () => SoftmaxModel.Gradient(Data).WeightsGradient(9),
    };

    [Theory]
    [InlineData("ResNet width 0", "width")]
    [InlineData("ResNet depth 0", "depth")]
    [InlineData("ResNet final time NaN", "finalTime")]
    [InlineData("ResNet final time negative", "finalTime")]
    [InlineData("undefined activation", "activation")]
    [InlineData("negative gamma", "gamma")]
    [InlineData("Verlet auxWidth 0", "auxWidth")]
    [InlineData("convolution without channels", "channels")]
    [InlineData("undefined propagator", "propagator")]
    [InlineData("gamma on a ResNet convolution", "gamma")]
    [InlineData("WithDepth 0", "depth")]
    [InlineData("propagate without parameters", "parameters")]
    [InlineData("propagate parameters of another network", "parameters")]
    [InlineData("propagate without features", "features")]
    [InlineData("propagate features of the wrong width", "features")]
    [InlineData("propagate no examples", "features")]
    [InlineData("propagate NaN", "features")]
    [InlineData("trajectory of the wrong width", "features")]
    [InlineData("stability of the wrong width", "features")]
    [InlineData("random parameters, negative scale", "scale")]
    [InlineData("zeros without network", "network")]
    [InlineData("weights of layer 2 of 2", "layer")]
    [InlineData("bias of layer -1", "layer")]
    [InlineData("from arrays, one layer missing", "weights")]
    [InlineData("from arrays, misshapen weights", "weights")]
    [InlineData("from arrays, short bias", "bias")]
    [InlineData("from arrays, Verlet without c", "auxBias")]
    [InlineData("with NaN weights", "weights")]
    [InlineData("aux bias of a ResNet", "auxBias")]
    [InlineData("logistic with three classes", "classes")]
    [InlineData("softmax with one class", "classes")]
    [InlineData("classifier width 0", "width")]
    [InlineData("logistic weights with two columns", "weights")]
    [InlineData("classifier bias too short", "bias")]
    [InlineData("data labels of the wrong count", "labels")]
    [InlineData("data negative label", "labels")]
    [InlineData("data label beyond classes", "labels")]
    [InlineData("data one class", "classes")]
    [InlineData("data NaN feature", "features")]
    [InlineData("data without features", "features")]
    [InlineData("CSV path empty", "path")]
    [InlineData("widen to fewer features", "width")]
    [InlineData("split with no validation examples", "validationCount")]
    [InlineData("checkpoint interval 0", "interval")]
    [InlineData("model with a classifier of another width", "classifier")]
    [InlineData("model with parameters of another network", "parameters")]
    [InlineData("gradient on data of another width", "data")]
    [InlineData("gradient with a label the model lacks", "data")]
    [InlineData("gradient by reversal of a ResNet", "strategy")]
    [InlineData("gradient without data", "data")]
    [InlineData("predict features of the wrong width", "features")]
    [InlineData("load from an empty path", "path")]
    [InlineData("save to an empty path", "path")]
    [InlineData("model from null JSON", "json")]
    [InlineData("gradient of layer 9", "layer")]
    public void MisuseNamesTheParameter(string misuse, string parameter)
    {
        var error = Assert.ThrowsAny<ArgumentException>(Misuses[misuse]);

        Assert.Equal(parameter, error.ParamName);
    }

    [Fact]
    public void EveryMisuseIsTested()
    {
        var tested = typeof(ArgumentTests).GetMethod(nameof(MisuseNamesTheParameter))!
            .GetCustomAttributes(typeof(InlineDataAttribute), false)
            .Cast<InlineDataAttribute>()
            .Select(a => (string)a.GetData(null!).Single()[0])
            .ToHashSet();

        Assert.Equal(Misuses.Keys.Order(), tested.Order());
    }
}
