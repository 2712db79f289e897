using System.Globalization;
using System.Text.Json;
using Microsoft.FSharp.Core;
using StableOde.Core;
using StableOde.Timing;
using CoreNetwork = StableOde.Core.NetworkModule;
using CorePropagator = StableOde.Core.Propagator;
using CoreStrategy = StableOde.Core.AdjointStrategy;

namespace StableOde.Cli.Commands;

/// <summary>
/// <c>stableode bench --propagator P --width n --samples s --layers N [--final-time T] [--conv c,H,W]
/// --mode forward|gradient [--repeat k] [--json]</c>: times one case of docs/performance.md on seeded
/// random data (<c>Bench.run</c>) and prints the median, minimum and maximum wall-clock time, the
/// rate of the matrix products as GFLOP/s and as a percentage of the machine's double-precision
/// FMA peak (measured first, <c>FmaPeak.measure</c>), and the peak memory of one run.
/// </summary>
public sealed class BenchCommand : Command
{
    /// <inheritdoc/>
    public override string Name => "bench";

    /// <inheritdoc/>
    public override string Summary => "Time the forward pass or the gradient of a random network: median ms, GFLOP/s, % of FMA peak, peak MB.";

    /// <inheritdoc/>
    public override string Details =>
        "Runs one case on seeded random data and parameters (tanh, float64): the forward pass Y_N, or\n" +
        "the loss of a softmax classifier and its gradient with respect to every parameter and Y_0\n" +
        "(reversal for leapfrog and Verlet, all states kept for the ResNets). Warm-up runs come first;\n" +
        "then the median, minimum and maximum of --repeat runs, GFLOP/s of the matrix products over\n" +
        "the median and its percentage of the machine's double-precision peak (measured first: chains\n" +
        "of fused multiply-adds in vector registers, on one core and on all the process may use), the\n" +
        "peak resident memory of one run above the level before it (MiB) and, for\n" +
        "gradient, the part of it that the returned parameter gradient occupies (it grows with N).\n" +
        "--conv replaces the dense layers of width n by 3×3 convolutions on c channels of H×W pixels.";

    /// <inheritdoc/>
    public override IReadOnlyList<Option> Options { get; } =
    [
        new("propagator", "resnet, antisymmetric, leapfrog, verlet or verlet4.", "P", Required: true),
        new("width", "The width n of dense layers (not with --conv).", "n"),
        new("samples", "The batch size s.", "s", Required: true),
        new("layers", "The number of layers N.", "N", Required: true),
        new("final-time", "The final time T (h = T/N); default 20.", "T"),
        new("conv", "3×3 convolution layers on c channels of H×W pixels instead of dense ones.", "c,H,W"),
        new("mode", "forward (Y_N) or gradient (loss and its gradient).", "MODE", Required: true),
        new("repeat", "Timed runs; default 10.", "k"),
        new("json", "Print one JSON object {medianMs, minMs, maxMs, gflops, peakMB, gradientMB, fmaPeakGflops, fmaPeakOneCoreGflops, fmaPeakPercent} instead of a line."),
    ];

    /// <inheritdoc/>
    public override int Execute(ParsedOptions options, TextWriter stdout, TextWriter stderr)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(stdout);
        var text = options.Required("propagator");
        var propagator = CoreNetwork.tryParsePropagator(text);
        if (FSharpOption<CorePropagator>.get_IsNone(propagator))
        {
            throw new UsageException($"--propagator expects resnet, antisymmetric, leapfrog, verlet or verlet4, got '{text}'");
        }

        var conv = Conv(options);
        if (conv is null && !options.Has("width"))
        {
            throw new UsageException("'bench' needs --width n or --conv c,H,W");
        }

        if (conv is not null && options.Has("width"))
        {
            throw new UsageException("--width and --conv exclude each other: a convolution's width is c·H·W");
        }

        var mode = options.Required("mode") switch
        {
            "forward" => Bench.Mode.Forward,
            "gradient" => Bench.Mode.Gradient,
            var other => throw new UsageException($"--mode expects forward or gradient, got '{other}'"),
        };
        var width = Positive(options, "width", 1);
        var samples = Positive(options, "samples", 1);
        var layers = Positive(options, "layers", 1);
        var repeat = Positive(options, "repeat", 10);
        var finalTime = options.Number("final-time", 20.0);
        if (finalTime <= 0.0)
        {
            throw new UsageException($"--final-time must be positive, got {finalTime.ToString(CultureInfo.InvariantCulture)}");
        }

        var settings = new Bench.Options(
            propagator.Value,
            width,
            samples,
            layers,
            finalTime,
            conv is null ? FSharpOption<Tuple<int, int, int>>.None : FSharpOption<Tuple<int, int, int>>.Some(conv),
            mode,
            repeat,
            FSharpOption<CoreStrategy>.None);
        var peak = FmaPeak.measure();
        var result = Bench.run(settings);
        var percent = FmaPeak.percentOf(peak, result.Gflops);
        if (options.Has("json"))
        {
            stdout.Write(Json(result, peak, percent));
        }
        else
        {
            var shape = conv is null ? $"width {width}" : $"3×3 convolution {conv.Item1}×{conv.Item2}×{conv.Item3}";
            var gradient = result.GradientMB > 0.0
                ? string.Create(CultureInfo.InvariantCulture, $", of which parameter gradient {result.GradientMB:F1} MB")
                : "";
            stdout.Write(string.Create(
                CultureInfo.InvariantCulture,
                $"{text.Trim().ToLowerInvariant()} {options.Required("mode")}, {shape}, {samples} samples, {layers} layers: " +
                $"median {result.MedianMs:F3} ms (min {result.MinMs:F3}, max {result.MaxMs:F3}), {result.Gflops:F2} GFLOP/s " +
                $"({percent:F1} % of the FMA peak {peak.AllCores:F1} GFLOP/s on {peak.Cores} {(peak.Cores == 1 ? "core" : "cores")}, {peak.OneCore:F1} on one), " +
                $"peak {result.PeakMB:F1} MB{gradient}\n"));
        }

        return 0;
    }

    private static int Positive(ParsedOptions options, string name, int fallback)
    {
        var value = options.Integer(name, fallback);
        return value >= 1 ? value : throw new UsageException($"--{name} must be at least 1, got {value}");
    }

    private static Tuple<int, int, int>? Conv(ParsedOptions options)
    {
        if (!options.Has("conv"))
        {
            return null;
        }

        var values = options.Integers("conv", []);
        if (values.Count != 3 || values.Any(v => v < 1))
        {
            throw new UsageException($"--conv expects three positive integers c,H,W, got '{options.Value("conv")}'");
        }

        return Tuple.Create(values[0], values[1], values[2]);
    }

    private static string Json(Bench.BenchResult result, FmaPeak.Peak peak, double percent) =>
        Output.Json(
            json =>
            {
                json.WriteStartObject();
                Output.Number(json, "medianMs", result.MedianMs);
                Output.Number(json, "minMs", result.MinMs);
                Output.Number(json, "maxMs", result.MaxMs);
                Output.Number(json, "gflops", result.Gflops);
                Output.Number(json, "peakMB", result.PeakMB);
                Output.Number(json, "gradientMB", result.GradientMB);
                Output.Number(json, "fmaPeakGflops", peak.AllCores);
                Output.Number(json, "fmaPeakOneCoreGflops", peak.OneCore);
                Output.Number(json, "fmaPeakPercent", percent);
                json.WriteEndObject();
            },
            indented: false);
}
