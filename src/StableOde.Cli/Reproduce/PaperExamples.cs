using MathNet.Numerics.LinearAlgebra;
using Microsoft.FSharp.Collections;
using Microsoft.FSharp.Core;
using StableOde.Core;

namespace StableOde.Cli.Reproduce;

using Activation = StableOde.Core.Activation;
using Network = StableOde.Core.Network;
using Parameters = StableOde.Core.Parameters;
using Propagator = StableOde.Core.Propagator;
using State = StableOde.Core.State;

/// <summary>The paper's small examples (§3 Example 1, §4 Example 2) and the conservation of the
/// Verlet Hamiltonian: networks of identical layers whose dynamics can be seen in the plane.</summary>
internal static class PaperExamples
{
    /// <summary>K+ of Example 1: eigenvalues 2, 2.</summary>
    public static readonly double[,] KPlus = { { 2, -2 }, { 0, 2 } };

    /// <summary>K− of Example 1: eigenvalues −2, −2.</summary>
    public static readonly double[,] KMinus = { { -2, 0 }, { 2, -2 } };

    /// <summary>K0 of Example 1: eigenvalues ±i.</summary>
    public static readonly double[,] KZero = { { 0, -1 }, { 1, 0 } };

    /// <summary>The 2×3 Verlet kernel of Example 2 (the paper's matrix was lost in extraction; any
    /// non-square K shows the same bounded dynamics).</summary>
    public static readonly double[,] KVerlet = { { 1, -0.5, 0.5 }, { 0.5, 1, -1 } };

    /// <summary>A network's parameters with the same K in every layer and zero biases.</summary>
    public static Parameters Identical(Network net, double[,] k)
    {
        var kj = Matrix<double>.Build.DenseOfArray(k);
        var zeros = ParametersModule.zeros(net);
        return new Parameters(
            Enumerable.Repeat(kj, net.Depth).Select(m => m.Clone()).ToArray(),
            zeros.b, zeros.c);
    }

    /// <summary>Example paths: row i of every state, as a line through the plane.</summary>
    public static IReadOnlyList<Path2D> Paths(State[] states, IReadOnlyList<string> labels) =>
        labels.Select((label, i) => new Path2D(label,
            states.Select(s => s.Y[i, 0]).ToArray(),
            states.Select(s => s.Y[i, 1]).ToArray())).ToList();

    /// <summary>The force field y ↦ σ(y K) of a ResNet layer with b = 0 (row layout).</summary>
    public static Func<double, double, (double, double)> Field(double[,] k) => (x, y) =>
        (Math.Tanh(x * k[0, 0] + y * k[1, 0]), Math.Tanh(x * k[0, 1] + y * k[1, 1]));

    /// <summary>Figure 1: ResNets of N = 10 identical layers, h = 0.1, tanh, b = 0, with K+, K− and K0,
    /// propagating y1 = (0.1, 0.1), y2 = −y1 and y3 = (0, 0.5). Returns the distances between the
    /// three outputs, which grow, shrink and stay for K+, K− and K0.</summary>
    public static IReadOnlyList<(string Name, double[] InputDistances, double[] OutputDistances)> Figure1(string path)
    {
        var y0 = Matrix<double>.Build.DenseOfArray(new[,] { { 0.1, 0.1 }, { -0.1, -0.1 }, { 0, 0.5 } });
        string[] labels = ["y1", "y2", "y3"];
        var cases = new (string Name, double[,] K)[] { ("K+, λ = 2, 2", KPlus), ("K−, λ = −2, −2", KMinus), ("K0, λ = ±i", KZero) };
        var panels = new List<(string, IReadOnlyList<Path2D>, Func<double, double, (double, double)>?)>();
        var distances = new List<(string, double[], double[])>();
        foreach (var (name, k) in cases)
        {
            var net = NetworkModule.create(Propagator.ResNet, Activation.Tanh, Operator.NewDense(2, 2), 10, 1.0, false);
            var states = Solve.trajectory(net, Identical(net, k), y0);
            panels.Add((name, Paths(states, labels), Field(k)));
            distances.Add((name, PairDistances(states[0].Y), PairDistances(states[^1].Y)));
        }
        Figures.PhasePlanes(path, panels);
        return distances;
    }

