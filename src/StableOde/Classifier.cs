using MathNet.Numerics.LinearAlgebra;

namespace StableOde;

/// <summary>
/// The classifier <c>P = h(Y_N W + 1μᵀ)</c> applied to the network's output: its Weights W
/// (n×m; n×1 for logistic regression) and Bias μ (length m). Immutable.
/// </summary>
public sealed class Classifier
{
    internal Classifier(Core.Classifier inner)
    {
        Inner = inner;
    }

    internal Core.Classifier Inner { get; }

    /// <summary>A classifier with W = 0 and μ = 0: every class equally likely.</summary>
    /// <param name="hypothesis">The hypothesis function.</param>
    /// <param name="width">The number of features n it reads; at least 1.</param>
    /// <param name="classes">The number of classes; at least 2, exactly 2 for logistic regression.</param>
    /// <returns>The classifier.</returns>
    /// <exception cref="ArgumentOutOfRangeException">An argument is out of range.</exception>
    public static Classifier Zeros(Hypothesis hypothesis, int width, int classes)
    {
        CheckShape(hypothesis, width, classes);
        return new Classifier(Core.ClassifierModule.zero(Interop.ToCore(hypothesis), width, classes));
    }

    /// <summary>A classifier with every entry of W and μ drawn from <c>N(0, scale²)</c> by a generator seeded with <paramref name="seed"/>.</summary>
    /// <param name="hypothesis">The hypothesis function.</param>
    /// <param name="width">The number of features n it reads; at least 1.</param>
    /// <param name="classes">The number of classes; at least 2, exactly 2 for logistic regression.</param>
    /// <param name="seed">The seed; the same seed gives the same classifier.</param>
    /// <param name="scale">The standard deviation; finite and non-negative.</param>
    /// <returns>The classifier.</returns>
    /// <exception cref="ArgumentOutOfRangeException">An argument is out of range.</exception>
    public static Classifier Random(Hypothesis hypothesis, int width, int classes, int seed, double scale = 0.1)
    {
        CheckShape(hypothesis, width, classes);
        Guard.NonNegativeFinite(scale, nameof(scale));
        return new Classifier(Core.ClassifierModule.random(seed, scale, Interop.ToCore(hypothesis), width, classes));
    }

    /// <summary>A classifier from arrays (copied).</summary>
    /// <param name="hypothesis">The hypothesis function.</param>
    /// <param name="weights">W, n×m with one column per class (n×1 for logistic regression).</param>
    /// <param name="bias">μ, one entry per column of <paramref name="weights"/>.</param>
    /// <returns>The classifier.</returns>
    /// <exception cref="ArgumentNullException">An array is null.</exception>
    /// <exception cref="ArgumentException">A shape is wrong or an entry is not finite.</exception>
    public static Classifier FromArrays(Hypothesis hypothesis, double[,] weights, double[] bias)
    {
        Guard.Defined(hypothesis, nameof(hypothesis));
        ArgumentNullException.ThrowIfNull(weights);
        ArgumentNullException.ThrowIfNull(bias);
        var (n, m) = (weights.GetLength(0), weights.GetLength(1));
        if (n < 1)
        {
            throw new ArgumentException("weights must have at least one row.", nameof(weights));
        }

        if (hypothesis == Hypothesis.Logistic ? m != 1 : m < 2)
        {
            var expected = hypothesis == Hypothesis.Logistic ? "exactly one column for logistic regression" : "at least two columns (one per class)";
            throw new ArgumentException($"weights must have {expected}, got {m}.", nameof(weights));
        }

        Guard.Finite(weights, nameof(weights));
        Guard.Length(bias, m, nameof(bias));
        return new Classifier(new Core.Classifier(Interop.ToCore(hypothesis), Interop.ToMatrix(weights), Interop.ToVector(bias)));
    }

    private static void CheckShape(Hypothesis hypothesis, int width, int classes)
    {
        Guard.Defined(hypothesis, nameof(hypothesis));
        Guard.Positive(width, nameof(width));
        if (classes < 2 || (hypothesis == Hypothesis.Logistic && classes != 2))
        {
            throw new ArgumentOutOfRangeException(nameof(classes), classes, hypothesis == Hypothesis.Logistic
                ? "logistic regression distinguishes exactly 2 classes."
                : "a classifier needs at least 2 classes.");
        }
    }

    /// <summary>The hypothesis function.</summary>
    public Hypothesis Hypothesis => Interop.FromCore(Inner.Hypothesis);

    /// <summary>The number of features n the classifier reads (rows of W).</summary>
    public int Width => Inner.W.RowCount;

    /// <summary>The number of classes it distinguishes (2 for logistic regression).</summary>
    public int Classes => Core.ClassifierModule.classes(Inner);

    /// <summary>A copy of the Weights W (n×m).</summary>
    public double[,] Weights => Inner.W.ToArray();

    /// <summary>A copy of the Bias μ (length m).</summary>
    public double[] Bias => Inner.mu.ToArray();
}
