using Microsoft.FSharp.Collections;
using Microsoft.FSharp.Core;

namespace StableOde;

/// <summary>
/// Block coordinate descent (SPEC §5, paper §6): every iteration draws a batch, takes Newton–PCG
/// steps on the classifier (W, μ) with the network fixed and one Gauss–Newton–PCG step on the
/// network's parameters θ with the classifier fixed, and keeps the parameters with the best
/// validation accuracy. Multilevel training doubles the depth by piecewise-linear prolongation in
/// time (§5.3). Every option defaults to the paper's setting; immutable and reusable.
/// </summary>
public sealed class Trainer
{
    private Trainer(Core.TrainingOptions options, Core.Ranks? ranks = null, Action<string>? profile = null)
    {
        Options = options;
        Ranks = ranks ?? Core.RanksModule.single;
        ProfileSink = profile;
    }

    /// <summary>A trainer with the paper's settings; any option may be overridden.</summary>
    /// <param name="smoothness">α_θ, the weight of the smoothness-in-time regulariser (Eq. 5.23); finite and positive. Null: 1e-3 (the ellipses).</param>
    /// <param name="iterations">Block coordinate descent iterations at every level; at least 1. Null: the default of the core.</param>
    /// <param name="batchSize">Training examples drawn for the batch of every iteration; at least 1. Null: 2,000.</param>
    /// <param name="hessianSubsample">Examples of the batch on which the Gauss–Newton curvature is evaluated; at least 1. Null: 1,000.</param>
    /// <param name="initialScale">Standard deviation of the random initial θ; finite and non-negative. Null: the default of the core.</param>
    /// <param name="hypothesis">The classifier's hypothesis; null for logistic regression with two classes and softmax otherwise.</param>
    /// <param name="seed">The seed of every random choice (initial θ, batches, curvature subsamples).</param>
    /// <param name="refitClassifier">After every prolongation, fit the classifier anew to the finer network (true, the default) or keep the coarse level's (false, the paper's §5.3); see <see cref="RefitsClassifier"/>.</param>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range.</exception>
    public Trainer(double? smoothness = null, int? iterations = null, int? batchSize = null, int? hessianSubsample = null, double? initialScale = null, Hypothesis? hypothesis = null, int seed = 1, bool refitClassifier = true)
        : this(Configure(Core.TrainingOptionsModule.defaults, seed, smoothness, iterations, batchSize, hessianSubsample, initialScale, hypothesis, refitClassifier))
    {
    }

    internal Core.TrainingOptions Options { get; }

    private Core.Ranks Ranks { get; }

    private Action<string>? ProfileSink { get; }

    /// <summary>The rank of this process in data-parallel training (SPEC §11); 0 for one process.</summary>
    public int Rank => Ranks.Rank;

    /// <summary>The number of ranks of data-parallel training; 1 for one process.</summary>
    public int RankCount => Ranks.Size;

    /// <summary>
    /// This trainer as rank <paramref name="rank"/> of <paramref name="size"/> processes of data-parallel training
    /// (SPEC §11): every rank is given its own shard of the training and validation sets (<see cref="Dataset.Shard"/>, <see cref="Dataset.ValidationShard"/>)
    /// and the same network and options. The examples fall into fixed parts; every sum over examples is formed part by part,
    /// the parts' sums meet in <paramref name="gather"/> and are added in part order, so every rank computes the very
    /// parameters one process computes on all the examples, whatever the number of ranks. Checkpoints are written by rank 0 alone.
    /// </summary>
    /// <param name="rank">This process's rank, 0 … <paramref name="size"/> − 1.</param>
    /// <param name="size">The number of ranks; at least 1.</param>
    /// <param name="gather">The vectors every rank passes at the same point (all of one length), concatenated in rank order, on every rank (MPI_Allgather).</param>
    /// <returns>The trainer on the ranks.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="gather"/> is null.</exception>
    /// <exception cref="ArgumentException">The rank is not one of the ranks.</exception>
    public Trainer OnRanks(int rank, int size, Func<double[], double[]> gather)
    {
        ArgumentNullException.ThrowIfNull(gather);
        var ranks = new Core.Ranks(rank, size, FuncConvert.FromFunc(gather));
        Core.RanksModule.validate(ranks);
        return new Trainer(Options, ranks, ProfileSink);
    }

