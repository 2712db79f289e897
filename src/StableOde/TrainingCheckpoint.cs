using Microsoft.FSharp.Collections;

namespace StableOde;

/// <summary>
/// Where a checkpoint of multilevel training goes (<see cref="Trainer.FitMultilevel(Network, Dataset, Dataset, int, Checkpointing, IProgress{TrainingProgress}?, CancellationToken)"/>):
/// a model file of the best model so far, readable by <see cref="Model.Load"/>, that also records the finished levels.
/// Immutable.
/// </summary>
public sealed class Checkpointing
{
    /// <summary>Checkpoints at <paramref name="path"/>.</summary>
    /// <param name="path">The file, rewritten atomically: before the first level, after every level, and during a level at least every <paramref name="interval"/>.</param>
    /// <param name="run">The settings that recreate the run (a command line's arguments), kept in the file for whoever resumes it; null for none.</param>
    /// <param name="interval">The longest time between two writes during a level; null for five minutes.</param>
    /// <exception cref="ArgumentException"><paramref name="path"/> is empty, or <paramref name="interval"/> is not positive.</exception>
    public Checkpointing(string path, IEnumerable<string>? run = null, TimeSpan? interval = null)
    {
        Guard.Path(path, nameof(path));
        Interval = interval ?? Core.CheckpointModule.interval;
        if (Interval <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(interval), interval, "the interval between checkpoints must be positive.");
        }

        Path = path;
        Run = Array.AsReadOnly((run ?? []).Select(a => a ?? throw new ArgumentException("run must not hold null.", nameof(run))).ToArray());
    }

    /// <summary>The checkpoint file.</summary>
    public string Path { get; }

    /// <summary>The settings recorded with the run.</summary>
    public IReadOnlyList<string> Run { get; }

    /// <summary>The longest time between two writes during a level.</summary>
    public TimeSpan Interval { get; }

    internal FSharpList<string> RunList => ListModule.OfSeq(Run);
}

/// <summary>A checkpoint of multilevel training read back: the best model so far, the finished levels and the run's settings. Immutable.</summary>
public sealed class TrainingCheckpoint
{
    private TrainingCheckpoint(Core.Checkpoint inner)
    {
        Inner = inner;
        BestModel = Model.Wrap(inner.Best);
        Levels = Array.AsReadOnly(inner.Levels.Select(l => new TrainingLevel(l)).ToArray());
        Run = Array.AsReadOnly(inner.Run.ToArray());
    }

    /// <summary>The best model so far.</summary>
    public Model BestModel { get; }

    /// <summary>The levels finished, in order of depth (none when the run was stopped during its first level).</summary>
    public IReadOnlyList<TrainingLevel> Levels { get; }

    /// <summary>The settings recorded with the run (<see cref="Checkpointing.Run"/>).</summary>
    public IReadOnlyList<string> Run { get; }

    internal Core.Checkpoint Inner { get; }

    /// <summary>Reads a checkpoint file.</summary>
    /// <param name="path">The file a checkpointed run wrote.</param>
    /// <returns>The checkpoint.</returns>
    /// <exception cref="ArgumentException"><paramref name="path"/> is empty.</exception>
    /// <exception cref="System.IO.InvalidDataException">The file is not a checkpoint (a model file alone is not one) or a field is malformed; the message names the file and the field.</exception>
    /// <exception cref="System.IO.IOException">The file cannot be read.</exception>
    public static TrainingCheckpoint Load(string path)
    {
        Guard.Path(path, nameof(path));
        return new TrainingCheckpoint(Core.CheckpointModule.read(path));
    }
}
