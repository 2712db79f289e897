using System.Numerics;

namespace StableOde;

/// <summary>
/// The stability analysis of a network (§3, SPEC §6): per layer, the spectrum of the operator
/// and the amplification of a perturbation by one step at the states a batch passes through;
/// for the whole network, the extreme singular values of <c>∂Y_N/∂Y_0</c>.
/// </summary>
public sealed class StabilityReport
{
    internal StabilityReport(Core.StabilityReport inner)
    {
        Propagator = Interop.FromCore(inner.Propagator);
        StepSize = inner.StepSize;
        Condition = inner.Condition;
        Layers = Array.AsReadOnly(inner.Layers.Select(l => new LayerStability(l)).ToArray());
        JacobianLargest = inner.Jacobian.Largest;
        JacobianSmallest = inner.Jacobian.Smallest;
        JacobianIterations = inner.Jacobian.Iterations;
        JacobianConverged = inner.Jacobian.Converged;
    }

    /// <summary>The network's time-stepping scheme.</summary>
    public Propagator Propagator { get; }

    /// <summary>The step size h.</summary>
    public double StepSize { get; }

    /// <summary>The condition <see cref="LayerStability.Stable"/> tests, in words.</summary>
    public string Condition { get; }

    /// <summary>One entry per layer.</summary>
    public IReadOnlyList<LayerStability> Layers { get; }

    /// <summary>True when every layer is stable.</summary>
    public bool IsStable => Layers.All(l => l.Stable);

    /// <summary>The largest singular value of <c>∂Y_N/∂Y_0</c>: ≫ 1 means exploding gradients.</summary>
    public double JacobianLargest { get; }

    /// <summary>The smallest singular value of <c>∂Y_N/∂Y_0</c>: ≪ 1 means vanishing gradients.</summary>
    public double JacobianSmallest { get; }

    /// <summary>The solves spent: one sensitivity solve per feature for the exact per-example
    /// Jacobians (widths up to 256), or the sensitivity–adjoint pairs of the power and inverse
    /// iterations (wider networks).</summary>
    public int JacobianIterations { get; }

    /// <summary>True when the singular values are exact, or the iterations met their tolerance.</summary>
    public bool JacobianConverged { get; }
}

/// <summary>The stability of one layer.</summary>
public sealed class LayerStability
{
    internal LayerStability(Core.LayerStability inner)
    {
        Layer = inner.Layer;
        Eigenvalues = Array.AsReadOnly((Complex[])inner.Eigenvalues.Clone());
        Amplification = inner.Amplification;
        Stable = inner.Stable;
    }

    /// <summary>j, from 0.</summary>
    public int Layer { get; }

    /// <summary>
    /// The eigenvalues of the layer's operator (for Verlet of the Hamiltonian block matrix);
    /// empty when the layer is too wide for a dense eigendecomposition.
    /// </summary>
    public IReadOnlyList<Complex> Eigenvalues { get; }

    /// <summary>The largest spectral radius of the step's linearised amplification over the batch; NaN when not computed.</summary>
    public double Amplification { get; }

    /// <summary>True when perturbations do not grow through this layer (amplification ≤ 1 up to round-off).</summary>
    public bool Stable { get; }
}