    /// <summary>
    /// This trainer with a profile: every phase of every iteration (the classification step, the gradient, the curvature's
    /// set-up, each Gauss–Newton product, each line-search trial, the accuracies) gives <paramref name="sink"/> one line
    /// with its seconds, the bytes it allocated and the process's memory (docs/images.md).
    /// </summary>
    /// <param name="sink">Receives one line (without its newline) per phase, on the training thread.</param>
    /// <returns>The trainer with the profile.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="sink"/> is null.</exception>
    public Trainer WithProfile(Action<string> sink)
    {
        ArgumentNullException.ThrowIfNull(sink);
        return new Trainer(Options, Ranks, sink);
    }

    /// <summary>
    /// This trainer with the block coordinate descent iterations of the levels of multilevel training in order, the last
    /// also for every deeper level: (7, 3) trains 7 iterations at the first depth and 3 at every deeper one.
    /// </summary>
    /// <param name="iterations">At least one count, each at least 1.</param>
    /// <returns>The trainer with the schedule.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="iterations"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException">No count is given, or one is below 1.</exception>
    public Trainer WithLevelIterations(params int[] iterations)
    {
        ArgumentNullException.ThrowIfNull(iterations);
        if (iterations.Length == 0)
        {
            throw new ArgumentOutOfRangeException(nameof(iterations), "give the iterations of at least one level.");
        }

        foreach (var k in iterations)
        {
            Guard.Positive(k, nameof(iterations));
        }

        return new Trainer(Core.TrainingOptionsModule.withLevelIterations(ListModule.OfSeq(iterations), Options), Ranks, ProfileSink);
    }

    /// <summary>
    /// This trainer with <paramref name="first"/> Newton–PCG iterations in the classification step of a level's first
    /// iteration and <paramref name="later"/> in every later one, where the classifier starts from the previous
    /// iteration's fit to features one Gauss–Newton step away.
    /// </summary>
    /// <param name="first">Newton–PCG iterations in a level's first iteration; at least 1.</param>
    /// <param name="later">Newton–PCG iterations in the later iterations; at least 1.</param>
    /// <returns>The trainer with the classification step's iterations.</returns>
    /// <exception cref="ArgumentOutOfRangeException">A count is below 1.</exception>
    public Trainer WithClassificationNewton(int first, int later)
    {
        Guard.Positive(first, nameof(first));
        Guard.Positive(later, nameof(later));
        return new Trainer(Core.TrainingOptionsModule.withClassificationNewton(first, later, Options), Ranks, ProfileSink);
    }

    /// <summary>
    /// This trainer fitting the classifier anew to every prolongated network (true) or keeping the coarse level's (false);
    /// see <see cref="RefitsClassifier"/>.
    /// </summary>
    /// <param name="refit">Whether to fit the classifier anew after every prolongation.</param>
    /// <returns>The trainer.</returns>
    public Trainer WithClassifierRefit(bool refit) => new(Core.TrainingOptionsModule.withRefit(refit, Options), Ranks, ProfileSink);

    /// <summary>The block coordinate descent iterations of the first levels, in order; every deeper level runs <see cref="Iterations"/>.</summary>
    public IReadOnlyList<int> LevelIterations => Options.LevelIterations.ToList();

    /// <summary>Newton–PCG iterations of the classification step in a level's first iteration.</summary>
    public int ClassificationNewtonIterations => Options.Classification.NewtonIterations;

    /// <summary>Newton–PCG iterations of the classification step in a level's later iterations.</summary>
    public int LaterClassificationNewtonIterations => OptionModule.DefaultValue(Options.Classification.NewtonIterations, Options.Classification.LaterNewtonIterations);

    /// <summary>α_θ, the weight of the smoothness-in-time regulariser.</summary>
    public double Smoothness => Options.Propagation.Regulariser.Alpha;

    /// <summary>Block coordinate descent iterations at every level after those of <see cref="LevelIterations"/>.</summary>
    public int Iterations => Options.Iterations;

    /// <summary>Training examples in the batch of every iteration (<see cref="int.MaxValue"/>: the whole training set).</summary>
    public int BatchSize => Options.BatchSize;

    /// <summary>Examples of the batch on which the Gauss–Newton curvature is evaluated.</summary>
    public int HessianSubsample => Options.Propagation.HessianSubsample;

    /// <summary>Standard deviation of the random initial θ.</summary>
    public double InitialScale => Options.InitialScale;

