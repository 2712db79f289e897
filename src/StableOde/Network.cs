using Microsoft.FSharp.Core;
using MathNet.Numerics.LinearAlgebra;

namespace StableOde;

/// <summary>
/// A network's architecture — propagator, activation, layer operator, depth N and final time
/// T — without its parameters. The step size is <c>h = T / N</c>; T stays fixed when the depth
/// changes. Immutable; two networks are equal when their architectures are.
/// </summary>
public sealed class Network : IEquatable<Network>
{
    internal Network(Core.Network inner)
    {
        Inner = inner;
    }

    internal Core.Network Inner { get; }

    /// <summary>A ResNet (forward Euler, Eq. 2.1) with dense <c>width×width</c> layers.</summary>
    /// <param name="width">The number of features n; at least 1.</param>
    /// <param name="depth">The number of layers N; at least 1.</param>
    /// <param name="finalTime">The final time T; finite and positive.</param>
    /// <param name="activation">The activation σ.</param>
    /// <param name="tiedBias">True for one scalar bias per layer (the paper's choice), false for one per feature.</param>
    /// <returns>The network.</returns>
    /// <exception cref="ArgumentOutOfRangeException">An argument is out of range.</exception>
    public static Network ResNet(int width, int depth, double finalTime, Activation activation = Activation.Tanh, bool tiedBias = false)
    {
        CheckCommon(depth, finalTime, activation);
        Guard.Positive(width, nameof(width));
        return Create(Propagator.ResNet, activation, Core.Operator.NewDense(width, width), depth, finalTime, tiedBias);
    }

    /// <summary>
    /// An antisymmetric ResNet (Eq. 4.12): forward Euler on <c>A(K) = ½(K − Kᵀ − γI)</c>, whose
    /// eigenvalues lie on the line <c>Re λ = −γ/2</c>.
    /// </summary>
    /// <param name="width">The number of features n; at least 1.</param>
    /// <param name="depth">The number of layers N; at least 1.</param>
    /// <param name="finalTime">The final time T; finite and positive.</param>
    /// <param name="activation">The activation σ.</param>
    /// <param name="gamma">The damping γ; finite and non-negative.</param>
    /// <param name="tiedBias">True for one scalar bias per layer, false for one per feature.</param>
    /// <returns>The network.</returns>
    /// <exception cref="ArgumentOutOfRangeException">An argument is out of range.</exception>
    public static Network Antisymmetric(int width, int depth, double finalTime, Activation activation = Activation.Tanh, double gamma = 0.0, bool tiedBias = false)
    {
        CheckCommon(depth, finalTime, activation);
        Guard.Positive(width, nameof(width));
        Guard.NonNegativeFinite(gamma, nameof(gamma));
        return Create(Propagator.Antisymmetric, activation, Core.Operator.NewAntisymmetric(Core.Operator.NewDense(width, width), gamma), depth, finalTime, tiedBias);
    }

    /// <summary>A Hamiltonian leapfrog network (Eq. 4.16) with dense <c>width×width</c> layers.</summary>
    /// <param name="width">The number of features n; at least 1.</param>
    /// <param name="depth">The number of layers N; at least 1.</param>
    /// <param name="finalTime">The final time T; finite and positive.</param>
    /// <param name="activation">The activation σ.</param>
    /// <param name="negativeSemidefinite">True for <c>K_j = −C_jᵀC_j</c> (Eq. 4.14); the weights then hold <c>C_jᵀ</c>.</param>
    /// <param name="tiedBias">True for one scalar bias per layer, false for one per feature.</param>
    /// <returns>The network.</returns>
    /// <exception cref="ArgumentOutOfRangeException">An argument is out of range.</exception>
    public static Network Leapfrog(int width, int depth, double finalTime, Activation activation = Activation.Tanh, bool negativeSemidefinite = false, bool tiedBias = false)
    {
        CheckCommon(depth, finalTime, activation);
        Guard.Positive(width, nameof(width));
        var dense = Core.Operator.NewDense(width, width);
        var op = negativeSemidefinite ? Core.Operator.NewNegativeSemidefinite(dense) : dense;
        return Create(Propagator.Leapfrog, activation, op, depth, finalTime, tiedBias);
    }

