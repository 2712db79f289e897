namespace StableOde;

/// <summary>The kinds of <see cref="AdjointStrategy"/>.</summary>
public enum AdjointStrategyKind
{
    /// <summary>Keep every state of the forward pass.</summary>
    StoreAll,

    /// <summary>Keep every few states and recompute the others.</summary>
    Checkpoints,

    /// <summary>Rebuild earlier states by running the scheme backwards.</summary>
    Reversal,
}

/// <summary>
/// How a gradient computation obtains the forward states it needs while it runs the adjoint
/// (back-propagation) from the last layer to the first. All strategies give the same gradient
/// up to round-off; they differ in memory and time.
/// </summary>
public sealed class AdjointStrategy : IEquatable<AdjointStrategy>
{
    private AdjointStrategy(AdjointStrategyKind kind, int interval)
    {
        Kind = kind;
        Interval = interval;
    }

    /// <summary>
    /// Keep every state: memory proportional to the depth N, no recomputation. The default;
    /// use another strategy only when N states do not fit in memory.
    /// </summary>
    public static AdjointStrategy StoreAll { get; } = new(AdjointStrategyKind.StoreAll, 0);

    /// <summary>
    /// Rebuild each state from the next by the scheme's exact inverse: memory independent of the
    /// depth. Leapfrog and Verlet only (forward Euler has no closed-form inverse). Do not use it
    /// when the backward dynamics amplify round-off strongly (large <c>h‖K‖</c>).
    /// </summary>
    public static AdjointStrategy Reversal { get; } = new(AdjointStrategyKind.Reversal, 0);

    /// <summary>
    /// Keep every <paramref name="interval"/>-th state and recompute the states in between, one
    /// segment at a time: memory proportional to <c>N / interval + interval</c>, one extra forward pass.
    /// </summary>
    /// <param name="interval">Layers between two kept states; at least 1.</param>
    /// <returns>The checkpointing strategy.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="interval"/> is less than 1.</exception>
    public static AdjointStrategy Checkpoints(int interval)
    {
        Guard.Positive(interval, nameof(interval));
        return new AdjointStrategy(AdjointStrategyKind.Checkpoints, interval);
    }

    /// <summary>Checkpoints every <c>⌈√N⌉</c> layers, which minimises memory for a network of depth N.</summary>
    /// <param name="network">The network whose depth sets the interval.</param>
    /// <returns>The checkpointing strategy.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="network"/> is null.</exception>
    public static AdjointStrategy SquareRootCheckpoints(Network network)
    {
        ArgumentNullException.ThrowIfNull(network);
        return Checkpoints((int)Math.Ceiling(Math.Sqrt(network.Depth)));
    }

    /// <summary>Which strategy this is.</summary>
    public AdjointStrategyKind Kind { get; }

    /// <summary>Layers between two kept states for <see cref="AdjointStrategyKind.Checkpoints"/>; 0 otherwise.</summary>
    public int Interval { get; }

    internal Core.AdjointStrategy ToCore() => Kind switch
    {
        AdjointStrategyKind.StoreAll => Core.AdjointStrategy.StoreAll,
        AdjointStrategyKind.Checkpoints => Core.AdjointStrategy.NewCheckpoints(Interval),
        _ => Core.AdjointStrategy.Reversal,
    };

    /// <inheritdoc/>
    public bool Equals(AdjointStrategy? other) => other is not null && Kind == other.Kind && Interval == other.Interval;

    /// <inheritdoc/>
    public override bool Equals(object? obj) => Equals(obj as AdjointStrategy);

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(Kind, Interval);

    /// <inheritdoc/>
    public override string ToString() => Kind == AdjointStrategyKind.Checkpoints ? $"Checkpoints({Interval})" : Kind.ToString();
}