    /// <summary>The seed of every random choice.</summary>
    public int Seed => Options.Seed;

    /// <summary>
    /// True when multilevel training fits the classifier anew to every prolongated network (≤ 10
    /// Newton–PCG iterations of ≤ 10 PCG iterations from zero, on the whole training set) before its
    /// first iteration; false when the finer level starts with the coarse level's classifier. The
    /// two-dimensional data sets refit: their coarse networks (T = 20, h = 5 at 4 layers) are far
    /// from the ODE regime, and against the kept classifier the first Gauss–Newton steps of a finer
    /// level blew the weights up. Images refit it too (5 Newton–PCG iterations): on MNIST the prolongated
    /// Verlet network computes other features, on which the kept classifier scores 24 % (docs/images.md).
    /// </summary>
    public bool RefitsClassifier => Options.Refit is not null;

    /// <summary>
    /// The paper's settings for one of its data sets: α_θ = 1e-3 (ellipses), 5e-3 (swiss roll),
    /// 5e-6 (peaks, with batches of all 4,000 training examples); the other options as in the
    /// constructor, which may override them; the classifier is fitted anew after every
    /// prolongation (<see cref="RefitsClassifier"/>).
    /// </summary>
    /// <param name="dataset">The data set.</param>
    /// <param name="smoothness">α_θ instead of the data set's; null for the paper's.</param>
    /// <param name="iterations">Iterations at every level; null for the default.</param>
    /// <param name="seed">The seed of every random choice.</param>
    /// <returns>The trainer.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="dataset"/> is not defined, or an option is out of range.</exception>
    public static Trainer ForDataset(PaperDataset dataset, double? smoothness = null, int? iterations = null, int seed = 1)
    {
        Guard.Defined(dataset, nameof(dataset));
        return new Trainer(Configure(Datasets.Experiment(dataset).Options, seed, smoothness, iterations));
    }

    /// <summary>
    /// The paper's settings for a network of <paramref name="propagator"/> on images (§6.4, MNIST) of <paramref name="channels"/> channels of
    /// <paramref name="height"/>×<paramref name="width"/> pixels: α_θ = 5e-3; the gradient over the
    /// whole training set and the Gauss–Newton curvature on 1,000 of its examples (≤ 10 PCG
    /// iterations; the paper's 5,000 and 20 cost more time for the same accuracy, docs/images.md);
    /// the classifier ≤ 5 Newton–PCG iterations of ≤ 10 PCG iterations with the
    /// Laplacian on its weight images, α_W = 0.01, fitted anew after every prolongation (the paper keeps it: docs/images.md);
    /// 10 iterations at the first level and 5 at every deeper one (the paper's levels are 4, 8, 16;
    /// it does not give their iterations): the coarsest level is the cheapest and has gone furthest (docs/images.md).
    /// Leapfrog and Verlet recompute their states backwards for the adjoint, so memory does not grow with depth.
    /// </summary>
    /// <param name="propagator">The network's time-stepping scheme.</param>
    /// <param name="channels">The network's channels c (the paper: 6); the weight images of the classifier have c channels.</param>
    /// <param name="height">The image height in pixels.</param>
    /// <param name="width">The image width in pixels.</param>
    /// <param name="smoothness">α_θ instead of 5e-3; null for the paper's.</param>
    /// <param name="iterations">Iterations at every level; null for 10 at the first and 5 at every deeper one.</param>
    /// <param name="hessianSubsample">Examples for the Gauss–Newton curvature; null for 1,000 (the paper: 5,000).</param>
    /// <param name="seed">The seed of every random choice.</param>
    /// <returns>The trainer.</returns>
    /// <exception cref="ArgumentOutOfRangeException">A size or an option is out of range.</exception>
    public static Trainer ForImages(Propagator propagator, int channels, int height, int width, double? smoothness = null, int? iterations = null, int? hessianSubsample = null, int seed = 1)
    {
        Guard.Defined(propagator, nameof(propagator));
        Guard.Positive(channels, nameof(channels));
        Guard.Positive(height, nameof(height));
        Guard.Positive(width, nameof(width));
        return new Trainer(Configure(Core.TrainingOptionsModule.images(Interop.ToCore(propagator), channels, height, width), seed, smoothness, iterations, hessianSubsample: hessianSubsample));
    }

