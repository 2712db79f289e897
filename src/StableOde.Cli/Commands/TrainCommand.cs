using System.Globalization;
using System.Text.Json;
using Spectre.Console;
using Experiment = StableOde.Core.Experiment;
using Experiments = StableOde.Core.Experiments;

namespace StableOde.Cli.Commands;

/// <summary>
/// <c>stableode train</c>: multilevel training by block coordinate descent (SPEC §5, §9) on a
/// built-in data set or CSV files, with the paper's settings (SPEC §8) as defaults.
/// </summary>
public sealed class TrainCommand : Command
{
    /// <inheritdoc/>
    public override string Name => "train";

    /// <inheritdoc/>
    public override string Summary => "Multilevel training on a built-in data set or CSV files; writes the best model.";

    /// <inheritdoc/>
    public override string Details =>
        "Trains at the first depth of --levels, doubles the depth by prolongation in time, fits the\n" +
        "classifier anew to the deeper network (--classifier-at-prolongation), trains again, … and keeps the model\n" +
        "with the best validation accuracy. Defaults reproduce the paper (§6):\n" +
        "ellipses width 2, T = 20, α = 1e-3; swiss roll width 4 (Verlet 2), T = 20, α = 5e-3; peaks width 8\n" +
        "(Verlet 2, momentum 8), T = 5, α = 5e-6; CSV data: the data's width, T = 20, α = 1e-3; tanh;\n" +
        "logistic regression for two classes, softmax otherwise; levels 4,8,…,1024. Features narrower\n" +
        "than the network are repeated. Images (mnist, fashion-mnist, --images/--labels): 3×3 convolutions\n" +
        "of --width channels (default 6; the image is repeated into every channel), T = 6, α = 5e-3,\n" +
        "levels 4,8,16, 10 iterations at the first level and 5 at the others, the gradient over all\n" +
        "training images and the curvature on 1,000 (--hessian-subsample; ≤ 10 PCG iterations), the\n" +
        "Laplacian on the classifier's weight images (0.01), a seeded split of 50,000 training and\n" +
        "10,000 validation images (80 % and 20 % of fewer than 60,000).\n" +
        "Progress (with an estimate of the time left for the level) goes to the terminal unless standard\n" +
        "error is redirected. --model-out is a checkpoint: a kill at any moment leaves a loadable model,\n" +
        "the best so far, and train --resume FILE continues the run after its last finished level and\n" +
        "ends where the uninterrupted run ends.\n" +
        "Ctrl-C or SIGTERM stops after the current iteration and keeps the best model so far. When a level diverges\n" +
        "or its line search fails, training says so in one line on standard error, still writes the best\n" +
        "model and exits with 0; the \"status\" field of --json tells (completed, lineSearchFailed,\n" +
        "diverged, cancelled).\n" +
        "With STABLEODE_PROFILE set (to anything) in the environment, every phase of every iteration writes\n" +
        "one line to standard error: its seconds, the bytes it allocated and the process's memory.\n" +
        "mpirun -np R stableode train … (Open MPI) trains data-parallel: every rank reads the data and trains\n" +
        "on its shard, rank 0 alone prints (progress as one line an iteration on standard error) and writes\n" +
        "--model-out, and the parameters are one process's, whatever R (at most one rank per 128 training\n" +
        "examples, 64 ranks in all); a failure on any rank ends every rank with one line (mpirun --quiet\n" +
        "leaves out Open MPI's own notice). See docs/distributed.md.";

