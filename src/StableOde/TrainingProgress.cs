using System.Globalization;

namespace StableOde;

/// <summary>What a <see cref="Trainer"/> reports after every block coordinate descent iteration. Immutable.</summary>
public sealed class TrainingProgress
{
    internal TrainingProgress(Core.TrainingProgress inner)
    {
        Depth = inner.Depth;
        Iteration = inner.Latest.Iteration;
        Iterations = inner.Iterations;
        Objective = inner.Latest.Objective;
        TrainingAccuracy = inner.Latest.TrainingAccuracy;
        ValidationAccuracy = inner.Latest.ValidationAccuracy;
        BestValidationAccuracy = inner.BestValidationAccuracy;
        Seconds = inner.Latest.Seconds;
    }

    /// <summary>The depth N of the level being trained.</summary>
    public int Depth { get; }

    /// <summary>The iteration just finished: 1, 2, … within the level.</summary>
    public int Iteration { get; }

    /// <summary>The iterations the level runs unless it stops early.</summary>
    public int Iterations { get; }

    /// <summary>The objective (Eq. 2.4) on the iteration's batch.</summary>
    public double Objective { get; }

    /// <summary>The accuracy on the whole training set after the iteration.</summary>
    public double TrainingAccuracy { get; }

    /// <summary>The accuracy on the validation set after the iteration.</summary>
    public double ValidationAccuracy { get; }

    /// <summary>The best validation accuracy of the level so far (its starting model included).</summary>
    public double BestValidationAccuracy { get; }

    /// <summary>Seconds since the level started.</summary>
    public double Seconds { get; }

    /// <inheritdoc/>
    public override string ToString() => string.Create(
        CultureInfo.InvariantCulture,
        $"N = {Depth}, iteration {Iteration}/{Iterations}: objective {Objective:G4}, training {TrainingAccuracy:P2}, validation {ValidationAccuracy:P2} (best {BestValidationAccuracy:P2}), {Seconds:F1} s");
}