    /// <summary>
    /// As <see cref="ForImages(Propagator, int, int, int, double?, int?, int?, int)"/> for a network of a
    /// custom scheme: the reversal adjoint when the scheme is invertible, else all states stored.
    /// </summary>
    /// <param name="scheme">The network's stage list.</param>
    /// <param name="channels">The network's channels c; the weight images of the classifier have c channels.</param>
    /// <param name="height">The image height in pixels.</param>
    /// <param name="width">The image width in pixels.</param>
    /// <param name="smoothness">α_θ instead of 5e-3; null for the paper's.</param>
    /// <param name="iterations">Iterations at every level; null for 10 at the first and 5 at every deeper one.</param>
    /// <param name="hessianSubsample">Examples for the Gauss–Newton curvature; null for 1,000 (the paper: 5,000).</param>
    /// <param name="seed">The seed of every random choice.</param>
    /// <returns>The trainer.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="scheme"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A size or an option is out of range.</exception>
    public static Trainer ForImages(Scheme scheme, int channels, int height, int width, double? smoothness = null, int? iterations = null, int? hessianSubsample = null, int seed = 1)
    {
        ArgumentNullException.ThrowIfNull(scheme);
        Guard.Positive(channels, nameof(channels));
        Guard.Positive(height, nameof(height));
        Guard.Positive(width, nameof(width));
        return new Trainer(Configure(Core.TrainingOptionsModule.images(Core.Propagator.NewCustom(scheme.Inner), channels, height, width), seed, smoothness, iterations, hessianSubsample: hessianSubsample));
    }

    /// <summary>
    /// Multilevel training (§5.3): trains at the network's depth from random parameters and a zero
    /// classifier, doubles the depth by prolongation in time (fitting the classifier anew or keeping
    /// it, see <see cref="RefitsClassifier"/>), trains again, … while the depth stays at most <paramref name="maxDepth"/>. Data narrower than the
    /// network is widened by repeating its features (SPEC §8).
    /// </summary>
    /// <param name="network">The architecture of the first level (its depth is the first depth).</param>
    /// <param name="training">The training set; at most <see cref="Network.Width"/> features.</param>
    /// <param name="validation">The validation set: as many features as <paramref name="training"/>, labels among its classes.</param>
    /// <param name="maxDepth">The deepest level; at least the network's depth.</param>
    /// <param name="progress">Called on the training thread after every iteration; null for none.</param>
    /// <param name="cancellationToken">Stops training before the next Newton iteration; the best model so far is returned with <see cref="TrainingStatus.Cancelled"/>.</param>
    /// <returns>Every level, the best model over all levels, and the status.</returns>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="ArgumentException">The data do not fit the network or each other.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="maxDepth"/> is below the network's depth.</exception>
    public TrainingResult FitMultilevel(Network network, Dataset training, Dataset validation, int maxDepth, IProgress<TrainingProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(network);
        if (maxDepth < network.Depth)
        {
            throw new ArgumentOutOfRangeException(nameof(maxDepth), maxDepth, $"maxDepth must be at least the network's depth {network.Depth}.");
        }

        var split = Split(network.Width, training, validation, null);
        var options = With(maxDepth);
        var start = Core.Training.initialModel(options, network.Inner, split.Training.Classes);
        return new TrainingResult(Core.Training.multilevelFrom(options, Control(progress, cancellationToken), start, split));
    }

    /// <summary>One level of block coordinate descent at the model's depth, starting from the model.</summary>
    /// <param name="start">The starting network parameters and classifier.</param>
    /// <param name="training">The training set; at most <see cref="Network.Width"/> features, labels among the model's classes.</param>
    /// <param name="validation">The validation set: as many features as <paramref name="training"/>, labels among the model's classes.</param>
    /// <param name="progress">Called on the training thread after every iteration; null for none.</param>
    /// <param name="cancellationToken">Stops training before the next Newton iteration; the best model so far is returned with <see cref="TrainingStatus.Cancelled"/>.</param>
    /// <returns>The one level, its best model and the status.</returns>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="ArgumentException">The data do not fit the model or each other.</exception>
    public TrainingResult Fit(Model start, Dataset training, Dataset validation, IProgress<TrainingProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(start);
        var split = Split(start.Network.Width, training, validation, start.Classes);
        var options = With(start.Network.Depth);
        return new TrainingResult(Core.Training.multilevelFrom(options, Control(progress, cancellationToken), start.Inner, split));
    }

