namespace StableOde.Tests;

/// <summary>Tiny networks, models and data sets, all seeded.</summary>
internal static class Fixtures
{
    public static readonly string[] Kinds = ["resnet", "antisymmetric", "leapfrog", "leapfrog-nsd", "verlet", "verlet-tied", "conv", "conv-verlet", "verlet4", "custom", "conv-custom"];

    /// <summary>The symmetric Verlet scheme of SPEC §1b: half kick of Z, kick of Y, half kick of Z.</summary>
    public static readonly Scheme SymmetricVerlet = Scheme.Create()
        .Kick(SchemeVariable.Z, SchemeVariable.Y, SchemeBias.C, -0.5)
        .Kick(SchemeVariable.Y, SchemeVariable.Z, SchemeBias.B, 1.0)
        .Kick(SchemeVariable.Z, SchemeVariable.Y, SchemeBias.C, -0.5);

    /// <summary>A scheme of every kind of stage: a kick into Z, a drift with its own first coefficient, and a kick that reads its own target (not invertible).</summary>
    public static readonly Scheme Mixed = Scheme.Create()
        .Kick(SchemeVariable.Z, SchemeVariable.Y, SchemeBias.C, -0.5)
        .Drift(SchemeVariable.Y, SchemeVariable.Z, 1.0, aFirst: 0.5)
        .Kick(SchemeVariable.Y, SchemeVariable.Y, SchemeBias.B, 0.3);

    public static Network Network(string kind) => kind switch
    {
        "resnet" => StableOde.Network.ResNet(width: 2, depth: 3, finalTime: 1.5),
        "antisymmetric" => StableOde.Network.Antisymmetric(width: 2, depth: 3, finalTime: 1.5, gamma: 0.1),
        "leapfrog" => StableOde.Network.Leapfrog(width: 2, depth: 3, finalTime: 1.5),
        "leapfrog-nsd" => StableOde.Network.Leapfrog(width: 2, depth: 3, finalTime: 1.5, negativeSemidefinite: true),
        "verlet" => StableOde.Network.Verlet(width: 2, depth: 3, finalTime: 1.5, auxWidth: 3),
        "verlet-tied" => StableOde.Network.Verlet(width: 3, depth: 2, finalTime: 1.0, Activation.Identity, tiedBias: true),
        "conv" => StableOde.Network.Convolutional(Propagator.ResNet, channels: 2, height: 3, width: 2, depth: 2, finalTime: 1.0),
        "conv-verlet" => StableOde.Network.Convolutional(Propagator.Verlet, channels: 2, height: 2, width: 2, depth: 2, finalTime: 1.0, tiedBias: true),
        "verlet4" => StableOde.Network.Verlet4(width: 2, depth: 3, finalTime: 1.5, auxWidth: 3),
        "custom" => StableOde.Network.Custom(SymmetricVerlet, width: 2, depth: 3, finalTime: 1.5, auxWidth: 3),
        "conv-custom" => StableOde.Network.Convolutional(Mixed, channels: 2, height: 2, width: 3, depth: 2, finalTime: 1.0),
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "no such fixture"),
    };

    public static Model Model(string kind, Hypothesis hypothesis = Hypothesis.Softmax, int classes = 3, int seed = 1)
    {
        var network = Network(kind);
        var parameters = NetworkParameters.Random(network, seed, scale: 0.5);
        var classifier = Classifier.Random(hypothesis, network.Width, hypothesis == Hypothesis.Logistic ? 2 : classes, seed + 1, scale: 0.5);
        return StableOde.Model.Create(network, parameters, classifier);
    }

    /// <summary>Normally distributed features and labels i mod classes.</summary>
    public static Dataset Data(int width, int count, int classes, int seed)
    {
        var random = new Random(seed);
        var features = new double[count, width];
        for (var i = 0; i < count; i++)
        {
            for (var j = 0; j < width; j++)
            {
                features[i, j] = (2.0 * random.NextDouble()) - 1.0;
            }
        }

        return Dataset.FromArrays(features, Enumerable.Range(0, count).Select(i => i % classes).ToArray(), classes);
    }

    /// <summary>The bit patterns of an array, for bit-exact comparisons.</summary>
    public static long[] Bits(double[,] values) => values.Cast<double>().Select(BitConverter.DoubleToInt64Bits).ToArray();

    /// <summary>The bit patterns of an array, for bit-exact comparisons.</summary>
    public static long[] Bits(double[] values) => values.Select(BitConverter.DoubleToInt64Bits).ToArray();
}
