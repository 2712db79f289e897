using MathNet.Numerics.LinearAlgebra;

namespace StableOde;

/// <summary>
/// The parameters θ of a network: for each layer j the Weights <c>K_j</c>, the Bias <c>b_j</c>
/// and, for Verlet, the auxiliary bias <c>c_j</c>. Immutable: every accessor returns a copy and
/// every <c>With…</c> method a new instance.
/// </summary>
public sealed class NetworkParameters
{
    internal NetworkParameters(Network network, Core.Parameters inner)
    {
        Network = network;
        Inner = inner;
    }

    internal Core.Parameters Inner { get; }

    /// <summary>The network these parameters belong to.</summary>
    public Network Network { get; }

    /// <summary>The number of layers N.</summary>
    public int Depth => Inner.K.Length;

    /// <summary>θ = 0.</summary>
    /// <param name="network">The network.</param>
    /// <returns>The parameters.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="network"/> is null.</exception>
    public static NetworkParameters Zeros(Network network)
    {
        ArgumentNullException.ThrowIfNull(network);
        return new NetworkParameters(network, Core.ParametersModule.zeros(network.Inner));
    }

    /// <summary>Every entry drawn independently from <c>N(0, scale²)</c> by a generator seeded with <paramref name="seed"/>.</summary>
    /// <param name="network">The network.</param>
    /// <param name="seed">The seed; the same seed gives the same parameters.</param>
    /// <param name="scale">The standard deviation; finite and non-negative.</param>
    /// <returns>The parameters.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="network"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="scale"/> is negative or not finite.</exception>
    public static NetworkParameters Random(Network network, int seed, double scale = 0.1)
    {
        ArgumentNullException.ThrowIfNull(network);
        Guard.NonNegativeFinite(scale, nameof(scale));
        return new NetworkParameters(network, Core.ParametersModule.random(seed, scale, network.Inner));
    }

    /// <summary>Parameters from arrays, one entry per layer (the arrays are copied).</summary>
    /// <param name="network">The network.</param>
    /// <param name="weights">N matrices of shape <see cref="Network.WeightsShape"/>.</param>
    /// <param name="bias">N vectors of length <see cref="Network.BiasWidth"/>.</param>
    /// <param name="auxBias">For Verlet, N vectors of length <see cref="Network.AuxBiasWidth"/>; null or empty otherwise.</param>
    /// <returns>The parameters.</returns>
    /// <exception cref="ArgumentNullException">A required argument or an entry is null.</exception>
    /// <exception cref="ArgumentException">A count or a shape is wrong, or an entry is not finite.</exception>
    public static NetworkParameters FromArrays(Network network, IReadOnlyList<double[,]> weights, IReadOnlyList<double[]> bias, IReadOnlyList<double[]>? auxBias = null)
    {
        ArgumentNullException.ThrowIfNull(network);
        ArgumentNullException.ThrowIfNull(weights);
        ArgumentNullException.ThrowIfNull(bias);
        var depth = network.Depth;
        var (rows, columns) = network.WeightsShape;
        CheckCount(weights.Count, depth, nameof(weights));
        CheckCount(bias.Count, depth, nameof(bias));
        var auxCount = network.UsesAuxBias ? depth : 0;
        CheckCount(auxBias?.Count ?? 0, auxCount, nameof(auxBias));
        var k = new Matrix<double>[depth];
        var b = new Vector<double>[depth];
        var c = new Vector<double>[auxCount];
        for (var j = 0; j < depth; j++)
        {
            Guard.Shape(weights[j], rows, columns, nameof(weights));
            Guard.Length(bias[j], network.BiasWidth, nameof(bias));
            k[j] = Interop.ToMatrix(weights[j]);
            b[j] = Interop.ToVector(bias[j]);
            if (auxCount > 0)
            {
                Guard.Length(auxBias![j], network.AuxBiasWidth, nameof(auxBias));
                c[j] = Interop.ToVector(auxBias[j]);
            }
        }

        return new NetworkParameters(network, new Core.Parameters(k, b, c));
    }

    private static void CheckCount(int count, int expected, string name)
    {
        if (count != expected)
        {
            throw new ArgumentException($"{name} must have {expected} entries (one per layer), got {count}.", name);
        }
    }

