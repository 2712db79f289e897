using Microsoft.FSharp.Collections;

namespace StableOde;

/// <summary>A state variable of a scheme (SPEC §1b).</summary>
public enum SchemeVariable
{
    /// <summary>The features Y (n columns), the network's output.</summary>
    Y,

    /// <summary>The second variable Z (m columns), zero at the start.</summary>
    Z,
}

/// <summary>The bias a kick adds.</summary>
public enum SchemeBias
{
    /// <summary>b_j, of the width n of Y.</summary>
    B,

    /// <summary>c_j, of the width m of Z.</summary>
    C,
}

/// <summary>
/// A time-stepping scheme as a list of stages that every layer j applies, in order, to the state
/// (Y, Z) (SPEC §1b): a <em>kick</em> <c>T ← T + a·h·σ(S·K̂_j + β_j)</c> (<c>K̂_j = K_j</c> when it
/// reads Y, <c>K_jᵀ</c> when it reads Z) or a <em>drift</em> <c>T ← T + a·h·S</c>. Forward,
/// sensitivity, adjoint, reversal (when every stage reads another variable than it writes),
/// stability analysis, training and model files all follow from the list. Immutable: each
/// <see cref="Kick"/> or <see cref="Drift"/> returns a new scheme with one more stage.
/// </summary>
/// <example>
/// The symmetric Verlet scheme, second order:
/// <code>
/// var symmetric = Scheme.Create()
///     .Kick(SchemeVariable.Z, SchemeVariable.Y, SchemeBias.C, -0.5)
///     .Kick(SchemeVariable.Y, SchemeVariable.Z, SchemeBias.B, 1.0)
///     .Kick(SchemeVariable.Z, SchemeVariable.Y, SchemeBias.C, -0.5);
/// var network = Network.Custom(symmetric, width: 2, depth: 16, finalTime: 2.0);
/// </code>
/// </example>
public sealed class Scheme : IEquatable<Scheme>
{
    private readonly FSharpList<Core.Stage> stages;

    private Scheme(FSharpList<Core.Stage> stages)
    {
        this.stages = stages;
    }

    internal Core.Scheme Inner => Core.SchemeModule.ofStages(stages);

    internal static Scheme FromCore(Core.Scheme scheme) => new(scheme.Stages);

    /// <summary>A scheme with no stages yet; add them with <see cref="Kick"/> and <see cref="Drift"/>.</summary>
    /// <returns>The empty scheme (a network needs at least one stage).</returns>
    public static Scheme Create() => new(FSharpList<Core.Stage>.Empty);

    /// <summary>The stage list of a built-in propagator.</summary>
    /// <param name="propagator">A built-in propagator (not <see cref="Propagator.Custom"/>).</param>
    /// <returns>Its scheme.</returns>
    /// <exception cref="ArgumentException"><paramref name="propagator"/> is <see cref="Propagator.Custom"/> or undefined.</exception>
    public static Scheme Of(Propagator propagator)
    {
        Guard.Defined(propagator, nameof(propagator));
        return FromCore(Core.SchemeModule.ofPropagator(Interop.ToCore(propagator)));
    }

    /// <summary>Reads a stage list from JSON: an array of stages as in a model file's "scheme" (SPEC §9), or an object holding such a "scheme".</summary>
    /// <param name="json">The JSON text.</param>
    /// <param name="source">The name of the text (a file name) in error messages.</param>
    /// <returns>The scheme.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="json"/> is null.</exception>
    /// <exception cref="InvalidDataException">The text is not a stage list; the message names the stage and the field.</exception>
    public static Scheme FromJson(string json, string source = "scheme")
    {
        ArgumentNullException.ThrowIfNull(json);
        return FromCore(Core.ModelFile.schemeOfJson(source, json));
    }

    /// <summary>Reads a stage list from a JSON file (see <see cref="FromJson"/>).</summary>
    /// <param name="path">The file.</param>
    /// <returns>The scheme.</returns>
    /// <exception cref="ArgumentException"><paramref name="path"/> is empty.</exception>
    /// <exception cref="InvalidDataException">The file is not a stage list; the message names the file, the stage and the field.</exception>
    /// <exception cref="IOException">The file cannot be read.</exception>
    public static Scheme Load(string path)
    {
        Guard.Path(path, nameof(path));
        return FromCore(Core.ModelFile.readScheme(path));
    }