    /// <inheritdoc/>
    public override IReadOnlyList<Option> Options { get; } =
    [
        new("dataset", "A built-in data set: ellipses, swissroll, peaks, mnist or fashion-mnist (case-insensitive).", "NAME"),
        new("data", "The folder of IDX files for mnist and fashion-mnist (fashion-mnist: /usr/share/datasets/fashion-mnist).", "DIR"),
        new("images", "Images of any IDX pair (count × height × width, unsigned bytes), with --labels.", "FILE"),
        new("labels", "The IDX labels (0…9) of --images.", "FILE"),
        new("train-size", "Training images of the seeded split (default 50,000, or 80 % of fewer than 60,000).", "N"),
        new("validation-size", "Validation images of the seeded split (default 10,000, or 20 % of fewer than 60,000).", "N"),
        new("train", "Training examples (CSV, label in the last column), with --validation.", "FILE"),
        new("validation", "Validation examples (CSV), with --train.", "FILE"),
        new("classes", "The number of classes of CSV data, when some class has no example (default: the largest label + 1, and every class below it must occur in --train).", "M"),
        new("propagator", "resnet, antisymmetric, leapfrog, verlet or verlet4 (default verlet).", "NAME"),
        new("scheme", "A custom scheme: a JSON stage list (SPEC §1b, §9) instead of --propagator.", "FILE"),
        new("width", "The network's width n, or its channels for images (default per data set).", "N"),
        new("aux-width", "The width m of the momentum Z of a scheme that has one (default 4n for peaks, n otherwise).", "M"),
        new("final-time", "The final time T (default per data set).", "T"),
        new("activation", "tanh, relu or identity (default tanh).", "NAME"),
        new("levels", "The depths of the multilevel schedule, doubling (default 4,8,…,1024).", "LIST"),
        new("iterations", string.Create(CultureInfo.InvariantCulture, $"Block coordinate descent iterations at every level, or of the levels in order with the last for every deeper one, such as 7,3 (default {Core.TrainingOptionsModule.defaults.Iterations}; {ImageIterations} for images)."), "K[,K…]"),
        new("classification-newton", string.Create(CultureInfo.InvariantCulture, $"Newton–PCG iterations of the classification step in a level's first iteration and, after a comma, in its later ones (default {Core.TrainingOptionsModule.defaults.Classification.NewtonIterations}; {ImageNewton} for images)."), "K[,L]"),
        new("classifier-at-prolongation", $"keep the coarse level's classifier or refit it to the finer network (default refit; {(ImageOptions.Refit is null ? "keep" : "refit")} for images).", "keep|refit"),
        new("hessian-subsample", string.Create(CultureInfo.InvariantCulture, $"Images: training images drawn afresh every iteration for the Gauss–Newton curvature (default {Core.TrainingOptionsModule.images(Core.Propagator.Verlet, 1, 1, 1).Propagation.HessianSubsample:N0}; the paper: 5,000)."), "N"),
        new("alpha", "The weight α of the smoothness-in-time regulariser (default per data set).", "A"),
        new("seed", "The seed of the data and of training (default 1).", "S"),
        new("model-out", "Where to write the best model (stableode-model/1 JSON): a checkpoint, rewritten atomically before the first level, after every level and at least every five minutes.", "FILE"),
        new("resume", "Continue the run whose --model-out checkpoint this is, with its settings, after its last finished level (writes to the same file unless --model-out is given).", "FILE"),
        new("json", "Print only one JSON object with the per-level results and every iteration's accuracies and seconds (its \"history\")."),
    ];

    private static Core.TrainingOptions ImageOptions => Core.TrainingOptionsModule.images(Core.Propagator.Verlet, 1, 1, 1);

    private static string ImageIterations => string.Join(",", ImageOptions.LevelIterations.Append(ImageOptions.Iterations));

    private static string ImageNewton => string.Create(CultureInfo.InvariantCulture, $"{ImageOptions.Classification.NewtonIterations},{ImageOptions.Classification.LaterNewtonIterations?.Value ?? ImageOptions.Classification.NewtonIterations}");

    /// <inheritdoc/>
    public override int Execute(ParsedOptions options, TextWriter stdout, TextWriter stderr) => Execute(options, stdout, stderr, null);

    /// <summary>
    /// Runs the command as one rank of data-parallel training (SPEC §11) when <paramref name="mpi"/> is given: every rank
    /// reads the same data and trains on its shard; rank 0 alone checks and writes --model-out (the other ranks are given
    /// null writers). The ranks agree (<see cref="Mpi.Agree"/>) once every one of them is ready to train.
    /// </summary>
    /// <param name="options">The parsed options.</param>
    /// <param name="stdout">Where the result goes.</param>
    /// <param name="stderr">Where progress and warnings go.</param>
    /// <param name="mpi">The ranks, or null for one process.</param>
    /// <returns>The exit code: 0 on success.</returns>
    internal int Execute(ParsedOptions options, TextWriter stdout, TextWriter stderr, Mpi? mpi)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(stdout);
        ArgumentNullException.ThrowIfNull(stderr);
        var resume = options.Value("resume");
        var checkpoint = resume is null ? null : Resumed(options, resume);
        var modelOut = options.Value("model-out") ?? resume;
        var settings = checkpoint is null ? options : ParsedOptions.Parse(Name, Options, checkpoint.Run);
        var result = Train(settings, checkpoint, modelOut, stderr, mpi, out var network, out var trainer, out var source);
        var statusLine = StatusLine(result, modelOut);
        if (statusLine is not null)
        {
            stderr.Write($"stableode: {statusLine}\n");
        }

