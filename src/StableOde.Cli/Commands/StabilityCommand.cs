using System.Globalization;
using System.Numerics;
using Spectre.Console;

namespace StableOde.Cli.Commands;

/// <summary><c>stableode stability --model FILE [--data FILE] [--json]</c>: per-layer stability and the extreme singular values of ∂Y_N/∂Y_0.</summary>
public sealed class StabilityCommand : Command
{
    private const int ListedEigenvalues = 4;

    /// <inheritdoc/>
    public override string Name => "stability";

    /// <inheritdoc/>
    public override string Summary => "Per-layer eigenvalues and amplification (Lemma 1), and the extreme singular values of ∂Y_N/∂Y_0.";

    /// <inheritdoc/>
    public override string Details =>
        "For each layer: the eigenvalues of its operator and the largest amplification of a perturbation\n" +
        "by one step at the states the data passes through (Lemma 1 for forward Euler), stable when ≤ 1.\n" +
        "For the network: the largest and smallest singular values of ∂Y_N/∂Y_0 (exploding ≫ 1,\n" +
        "vanishing ≪ 1). Without --data the analysis is at Y_0 = 0 (one example).";

    /// <inheritdoc/>
    public override IReadOnlyList<Option> Options { get; } =
    [
        new("model", "The model file (stableode-model/1 JSON).", "FILE", Required: true),
        new("data", "Examples to analyse at (CSV; features only, or with the label last); widened by repetition when narrower than the network.", "FILE"),
        new("json", "Print one JSON object instead of the table."),
    ];

    /// <inheritdoc/>
    public override int Execute(ParsedOptions options, TextWriter stdout, TextWriter stderr)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(stdout);
        var model = Model.Load(options.Required("model"));
        var dataPath = options.Value("data");
        var features = dataPath is null ? null : Inputs.Features(dataPath, model);
        var report = model.Stability(features);
        var examples = features?.GetLength(0) ?? 1;
        if (options.Has("json"))
        {
            stdout.Write(Json(report, examples));
        }
        else
        {
            var at = dataPath is null ? "at Y_0 = 0" : $"at the {examples} examples of {Path.GetFileName(dataPath)}";
            Table(report, model.Network, at, stdout);
        }

        return 0;
    }

    private static string Number(double x) => double.IsFinite(x) ? x.ToString("G6", CultureInfo.InvariantCulture) : "n/a";

    /// <summary>
    /// An eigenvalue printed to six significant digits of the spectrum's scale (its largest modulus):
    /// a part below that resolution is round-off and prints as 0, so a purely imaginary eigenvalue
    /// of an antisymmetric operator reads <c>0 + 0.349804i</c>, not <c>4.25005E-18 + 0.349804i</c>.
    /// </summary>
    private static string Eigenvalue(Complex z, double scale)
    {
        var re = RoundToScale(z.Real, scale);
        var im = RoundToScale(z.Imaginary, scale);
        return im == 0.0 ? Number(re) : $"{Number(re)} {(im < 0 ? "-" : "+")} {Number(Math.Abs(im))}i";
    }

    /// <summary>The value rounded to a multiple of 10⁻⁵ of the scale's leading power of ten (six significant digits at the scale).</summary>
    private static double RoundToScale(double value, double scale)
    {
        if (!double.IsFinite(value) || !(scale > 0.0) || !double.IsFinite(scale))
        {
            return value;
        }

        var quantum = Math.Pow(10.0, Math.Floor(Math.Log10(scale)) - 5);
        var rounded = Math.Round(value / quantum) * quantum;
        return rounded == 0.0 ? 0.0 : rounded;
    }

    private static string Eigenvalues(IReadOnlyList<Complex> values)
    {
        if (values.Count == 0)
        {
            return "not computed (layer too wide)";
        }

        var scale = values.Max(z => z.Magnitude);
        if (values.Count <= ListedEigenvalues)
        {
            return string.Join(", ", values.Select(z => Eigenvalue(z, scale)));
        }

        var low = values.Min(z => z.Real);
        var high = values.Max(z => z.Real);
        var imaginary = values.Max(z => Math.Abs(z.Imaginary));
        return $"{values.Count} values, Re in [{Number(RoundToScale(low, scale))}, {Number(RoundToScale(high, scale))}], |Im| <= {Number(RoundToScale(imaginary, scale))}";
    }

    private static void Table(StabilityReport report, Network network, string at, TextWriter stdout)
    {
        var console = Output.Plain(stdout);
        console.WriteLine($"Stability of the {network}, h = {Number(report.StepSize)}, {at}");
        console.WriteLine($"Condition: {report.Condition}");
        var table = new Table().AddColumn("layer").AddColumn("eigenvalues").AddColumn("amplification").AddColumn("stable");
        foreach (var layer in report.Layers)
        {
            table.AddRow(
                new Text(layer.Layer.ToString(CultureInfo.InvariantCulture)),
                new Text(Eigenvalues(layer.Eigenvalues)),
                new Text(Number(layer.Amplification)),
                new Text(double.IsNaN(layer.Amplification) ? "n/a" : layer.Stable ? "yes" : "no"));
        }

        console.Write(table);
        var analysed = report.Layers.Count(l => !double.IsNaN(l.Amplification));
        var stable = report.Layers.Count(l => l.Stable);
        console.WriteLine(analysed == report.Layers.Count
            ? $"Stable layers: {stable} of {report.Layers.Count}"
            : $"Stable layers: {stable} of the {analysed} analysed ({report.Layers.Count - analysed} too wide for dense eigendecompositions, above {Core.Stability.MaxDenseWidth} features)");
        console.WriteLine(
            $"Jacobian dY_N/dY_0: largest singular value {Number(report.JacobianLargest)}, smallest {Number(report.JacobianSmallest)} " +
            (report.JacobianConverged ? $"({report.JacobianIterations} solves)" : $"(not converged after {report.JacobianIterations} sensitivity-adjoint pairs)"));
    }

    private static string Json(StabilityReport report, int examples) =>
        Output.Json(json =>
        {
            json.WriteStartObject();
            json.WriteString("propagator", report.Propagator.ToString().ToLowerInvariant());
            Output.Number(json, "stepSize", report.StepSize);
            json.WriteString("condition", report.Condition);
            json.WriteNumber("examples", examples);
            json.WriteBoolean("stable", report.IsStable);
            json.WriteStartArray("layers");
            foreach (var layer in report.Layers)
            {
                json.WriteStartObject();
                json.WriteNumber("layer", layer.Layer);
                json.WriteStartArray("eigenvalues");
                foreach (var z in layer.Eigenvalues)
                {
                    json.WriteStartObject();
                    Output.Number(json, "re", z.Real);
                    Output.Number(json, "im", z.Imaginary);
                    json.WriteEndObject();
                }

                json.WriteEndArray();
                Output.Number(json, "amplification", layer.Amplification);
                json.WriteBoolean("stable", layer.Stable);
                json.WriteEndObject();
            }

            json.WriteEndArray();
            json.WriteStartObject("jacobian");
            Output.Number(json, "largest", report.JacobianLargest);
            Output.Number(json, "smallest", report.JacobianSmallest);
            json.WriteNumber("iterations", report.JacobianIterations);
            json.WriteBoolean("converged", report.JacobianConverged);
            json.WriteEndObject();
            json.WriteEndObject();
        });
}
