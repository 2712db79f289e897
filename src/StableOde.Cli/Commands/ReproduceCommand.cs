using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using Spectre.Console;
using StableOde.Cli.Reproduce;
using StableOde.Core;
using Table = StableOde.Cli.Reproduce.Table;

namespace StableOde.Cli.Commands;

using TrainingProgress = StableOde.Core.TrainingProgress;
using TrainingResult = StableOde.Core.TrainingResult;

/// <summary><c>stableode reproduce [--full] [--out DIR] [--data DIR] [--max-depth N] [--iterations K] [--quiet]</c>:
/// the paper's examples, figures and tables, written as PNG figures, <c>report.md</c> and <c>results.json</c>.</summary>
public sealed class ReproduceCommand : Command
{
    private const int QuickDepth = 128;
    private const int FullDepth = 1024;

    /// <summary>Iterations a level of the quick image experiment (the paper's, with --full, are the core's).</summary>
    private const int QuickImageIterations = 2;

    /// <summary>Iterations a level of the image experiment with --full: the paper's settings of §6.4 in the core.</summary>
    private static readonly int FullImageIterations = TrainingOptionsModule.images(Core.Propagator.Verlet, 1, 1, 1).Iterations;

    /// <inheritdoc/>
    public override string Name => "reproduce";

    /// <inheritdoc/>
    public override string Summary => "The paper's examples, figures and tables, as PNG figures and a Markdown report.";

    /// <inheritdoc/>
    public override string Details =>
        "Runs the paper's experiments and writes into DIR (default out/reproduce) one PNG per figure,\n" +
        "report.md (every figure, every table, settings, wall times, core count) and results.json.\n" +
        $"The training experiments run multilevel from 4 layers to {QuickDepth} (the quick schedule, a few\n" +
        $"minutes on 2 cores) or to the paper's {FullDepth} with --full. The report is rewritten after every\n" +
        "finished part, so an interrupted run (Ctrl-C or SIGTERM) keeps what finished and says what was skipped.\n" +
        "With --data DIR (an MNIST-style folder of IDX files) it also runs the image experiment (§6.4: Table 1\n" +
        "and Figure 7) for ResNet, the antisymmetric ResNet and Verlet at the paper's levels 4, 8 and 16: by\n" +
        $"default on 2,000 training and 500 validation images with {QuickImageIterations} iterations a level, with --full on 50,000\n" +
        $"and 10,000 (at most 80 % and 20 % of the folder) with {FullImageIterations}. --iterations applies to both.";

    /// <inheritdoc/>
    public override IReadOnlyList<Option> Options { get; } =
    [
        new("out", "The output folder (created if missing).", "DIR"),
        new("full", $"The paper's depths: multilevel training up to {FullDepth} layers."),
        new("max-depth", $"The deepest level of the training experiments (default {QuickDepth}; {FullDepth} with --full).", "N"),
        new("iterations", string.Create(CultureInfo.InvariantCulture, $"Block coordinate descent iterations per level (default {TrainingOptionsModule.defaults.Iterations}; images {QuickImageIterations}, with --full {FullImageIterations})."), "K"),
        new("data", "A folder with MNIST or Fashion-MNIST IDX files for the image experiments.", "DIR"),
        new("quiet", "No progress on standard error (also when it is redirected)."),
    ];

    /// <inheritdoc/>
    public override int Execute(ParsedOptions options, TextWriter stdout, TextWriter stderr)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(stdout);
        ArgumentNullException.ThrowIfNull(stderr);
        var directory = Path.GetFullPath(options.Value("out") ?? Path.Combine("out", "reproduce"));
        var full = options.Has("full");
        var maxDepth = options.Integer("max-depth", full ? FullDepth : QuickDepth);
        if (maxDepth < 4 || (maxDepth & (maxDepth - 1)) != 0)
        {
            throw new UsageException($"--max-depth must be a power of two of at least 4, got {maxDepth}");
        }

        var iterations = options.Value("iterations") is null ? (int?)null : options.Integer("iterations", 0);
        if (iterations is < 1)
        {
            throw new UsageException($"--iterations must be at least 1, got {iterations}");
        }

        var data = options.Value("data");
        if (data is not null && !Directory.Exists(data))
        {
            throw new UsageException($"--data: the folder '{data}' does not exist");
        }

