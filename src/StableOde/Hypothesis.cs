namespace StableOde;

/// <summary>The hypothesis function of the classifier and the loss that goes with it.</summary>
public enum Hypothesis
{
    /// <summary>Softmax (Eq. 2.3) with the mean cross-entropy.</summary>
    Softmax,

    /// <summary>Logistic regression (Eq. 2.2) for two classes with the mean binary cross-entropy; one classifier column.</summary>
    Logistic,

    /// <summary>The identity with the mean sum of squares <c>½‖P − C‖²_F / s</c>.</summary>
    LeastSquares,
}