    /// <summary>A copy of the Weights <c>K_j</c> of a layer, shaped as <see cref="Network.WeightsShape"/>.</summary>
    /// <param name="layer">j, from 0 to N − 1.</param>
    /// <returns>A new array.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="layer"/> is out of range.</exception>
    public double[,] Weights(int layer)
    {
        Guard.Layer(layer, Depth, nameof(layer));
        return Inner.K[layer].ToArray();
    }

    /// <summary>A copy of the Bias <c>b_j</c> of a layer.</summary>
    /// <param name="layer">j, from 0 to N − 1.</param>
    /// <returns>A new array of length <see cref="Network.BiasWidth"/>.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="layer"/> is out of range.</exception>
    public double[] Bias(int layer)
    {
        Guard.Layer(layer, Depth, nameof(layer));
        return Inner.b[layer].ToArray();
    }

    /// <summary>A copy of the Verlet bias <c>c_j</c> of a layer; empty for the other propagators.</summary>
    /// <param name="layer">j, from 0 to N − 1.</param>
    /// <returns>A new array of length <see cref="Network.AuxBiasWidth"/>.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="layer"/> is out of range.</exception>
    public double[] AuxBias(int layer)
    {
        Guard.Layer(layer, Depth, nameof(layer));
        return Inner.c.Length == 0 ? [] : Inner.c[layer].ToArray();
    }

    /// <summary>The same parameters with the Weights of one layer replaced.</summary>
    /// <param name="layer">j, from 0 to N − 1.</param>
    /// <param name="weights">The new <c>K_j</c>, shaped as <see cref="Network.WeightsShape"/> (copied).</param>
    /// <returns>New parameters.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="layer"/> is out of range.</exception>
    /// <exception cref="ArgumentException"><paramref name="weights"/> is misshapen or not finite.</exception>
    public NetworkParameters WithWeights(int layer, double[,] weights)
    {
        Guard.Layer(layer, Depth, nameof(layer));
        var (rows, columns) = Network.WeightsShape;
        Guard.Shape(weights, rows, columns, nameof(weights));
        var k = (Matrix<double>[])Inner.K.Clone();
        k[layer] = Interop.ToMatrix(weights);
        return new NetworkParameters(Network, new Core.Parameters(k, Inner.b, Inner.c));
    }

    /// <summary>The same parameters with the Bias of one layer replaced.</summary>
    /// <param name="layer">j, from 0 to N − 1.</param>
    /// <param name="bias">The new <c>b_j</c> of length <see cref="Network.BiasWidth"/> (copied).</param>
    /// <returns>New parameters.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="layer"/> is out of range.</exception>
    /// <exception cref="ArgumentException"><paramref name="bias"/> has the wrong length or is not finite.</exception>
    public NetworkParameters WithBias(int layer, double[] bias)
    {
        Guard.Layer(layer, Depth, nameof(layer));
        Guard.Length(bias, Network.BiasWidth, nameof(bias));
        var b = (Vector<double>[])Inner.b.Clone();
        b[layer] = Interop.ToVector(bias);
        return new NetworkParameters(Network, new Core.Parameters(Inner.K, b, Inner.c));
    }

    /// <summary>The same parameters with the Verlet bias <c>c_j</c> of one layer replaced.</summary>
    /// <param name="layer">j, from 0 to N − 1.</param>
    /// <param name="auxBias">The new <c>c_j</c> of length <see cref="Network.AuxBiasWidth"/> (copied).</param>
    /// <returns>New parameters.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="layer"/> is out of range.</exception>
    /// <exception cref="ArgumentException">The network's scheme has no bias c, or <paramref name="auxBias"/> has the wrong length or is not finite.</exception>
    public NetworkParameters WithAuxBias(int layer, double[] auxBias)
    {
        Guard.Layer(layer, Depth, nameof(layer));
        if (!Network.UsesAuxBias)
        {
            throw new ArgumentException("only networks whose scheme names the bias c (Verlet, verlet4, …) have it.", nameof(auxBias));
        }

        Guard.Length(auxBias, Network.AuxBiasWidth, nameof(auxBias));
        var c = (Vector<double>[])Inner.c.Clone();
        c[layer] = Interop.ToVector(auxBias);
        return new NetworkParameters(Network, new Core.Parameters(Inner.K, Inner.b, c));
    }
}