        var settings = $"{(full ? "--full" : "quick schedule")}: multilevel training from 4 to {maxDepth} layers, " +
                       $"{(iterations is null ? "the default iterations" : $"{iterations} iterations")} per level, seed 1";
        var report = new Report(directory, settings);
        try
        {
            Directory.CreateDirectory(directory);
            report.Write();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UsageException($"--out: cannot write to '{directory}': {e.Message}");
        }

        var runs = new List<TrainingRun>();
        var interrupted = Output.Interruptible(interrupt =>
        {
            var interactive = !options.Has("quiet") && ReferenceEquals(stderr, Console.Error) && !Console.IsErrorRedirected;
            var parts = Parts(runs, maxDepth, iterations, interrupt).ToList();
            if (data is not null)
            {
                var images = new List<(ImageData Data, ImageRun Run)>();
                parts.Add(new("Images: Table 1 and Figure 7 (§6.4)", (r, c, p) => Images(r, c, p, data, full, iterations, images, interrupt)));
                parts.Add(new("Robustness of the image networks (SPEC §10)", (r, c, _) => ImageRobustness(r, c, images)));
            }

            if (interactive)
            {
                Output.Progress().Progress()
                    .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
                    .Start(context => RunParts(parts, report, interrupt, new SpectreProgress(context)));
            }
            else
            {
                RunParts(parts, report, interrupt, null);
            }

            if (data is null)
            {
                report.Skip("Figure 7 and Table 1 (MNIST)", "no --data folder with MNIST or Fashion-MNIST IDX files was given");
            }

            return interrupt.IsCancellationRequested;
        });

        if (interrupted)
        {
            throw new OperationCanceledException($"interrupted; the finished parts are in {Path.Combine(directory, "report.md")}");
        }