    /// <summary>
    /// <see cref="FitMultilevel(Network, Dataset, Dataset, int, IProgress{TrainingProgress}?, CancellationToken)"/>,
    /// keeping a checkpoint: the best model so far and the finished levels are written atomically to
    /// <see cref="Checkpointing.Path"/> before the first level, after every level and during a level at least every
    /// <see cref="Checkpointing.Interval"/>, so a killed run leaves a loadable model and can be continued by
    /// <see cref="ResumeMultilevel"/>.
    /// </summary>
    /// <param name="network">The network of the first level (its depth is the first depth).</param>
    /// <param name="training">The training examples.</param>
    /// <param name="validation">The validation examples.</param>
    /// <param name="maxDepth">The deepest level.</param>
    /// <param name="checkpointing">Where the checkpoint goes.</param>
    /// <param name="progress">Called after every iteration.</param>
    /// <param name="cancellationToken">Stops training before the next Newton iteration.</param>
    /// <returns>Every level, the best model and the status.</returns>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="ArgumentException">The data do not fit the network or each other.</exception>
    /// <exception cref="System.IO.IOException">The checkpoint cannot be written; the message names <see cref="Checkpointing.Path"/>.</exception>
    public TrainingResult FitMultilevel(Network network, Dataset training, Dataset validation, int maxDepth, Checkpointing checkpointing, IProgress<TrainingProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(network);
        ArgumentNullException.ThrowIfNull(checkpointing);
        if (maxDepth < network.Depth)
        {
            throw new ArgumentOutOfRangeException(nameof(maxDepth), maxDepth, $"maxDepth must be at least the network's depth {network.Depth}.");
        }

        var split = Split(network.Width, training, validation, null);
        var options = With(maxDepth);
        var start = Core.MultilevelStart.NewFrom(Core.Training.initialModel(options, network.Inner, split.Training.Classes));
        return new TrainingResult(Core.CheckpointModule.multilevel(checkpointing.Path, checkpointing.RunList, checkpointing.Interval, options, Control(progress, cancellationToken), start, split));
    }

    /// <summary>
    /// Continues a checkpointed multilevel run after its finished levels, with this trainer's options and the same data
    /// (both as the interrupted run had them), still keeping a checkpoint. Every level draws its random
    /// choices from the seed and its depth alone, so the result is the one the uninterrupted run would have given.
    /// </summary>
    /// <param name="checkpoint">The checkpoint; it must hold at least one finished level.</param>
    /// <param name="training">The training examples of the interrupted run.</param>
    /// <param name="validation">Its validation examples.</param>
    /// <param name="maxDepth">The deepest level.</param>
    /// <param name="checkpointing">Where the checkpoint goes from now on (it may be the file read).</param>
    /// <param name="progress">Called after every iteration.</param>
    /// <param name="cancellationToken">Stops training before the next Newton iteration.</param>
    /// <returns>Every level (the checkpoint's first), the best model and the status.</returns>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="ArgumentException">The checkpoint holds no finished level, its levels go beyond <paramref name="maxDepth"/>, or the data do not fit its models.</exception>
    public TrainingResult ResumeMultilevel(TrainingCheckpoint checkpoint, Dataset training, Dataset validation, int maxDepth, Checkpointing checkpointing, IProgress<TrainingProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(checkpoint);
        ArgumentNullException.ThrowIfNull(checkpointing);
        var levels = checkpoint.Inner.Levels;
        if (levels.IsEmpty)
        {
            throw new ArgumentException("the checkpoint holds no finished level; start the run anew.", nameof(checkpoint));
        }

        var last = levels.Last();
        if (maxDepth < last.Depth)
        {
            throw new ArgumentOutOfRangeException(nameof(maxDepth), maxDepth, $"maxDepth must be at least the checkpoint's deepest level {last.Depth}.");
        }

        var split = Split(Core.NetworkModule.width(last.Final.Network), training, validation, Core.ClassifierModule.classes(last.Final.Classifier));
        var options = With(maxDepth);
        return new TrainingResult(Core.CheckpointModule.multilevel(checkpointing.Path, checkpointing.RunList, checkpointing.Interval, options, Control(progress, cancellationToken), Core.MultilevelStart.NewAfter(levels), split));
    }

