namespace StableOde;

/// <summary>The state of a network after j layers: the features <c>Y_j</c> and, for leapfrog and Verlet, the momentum <c>Z_{j−½}</c>.</summary>
public sealed class NetworkState
{
    private readonly double[,] features;
    private readonly double[,]? momentum;

    internal NetworkState(int layer, double[,] features, double[,]? momentum)
    {
        Layer = layer;
        this.features = features;
        this.momentum = momentum;
    }

    /// <summary>j: the number of layers applied.</summary>
    public int Layer { get; }

    /// <summary>A copy of <c>Y_j</c> (s×n).</summary>
    public double[,] Features => (double[,])features.Clone();

    /// <summary>
    /// A copy of <c>Z_{j−½}</c>: Verlet's second variable (s×m) or leapfrog's velocity
    /// <c>(Y_j − Y_{j−1}) / h</c> (s×n); null for the ResNets.
    /// </summary>
    public double[,]? Momentum => (double[,]?)momentum?.Clone();
}
