namespace StableOde;

/// <summary>One block coordinate descent iteration of a level, as its history records it. Immutable.</summary>
public sealed class TrainingIteration
{
    internal TrainingIteration(Core.TrainingIteration inner)
    {
        Iteration = inner.Iteration;
        Objective = inner.Objective;
        TrainingAccuracy = inner.TrainingAccuracy;
        ValidationAccuracy = inner.ValidationAccuracy;
        Seconds = inner.Seconds;
    }

    /// <summary>1, 2, … within the level.</summary>
    public int Iteration { get; }

    /// <summary>The objective (Eq. 2.4) on the iteration's batch after both steps.</summary>
    public double Objective { get; }

    /// <summary>The accuracy on the whole training set after the iteration.</summary>
    public double TrainingAccuracy { get; }

    /// <summary>The accuracy on the validation set after the iteration.</summary>
    public double ValidationAccuracy { get; }

    /// <summary>Seconds since the level started, at the iteration's end (its accuracies included).</summary>
    public double Seconds { get; }
}

/// <summary>The training of one level (one depth N) of multilevel training. Immutable.</summary>
public sealed class TrainingLevel
{
    internal TrainingLevel(Core.LevelResult inner)
    {
        Depth = inner.Depth;
        Status = TrainingResult.StatusOf(inner.Status);
        History = Array.AsReadOnly(inner.History.Select(i => new TrainingIteration(i)).ToArray());
        BestValidationAccuracy = inner.BestValidationAccuracy;
        BestIteration = inner.BestIteration;
        TrainingAccuracy = inner.TrainingAccuracy;
        Seconds = inner.Seconds;
        BestModel = Model.Wrap(inner.Best);
    }

    /// <summary>The number of layers N.</summary>
    public int Depth { get; }

    /// <summary>Why the level stopped (<see cref="TrainingStatus.Completed"/> when it ran all its iterations).</summary>
    public TrainingStatus Status { get; }

    /// <summary>The iterations done.</summary>
    public int Iterations => History.Count;

    /// <summary>Every iteration done, in order.</summary>
    public IReadOnlyList<TrainingIteration> History { get; }

    /// <summary>The best validation accuracy of the level, its starting model included.</summary>
    public double BestValidationAccuracy { get; }

    /// <summary>The iteration that reached it (0: the level's starting model).</summary>
    public int BestIteration { get; }

    /// <summary>The training accuracy of the level's best model.</summary>
    public double TrainingAccuracy { get; }

    /// <summary>Seconds the level took.</summary>
    public double Seconds { get; }

    /// <summary>The level's model with the best validation accuracy.</summary>
    public Model BestModel { get; }
}

/// <summary>The outcome of training: every level, the best model and why it stopped. Immutable.</summary>
public sealed class TrainingResult
{
    internal TrainingResult(Core.TrainingResult inner)
    {
        Levels = Array.AsReadOnly(inner.Levels.Select(l => new TrainingLevel(l)).ToArray());
        Status = StatusOf(inner.Status);
        BestValidationAccuracy = inner.BestValidationAccuracy;
        BestModel = Model.Wrap(inner.Best);
        Seconds = inner.Seconds;
    }

    /// <summary>
    /// How training ended: <see cref="TrainingStatus.Cancelled"/> or <see cref="TrainingStatus.Diverged"/>
    /// when a level stopped so; otherwise <see cref="TrainingStatus.LineSearchFailed"/> when any level's
    /// line search failed; otherwise <see cref="TrainingStatus.Completed"/>.
    /// </summary>
    public TrainingStatus Status { get; }

    /// <summary>The levels trained, in order of depth.</summary>
    public IReadOnlyList<TrainingLevel> Levels { get; }

    /// <summary>The best validation accuracy over all levels.</summary>
    public double BestValidationAccuracy { get; }

    /// <summary>The model that reached it (the shallowest on a tie).</summary>
    public Model BestModel { get; }

    /// <summary>Seconds for all levels.</summary>
    public double Seconds { get; }

    internal static TrainingStatus StatusOf(Core.OptimisationStatus status) => status.Tag switch
    {
        Core.OptimisationStatus.Tags.LineSearchFailed => TrainingStatus.LineSearchFailed,
        Core.OptimisationStatus.Tags.Diverged => TrainingStatus.Diverged,
        Core.OptimisationStatus.Tags.Cancelled => TrainingStatus.Cancelled,
        _ => TrainingStatus.Completed,
    };
}
