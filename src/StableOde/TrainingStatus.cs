namespace StableOde;

/// <summary>How training ended. Every outcome keeps the model with the best validation accuracy so far.</summary>
public enum TrainingStatus
{
    /// <summary>Every level ran its iterations.</summary>
    Completed,

    /// <summary>At some level no step of the line search decreased the objective enough; that level stopped early and training went on at the next depth.</summary>
    LineSearchFailed,

    /// <summary>The objective became NaN or infinite; training stopped at that level.</summary>
    Diverged,

    /// <summary>The caller cancelled; training stopped at once.</summary>
    Cancelled,
}