    /// <summary>Adds a kick <c>T ← T + a·h·σ(S·K̂_j + β_j)</c>.</summary>
    /// <param name="target">T, the variable the kick updates.</param>
    /// <param name="source">S, the variable it reads.</param>
    /// <param name="bias">β, b (of Y's width) or c (of Z's width); it must have the target's width.</param>
    /// <param name="a">The coefficient a; finite.</param>
    /// <param name="aFirst">The coefficient of layer 0 when it differs from <paramref name="a"/>; finite.</param>
    /// <returns>The scheme with the kick appended.</returns>
    /// <exception cref="ArgumentException">An argument is undefined or not finite.</exception>
    public Scheme Kick(SchemeVariable target, SchemeVariable source, SchemeBias bias, double a, double? aFirst = null)
    {
        Guard.Defined(bias, nameof(bias));
        return Add(Core.SchemeModule.kick(Variable(target, nameof(target)), Variable(source, nameof(source)),
            bias == SchemeBias.B ? Core.BiasName.B : Core.BiasName.C, Coefficient(a, nameof(a))), aFirst);
    }

    /// <summary>Adds a drift <c>T ← T + a·h·S</c> (T ≠ S).</summary>
    /// <param name="target">T, the variable the drift updates.</param>
    /// <param name="source">S, the variable it adds; another than <paramref name="target"/>, of the same width.</param>
    /// <param name="a">The coefficient a; finite.</param>
    /// <param name="aFirst">The coefficient of layer 0 when it differs from <paramref name="a"/>; finite.</param>
    /// <returns>The scheme with the drift appended.</returns>
    /// <exception cref="ArgumentException">An argument is undefined or not finite, or target and source are the same.</exception>
    public Scheme Drift(SchemeVariable target, SchemeVariable source, double a, double? aFirst = null)
    {
        if (target == source)
        {
            throw new ArgumentException($"stage {Count}: a drift must read another variable than its target {target}.", nameof(source));
        }

        return Add(Core.SchemeModule.drift(Variable(target, nameof(target)), Variable(source, nameof(source)), Coefficient(a, nameof(a))), aFirst);
    }

    /// <summary>The number of stages.</summary>
    public int Count => stages.Length;

    /// <summary>True when every stage reads another variable than it writes: the scheme is exactly invertible and <see cref="AdjointStrategy.Reversal"/> is available.</summary>
    public bool IsInvertible => Core.SchemeModule.isInvertible(Inner);

    /// <summary>True when a stage names Z.</summary>
    public bool UsesZ => Core.SchemeModule.usesZ(Inner);

    /// <summary>True when a kick adds the bias c (the parameters then carry c_j).</summary>
    public bool UsesAuxBias => Core.SchemeModule.usesC(Inner);

    /// <inheritdoc/>
    public bool Equals(Scheme? other) => other is not null && stages.Equals(other.stages);

    /// <inheritdoc/>
    public override bool Equals(object? obj) => Equals(obj as Scheme);

    /// <inheritdoc/>
    public override int GetHashCode() => stages.GetHashCode();

    /// <summary>The stages as the JSON array of a model file's "scheme" (SPEC §9).</summary>
    /// <returns>The JSON text.</returns>
    public override string ToString() => Core.ModelFile.schemeToJson(Inner);

    private Scheme Add(Core.Stage stage, double? aFirst)
    {
        if (aFirst is { } first)
        {
            stage = Core.SchemeModule.withFirst(Coefficient(first, nameof(aFirst)), stage);
        }

        return new(ListModule.Append(stages, FSharpList<Core.Stage>.Cons(stage, FSharpList<Core.Stage>.Empty)));
    }

    private static Core.Variable Variable(SchemeVariable v, string name)
    {
        Guard.Defined(v, name);
        return v == SchemeVariable.Y ? Core.Variable.Y : Core.Variable.Z;
    }

    private static double Coefficient(double a, string name)
    {
        if (!double.IsFinite(a))
        {
            throw new ArgumentException($"the coefficient must be finite, got {a}.", name);
        }

        return a;
    }
}