    /// <summary>Distances ‖y1 − y2‖, ‖y1 − y3‖, ‖y2 − y3‖ between the rows of a 3×n batch.</summary>
    public static double[] PairDistances(Matrix<double> y) =>
        [(y.Row(0) - y.Row(1)).L2Norm(), (y.Row(0) - y.Row(2)).L2Norm(), (y.Row(1) - y.Row(2)).L2Norm()];

    /// <summary>The two features of Example 2.</summary>
    public static Matrix<double> Example2Features() =>
        Matrix<double>.Build.DenseOfArray(new[,] { { 0.1, 0.1 }, { -0.1, -0.1 } });

    /// <summary>Leapfrog of Example 2: K = K−, h = 1, tanh, b = 0, identical layers.</summary>
    public static (Network Net, Parameters P) Example2Leapfrog(int depth)
    {
        var net = NetworkModule.create(Propagator.Leapfrog, Activation.Tanh, Operator.NewDense(2, 2), depth, depth * 1.0, false);
        return (net, Identical(net, KMinus));
    }

    /// <summary>Verlet of Example 2: the 2×3 kernel, h = 0.1, tanh, b = c = 0, identical layers.</summary>
    public static (Network Net, Parameters P) Example2Verlet(int depth)
    {
        var net = NetworkModule.create(Propagator.Verlet, Activation.Tanh, Operator.NewDense(2, 3), depth, depth * 0.1, false);
        return (net, Identical(net, KVerlet));
    }

    /// <summary>Figure 2: leapfrog and Verlet phase planes for N = 500 and N = 5,000 identical layers.
    /// Returns the largest feature norm reached by each run (bounded: neither explodes nor vanishes).</summary>
    public static IReadOnlyList<(string Name, double MaxNorm, double FinalNorm)> Figure2(string path, int shortDepth, int longDepth)
    {
        var y0 = Example2Features();
        string[] labels = ["y1", "y2"];
        var panels = new List<(string, IReadOnlyList<Path2D>, Func<double, double, (double, double)>?)>();
        var norms = new List<(string, double, double)>();
        foreach (var depth in new[] { shortDepth, longDepth })
        {
            foreach (var (name, (net, p)) in new[] { ($"leapfrog, N = {depth}, h = 1", Example2Leapfrog(depth)),
                                                     ($"Verlet, N = {depth}, h = 0.1", Example2Verlet(depth)) })
            {
                var states = Solve.trajectory(net, p, y0);
                panels.Add((name, Paths(states, labels), null));
                norms.Add((name, states.Max(s => s.Y.FrobeniusNorm()), states[^1].Y.FrobeniusNorm()));
            }
        }
        Figures.PhasePlanes(path, panels.Take(2).ToList());
        Figures.PhasePlanes(path.Replace(".png", "-long.png"), panels.Skip(2).ToList());
        return norms;
    }

    /// <summary>The Verlet Hamiltonian of Example 2's network against time, next to explicit Euler on
    /// the same Hamiltonian system, for two step sizes over the final time <paramref name="finalTime"/>:
    /// Verlet's band shrinks with h and does not drift; Euler's H drifts. Returns, per run, the band
    /// width max H − min H and the drift (slope of a least-squares line) per unit time.</summary>
    public static IReadOnlyList<(string Name, double Band, double DriftPerTime)> Conservation(string path, double finalTime)
    {
        var y0 = Example2Features();
        var verlet = new List<(string, double[], double[])>();
        var euler = new List<(string, double[], double[])>();
        var summary = new List<(string, double, double)>();
        foreach (var h in new[] { 0.1, 0.05 })
        {
            int depth = (int)Math.Round(finalTime / h);
            var net = NetworkModule.create(Propagator.Verlet, Activation.Tanh, Operator.NewDense(2, 3), depth, finalTime, false);
            var p = Identical(net, KVerlet);
            var t = Enumerable.Range(0, depth + 1).Select(j => j * h).ToArray();
            foreach (var (name, values, into) in new[] { ($"Verlet, h = {h}", Stability.hamiltonianAlong(net, p, y0), verlet),
                                                         ($"forward Euler, h = {h}", Stability.eulerHamiltonianAlong(net, p, y0), euler) })
            {
                into.Add((name, t, values.Select(v => v - values[0]).ToArray()));
                summary.Add((name, values.Max() - values.Min(), Drift(t, values)));
            }
        }
        Figures.LinePanels(path,
        [
            ("Verlet: H(y, z) − H(0), identical layers", "time t = j h", "H − H(0)", verlet),
            ("forward Euler on the same system", "time t = j h", "H − H(0)", euler),
        ]);
        return summary;
    }

