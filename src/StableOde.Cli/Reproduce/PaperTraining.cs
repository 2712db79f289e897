using System.Numerics;
using MathNet.Numerics.LinearAlgebra;
using Microsoft.FSharp.Core;
using StableOde.Core;

namespace StableOde.Cli.Reproduce;

using TrainingProgress = StableOde.Core.TrainingProgress;
using TrainingResult = StableOde.Core.TrainingResult;

using Propagator = StableOde.Core.Propagator;

/// <summary>One multilevel training run of §6.1–6.3 and what the report needs of it.</summary>
/// <param name="Dataset">ellipses, swiss roll or peaks.</param>
/// <param name="Propagator">The propagator's name.</param>
/// <param name="Width">The network's width n.</param>
/// <param name="Split">The data, widened to n.</param>
/// <param name="Result">The multilevel result.</param>
/// <param name="Jacobian">Per level: the extreme singular values of ∂Y_N/∂Y_0 of the level's best model on validation examples.</param>
internal sealed record TrainingRun(string Dataset, string Propagator, int Width, Split Split, TrainingResult Result,
                                   IReadOnlyList<(int Depth, double Largest, double Smallest)> Jacobian);

/// <summary>The two-dimensional experiments of §6.1–6.3: multilevel block coordinate descent with the
/// library's defaults for every data set and propagator, and the figures made from them.</summary>
internal static class PaperTraining
{
    /// <summary>The paper's networks (SPEC §8), from the core's experiments: data set, propagator, width.</summary>
    public static IReadOnlyList<(string Dataset, string Propagator, int Width)> Runs { get; } =
        Experiments.all.SelectMany(e => e.Propagators.Select(p => (e.Title, NetworkModule.propagatorName(p), e.Width.Invoke(p)))).ToList();

    /// <summary>The paper's best validation accuracy for a run (SPEC §8), as text.</summary>
    public static string PaperAccuracy(string dataset, string propagator) => Experiment(dataset).PaperAccuracy.Invoke(PropagatorOf(propagator));

    private static Experiment Experiment(string title) => Experiments.all.Single(e => e.Title == title);

    private static Propagator PropagatorOf(string name) => NetworkModule.tryParsePropagator(name).Value;

    /// <summary>Trains one experiment's network of a propagator from its first level up to <paramref name="maxDepth"/> (with the
    /// experiment's iterations per level unless <paramref name="iterations"/> is given) and measures the
    /// input–output Jacobian of every level's best model on (at most 200) validation examples.</summary>
    public static TrainingRun Train(string dataset, string propagator, int maxDepth, int? iterations,
                                    Action<TrainingProgress> progress, CancellationToken cancel)
    {
        var experiment = Experiment(dataset);
        var kind = PropagatorOf(propagator);
        var split = experiment.Data.Invoke(1);
        var network = Experiments.network(experiment, kind, experiment.Levels.Head);
        var width = NetworkModule.width(network);
        var widened = new Split(DatasetModule.widen(width, split.Training), DatasetModule.widen(width, split.Validation));
        var options = TrainingOptionsModule.withSchedule(iterations ?? experiment.Options.Iterations, maxDepth, experiment.Options);
        var control = new TrainingControl(FSharpOption<FSharpFunc<TrainingProgress, Unit>>.Some(FuncConvert.FromAction(progress)), cancel, RanksModule.single, FSharpOption<FSharpFunc<string, Unit>>.None);
        var result = Training.multilevel(options, control, network, widened);
        var sample = DatasetModule.select(Enumerable.Range(0, Math.Min(200, widened.Validation.Labels.Length)).ToArray(), widened.Validation);
        var jacobian = result.Levels.Select(l =>
        {
            var s = Stability.jacobianSpectrum(l.Best.Network, l.Best.Parameters, sample.Features);
            return (l.Depth, s.Largest, s.Smallest);
        }).ToList();
        return new TrainingRun(dataset, propagator, width, widened, result, jacobian);
    }

