namespace StableOde;

/// <summary>
/// A model's accuracy under perturbations of its input for a list of budgets ε (SPEC §10), next
/// to its clean accuracy, with the observed amplification of the perturbations by the network.
/// </summary>
public sealed class RobustnessReport
{
    internal RobustnessReport(Core.RobustnessReport inner, int steps)
    {
        Attack = inner.Attack.Tag switch
        {
            Core.Attack.Tags.Fgsm => Attack.Fgsm,
            Core.Attack.Tags.Pgd => Attack.Pgd,
            _ => Attack.Noise,
        };
        Steps = Attack == Attack.Pgd ? steps : 1;
        CleanAccuracy = inner.CleanAccuracy;
        Results = Array.AsReadOnly(inner.Results.Select(r => new RobustnessResult(r)).ToArray());
    }

    /// <summary>The perturbation.</summary>
    public Attack Attack { get; }

    /// <summary>The gradient steps of the attack: k for PGD, 1 for FGSM and noise.</summary>
    public int Steps { get; }

    /// <summary>The fraction of the unperturbed examples classified correctly.</summary>
    public double CleanAccuracy { get; }

    /// <summary>One result per ε, in the order given.</summary>
    public IReadOnlyList<RobustnessResult> Results { get; }
}

/// <summary>What one budget ε does to a model on a data set.</summary>
public sealed class RobustnessResult
{
    internal RobustnessResult(Core.RobustnessResult inner)
    {
        Epsilon = inner.Epsilon;
        Accuracy = inner.Accuracy;
        AmplificationMean = inner.AmplificationMean;
        AmplificationMax = inner.AmplificationMax;
    }

    /// <summary>The budget: the ℓ∞ radius for FGSM and PGD, the standard deviation of the noise.</summary>
    public double Epsilon { get; }

    /// <summary>The fraction of perturbed examples classified correctly (the clean accuracy exactly when ε = 0).</summary>
    public double Accuracy { get; }

    /// <summary>
    /// The mean over examples of <c>‖Y_N(y') − Y_N(y)‖ / ‖y' − y‖</c>, Euclidean norms of the
    /// network's input and output (comparable with the largest singular value of <c>∂Y_N/∂Y_0</c>);
    /// an example the perturbation leaves unchanged (every example when ε = 0) counts as 0.
    /// </summary>
    public double AmplificationMean { get; }

    /// <summary>The largest of those ratios over the examples.</summary>
    public double AmplificationMax { get; }
}