    /// <summary>The depths of the order-of-accuracy figure.</summary>
    public static IReadOnlyList<int> OrderDepths { get; } = [4, 8, 16, 32, 64, 128, 256];

    /// <summary>
    /// The order of accuracy of the Verlet family as ODE solvers (SPEC §1b): the paper's Verlet, the
    /// symmetric Verlet and verlet4 with the same seeded weights (K ∈ R^{3×2} with ‖K‖₂ = 1, b, c) in
    /// every layer, T = 2, tanh, 20 seeded features, against RK4 in 4,096 steps
    /// (<c>Stability.hamiltonianFlowRk4</c>). Plots the error ‖Y_N − y(T)‖_F against N on log–log
    /// axes and returns, per scheme, the errors and the observed order: the least-squares slope of
    /// −log₂ e against log₂ N over the depths whose error is above 1e-12 (the round-off floor).
    /// </summary>
    public static IReadOnlyList<(string Name, double[] Errors, double Order)> Order(string path)
    {
        var template = NetworkModule.create(Propagator.Verlet, Activation.Tanh, Operator.NewDense(3, 2), 1, 2.0, false);
        var random = ParametersModule.random(11, 0.5, template);
        var k = random.K[0] / random.K[0].L2Norm();
        var p = new Parameters([k], random.b, random.c);
        var y0 = Matrix<double>.Build.Dense(20, 3, ParametersModule.gaussians(new Random(12), 60));
        var schemes = new (string Name, Propagator Propagator)[]
        {
            ("Verlet (paper)", Propagator.Verlet),
            ("symmetric Verlet", Propagator.NewCustom(SchemeModule.symmetricVerlet)),
            ("verlet4", Propagator.Verlet4),
        };
        var depths = OrderDepths.Select(d => (double)d).ToArray();
        var results = schemes.Select(s =>
        {
            var net = NetworkModule.create(s.Propagator, Activation.Tanh, Operator.NewDense(3, 2), 1, 2.0, false);
            var errors = Stability.constantWeightErrors(net, p, y0, ListModule.OfSeq(OrderDepths), 4096).ToArray();
            var above = Enumerable.Range(0, errors.Length).Where(i => errors[i] > 1e-12).ToArray();
            var order = -Drift(above.Select(i => Math.Log2(depths[i])).ToArray(), above.Select(i => Math.Log2(errors[i])).ToArray());
            return (s.Name, errors, order);
        }).ToList();
        Figures.Lines(path, "Order of accuracy with constant weights", "layers N (h = T / N, T = 2)", "‖Y_N − y(T)‖_F",
            results.Select(r => ($"{r.Name}: order {r.order:0.00}", depths.Select(Math.Log2).ToArray(), r.errors)).ToList(),
            logY: true, depthX: true);
        return results;
    }

    /// <summary>The slope of a least-squares line through (x, y).</summary>
    public static double Drift(double[] x, double[] y)
    {
        double mx = x.Average(), my = y.Average();
        double sxy = 0, sxx = 0;
        for (int i = 0; i < x.Length; i++)
        {
            sxy += (x[i] - mx) * (y[i] - my);
            sxx += (x[i] - mx) * (x[i] - mx);
        }
        return sxy / sxx;
    }
}