    /// <summary>Figure 3: best validation accuracy per level, one panel a data set, one line a propagator.</summary>
    public static void Figure3(string path, IReadOnlyList<TrainingRun> runs) =>
        Figures.LinePanels(path, runs.GroupBy(r => r.Dataset).Select(g =>
            ($"{g.Key}: best validation accuracy per level", "layers", "accuracy (%)",
             (IReadOnlyList<(string, double[], double[])>)g.Select(r => (
                 $"{r.Propagator} (n = {r.Width})",
                 r.Result.Levels.Select(l => Math.Log2(l.Depth)).ToArray(),
                 r.Result.Levels.Select(l => 100 * l.BestValidationAccuracy).ToArray())).ToList())).ToList(), depthX: true);

    /// <summary>Figures 4–6 for one run of width 2: the labelled validation data, its propagated features
    /// Y_N, and the prediction over the plane as a coloured background with the validation points.</summary>
    public static void Classification(string path, TrainingRun run)
    {
        var model = run.Result.Best;
        var validation = run.Split.Validation;
        var yN = Solve.forward(model.Network, model.Parameters, validation.Features);
        var x = validation.Features;
        double xmin = x.Column(0).Minimum(), xmax = x.Column(0).Maximum(), ymin = x.Column(1).Minimum(), ymax = x.Column(1).Maximum();
        double px = 0.05 * (xmax - xmin), py = 0.05 * (ymax - ymin);
        const int grid = 120;
        var points = Matrix<double>.Build.Dense(grid * grid, 2, (i, j) => j == 0
            ? xmin - px + (xmax - xmin + 2 * px) * (i % grid + 0.5) / grid
            : ymin - py + (ymax - ymin + 2 * py) * (i / grid + 0.5) / grid);
        var predicted = ModelModule.predict(model, points);
        var classes = validation.Classes;
        var labels = validation.Labels;
        IReadOnlyList<(double[] X, double[] Y)> ByClass(Matrix<double> m, int[] of) =>
            Enumerable.Range(0, classes).Select(k =>
            {
                var rows = Enumerable.Range(0, of.Length).Where(i => of[i] == k).ToArray();
                return (rows.Select(i => m[i, 0]).ToArray(), rows.Select(i => m[i, 1]).ToArray());
            }).ToList();
        Figures.ClassPanels(path,
        [
            ("validation data", ByClass(x, labels), null),
            ($"propagated features Y_N ({model.Network.Depth} layers)", ByClass(yN, labels), null),
            ($"prediction, {100 * run.Result.BestValidationAccuracy:F1} % of validation correct", ByClass(x, labels), ByClass(points, predicted)),
        ]);
    }

    /// <summary>The spectra of every layer's operator of the deepest best models of one data set.</summary>
    public static void Spectra(string path, IReadOnlyList<TrainingRun> runs) =>
        Figures.Spectra(path, $"{runs[0].Dataset}: eigenvalues of every layer's operator (best deepest models)",
            runs.Select(r =>
            {
                var best = r.Result.Levels[^1].Best;
                var values = best.Parameters.K.SelectMany(k =>
                {
                    var matrix = OperatorModule.matrix(best.Network.Operator, k);
                    return best.Network.Propagator.IsVerlet
                        ? matrix.Svd(false).S.SelectMany(s => new[] { new Complex(0, s), new Complex(0, -s) })
                        : matrix.Evd().EigenValues.ToArray();
                }).ToArray();
                return ($"{r.Propagator}{(best.Network.Propagator.IsVerlet ? " ([[0, K], [−Kᵀ, 0]])" : string.Empty)}", values);
            }).ToList());

    /// <summary>σ_max and σ_min of ∂Y_N/∂Y_0 against depth for every run of one data set.</summary>
    public static void Jacobians(string path, IReadOnlyList<TrainingRun> runs) =>
        Figures.Lines(path, $"{runs[0].Dataset}: extreme singular values of ∂Y_N/∂Y_0 (trained, per level)", "layers", "singular value",
            runs.SelectMany(r => new (string, double[], double[])[]
            {
                ($"{r.Propagator} σ_max", r.Jacobian.Select(j => Math.Log2(j.Depth)).ToArray(), r.Jacobian.Select(j => j.Largest).ToArray()),
                ($"{r.Propagator} σ_min", r.Jacobian.Select(j => Math.Log2(j.Depth)).ToArray(), r.Jacobian.Select(j => j.Smallest).ToArray()),
            }).ToList(), logY: true, depthX: true);
}