    /// <summary>
    /// A Hamiltonian Verlet network (Eq. 4.17) with layers <c>K_j ∈ R^{n×m}</c>, which need not be
    /// square: n features Y and m momentum variables Z.
    /// </summary>
    /// <param name="width">The number of features n; at least 1.</param>
    /// <param name="depth">The number of layers N; at least 1.</param>
    /// <param name="finalTime">The final time T; finite and positive.</param>
    /// <param name="activation">The activation σ.</param>
    /// <param name="auxWidth">The width m of the momentum Z; null for m = n.</param>
    /// <param name="tiedBias">True for scalar biases b_j and c_j, false for one per variable.</param>
    /// <returns>The network.</returns>
    /// <exception cref="ArgumentOutOfRangeException">An argument is out of range.</exception>
    public static Network Verlet(int width, int depth, double finalTime, Activation activation = Activation.Tanh, int? auxWidth = null, bool tiedBias = false) =>
        Create(Core.Propagator.Verlet, width, depth, finalTime, activation, auxWidth, tiedBias);

    /// <summary>
    /// A verlet4 network (SPEC §1b: the fourth-order Forest–Ruth splitting of the Verlet ODE,
    /// seven kicks a layer) with layers <c>K_j ∈ R^{n×m}</c>.
    /// </summary>
    /// <param name="width">The number of features n; at least 1.</param>
    /// <param name="depth">The number of layers N; at least 1.</param>
    /// <param name="finalTime">The final time T; finite and positive.</param>
    /// <param name="activation">The activation σ.</param>
    /// <param name="auxWidth">The width m of the momentum Z; null for m = n.</param>
    /// <param name="tiedBias">True for scalar biases b_j and c_j, false for one per variable.</param>
    /// <returns>The network.</returns>
    /// <exception cref="ArgumentOutOfRangeException">An argument is out of range.</exception>
    public static Network Verlet4(int width, int depth, double finalTime, Activation activation = Activation.Tanh, int? auxWidth = null, bool tiedBias = false) =>
        Create(Core.Propagator.Verlet4, width, depth, finalTime, activation, auxWidth, tiedBias);

    /// <summary>
    /// A network of a user's stage list (<see cref="StableOde.Scheme"/>) with dense layers
    /// <c>K_j ∈ R^{n×m}</c>.
    /// </summary>
    /// <param name="scheme">The stages every layer applies.</param>
    /// <param name="width">The number of features n; at least 1.</param>
    /// <param name="depth">The number of layers N; at least 1.</param>
    /// <param name="finalTime">The final time T; finite and positive.</param>
    /// <param name="activation">The activation σ.</param>
    /// <param name="auxWidth">The width m of Z (the operator's output width); null for m = n.</param>
    /// <param name="tiedBias">True for scalar biases, false for one per variable.</param>
    /// <returns>The network.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="scheme"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException">An argument is out of range.</exception>
    /// <exception cref="ArgumentException">The scheme does not fit the widths: the message names the stage and the field.</exception>
    public static Network Custom(Scheme scheme, int width, int depth, double finalTime, Activation activation = Activation.Tanh, int? auxWidth = null, bool tiedBias = false)
    {
        ArgumentNullException.ThrowIfNull(scheme);
        return Create(Core.Propagator.NewCustom(scheme.Inner), width, depth, finalTime, activation, auxWidth, tiedBias);
    }

