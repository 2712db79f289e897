namespace StableOde;

/// <summary>The predicted class and the class probabilities of each example. Immutable.</summary>
public sealed class Prediction
{
    private readonly double[,] probabilities;

    internal Prediction(int[] labels, double[,] probabilities)
    {
        Labels = Array.AsReadOnly(labels);
        this.probabilities = probabilities;
    }

    /// <summary>The most probable class of each example.</summary>
    public IReadOnlyList<int> Labels { get; }

    /// <summary>The number of examples s.</summary>
    public int Count => Labels.Count;

    /// <summary>The number of classes m.</summary>
    public int Classes => probabilities.GetLength(1);

    /// <summary>
    /// A copy of the probabilities (s×m): row i holds the probability of each class for example i
    /// (for <see cref="Hypothesis.LeastSquares"/> the classifier's scores, which need not sum to 1).
    /// </summary>
    public double[,] Probabilities => (double[,])probabilities.Clone();
}
