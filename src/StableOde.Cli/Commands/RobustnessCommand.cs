using System.Globalization;
using Spectre.Console;

namespace StableOde.Cli.Commands;

/// <summary>
/// <c>stableode robustness --model FILE --data FILE|--images F --labels F [--attack fgsm|pgd|noise]
/// [--epsilon LIST] [--steps K] [--seed S] [--clip] [--no-clip] [--json]</c>: accuracy under FGSM,
/// PGD or noise for a list of ε and the observed amplification (SPEC §10).
/// </summary>
public sealed class RobustnessCommand : Command
{
    private const int DefaultSteps = 10;

    /// <summary>Examples at which σ_max of ∂Y_N/∂Y_0 is estimated for networks too wide for exact Jacobians.</summary>
    private const int WideJacobianExamples = 100;

    private static readonly double[] DefaultEpsilons = [0.01, 0.05, 0.1];

    /// <inheritdoc/>
    public override string Name => "robustness";

    /// <inheritdoc/>
    public override string Summary => "Accuracy under FGSM, PGD or Gaussian noise for a list of ε, and how much the network amplifies the perturbations.";

    /// <inheritdoc/>
    public override string Details =>
        "Perturbs every example through its own cross-entropy and its exact input gradient (the adjoint solve):\n" +
        "fgsm y + ε·sign(∇ℓ); pgd k steps y ← Π_ε(y + α·sign(∇ℓ)), α = 2.5ε/k, no random start (the default);\n" +
        "noise y + ε·ξ, ξ ~ N(0, I) from --seed (the same ξ for every ε). The data is perturbed as given and\n" +
        "widened to the network afterwards. For each ε: the accuracy on the perturbed data and the observed\n" +
        "amplification ‖Y_N(y') − Y_N(y)‖/‖y' − y‖ (mean, max; 0 for an unperturbed example), next to the clean\n" +
        "accuracy and, in the table, each example's largest singular value of ∂Y_N/∂Y_0. IDX images are clipped\n" +
        "to [0, 1] at every iterate (--no-clip turns it off); --clip clips CSV data too. --json prints\n" +
        "{\"attack\", \"cleanAccuracy\", \"results\": [{\"epsilon\", \"accuracy\", \"amplificationMean\", \"amplificationMax\"}]}.";

    /// <inheritdoc/>
    public override IReadOnlyList<Option> Options { get; } =
    [
        new("model", "The model file (stableode-model/1 JSON).", "FILE", Required: true),
        new("data", "Labelled examples (CSV, label in the last column).", "FILE"),
        new("images", "Images of an IDX pair (count × height × width, unsigned bytes), with --labels.", "FILE"),
        new("labels", "The IDX labels (0…9) of --images.", "FILE"),
        new("attack", "fgsm, pgd (default) or noise.", "NAME"),
        new("epsilon", "The budgets ε, comma-separated, each ≥ 0 (default 0.01,0.05,0.1).", "LIST"),
        new("steps", $"PGD steps k (default {DefaultSteps}).", "K"),
        new("seed", "The seed of the noise (default 1).", "S"),
        new("clip", "Clip every iterate to [0, 1] (the default for --images)."),
        new("no-clip", "Do not clip IDX images."),
        new("json", "Print one JSON object instead of the table."),
    ];

    /// <inheritdoc/>
    public override int Execute(ParsedOptions options, TextWriter stdout, TextWriter stderr)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(stdout);
        var attack = ParseAttack(options.Value("attack") ?? "pgd");
        if (options.Has("steps") && attack != Attack.Pgd)
        {
            throw new UsageException("--steps applies to --attack pgd");
        }

        if (options.Has("seed") && attack != Attack.Noise)
        {
            throw new UsageException("--seed applies to --attack noise");
        }

        var steps = options.Integer("steps", DefaultSteps);
        if (steps < 1)
        {
            throw new UsageException($"--steps must be at least 1, got {steps}");
        }

        var seed = options.Integer("seed", 1);
        var epsilons = ParseEpsilons(options.Value("epsilon"));
        if (options.Has("clip") && options.Has("no-clip"))
        {
            throw new UsageException("--clip and --no-clip contradict each other");
        }

        var model = Model.Load(options.Required("model"));
        var (data, source, images) = Load(options, model);
        var clip = options.Has("clip") || (images && !options.Has("no-clip"));
        var report = model.Robustness(data, attack, epsilons, steps, seed, clip);
        if (options.Has("json"))
        {
            stdout.Write(Json(report));
        }
        else
        {
            Table(report, model, data, source, clip, stdout);
        }