    /// <summary>
    /// A network of a user's stage list on 3×3 convolutions (see <see cref="Convolutional(Propagator, int, int, int, int, double, Activation, double, bool)"/>); Z has Y's shape.
    /// </summary>
    /// <param name="scheme">The stages every layer applies.</param>
    /// <param name="channels">The number of channels c; at least 1.</param>
    /// <param name="height">The image height in pixels; at least 1.</param>
    /// <param name="width">The image width in pixels; at least 1.</param>
    /// <param name="depth">The number of layers N; at least 1.</param>
    /// <param name="finalTime">The final time T; finite and positive.</param>
    /// <param name="activation">The activation σ.</param>
    /// <param name="tiedBias">True for one scalar bias per layer, false for one per channel.</param>
    /// <returns>The network.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="scheme"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException">An argument is out of range.</exception>
    /// <exception cref="ArgumentException">The scheme is empty: the message names the stage and the field.</exception>
    public static Network Convolutional(Scheme scheme, int channels, int height, int width, int depth, double finalTime, Activation activation = Activation.Tanh, bool tiedBias = false)
    {
        ArgumentNullException.ThrowIfNull(scheme);
        CheckCommon(depth, finalTime, activation);
        Guard.Positive(channels, nameof(channels));
        Guard.Positive(height, nameof(height));
        Guard.Positive(width, nameof(width));
        if ((long)channels * height * width > int.MaxValue)
        {
            throw new ArgumentOutOfRangeException(nameof(channels), "channels × height × width is too large.");
        }

        return new(Core.NetworkModule.create(Core.Propagator.NewCustom(scheme.Inner), Interop.ToCore(activation), Core.Operator.NewConv3x3(channels, height, width), depth, finalTime, tiedBias));
    }

    /// <summary>
    /// A network of 3×3 convolutions on images (§6.4): <paramref name="channels"/> channels of
    /// <paramref name="height"/>×<paramref name="width"/> pixels, channels fully coupled, zero
    /// padding. The features of an example are its pixels, channel by channel, row by row.
    /// </summary>
    /// <param name="propagator">The time-stepping scheme; for <see cref="Propagator.Custom"/> use <see cref="Convolutional(Scheme, int, int, int, int, double, Activation, bool)"/>.</param>
    /// <param name="channels">The number of channels c; at least 1.</param>
    /// <param name="height">The image height in pixels; at least 1.</param>
    /// <param name="width">The image width in pixels; at least 1.</param>
    /// <param name="depth">The number of layers N; at least 1.</param>
    /// <param name="finalTime">The final time T; finite and positive.</param>
    /// <param name="activation">The activation σ.</param>
    /// <param name="gamma">The damping γ of <see cref="Propagator.Antisymmetric"/>; must be 0 for the other propagators.</param>
    /// <param name="tiedBias">True for one scalar bias per layer, false for one per channel.</param>
    /// <returns>The network.</returns>
    /// <exception cref="ArgumentOutOfRangeException">An argument is out of range.</exception>
    /// <exception cref="ArgumentException"><paramref name="gamma"/> is not 0 for a propagator other than the antisymmetric one.</exception>
    public static Network Convolutional(Propagator propagator, int channels, int height, int width, int depth, double finalTime, Activation activation = Activation.Tanh, double gamma = 0.0, bool tiedBias = false)
    {
        Guard.Defined(propagator, nameof(propagator));
        CheckCommon(depth, finalTime, activation);
        Guard.Positive(channels, nameof(channels));
        Guard.Positive(height, nameof(height));
        Guard.Positive(width, nameof(width));
        Guard.NonNegativeFinite(gamma, nameof(gamma));
        if ((long)channels * height * width > int.MaxValue)
        {
            throw new ArgumentOutOfRangeException(nameof(channels), "channels × height × width is too large.");
        }

        if (propagator != Propagator.Antisymmetric && gamma != 0.0)
        {
            throw new ArgumentException("gamma applies to the antisymmetric propagator only.", nameof(gamma));
        }

        var conv = Core.Operator.NewConv3x3(channels, height, width);
        var op = propagator == Propagator.Antisymmetric ? Core.Operator.NewAntisymmetric(conv, gamma) : conv;
        return Create(propagator, activation, op, depth, finalTime, tiedBias);
    }

    private static void CheckCommon(int depth, double finalTime, Activation activation)
    {
        Guard.Positive(depth, nameof(depth));
        Guard.PositiveFinite(finalTime, nameof(finalTime));
        Guard.Defined(activation, nameof(activation));
    }

