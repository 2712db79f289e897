namespace StableOde;

/// <summary>
/// The loss of a model on a batch and its exact gradient with respect to the network's
/// parameters, the classifier and the input features. Immutable: accessors return copies.
/// </summary>
public sealed class ModelGradient
{
    private readonly Core.Model model;
    private readonly Core.ModelGradient inner;

    internal ModelGradient(Core.Model model, Network network, Core.ModelGradient inner)
    {
        this.model = model;
        this.inner = inner;
        ParametersGradient = new NetworkParameters(network, inner.GradTheta);
    }

    /// <summary>The loss S (for softmax the mean cross-entropy over the batch).</summary>
    public double Loss => inner.Loss;

    /// <summary>A copy of the propagated Features <c>Y_N</c> (s×n).</summary>
    public double[,] Features => inner.YN.ToArray();

    /// <summary>The number of layers N.</summary>
    public int Depth => ParametersGradient.Depth;

    /// <summary>∂S/∂θ as parameters of the network: one Weights, Bias (and for Verlet AuxBias) gradient per layer.</summary>
    public NetworkParameters ParametersGradient { get; }

    /// <summary>A copy of ∂S/∂K_j, shaped as the layer's Weights.</summary>
    /// <param name="layer">j, from 0 to N − 1.</param>
    /// <returns>A new array.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="layer"/> is out of range.</exception>
    public double[,] WeightsGradient(int layer) => ParametersGradient.Weights(layer);

    /// <summary>A copy of ∂S/∂b_j.</summary>
    /// <param name="layer">j, from 0 to N − 1.</param>
    /// <returns>A new array.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="layer"/> is out of range.</exception>
    public double[] BiasGradient(int layer) => ParametersGradient.Bias(layer);

    /// <summary>A copy of ∂S/∂c_j (Verlet); empty for the other propagators.</summary>
    /// <param name="layer">j, from 0 to N − 1.</param>
    /// <returns>A new array.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="layer"/> is out of range.</exception>
    public double[] AuxBiasGradient(int layer) => ParametersGradient.AuxBias(layer);

    /// <summary>A copy of ∂S/∂W (n×m).</summary>
    public double[,] ClassifierWeightsGradient => inner.GradW.ToArray();

    /// <summary>A copy of ∂S/∂μ (length m).</summary>
    public double[] ClassifierBiasGradient => inner.GradMu.ToArray();

    /// <summary>A copy of ∂S/∂Y_0 (s×n): the gradient with respect to the input features.</summary>
    public double[,] FeaturesGradient => inner.GradY0.ToArray();

    /// <summary>
    /// The gradient as the JSON document of the <c>gradient</c> command (SPEC §9): "loss", "YN",
    /// "gradK", "gradB", "gradC" (Verlet only), "gradW", "gradMu" and "gradY0", each shaped like
    /// what it differentiates; numbers read back bit-exactly.
    /// </summary>
    /// <returns>The text.</returns>
    public string ToJson() => Core.ModelFile.gradientToJson(model, inner);
}