        if (options.Has("json"))
        {
            stdout.Write(Json(result, modelOut, mpi));
        }
        else
        {
            Table(result, network, trainer, source, modelOut, mpi, stdout);
        }

        return 0;
    }

    /// <summary>The checkpoint of <c>--resume FILE</c>, which brings the run's settings: only --model-out and --json may go with it.</summary>
    private static TrainingCheckpoint Resumed(ParsedOptions options, string path)
    {
        var other = options.Given.FirstOrDefault(name => name is not ("resume" or "model-out" or "json"));
        if (other is not null)
        {
            throw new UsageException($"--resume continues the run with the settings its checkpoint records; only --model-out and --json go with it, not --{other}");
        }

        return TrainingCheckpoint.Load(path);
    }

    /// <summary>Builds the data, trainer and network of the settings and trains (continuing after the checkpoint's levels, when there are any).</summary>
    private TrainingResult Train(ParsedOptions options, TrainingCheckpoint? checkpoint, string? modelOut, TextWriter stderr, Mpi? mpi, out Network network, out Trainer trainer, out DataSource source)
    {
        var seed = options.Integer("seed", 1);
        source = DataSource.From(DataChoice.Of(options), seed);
        var scheme = options.Value("scheme") is { } schemePath ? Scheme.Load(schemePath) : null;
        var customNamed = string.Equals(options.Value("propagator"), "custom", StringComparison.OrdinalIgnoreCase);
        if (scheme is not null && options.Has("propagator") && !customNamed)
        {
            throw new UsageException("--scheme gives the stages of a custom propagator: leave out --propagator (or give custom)");
        }

        if (scheme is null && customNamed)
        {
            throw new UsageException("--propagator custom needs its stages: give --scheme FILE.json");
        }

        var propagator = scheme is not null ? Propagator.Custom : options.Propagator("propagator", Propagator.Verlet);
        var activation = options.Activation("activation", Activation.Tanh);
        var levels = ParseLevels(options.Integers("levels", source.Levels), options.Value("levels"));
        var width = options.Integer("width", source.DefaultWidth(propagator));
        if (source.Image is null && width < source.Training.Width)
        {
            throw new UsageException($"--width {width} is less than the data's {source.Training.Width} features");
        }

        if (source.Image is not null && width < 1)
        {
            throw new UsageException($"--width (the channels of the images) must be at least 1, got {width}");
        }

        var auxWidth = options.Integer("aux-width", source.DefaultAuxWidth(width));
        if (options.Has("aux-width") && !(scheme ?? Scheme.Of(propagator)).UsesZ || options.Has("aux-width") && propagator == Propagator.Leapfrog)
        {
            throw new UsageException("--aux-width applies to a scheme with a momentum Z of its own width (verlet, verlet4, a custom scheme)");
        }

        if (options.Has("aux-width") && source.Image is not null)
        {
            throw new UsageException("--aux-width does not apply to images: the Verlet momentum has as many channels as the network");
        }

        var finalTime = options.Number("final-time", source.FinalTime);
        Positive(finalTime, "final-time");
        if (options.Integers("iterations", []).FirstOrDefault(k => k < 1, 1) is var few and < 1)
        {
            throw new UsageException($"--iterations must be at least 1, got {few}");
        }

        var newton = options.Integers("classification-newton", []);
        if (newton.Count > 2 || newton.Any(k => k < 1))
        {
            throw new UsageException($"--classification-newton expects one or two counts of at least 1 (a level's first iteration, its later ones), got '{options.Value("classification-newton")}'");
        }

        var atProlongation = options.Value("classifier-at-prolongation");
        if (atProlongation is not (null or "keep" or "refit"))
        {
            throw new UsageException($"--classifier-at-prolongation expects keep or refit, got '{atProlongation}'");
        }

        var levelIterations = options.Integers("iterations", []);
        if (levelIterations.Count > levels.Count)
        {
            throw new UsageException($"--iterations gives {levelIterations.Count} counts for {levels.Count} levels");
        }

        int? hessianSubsample = options.Has("hessian-subsample") ? options.Integer("hessian-subsample", 0) : null;
        if (hessianSubsample < 1)
        {
            throw new UsageException($"--hessian-subsample must be at least 1, got {hessianSubsample}");
        }

        double? alpha = options.Has("alpha") ? options.Number("alpha", 0.0) : null;
        if (alpha is { } a)
        {
            Positive(a, "alpha");
        }

        if (auxWidth < 1)
        {
            throw new UsageException($"--aux-width must be at least 1, got {auxWidth}");
        }

        if (modelOut is not null && mpi is not { Rank: > 0 })
        {
            CheckWritable(modelOut);
        }

        int? chosenIterations = options.Has("iterations") ? options.Integers("iterations", [])[^1] : null;
        trainer = (source.Paper, source.Image) switch
        {
            ({ } experiment, _) => Trainer.ForDataset(Enum.Parse<PaperDataset>(experiment.Name, ignoreCase: true), alpha, chosenIterations, seed),
            (_, { } image) when scheme is not null => Trainer.ForImages(scheme, width, image.Height, image.Width, alpha, chosenIterations, hessianSubsample, seed),
            (_, { } image) => Trainer.ForImages(propagator, width, image.Height, image.Width, alpha, chosenIterations, hessianSubsample, seed),
            _ => new Trainer(smoothness: alpha, iterations: chosenIterations, seed: seed),
        };
        network = (source.Image, propagator) switch
        {
            ({ } image, _) when scheme is not null => Network.Convolutional(scheme, width, image.Height, image.Width, levels[0], finalTime, activation),
            ({ } image, _) => Network.Convolutional(propagator, width, image.Height, image.Width, levels[0], finalTime, activation),
            (_, Propagator.Custom) => Network.Custom(scheme!, width, levels[0], finalTime, activation, auxWidth),
            (_, Propagator.Verlet4) => Network.Verlet4(width, levels[0], finalTime, activation, auxWidth),
            (_, Propagator.ResNet) => Network.ResNet(width, levels[0], finalTime, activation),
            (_, Propagator.Antisymmetric) => Network.Antisymmetric(width, levels[0], finalTime, activation),
            (_, Propagator.Leapfrog) => Network.Leapfrog(width, levels[0], finalTime, activation),
            _ => Network.Verlet(width, levels[0], finalTime, activation, auxWidth),
        };

        if (levelIterations.Count > 1)
        {
            trainer = trainer.WithLevelIterations([.. levelIterations]);
        }

        if (newton.Count > 0)
        {
            trainer = trainer.WithClassificationNewton(newton[0], newton[^1]);
        }

        if (atProlongation is not null)
        {
            trainer = trainer.WithClassifierRefit(atProlongation == "refit");
        }

        if (!string.IsNullOrEmpty(Environment.GetEnvironmentVariable("STABLEODE_PROFILE")))
        {
            trainer = trainer.WithProfile(line => stderr.Write(line + "\n"));
        }

        var checkpointing = modelOut is null ? null : new Checkpointing(modelOut, RunOf(options));
        var (training, validation) = (source.Training, source.Validation);
        if (mpi is not null)
        {
            (training, validation) = (training.Shard(mpi.Rank, mpi.Size), validation.ValidationShard(mpi.Rank, mpi.Size));
            trainer = trainer.OnRanks(mpi.Rank, mpi.Size, mpi.Gather);
            mpi.Agree(null);
        }

        var lines = mpi is null ? null : new Immediate<TrainingProgress>(p => stderr.Write(ProgressLine(p, mpi)));
        return Run(trainer, network, training, validation, levels[^1], checkpointing, checkpoint, mpi is null, mpi is null && ReferenceEquals(stderr, Console.Error) && !Console.IsErrorRedirected, lines);
    }

    /// <summary>
    /// One iteration's line on several ranks, where no live display runs (mpirun passes a rank's standard error through a pipe):
    /// the iteration as <see cref="TrainingProgress.ToString"/> gives it and the communication so far.
    /// </summary>
    private static string ProgressLine(TrainingProgress progress, Mpi mpi) => string.Create(
        CultureInfo.InvariantCulture,
        $"{progress}; {mpi.Reductions} reductions, {Bytes(8 * mpi.DoublesSent)} sent by each rank so far\n");

    /// <summary>A number of bytes in kB below a megabyte, in MB from there.</summary>
    private static string Bytes(long bytes) => bytes < 1_000_000
        ? string.Create(CultureInfo.InvariantCulture, $"{bytes / 1e3:F1} kB")
        : string.Create(CultureInfo.InvariantCulture, $"{bytes / 1e6:F1} MB");

    /// <summary>The settings a checkpoint records: the options that make the run, with the data's paths made absolute so that a resume from another folder reads the same files.</summary>
    private static IReadOnlyList<string> RunOf(ParsedOptions options)
    {
        var run = options.Arguments("resume", "model-out", "json").ToArray();
        for (var i = 0; i + 1 < run.Length; i++)
        {
            if (run[i] is "--train" or "--validation" or "--images" or "--labels" or "--data")
            {
                run[i + 1] = Path.GetFullPath(run[i + 1]);
            }
        }

        return run;
    }

    /// <summary>
    /// Trains; with Ctrl-C or SIGTERM stopping after the current iteration when <paramref name="interruptible"/> (not on several ranks, where mpirun ends the
    /// ranks on Ctrl-C and the console is not touched), with the live progress display when <paramref name="interactive"/>, and otherwise
    /// with <paramref name="lines"/> (if any) told of every iteration.
    /// </summary>
    private static TrainingResult Run(Trainer trainer, Network network, Dataset training, Dataset validation, int maxDepth, Checkpointing? checkpointing, TrainingCheckpoint? checkpoint, bool interruptible, bool interactive, IProgress<TrainingProgress>? lines)
    {
        TrainingResult Work(CancellationToken cancel)
        {
            TrainingResult Fit(IProgress<TrainingProgress>? progress) => (checkpointing, checkpoint) switch
            {
                ({ } c, { Levels.Count: > 0 } resumed) => trainer.ResumeMultilevel(resumed, training, validation, maxDepth, c, progress, cancel),
                ({ } c, _) => trainer.FitMultilevel(network, training, validation, maxDepth, c, progress, cancel),
                _ => trainer.FitMultilevel(network, training, validation, maxDepth, progress, cancel),
            };

            if (!interactive)
            {
                return Fit(lines);
            }

            TrainingResult? result = null;
            Output.Progress().Progress()
                .AutoClear(false)
                .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn { Width = 10 }, new ElapsedTimeColumn(), new RemainingTimeColumn())
                .Start(context =>
                {
                    ProgressTask? task = null;
                    var depth = 0;
                    var progress = new Immediate<TrainingProgress>(p =>
                    {
                        if (p.Depth != depth || task is null)
                        {
                            task?.StopTask();
                            task = context.AddTask(Describe(p), maxValue: p.Iterations);
                            depth = p.Depth;
                        }

                        task.Description = Describe(p);
                        task.Value = p.Iteration;
                    });
                    result = Fit(progress);
                    task?.StopTask();
                });
            return result!;
        }

        return interruptible ? Output.Interruptible(Work) : Work(CancellationToken.None);
    }

    private static string Describe(TrainingProgress p) => string.Create(
        CultureInfo.InvariantCulture,
        $"N={p.Depth,-4} it {p.Iteration,3}/{p.Iterations} obj {p.Objective,9:G3} train {p.TrainingAccuracy,6:P1} val {p.ValidationAccuracy,6:P1} best {p.BestValidationAccuracy,6:P1}");

    private static string? StatusLine(TrainingResult result, string? modelOut)
    {
        var best = result.Levels.First(l => l.BestModel.Network.Depth == result.BestModel.Network.Depth && l.BestValidationAccuracy == result.BestValidationAccuracy);
        var kept = string.Create(CultureInfo.InvariantCulture, $"kept the best model so far (validation accuracy {result.BestValidationAccuracy:P2} at {best.Depth} layers)")
            + (modelOut is null ? string.Empty : $" and wrote it to {modelOut}");
        string Depths(TrainingStatus status) => string.Join(", ", result.Levels.Where(l => l.Status == status).Select(l => l.Depth.ToString(CultureInfo.InvariantCulture)));
        return result.Status switch
        {
            TrainingStatus.Cancelled => $"interrupted at {Depths(TrainingStatus.Cancelled)} layers; {kept}",
            TrainingStatus.Diverged => $"training diverged at {Depths(TrainingStatus.Diverged)} layers (the objective became NaN or infinite) and stopped; {kept}",
            TrainingStatus.LineSearchFailed => $"the line search failed at {Depths(TrainingStatus.LineSearchFailed)} layers (those levels stopped early, deeper ones went on); {kept}",
            _ => null,
        };
    }

    /// <summary>The status word of the core (<c>StatusWord.name</c>: completed, lineSearchFailed, diverged, cancelled), which is the facade's status name in camel case.</summary>
    internal static string StatusName(TrainingStatus status) => JsonNamingPolicy.CamelCase.ConvertName(status.ToString());
    private static string Json(TrainingResult result, string? modelOut, Mpi? mpi) =>
        Output.Json(json =>
        {
            json.WriteStartObject();
            json.WriteStartArray("levels");
            foreach (var level in result.Levels)
            {
                json.WriteStartObject();
                json.WriteNumber("layers", level.Depth);
                json.WriteNumber("bestValidationAccuracy", level.BestValidationAccuracy);
                json.WriteNumber("trainingAccuracy", level.TrainingAccuracy);
                json.WriteNumber("seconds", Math.Round(level.Seconds, 3));
                json.WriteNumber("iterations", level.Iterations);
                json.WriteNumber("bestIteration", level.BestIteration);
                json.WriteString("status", StatusName(level.Status));
                json.WriteStartArray("history");
                foreach (var iteration in level.History)
                {
                    json.WriteStartObject();
                    json.WriteNumber("iteration", iteration.Iteration);
                    if (double.IsFinite(iteration.Objective))
                    {
                        json.WriteNumber("objective", iteration.Objective);
                    }
                    else
                    {
                        json.WriteNull("objective");
                    }
                    json.WriteNumber("trainingAccuracy", iteration.TrainingAccuracy);
                    json.WriteNumber("validationAccuracy", iteration.ValidationAccuracy);
                    json.WriteNumber("seconds", Math.Round(iteration.Seconds, 3));
                    json.WriteEndObject();
                }

                json.WriteEndArray();
                json.WriteEndObject();
            }

            json.WriteEndArray();
            json.WriteNumber("bestValidationAccuracy", result.BestValidationAccuracy);
            json.WriteNumber("bestLayers", result.BestModel.Network.Depth);
            json.WriteString("status", StatusName(result.Status));
            json.WriteNumber("seconds", Math.Round(result.Seconds, 3));
            if (modelOut is null)
            {
                json.WriteNull("model");
            }
            else
            {
                json.WriteString("model", modelOut);
            }

            if (mpi is not null)
            {
                json.WriteStartObject("ranks");
                json.WriteNumber("size", mpi.Size);
                json.WriteNumber("reductions", mpi.Reductions);
                json.WriteNumber("bytesSentPerRank", 8 * mpi.DoublesSent);
                json.WriteNumber("secondsInGather", Math.Round(mpi.GatherSeconds, 3));
                json.WriteStartArray("byLength");
                foreach (var (length, (count, seconds)) in mpi.ByLength)
                {
                    json.WriteStartObject();
                    json.WriteNumber("doublesSent", length);
                    json.WriteNumber("count", count);
                    json.WriteNumber("seconds", Math.Round(seconds, 3));
                    json.WriteEndObject();
                }

                json.WriteEndArray();
                json.WriteEndObject();
            }

            json.WriteEndObject();
        });

    private static void Table(TrainingResult result, Network network, Trainer trainer, DataSource source, string? modelOut, Mpi? mpi, TextWriter stdout)
    {
        var console = Output.Plain(stdout);
        console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{network.WithDepth(result.Levels[0].Depth)} on {source.Name} ({source.Training.Count} training, {source.Validation.Count} validation examples); α = {trainer.Smoothness:G3}, {(trainer.LevelIterations.Count == 0 ? "" : string.Join(", ", trainer.LevelIterations) + ", then ")}{trainer.Iterations} iterations a level, the curvature on {trainer.HessianSubsample:N0}, seed {trainer.Seed}"));
        var table = new Table().AddColumn("layers").AddColumn("best validation").AddColumn("training").AddColumn("best iteration").AddColumn("seconds").AddColumn("status");
        foreach (var level in result.Levels)
        {
            table.AddRow(
                level.Depth.ToString(CultureInfo.InvariantCulture),
                level.BestValidationAccuracy.ToString("P2", CultureInfo.InvariantCulture),
                level.TrainingAccuracy.ToString("P2", CultureInfo.InvariantCulture),
                level.BestIteration.ToString(CultureInfo.InvariantCulture),
                level.Seconds.ToString("F1", CultureInfo.InvariantCulture),
                StatusName(level.Status));
        }

        console.Write(table);
        console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"Best validation accuracy {result.BestValidationAccuracy:P2} at {result.BestModel.Network.Depth} layers ({StatusName(result.Status)}, {result.Seconds:F1} s)")
            + (modelOut is null ? "; no --model-out, the model is not saved" : $"; model written to {modelOut}"));
        if (mpi is not null)
        {
            console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"On {mpi.Size} ranks: {mpi.Reductions} reductions, {Bytes(8 * mpi.DoublesSent)} sent by each rank (and {mpi.Size} times as much received), {mpi.GatherSeconds:F1} s in them on rank 0"));
        }
    }

    private static IReadOnlyList<int> ParseLevels(IReadOnlyList<int> levels, string? text)
    {
        var doubling = levels.Count > 0 && levels[0] >= 1 && levels.Zip(levels.Skip(1)).All(p => (long)p.Second == 2L * p.First);
        return doubling
            ? levels
            : throw new UsageException($"--levels must be depths of at least 1 that double from one to the next (such as 4,8,16), got '{text}'");
    }

    private static void Positive(double value, string name)
    {
        if (!(value > 0.0))
        {
            throw new UsageException(string.Create(CultureInfo.InvariantCulture, $"--{name} must be positive, got {value}"));
        }
    }

    /// <summary>Fails before training when the model file could not be written afterwards.</summary>
    private static void CheckWritable(string path)
    {
        var full = Path.GetFullPath(path);
        if (Directory.Exists(full))
        {
            throw new UsageException($"--model-out '{path}' is a folder, not a file");
        }

        var folder = Path.GetDirectoryName(full) ?? full;
        if (!Directory.Exists(folder))
        {
            throw new UsageException($"cannot write --model-out '{path}': the folder '{folder}' does not exist");
        }

        var probe = Path.Combine(folder, $".{Path.GetFileName(full)}.{Guid.NewGuid():N}.probe");
        try
        {
            using var stream = new FileStream(probe, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1, FileOptions.DeleteOnClose);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UsageException($"cannot write --model-out '{path}': {e.Message.Replace(probe, path, StringComparison.Ordinal)}");
        }
    }

    /// <summary>An <see cref="IProgress{T}"/> that reports on the caller's thread at once.</summary>
    private sealed class Immediate<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }

    /// <summary>The training and validation sets and the paper's defaults for them.</summary>
    private sealed record DataSource(string Name, Dataset Training, Dataset Validation, Experiment? Paper, ImageShape? Image, double FinalTime)
    {
        /// <summary>The data of a choice: the seeded split of a built-in set or of images (the experiment's sizes unless chosen), or the CSV pair.</summary>
        public static DataSource From(DataChoice choice, int seed) => choice switch
        {
            DataChoice.BuiltIn { Experiment: var e } => FromExperiment(e, seed),
            DataChoice.CsvPair c => FromCsv(c.Training, c.Validation, c.Classes),
            DataChoice.IdxPair p => FromImages(ImageSet.Load(p.Images, p.Labels), Path.GetFileName(p.Images), p.Sizes, seed),
            DataChoice.Folder f => FromImages(ImageSet.LoadFolder(f.Location), f.Dataset, f.Sizes, seed),
            _ => throw new ArgumentOutOfRangeException(nameof(choice), choice, "no such data choice"),
        };

        private static DataSource FromExperiment(Experiment paper, int seed)
        {
            var (training, validation) = Datasets.Load(Enum.Parse<PaperDataset>(paper.Name, ignoreCase: true), seed);
            return new DataSource(paper.Name, training, validation, paper, null, paper.FinalTime);
        }

        /// <summary>MNIST-style images split at random (seeded) into training and validation images.</summary>
        private static DataSource FromImages(ImageSet set, string name, ImageSizes sizes, int seed)
        {
            var count = set.Data.Count;
            var (trainingDefault, validationDefault) = Experiments.images.SplitCounts.Invoke(count);
            var trainingSize = sizes.Training ?? trainingDefault;
            var validationSize = sizes.Validation ?? validationDefault;
            if (trainingSize < 1 || validationSize < 1)
            {
                throw new UsageException($"--train-size and --validation-size must be at least 1, got {trainingSize} and {validationSize}");
            }

            if ((long)trainingSize + validationSize > count)
            {
                throw new UsageException($"{trainingSize} training and {validationSize} validation images are more than the {count} there are");
            }

            var (training, validation) = set.Data.Split(trainingSize, validationSize, seed);
            return new DataSource(name, training, validation, null, new ImageShape(set.Height, set.Width), Experiments.images.FinalTime);
        }

        /// <summary>
        /// Training and validation CSV files. Their classes are 0…M − 1 with M = <paramref name="classes"/>, or
        /// the largest label + 1 when it is null; then a class below the largest label without a training
        /// example is an error (labels 0, 1, 7 would silently make eight classes).
        /// </summary>
        private static DataSource FromCsv(string trainPath, string validationPath, int? classes)
        {
            var training = Dataset.FromCsv(trainPath);
            var validation = Dataset.FromCsv(validationPath);
            var trainName = Path.GetFileName(trainPath);
            var validationName = Path.GetFileName(validationPath);
            if (validation.Width != training.Width)
            {
                throw new InvalidDataException($"{validationName} has {validation.Width} features but {trainName} has {training.Width}");
            }

            if (classes is { } m)
            {
                if (m < 2)
                {
                    throw new UsageException($"--classes must be at least 2, got {m}");
                }

                Inputs.CheckLabels(training, m, trainPath, "--classes");
                Inputs.CheckLabels(validation, m, validationPath, "--classes");
                return new DataSource(trainName, WithClasses(training, m), WithClasses(validation, m), null, null, 20.0);
            }

            Inputs.CheckLabels(validation, training.Classes, validationPath, trainName);
            var missing = Enumerable.Range(0, training.Classes).Except(training.Labels).ToArray();
            if (missing.Length > 0)
            {
                var plural = missing.Length == 1 ? "class" : "classes";
                throw new InvalidDataException(
                    $"{trainName}: the labels run to {training.Classes - 1} but no example has the {plural} {string.Join(", ", missing)}; " +
                    $"give --classes {training.Classes} if the data has {training.Classes} classes, or number the classes without gaps");
            }

            return new DataSource(trainName, training, validation, null, null, 20.0);
        }

        private static Dataset WithClasses(Dataset data, int classes) => Dataset.FromArrays(data.Features, data.Labels, classes);

        /// <summary>The depths of the multilevel schedule: the experiment's (4, 8, …, 1024; images 4, 8, 16; CSV data as the ellipses).</summary>
        public IReadOnlyList<int> Levels => [.. Image is null ? (Paper ?? Experiments.ellipses).Levels : Experiments.images.Levels];

        /// <summary>The experiment's width for the propagator (SPEC §8); its channels for images; the data's width for CSV.</summary>
        public int DefaultWidth(Propagator propagator) => (Paper, Image) switch
        {
            ({ } paper, _) => paper.Width.Invoke(propagator is Propagator.Custom ? Core.Propagator.ResNet : ParsedOptions.CorePropagator(propagator)),
            (_, { }) => Experiments.images.Channels,
            _ => Training.Width,
        };

        /// <summary>The experiment's width m of the Verlet momentum for a network of width n (peaks: <c>Datasets.peaksMomentumWidth</c>); n otherwise.</summary>
        public int DefaultAuxWidth(int width) => Paper is { } paper ? paper.MomentumWidth.Invoke(width) : width;
    }

    /// <summary>The size of the images of an image data set.</summary>
    private sealed record ImageShape(int Height, int Width);
}