    /// <summary>A network of a scheme on dense layers <c>K_j ∈ R^{n×m}</c>, m = <paramref name="auxWidth"/> or n.</summary>
    private static Network Create(Core.Propagator propagator, int width, int depth, double finalTime, Activation activation, int? auxWidth, bool tiedBias)
    {
        CheckCommon(depth, finalTime, activation);
        Guard.Positive(width, nameof(width));
        var m = auxWidth ?? width;
        Guard.Positive(m, nameof(auxWidth));
        return new(Core.NetworkModule.create(propagator, Interop.ToCore(activation), Core.Operator.NewDense(width, m), depth, finalTime, tiedBias));
    }

    private static Network Create(Propagator propagator, Activation activation, Core.Operator op, int depth, double finalTime, bool tiedBias) =>
        new(Core.NetworkModule.create(Interop.ToCore(propagator), Interop.ToCore(activation), op, depth, finalTime, tiedBias));

    /// <summary>The time-stepping scheme.</summary>
    public Propagator Propagator => Interop.FromCore(Inner.Propagator);

    /// <summary>The stage list of the network's scheme (SPEC §1b), built in or custom.</summary>
    public Scheme Scheme => Scheme.FromCore(Core.NetworkModule.scheme(Inner));

    /// <summary>True when the scheme is exactly invertible, so that <see cref="AdjointStrategy.Reversal"/> applies.</summary>
    public bool IsInvertible => Core.SchemeModule.isInvertible(Core.NetworkModule.scheme(Inner));

    /// <summary>True when the parameters carry the bias c_j (a stage names c: Verlet, verlet4, …).</summary>
    public bool UsesAuxBias => Core.NetworkModule.usesC(Inner);

    /// <summary>The activation σ.</summary>
    public Activation Activation => Interop.FromCore(Inner.Activation);

    /// <summary>The number of layers (time steps) N.</summary>
    public int Depth => Inner.Depth;

    /// <summary>The final time T.</summary>
    public double FinalTime => Inner.FinalTime;

    /// <summary>The step size <c>h = T / N</c>.</summary>
    public double StepSize => Core.NetworkModule.stepSize(Inner);

    /// <summary>The number of features n of an example (for images: channels × height × width).</summary>
    public int Width => Core.NetworkModule.width(Inner);

    /// <summary>The width m of the momentum Z: the operator's output width (equal to <see cref="Width"/> except for a non-square Verlet network).</summary>
    public int AuxWidth => Core.NetworkModule.auxWidth(Inner);

    /// <summary>The length of each bias b_j: the width it is added to, the number of channels, or 1 when tied.</summary>
    public int BiasWidth => Inner.BiasWidth;

    /// <summary>The length of each bias c_j; 0 when no stage names c.</summary>
    public int AuxBiasWidth => Inner.AuxBiasWidth;

    /// <summary>The damping γ of the antisymmetric operator; 0 for the others.</summary>
    public double Gamma => Inner.Operator is Core.Operator.Antisymmetric a ? a.gamma : 0.0;

    /// <summary>True when the layers are 3×3 convolutions.</summary>
    public bool IsConvolutional => BaseOperator is Core.Operator.Conv3x3;

    /// <summary>True when each layer is <c>K_j = −C_jᵀC_j</c> (Eq. 4.14).</summary>
    public bool IsNegativeSemidefinite => Inner.Operator is Core.Operator.NegativeSemidefinite;

    /// <summary>
    /// The shape of each layer's <see cref="NetworkParameters.Weights(int)"/>: n×n (n×m for
    /// Verlet) for dense layers, c×9c for convolutions (entry (o, 9i + 3a + b) is the tap (a, b)
    /// from input channel i to output channel o).
    /// </summary>
    public (int Rows, int Columns) WeightsShape
    {
        get
        {
            var shape = Core.OperatorModule.parameterShape(Inner.Operator);
            return (shape.Item1, shape.Item2);
        }
    }

    private Core.Operator BaseOperator => Inner.Operator switch
    {
        Core.Operator.Antisymmetric a => a.baseOperator,
        Core.Operator.NegativeSemidefinite s => s.baseOperator,
        var op => op,
    };