        SummaryTable(runs, stdout);
        stdout.Write($"{Path.Combine(directory, "report.md")}\n");
        return 0;
    }

    /// <summary>Progress of the parts on a Spectre.Console progress display: a bar a part, and a bar a
    /// training run that advances through its levels and shows the level, iteration, objective and accuracy.</summary>
    private sealed class SpectreProgress(ProgressContext context)
    {
        private readonly Dictionary<string, (ProgressTask Task, List<int> Depths)> _runs = [];

        public ProgressTask Part(string title) => context.AddTask(Markup.Escape(title), maxValue: 1);

        public void Training(string run, TrainingProgress p, int iterations, int levels)
        {
            if (!_runs.TryGetValue(run, out var entry))
            {
                entry = (context.AddTask(Markup.Escape("  " + run), maxValue: levels * iterations), []);
                _runs[run] = entry;
            }

            if (!entry.Depths.Contains(p.Depth)) entry.Depths.Add(p.Depth);
            var r = p.Latest;
            entry.Task.Description = Markup.Escape(string.Create(CultureInfo.InvariantCulture,
                $"  {run}, N = {p.Depth}: iteration {r.Iteration}, objective {r.Objective:G4}, validation {100 * r.ValidationAccuracy:F1} % (best {100 * p.BestValidationAccuracy:F1} %)"));
            entry.Task.Value = (entry.Depths.Count - 1) * iterations + r.Iteration;
        }

        public void Finish(string run)
        {
            if (_runs.TryGetValue(run, out var entry))
            {
                entry.Task.Value = entry.Task.MaxValue;
                entry.Task.StopTask();
            }
        }
    }

    private sealed record Part(string Title, Action<Report, Stopwatch, SpectreProgress?> Run);

    private static void RunParts(IReadOnlyList<Part> parts, Report report, CancellationToken cancel, SpectreProgress? progress)
    {
        foreach (var part in parts)
        {
            if (cancel.IsCancellationRequested)
            {
                report.Skip(part.Title, "interrupted (Ctrl-C or SIGTERM) before it finished");
                continue;
            }

            var task = progress?.Part(part.Title);
            var clock = Stopwatch.StartNew();
            part.Run(report, clock, progress);
            if (task is not null)
            {
                task.Value = 1;
                task.StopTask();
            }
        }
    }

    private static IReadOnlyList<Part> Parts(List<TrainingRun> runs, int maxDepth, int? iterations, CancellationToken cancel) =>
    [
        new("Example 1: stability of ResNets (Figure 1)", (r, c, _) => Example1(r, c)),
        new("Example 2: Hamiltonian networks of identical layers (Figure 2)", (r, c, _) => Example2(r, c)),
        new("Conservation of the Verlet Hamiltonian", (r, c, _) => Conservation(r, c, 500.0)),
        new("Order of accuracy with constant weights", (r, c, _) => Order(r, c)),
        new("Multilevel training on the two-dimensional examples (Figure 3)", (r, c, p) => Training(r, c, p, runs, maxDepth, iterations, cancel)),
        new("Classification results (Figures 4–6)", (r, c, _) => Classification(r, c, runs)),
        new("Stability of the trained networks", (r, c, _) => TrainedStability(r, c, runs)),
        new("Robustness of the trained peaks networks (SPEC §10)", (r, c, _) => PeaksRobustness(r, c, runs)),
    ];

    private static void Example1(Report report, Stopwatch clock)
    {
        var distances = PaperExamples.Figure1(Path.Combine(report.Directory, "figure1.png"));
        var rows = distances.Select(d => (IReadOnlyList<string>)[d.Name,
            string.Join(", ", d.InputDistances.Select(Report.Number)), string.Join(", ", d.OutputDistances.Select(Report.Number))]).ToList();
        report.Add(new Section("Example 1: stability of ResNets (Figure 1)",
            "Three ResNets of N = 10 identical layers (h = 0.1, tanh, b = 0) with K+ (eigenvalues 2, 2), K− (−2, −2) and " +
            "K0 (±i) propagate y1 = (0.1, 0.1), y2 = −y1 and y3 = (0, 0.5) (row layout, Y K). Arrows show the force field " +
            "σ(y K). As §3 describes: with K+ the features diverge and y1, y2 depart in opposite directions; with K− they " +
            "contract towards the origin (differences are annihilated: an ill-posed learning problem); K0 rotates them and " +
            "nearly preserves their distances.",
            [("figure1.png", "Figure 1: phase planes of the ResNets with K+, K− and K0 (left to right)")],
            [new Table("Distances ‖y1 − y2‖, ‖y1 − y3‖, ‖y2 − y3‖ before and after the 10 layers", ["kernel", "input", "output"], rows)],
            clock.Elapsed.TotalSeconds),
            "example1",
            new JsonArray(distances.Select(d => (JsonNode)new JsonObject
            {
                ["kernel"] = d.Name,
                ["inputDistances"] = Report.Numbers(d.InputDistances),
                ["outputDistances"] = Report.Numbers(d.OutputDistances),
            }).ToArray()));
    }

    private static void Example2(Report report, Stopwatch clock)
    {
        var norms = PaperExamples.Figure2(Path.Combine(report.Directory, "figure2.png"), 500, 5000);
        var rows = norms.Select(n => (IReadOnlyList<string>)[n.Name, Report.Number(n.MaxNorm), Report.Number(n.FinalNorm)]).ToList();
        report.Add(new Section("Example 2: Hamiltonian networks of identical layers (Figure 2)",
            "y1 = (0.1, 0.1) and y2 = −y1 through leapfrog (K = K−, h = 1) and Verlet (a 2×3 kernel, h = 0.1; the " +
            "paper's matrix was lost in extraction) networks of identical layers with tanh and zero biases, N = 500 and " +
            "N = 5,000. The features oscillate: they neither vanish nor blow up exponentially. Leapfrog's K− is a Jordan " +
            "block, so its linear part grows only polynomially; Verlet's orbits stay on a closed band.",
            [("figure2.png", "Figure 2 (top): leapfrog and Verlet, N = 500"), ("figure2-long.png", "Figure 2 (bottom): leapfrog and Verlet, N = 5,000")],
            [new Table("Largest and final ‖Y_j‖_F along each network", ["network", "max ‖Y_j‖", "‖Y_N‖"], rows)],
            clock.Elapsed.TotalSeconds),
            "example2",
            new JsonArray(norms.Select(n => (JsonNode)new JsonObject { ["network"] = n.Name, ["maxNorm"] = n.MaxNorm, ["finalNorm"] = n.FinalNorm }).ToArray()));
    }

    private static void Conservation(Report report, Stopwatch clock, double finalTime)
    {
        var summary = PaperExamples.Conservation(Path.Combine(report.Directory, "hamiltonian.png"), finalTime);
        var rows = summary.Select(s => (IReadOnlyList<string>)[s.Name, Report.Number(s.Band), Report.Number(s.DriftPerTime)]).ToList();
        report.Add(new Section("Conservation of the Verlet Hamiltonian",
            $"Example 2's Verlet network with identical layers conserves H(y, z) = Σ log cosh(yK + c) + Σ log cosh(zKᵀ + b) " +
            $"in continuous time. Over t ∈ [0, {Report.Number(finalTime)}] the Verlet discretisation keeps H in a band of " +
            "width O(h) (halving h halves it) with no drift, while explicit Euler on the same system drifts steadily.",
            [("hamiltonian.png", "H − H(0) against time: Verlet (left) and explicit Euler (right), h = 0.1 and 0.05")],
            [new Table("Band (max H − min H) and drift (least-squares slope of H per unit time)", ["integrator", "band", "drift"], rows)],
            clock.Elapsed.TotalSeconds),
            "conservation",
            new JsonArray(summary.Select(s => (JsonNode)new JsonObject { ["integrator"] = s.Name, ["band"] = s.Band, ["drift"] = s.DriftPerTime }).ToArray()));
    }

    private static void Order(Report report, Stopwatch clock)
    {
        var results = PaperExamples.Order(Path.Combine(report.Directory, "order.png"));
        var rows = results.Select(r => (IReadOnlyList<string>)[r.Name, .. r.Errors.Select(Report.Number), r.Order.ToString("0.00", CultureInfo.InvariantCulture)]).ToList();
        report.Add(new Section("Order of accuracy with constant weights",
            "Beyond the paper: the Verlet family as ODE solvers of ẏ = σ(z Kᵀ + b), ż = −σ(y K + c), y(0) = Y_0, z(0) = 0, " +
            "with the same seeded weights (K ∈ R^{3×2}, ‖K‖₂ = 1, b, c) in every layer, T = 2, tanh, against RK4 in 4,096 " +
            "steps. The paper's Verlet (Eq. 4.17) is first-order accurate: its first kick is a full step from Z = 0. The " +
            "symmetric Verlet (half kicks of Z around a kick of Y) is second order and verlet4 (Forest–Ruth) fourth. A " +
            "prolongated network (h → h/2) computes nearly the same function only where the scheme is accurate; whether " +
            "a higher order loses less at each prolongation in training is measured in docs/training-results.md.",
            [("order.png", "Error ‖Y_N − y(T)‖_F against the number of layers N (log–log), with each scheme's observed order")],
            [new Table("Error at N layers and the observed order (least-squares slope over the errors above 1e-12)",
                ["scheme", .. PaperExamples.OrderDepths.Select(d => $"N = {d}"), "order"], rows)],
            clock.Elapsed.TotalSeconds),
            "order",
            new JsonArray(results.Select(r => (JsonNode)new JsonObject
            {
                ["scheme"] = r.Name,
                ["depths"] = Report.Numbers(PaperExamples.OrderDepths.Select(d => (double)d)),
                ["errors"] = Report.Numbers(r.Errors),
                ["order"] = r.Order,
            }).ToArray()));
    }

    private static void Training(Report report, Stopwatch clock, SpectreProgress? progress, List<TrainingRun> runs, int maxDepth, int? iterations, CancellationToken cancel)
    {
        foreach (var (dataset, propagator, width) in PaperTraining.Runs)
        {
            if (cancel.IsCancellationRequested) break;
            var name = $"{dataset}, {propagator} (n = {width})";
            var perLevel = iterations ?? TrainingOptionsModule.defaults.Iterations;
            var levels = (int)Math.Log2(maxDepth / 4) + 1;
            runs.Add(PaperTraining.Train(dataset, propagator, maxDepth, iterations,
                p => progress?.Training(name, p, perLevel, levels), cancel));
            progress?.Finish(name);
        }

        PaperTraining.Figure3(Path.Combine(report.Directory, "figure3.png"), runs);
        var depths = runs.SelectMany(r => r.Result.Levels.Select(l => l.Depth)).Distinct().Order().ToList();
        var perLevelRows = depths.Select(d => (IReadOnlyList<string>)new[] { d.ToString(CultureInfo.InvariantCulture) }
            .Concat(runs.Select(r => r.Result.Levels.FirstOrDefault(l => l.Depth == d) is { } l ? Percent(l.BestValidationAccuracy) : "–")).ToList()).ToList();
        var summaryRows = runs.Select(r => (IReadOnlyList<string>)[r.Dataset, r.Propagator, r.Width.ToString(CultureInfo.InvariantCulture),
            Percent(r.Result.BestValidationAccuracy), r.Result.Best.Network.Depth.ToString(CultureInfo.InvariantCulture),
            PaperTraining.PaperAccuracy(r.Dataset, r.Propagator), StatusWord.name(r.Result.Status), Report.Number(r.Result.Seconds)]).ToList();
        report.Add(new Section("Multilevel training on the two-dimensional examples (Figure 3)",
            "Block coordinate descent (SPEC §5) with the library's default options for each data set (§6.1–6.3: tanh; " +
            "T = 20, logistic regression for the ellipses and the swiss roll; T = 5, softmax for peaks; smoothness in time " +
            "with α = 1e-3, 5e-3, 5e-6), multilevel from 4 layers, doubling the depth by linear interpolation in time. " +
            "The parameters with the best validation accuracy are kept at every level.",
            [("figure3.png", "Figure 3: best validation accuracy per level for the ellipses, the swiss roll and peaks")],
            [
                new Table("Best validation accuracy per level (%)", new[] { "layers" }.Concat(runs.Select(r => $"{r.Dataset} {r.Propagator} (n={r.Width})")).ToList(), perLevelRows),
                new Table("Best validation accuracy of each run, next to the paper's", ["data", "propagator", "n", "best", "at layers", "paper", "status", "seconds"], summaryRows),
            ],
            clock.Elapsed.TotalSeconds),
            "training",
            new JsonArray(runs.Select(r => (JsonNode)new JsonObject
            {
                ["dataset"] = r.Dataset,
                ["propagator"] = r.Propagator,
                ["width"] = r.Width,
                ["status"] = StatusWord.name(r.Result.Status),
                ["bestValidationAccuracy"] = r.Result.BestValidationAccuracy,
                ["seconds"] = r.Result.Seconds,
                ["levels"] = new JsonArray(r.Result.Levels.Select(l => (JsonNode)new JsonObject
                {
                    ["layers"] = l.Depth,
                    ["bestValidationAccuracy"] = l.BestValidationAccuracy,
                    ["trainingAccuracy"] = l.TrainingAccuracy,
                    ["seconds"] = l.Seconds,
                }).ToArray()),
            }).ToArray()));
    }

    private static void Classification(Report report, Stopwatch clock, List<TrainingRun> runs)
    {
        var figures = new List<(string, string)>();
        var number = 4;
        foreach (var run in runs.Where(r => r.Propagator == "verlet"))
        {
            var file = $"figure{number}-{run.Dataset.Replace(' ', '-')}.png";
            PaperTraining.Classification(Path.Combine(report.Directory, file), run);
            figures.Add((file, $"Figure {number}: {run.Dataset}, Verlet network (n = 2, {run.Result.Best.Network.Depth} layers): the validation data, its propagated features and the prediction"));
            number++;
        }

        report.Add(new Section("Classification results (Figures 4–6)",
            "For each data set, the best Verlet network: the labelled validation points, the same points after propagation " +
            "(Y_N, which the classifier separates linearly), and the predicted class over the plane as a coloured background.",
            figures, [], clock.Elapsed.TotalSeconds), "classification", new JsonArray(figures.Select(f => (JsonNode)f.Item1).ToArray()));
    }

    private static void TrainedStability(Report report, Stopwatch clock, List<TrainingRun> runs)
    {
        var figures = new List<(string, string)>();
        var rows = new List<IReadOnlyList<string>>();
        foreach (var group in runs.GroupBy(r => r.Dataset))
        {
            var slug = group.Key.Replace(' ', '-');
            var list = group.ToList();
            PaperTraining.Spectra(Path.Combine(report.Directory, $"spectra-{slug}.png"), list);
            PaperTraining.Jacobians(Path.Combine(report.Directory, $"jacobian-{slug}.png"), list);
            figures.Add(($"spectra-{slug}.png", $"{group.Key}: eigenvalues of every layer's operator of the deepest trained networks"));
            figures.Add(($"jacobian-{slug}.png", $"{group.Key}: largest and smallest singular values of ∂Y_N/∂Y_0 against depth"));
            rows.AddRange(list.Select(r => (IReadOnlyList<string>)[r.Dataset, r.Propagator,
                Report.Number(r.Jacobian[^1].Largest), Report.Number(r.Jacobian[^1].Smallest), r.Jacobian[^1].Depth.ToString(CultureInfo.InvariantCulture)]));
        }

        report.Add(new Section("Stability of the trained networks",
            "Beyond the paper: the spectra of the trained operators K_j (antisymmetric ResNets stay on the imaginary axis; " +
            "for Verlet the eigenvalues of the Hamiltonian block [[0, K], [−Kᵀ, 0]] are ±iσ(K)), and the largest and smallest " +
            "singular values of ∂Y_N/∂Y_0 at the best model of every level, on 200 validation examples: exploding (≫ 1) and " +
            "vanishing (≪ 1) gradients made visible.",
            figures,
            [new Table("Singular values of ∂Y_N/∂Y_0 at the deepest level", ["data", "propagator", "σ_max", "σ_min", "layers"], rows)],
            clock.Elapsed.TotalSeconds),
            "trainedStability",
            new JsonArray(runs.Select(r => (JsonNode)new JsonObject
            {
                ["dataset"] = r.Dataset,
                ["propagator"] = r.Propagator,
                ["jacobian"] = new JsonArray(r.Jacobian.Select(j => (JsonNode)new JsonObject { ["layers"] = j.Depth, ["largest"] = j.Largest, ["smallest"] = j.Smallest }).ToArray()),
            }).ToArray()));
    }

    private static void Images(Report report, Stopwatch clock, SpectreProgress? progress, string folder, bool full, int? iterations,
                               List<(ImageData Data, ImageRun Run)> trained, CancellationToken cancel)
    {
        const int maxDepth = 16;
        var (trainingCount, validationCount, perLevel) = full ? (50_000, 10_000, iterations ?? FullImageIterations) : (2_000, 500, iterations ?? QuickImageIterations);
        var data = PaperImages.Load(folder, trainingCount, validationCount);
        var levels = (int)Math.Log2(maxDepth / 4) + 1;
        var runs = new List<ImageRun>();
        foreach (var propagator in PaperImages.Propagators)
        {
            if (cancel.IsCancellationRequested) break;
            var name = $"images, {propagator}";
            runs.Add(PaperImages.Train(data, propagator, maxDepth, perLevel, p => progress?.Training(name, p, perLevel, levels), cancel));
            progress?.Finish(name);
        }

        trained.AddRange(runs.Select(r => (data, r)));
        var shown = runs.FirstOrDefault(r => r.Propagator == "antisymmetric") ?? runs[0];
        var (first, second) = PaperImages.Figure7(Path.Combine(report.Directory, "figure7.png"), data, shown);
        var depths = runs.SelectMany(r => r.Result.Levels.Select(l => l.Depth)).Distinct().Order().ToList();
        string Error(double accuracy) => (100 * (1 - accuracy)).ToString("F2", CultureInfo.InvariantCulture) + " %";
        var rows = depths.Select(d => (IReadOnlyList<string>)new[] { d.ToString(CultureInfo.InvariantCulture) }
            .Concat(runs.SelectMany(r => r.Result.Levels.FirstOrDefault(l => l.Depth == d) is { } l
                ? new[] { Error(l.TrainingAccuracy), Error(l.BestValidationAccuracy) }
                : ["–", "–"])).ToList()).ToList();
        var seconds = runs.Select(r => (IReadOnlyList<string>)[r.Propagator, Report.Number(r.Result.Seconds), StatusWord.name(r.Result.Status)]).ToList();
        report.Add(new Section("Images: Table 1 and Figure 7 (§6.4)",
            $"{data.Name}: {data.Split.Training.Labels.Length} training and {data.Split.Validation.Labels.Length} validation images " +
            $"(seeded split), repeated into {PaperImages.Channels} channels; 3×3 convolutions, channels fully coupled, T = 6, tanh, softmax; " +
            $"multilevel from 4 to {maxDepth} layers, {perLevel} block coordinate descent iterations a level with the gradient over all " +
            "training images, the Gauss–Newton curvature on 5,000 of them (≤ 20 PCG iterations, smoothness in time α = 5e-3), and " +
            "≤ 5 Newton–PCG iterations of ≤ 10 PCG iterations for the classifier with the Laplacian on its weight images (0.01). " +
            "The paper trains on 50,000 MNIST images to 16 layers and reports validation errors of about 1.5 %.",
            [("figure7.png", $"Figure 7: the {shown.Propagator} network ({shown.Result.Best.Network.Depth} layers): two validation images (\"{first}\", \"{second}\"), their propagated channels and the classifier's weights for their classes")],
            [
                new Table("Table 1: training error (TE) and validation error (VE) of the best model at every level",
                    new[] { "layers" }.Concat(runs.SelectMany(r => new[] { $"{r.Propagator} TE", $"{r.Propagator} VE" })).ToList(), rows),
                new Table("Run times", ["propagator", "seconds", "status"], seconds),
            ],
            clock.Elapsed.TotalSeconds),
            "images",
            new JsonArray(runs.Select(r => (JsonNode)new JsonObject
            {
                ["propagator"] = r.Propagator,
                ["training"] = data.Split.Training.Labels.Length,
                ["validation"] = data.Split.Validation.Labels.Length,
                ["status"] = StatusWord.name(r.Result.Status),
                ["seconds"] = r.Result.Seconds,
                ["levels"] = new JsonArray(r.Result.Levels.Select(l => (JsonNode)new JsonObject
                {
                    ["layers"] = l.Depth,
                    ["trainingError"] = 1 - l.TrainingAccuracy,
                    ["validationError"] = 1 - l.BestValidationAccuracy,
                    ["seconds"] = l.Seconds,
                }).ToArray()),
            }).ToArray()));
    }

    private static void PeaksRobustness(Report report, Stopwatch clock, List<TrainingRun> runs)
    {
        var peaks = runs.Where(r => r.Dataset == "peaks").Select(r => PaperRobustness.Measure(
            $"{r.Propagator} (n = {r.Width})", r.Result.Best, PaperRobustness.Unwidened(r.Split.Validation, 2), PaperRobustness.PeaksEpsilons, clip: false)).ToList();
        if (peaks.Count == 0)
        {
            report.Skip("Robustness of the trained peaks networks (SPEC §10)", "no peaks network was trained");
            return;
        }

        RobustnessSection(report, clock, "peaks", "Robustness of the trained peaks networks (SPEC §10)",
            $"The best network of each peaks run on its {runs.First(r => r.Dataset == "peaks").Split.Validation.Labels.Length} validation points " +
            "(perturbed as 2-D points before widening, no clipping), attacked through each example's own cross-entropy and its exact input gradient: " +
            $"FGSM y + ε·sign(∇ℓ_i) and PGD in ℓ∞ ({PaperRobustness.Steps} steps of α = 2.5ε/k, no random start). Next to the accuracies, " +
            "the distribution of each validation example's largest singular value of ∂y_N/∂y_0 and the observed amplification " +
            "‖Y_N(y') − Y_N(y)‖/‖y' − y‖ of the PGD perturbations. The features lie in [−3, 3]².", "robustnessPeaks", peaks);
    }

    private static void ImageRobustness(Report report, Stopwatch clock, List<(ImageData Data, ImageRun Run)> trained)
    {
        if (trained.Count == 0)
        {
            report.Skip("Robustness of the image networks (SPEC §10)", "no image network was trained");
            return;
        }

        var measured = trained.Select(t => PaperRobustness.Measure(t.Run.Propagator, t.Run.Result.Best,
            PaperRobustness.Unwidened(t.Data.Split.Validation, t.Data.Height * t.Data.Width), PaperRobustness.ImageEpsilons, clip: true)).ToList();
        RobustnessSection(report, clock, "images", "Robustness of the image networks (SPEC §10)",
            $"The best network of each image run on its {trained[0].Data.Split.Validation.Labels.Length} validation images, each image " +
            $"perturbed before it is repeated into the channels and every iterate clipped to [0, 1]: FGSM and PGD ({PaperRobustness.Steps} steps), " +
            "with σ_max of ∂y_N/∂y_0 by power iteration on the first validation images.", "robustnessImages", measured);
    }

    private static void RobustnessSection(Report report, Stopwatch clock, string slug, string title, string text, string key, IReadOnlyList<RobustnessRun> runs)
    {
        PaperRobustness.AccuracyFigure(Path.Combine(report.Directory, $"robustness-{slug}.png"), slug, runs);
        PaperRobustness.SigmaFigure(Path.Combine(report.Directory, $"robustness-sigma-{slug}.png"), slug, runs);
        var epsilons = runs[0].Fgsm.Results.Select(r => r.Epsilon).ToList();
        var header = new[] { "network", "layers", "attack" }.Concat(epsilons.Select(e => $"ε = {Report.Number(e)}")).ToList();
        var rows = runs.SelectMany(r => new[] { ("FGSM", r.Fgsm), ($"PGD-{PaperRobustness.Steps}", r.Pgd) }.Select(a => (IReadOnlyList<string>)
            new[] { r.Name, r.Depth.ToString(CultureInfo.InvariantCulture), a.Item1 }.Concat(a.Item2.Results.Select(x => Percent(x.Accuracy))).ToList())).ToList();
        var amplification = runs.Select(r => (IReadOnlyList<string>)
            new[] { r.Name }.Concat(r.Pgd.Results.Where(x => x.Epsilon > 0).Select(x => $"{Report.Number(x.AmplificationMean)} / {Report.Number(x.AmplificationMax)}")).ToList()).ToList();
        var sigma = runs.Select(r => (IReadOnlyList<string>)[r.Name, Report.Number(r.Sigma[0]), Report.Number(PaperRobustness.Quantile(r.Sigma, 0.5)),
            Report.Number(PaperRobustness.Quantile(r.Sigma, 0.9)), Report.Number(r.Sigma[^1]), r.SigmaExamples]).ToList();
        report.Add(new Section(title, text,
            [($"robustness-{slug}.png", $"{slug}: validation accuracy against ε under FGSM (left) and PGD (right)"),
             ($"robustness-sigma-{slug}.png", $"{slug}: σ_max of ∂y_N/∂y_0 per validation example, sorted")],
            [
                new Table("Validation accuracy under attack (ε = 0 is the clean accuracy)", header, rows),
                new Table("Observed amplification of the PGD perturbations, mean / max over examples",
                    new[] { "network" }.Concat(epsilons.Where(e => e > 0).Select(e => $"ε = {Report.Number(e)}")).ToList(), amplification),
                new Table("σ_max of ∂y_N/∂y_0 over the validation examples", ["network", "min", "median", "90 %", "max", "how"], sigma),
            ],
            clock.Elapsed.TotalSeconds),
            key,
            new JsonArray(runs.Select(r => (JsonNode)new JsonObject
            {
                ["network"] = r.Name,
                ["layers"] = r.Depth,
                ["fgsm"] = Results(r.Fgsm),
                ["pgd"] = Results(r.Pgd),
                ["sigmaMax"] = Report.Numbers(r.Sigma),
            }).ToArray()));
    }

    private static JsonArray Results(Core.RobustnessReport report) =>
        new(report.Results.Select(x => (JsonNode)new JsonObject
        {
            ["epsilon"] = x.Epsilon,
            ["accuracy"] = x.Accuracy,
            ["amplificationMean"] = x.AmplificationMean,
            ["amplificationMax"] = x.AmplificationMax,
        }).ToArray());

    private static string Percent(double accuracy) => (100 * accuracy).ToString("F2", CultureInfo.InvariantCulture) + " %";

    private static void SummaryTable(IReadOnlyList<TrainingRun> runs, TextWriter stdout)
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(stdout),
            Ansi = ReferenceEquals(stdout, Console.Out) && !Console.IsOutputRedirected ? AnsiSupport.Detect : AnsiSupport.No,
        });
        if (!ReferenceEquals(stdout, Console.Out) || Console.IsOutputRedirected)
        {
            console.Profile.Width = 120;
        }
        var table = new Spectre.Console.Table().AddColumns("data", "propagator", "n", "best validation", "at layers", "paper", "seconds");
        foreach (var r in runs)
        {
            table.AddRow(r.Dataset, r.Propagator, r.Width.ToString(CultureInfo.InvariantCulture), Percent(r.Result.BestValidationAccuracy),
                         r.Result.Best.Network.Depth.ToString(CultureInfo.InvariantCulture), PaperTraining.PaperAccuracy(r.Dataset, r.Propagator),
                         Report.Number(r.Result.Seconds));
        }

        console.Write(table);
    }
}