    /// <inheritdoc/>
    public override string ToString() =>
        $"Trainer: α_θ = {Smoothness}, {(LevelIterations.Count == 0 ? "" : string.Join(", ", LevelIterations) + ", then ")}{Iterations} iterations a level, {(BatchSize == int.MaxValue ? "the whole training set" : $"batches of {BatchSize}")}, curvature on {HessianSubsample}, seed {Seed}";

    /// <summary>The options <paramref name="o"/> with every setting given (validated) in place of its own; a null setting keeps the option's.</summary>
    private static Core.TrainingOptions Configure(Core.TrainingOptions o, int seed, double? smoothness = null, int? iterations = null, int? batchSize = null, int? hessianSubsample = null, double? initialScale = null, Hypothesis? hypothesis = null, bool? refitClassifier = null)
    {
        if (smoothness is { } alpha)
        {
            Guard.PositiveFinite(alpha, nameof(smoothness));
            o = Core.TrainingOptionsModule.withSmoothness(alpha, o);
        }

        if (iterations is { } k)
        {
            Guard.Positive(k, nameof(iterations));
            o = Core.TrainingOptionsModule.withSchedule(k, o.MaxDepth, o);
        }

        if (batchSize is { } s)
        {
            Guard.Positive(s, nameof(batchSize));
            o = Core.TrainingOptionsModule.withBatchSize(s, o);
        }

        if (hessianSubsample is { } hs)
        {
            Guard.Positive(hs, nameof(hessianSubsample));
            o = Core.TrainingOptionsModule.withHessianSubsample(hs, o);
        }

        if (initialScale is { } scale)
        {
            Guard.NonNegativeFinite(scale, nameof(initialScale));
            o = Core.TrainingOptionsModule.withInitialScale(scale, o);
        }

        if (hypothesis is { } h)
        {
            Guard.Defined(h, nameof(hypothesis));
            o = Core.TrainingOptionsModule.withHypothesis(Interop.ToCore(h), o);
        }

        if (refitClassifier is { } refit)
        {
            o = Core.TrainingOptionsModule.withRefit(refit, o);
        }

        return Core.TrainingOptionsModule.withSeed(seed, o);
    }

    private Core.TrainingOptions With(int maxDepth) => Core.TrainingOptionsModule.withMaxDepth(maxDepth, Options);

    private Core.TrainingControl Control(IProgress<TrainingProgress>? progress, CancellationToken cancellationToken)
    {
        var report = progress is null
            ? FSharpOption<FSharpFunc<Core.TrainingProgress, Unit>>.None
            : FSharpOption<FSharpFunc<Core.TrainingProgress, Unit>>.Some(FuncConvert.FromAction<Core.TrainingProgress>(p => progress.Report(new TrainingProgress(p))));
        var profile = ProfileSink is null
            ? FSharpOption<FSharpFunc<string, Unit>>.None
            : FSharpOption<FSharpFunc<string, Unit>>.Some(FuncConvert.FromAction(ProfileSink));
        return new Core.TrainingControl(report, cancellationToken, Ranks, profile);
    }

    /// <summary>The training and validation sets widened to the network's width, with the same number of classes.</summary>
    private static Core.Split Split(int width, Dataset training, Dataset validation, int? modelClasses)
    {
        ArgumentNullException.ThrowIfNull(training);
        ArgumentNullException.ThrowIfNull(validation);
        if (training.Width > width)
        {
            throw new ArgumentException($"training has {training.Width} features but the network has width {width}.", nameof(training));
        }

        if (validation.Width != training.Width)
        {
            throw new ArgumentException($"validation has {validation.Width} features but training has {training.Width}.", nameof(validation));
        }

        var classes = modelClasses ?? training.Classes;
        Core.ClassifierModule.checkLabels(nameof(training), classes, training.Inner.Labels);
        Core.ClassifierModule.checkLabels(nameof(validation), classes, validation.Inner.Labels);
        return new Core.Split(Prepare(training, width, classes), Prepare(validation, width, classes));
    }

    private static Core.Dataset Prepare(Dataset data, int width, int classes)
    {
        var inner = data.Inner.Features.ColumnCount < width ? Core.DatasetModule.widen(width, data.Inner) : data.Inner;
        return inner.Classes == classes ? inner : new Core.Dataset(inner.Features, inner.Labels, classes);
    }
}