    /// <summary>The same architecture with another depth N (and so the step size T / N).</summary>
    /// <param name="depth">The new number of layers; at least 1.</param>
    /// <returns>The network.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="depth"/> is less than 1.</exception>
    public Network WithDepth(int depth)
    {
        Guard.Positive(depth, nameof(depth));
        return new Network(Core.NetworkModule.withDepth(depth, Inner));
    }

    /// <summary>Propagates a batch through the network: the output features <c>Y_N</c>.</summary>
    /// <param name="parameters">Parameters of this network.</param>
    /// <param name="features">The input features <c>Y_0</c>, one example a row, <see cref="Width"/> columns.</param>
    /// <returns>A new s×n array <c>Y_N</c>.</returns>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="ArgumentException">The parameters belong to another network, or the features are misshapen or not finite.</exception>
    public double[,] Propagate(NetworkParameters parameters, double[,] features)
    {
        CheckParameters(parameters, nameof(parameters));
        Guard.Features(features, Width, nameof(features));
        return Core.Solve.forward(Inner, parameters.Inner, Interop.ToMatrix(features)).ToArray();
    }

    /// <summary>Every state of the forward pass: <c>(Y_j, Z_{j−½})</c> for j = 0…N.</summary>
    /// <param name="parameters">Parameters of this network.</param>
    /// <param name="features">The input features <c>Y_0</c>, one example a row, <see cref="Width"/> columns.</param>
    /// <returns>N + 1 states, the first holding <paramref name="features"/>.</returns>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="ArgumentException">The parameters belong to another network, or the features are misshapen or not finite.</exception>
    public IReadOnlyList<NetworkState> Trajectory(NetworkParameters parameters, double[,] features)
    {
        CheckParameters(parameters, nameof(parameters));
        Guard.Features(features, Width, nameof(features));
        var states = Core.Solve.trajectory(Inner, parameters.Inner, Interop.ToMatrix(features));
        return Array.AsReadOnly(states.Select((s, j) => new NetworkState(j, s.Y.ToArray(), s.Z?.Value.ToArray())).ToArray());
    }

    /// <summary>
    /// The stability analysis of §3: per layer, the eigenvalues of the operator and the
    /// amplification of perturbations by one step (Lemma 1 for forward Euler) at the states the
    /// batch passes through; and the extreme singular values of <c>∂Y_N/∂Y_0</c>.
    /// </summary>
    /// <param name="parameters">Parameters of this network.</param>
    /// <param name="features">The batch to analyse at; null for one example at <c>Y_0 = 0</c>.</param>
    /// <returns>The report.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="parameters"/> is null.</exception>
    /// <exception cref="ArgumentException">The parameters belong to another network, or the features are misshapen or not finite.</exception>
    public StabilityReport Stability(NetworkParameters parameters, double[,]? features = null)
    {
        CheckParameters(parameters, nameof(parameters));
        var data = FSharpOption<Matrix<double>>.None;
        if (features is not null)
        {
            Guard.Features(features, Width, nameof(features));
            data = FSharpOption<Matrix<double>>.Some(Interop.ToMatrix(features));
        }

        return new StabilityReport(Core.Stability.report(Inner, parameters.Inner, data));
    }

    internal void CheckParameters(NetworkParameters parameters, string name)
    {
        ArgumentNullException.ThrowIfNull(parameters, name);
        if (!Equals(parameters.Network))
        {
            throw new ArgumentException($"{name} belong to another network ({parameters.Network}), not to {this}.", name);
        }
    }

    /// <inheritdoc/>
    public bool Equals(Network? other) => other is not null && Inner.Equals(other.Inner);

    /// <inheritdoc/>
    public override bool Equals(object? obj) => Equals(obj as Network);

    /// <inheritdoc/>
    public override int GetHashCode() => Inner.GetHashCode();

    /// <inheritdoc/>
    public override string ToString()
    {
        var kind = IsConvolutional ? "convolutional " : string.Empty;
        var aux = AuxWidth != Width ? $" (momentum {AuxWidth})" : string.Empty;
        return $"{kind}{Propagator} network: {Activation}, width {Width}{aux}, {Depth} layers, T = {FinalTime}";
    }
}