        return 0;
    }

    private static Attack ParseAttack(string text) => text.Trim().ToLowerInvariant() switch
    {
        "fgsm" => Attack.Fgsm,
        "pgd" => Attack.Pgd,
        "noise" => Attack.Noise,
        _ => throw new UsageException($"--attack must be fgsm, pgd or noise, got '{text}'"),
    };

    private static double[] ParseEpsilons(string? text)
    {
        if (text is null)
        {
            return DefaultEpsilons;
        }

        if (text.Split(',').All(part => part.Trim().Length == 0))
        {
            throw new UsageException("--epsilon: the list of ε is empty");
        }

        return text.Split(',').Select(part =>
        {
            if (!double.TryParse(part.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out var value))
            {
                throw new UsageException($"--epsilon expects comma-separated numbers, got '{text}'");
            }

            return double.IsFinite(value) && value >= 0.0
                ? value
                : throw new UsageException($"--epsilon: every ε must be a finite number ≥ 0, got {part.Trim()}");
        }).ToArray();
    }

    private static (Dataset Data, string Source, bool Images) Load(ParsedOptions options, Model model)
    {
        var dataPath = options.Value("data");
        var imagesPath = options.Value("images");
        var labelsPath = options.Value("labels");
        if (dataPath is not null && (imagesPath is not null || labelsPath is not null))
        {
            throw new UsageException("give either --data FILE or --images FILE with --labels FILE, not both");
        }

        if (dataPath is null && imagesPath is null && labelsPath is null)
        {
            throw new UsageException("'robustness' needs --data FILE, or --images FILE with --labels FILE");
        }

        Dataset data;
        string source;
        if (dataPath is not null)
        {
            data = Dataset.FromCsv(dataPath);
            source = dataPath;
        }
        else
        {
            if (imagesPath is null || labelsPath is null)
            {
                throw new UsageException($"--{(imagesPath is null ? "labels" : "images")} needs --{(imagesPath is null ? "images" : "labels")} FILE as well");
            }

            data = ImageSet.Load(imagesPath, labelsPath).Data;
            source = imagesPath;
        }

        if (data.Width > model.Network.Width)
        {
            throw new InvalidDataException($"{Path.GetFileName(source)}: the data has {data.Width} features but the model's network has width {model.Network.Width}");
        }

        Inputs.CheckLabels(data, model.Classes, source, "the model");
        return (data, source, dataPath is null);
    }

    private static string Number(double x) => x.ToString("G4", CultureInfo.InvariantCulture);

    private static string Percent(double x) => (100 * x).ToString("F2", CultureInfo.InvariantCulture) + " %";

    private static void Table(RobustnessReport report, Model model, Dataset data, string source, bool clip, TextWriter stdout)
    {
        var console = Output.Plain(stdout);
        var attack = report.Attack switch
        {
            Attack.Fgsm => "FGSM",
            Attack.Pgd => $"PGD, {report.Steps} steps",
            _ => "Gaussian noise",
        };
        console.WriteLine($"Robustness of the {model.Network} on the {data.Count} examples of {Path.GetFileName(source)}: {attack}{(clip ? ", clipped to [0, 1]" : string.Empty)}");
        console.WriteLine($"Clean accuracy: {Percent(report.CleanAccuracy)}");
        var table = new Spectre.Console.Table().AddColumns("epsilon", "accuracy", "amplification mean", "amplification max");
        foreach (var r in report.Results)
        {
            table.AddRow(Number(r.Epsilon), Percent(r.Accuracy), Number(r.AmplificationMean), Number(r.AmplificationMax));
        }

        console.Write(table);
        var exact = model.Network.Width <= Core.Stability.MaxDenseWidth;
        var features = (data.Width < model.Network.Width ? data.Widen(model.Network.Width) : data).Features;
        var count = exact ? data.Count : Math.Min(WideJacobianExamples, data.Count);
        var sample = new double[count, features.GetLength(1)];
        for (var i = 0; i < count; i++)
        {
            for (var j = 0; j < features.GetLength(1); j++)
            {
                sample[i, j] = features[i, j];
            }
        }

        var sigma = model.Network.LargestSingularValues(model.Parameters, sample).Order().ToArray();
        console.WriteLine(
            $"Largest singular value of dY_N/dY_0 per example ({(exact ? "exact" : $"power iteration, the first {sigma.Length} examples")}): " +
            $"min {Number(sigma[0])}, median {Number(sigma[sigma.Length / 2])}, max {Number(sigma[^1])}");
    }

    private static string Json(RobustnessReport report) => Output.Json(json =>
    {
        json.WriteStartObject();
        json.WriteString("attack", report.Attack.ToString().ToLowerInvariant());
        json.WriteNumber("cleanAccuracy", report.CleanAccuracy);
        json.WriteStartArray("results");
        foreach (var r in report.Results)
        {
            json.WriteStartObject();
            json.WriteNumber("epsilon", r.Epsilon);
            json.WriteNumber("accuracy", r.Accuracy);
            Output.Number(json, "amplificationMean", r.AmplificationMean);
            Output.Number(json, "amplificationMax", r.AmplificationMax);
            json.WriteEndObject();
        }

        json.WriteEndArray();
        json.WriteEndObject();
    });
}
