using StableOde.Core;

namespace StableOde.Cli.Reproduce;

using Attack = StableOde.Core.Attack;
using Dataset = StableOde.Core.Dataset;
using Model = StableOde.Core.Model;
using RobustnessReport = StableOde.Core.RobustnessReport;

/// <summary>The robustness of one trained network (SPEC §10): FGSM and PGD over a list of ε, and
/// the distribution of each validation example's largest singular value of ∂Y_N/∂Y_0.</summary>
/// <param name="Name">The network, as the report names it.</param>
/// <param name="Depth">Its layers.</param>
/// <param name="Fgsm">Accuracy and amplification under FGSM.</param>
/// <param name="Pgd">Accuracy and amplification under PGD.</param>
/// <param name="Sigma">σ_max of ∂y_N/∂y_0 per example, ascending.</param>
/// <param name="SigmaExamples">How σ_max was found and at how many examples.</param>
internal sealed record RobustnessRun(string Name, int Depth, RobustnessReport Fgsm, RobustnessReport Pgd, double[] Sigma, string SigmaExamples);

/// <summary>Robustness of the trained networks of the report: does stability buy robustness at matched clean accuracy?</summary>
internal static class PaperRobustness
{
    /// <summary>PGD steps (SPEC §10's default).</summary>
    public const int Steps = 10;

    /// <summary>Validation examples at which σ_max is estimated by power iteration for networks too wide for exact Jacobians.</summary>
    public const int WideSigmaExamples = 100;

    /// <summary>The budgets for peaks (features in [−3, 3]²).</summary>
    public static IReadOnlyList<double> PeaksEpsilons { get; } = [0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3];

    /// <summary>The budgets for images (pixels in [0, 1]).</summary>
    public static IReadOnlyList<double> ImageEpsilons { get; } = [0.0, 0.01, 0.02, 0.05, 0.1];

    /// <summary>The data as the user gave it: the first <paramref name="features"/> columns of a
    /// widened data set (widening repeats the columns cyclically, so these are the originals).</summary>
    public static Dataset Unwidened(Dataset widened, int features) =>
        widened.Features.ColumnCount == features
            ? widened
            : new Dataset(widened.Features.SubMatrix(0, widened.Features.RowCount, 0, features), widened.Labels, widened.Classes);

    /// <summary>FGSM and PGD at every ε on the validation data (perturbed before widening, clipped to [0, 1]
    /// for images) and σ_max per validation example (at most <see cref="WideSigmaExamples"/> for wide networks).</summary>
    public static RobustnessRun Measure(string name, Model model, Dataset validation, IReadOnlyList<double> epsilons, bool clip)
    {
        var eps = epsilons.ToArray();
        var fgsm = Robustness.evaluate(new RobustnessOptions(Attack.Fgsm, clip), eps, model, validation);
        var pgd = Robustness.evaluate(new RobustnessOptions(Attack.NewPgd(Steps), clip), eps, model, validation);
        var width = NetworkModule.width(model.Network);
        var exact = width <= Stability.MaxDenseWidth;
        var count = exact ? validation.Labels.Length : Math.Min(WideSigmaExamples, validation.Labels.Length);
        var y0 = DatasetModule.widenFeatures(width, validation.Features.SubMatrix(0, count, 0, validation.Features.ColumnCount));
        var sigma = Robustness.largestSingularValues(model.Network, model.Parameters, y0).Order().ToArray();
        var how = exact ? $"exact, all {count} validation examples" : $"{Robustness.PowerIterations} power iterations, the first {count} validation examples";
        return new RobustnessRun(name, model.Network.Depth, fgsm, pgd, sigma, how);
    }

    /// <summary>Accuracy against ε under FGSM (left) and PGD (right), one line a network.</summary>
    public static void AccuracyFigure(string path, string title, IReadOnlyList<RobustnessRun> runs)
    {
        IReadOnlyList<(string, double[], double[])> Series(Func<RobustnessRun, RobustnessReport> of) => runs.Select(r => (
            $"{r.Name} ({r.Depth} layers)",
            of(r).Results.Select(x => x.Epsilon).ToArray(),
            of(r).Results.Select(x => 100 * x.Accuracy).ToArray())).ToList();
        Figures.LinePanels(path,
        [
            ($"{title}: FGSM", "ε", "accuracy (%)", Series(r => r.Fgsm)),
            ($"{title}: PGD, {Steps} steps", "ε", "accuracy (%)", Series(r => r.Pgd)),
        ]);
    }

    /// <summary>The distribution of σ_max over the validation examples: σ_max against the fraction of examples below it.</summary>
    public static void SigmaFigure(string path, string title, IReadOnlyList<RobustnessRun> runs) =>
        Figures.Lines(path, $"{title}: largest singular value of ∂y_N/∂y_0 per validation example", "fraction of examples", "σ_max",
            runs.Select(r => ($"{r.Name} ({r.Depth} layers)",
                Enumerable.Range(0, r.Sigma.Length).Select(i => (i + 0.5) / r.Sigma.Length).ToArray(),
                r.Sigma)).ToList(), logY: true);

    /// <summary>A quantile of an ascending array (nearest rank).</summary>
    public static double Quantile(double[] ascending, double q) =>
        ascending[Math.Clamp((int)Math.Ceiling(q * ascending.Length) - 1, 0, ascending.Length - 1)];
}
