// A C# user's first lines with StableOde: build a Verlet network, propagate data through it,
// take the exact gradient of the classification loss, check it against a finite difference,
// and ask whether the network is stable. Run: dotnet run --project examples/QuickStart
using StableOde;

var features = new double[,] { { 0.1, 0.1 }, { -0.1, -0.1 }, { 0.5, -0.3 }, { -0.4, 0.2 } };
var data = Dataset.FromArrays(features, [0, 1, 0, 1]);

var network = Network.Verlet(width: 2, depth: 16, finalTime: 2.0, Activation.Tanh);
var parameters = NetworkParameters.Random(network, seed: 1, scale: 0.5);
var classifier = Classifier.Random(Hypothesis.Softmax, width: 2, classes: 2, seed: 2);
var model = Model.Create(network, parameters, classifier);

var output = model.Propagate(features);
Console.WriteLine($"{network}: Y_N[0] = ({output[0, 0]:F4}, {output[0, 1]:F4})");

var gradient = model.Gradient(data, AdjointStrategy.Reversal);
Console.WriteLine($"loss {gradient.Loss:F6}; ‖∂loss/∂K_0‖ = {Norm(gradient.WeightsGradient(0)):E3}");

// The gradient is exact: compare one entry with a central finite difference.
const double t = 1e-6;
double LossWithK00(double delta)
{
    var k = parameters.Weights(0);
    k[0, 0] += delta;
    return Model.Create(network, parameters.WithWeights(0, k), classifier).Loss(data);
}
var finiteDifference = (LossWithK00(t) - LossWithK00(-t)) / (2 * t);
Console.WriteLine($"∂loss/∂K_0[0,0]: adjoint {gradient.WeightsGradient(0)[0, 0]:E6}, finite difference {finiteDifference:E6}");

var stability = model.Stability(features);
Console.WriteLine($"largest one-step amplification {stability.Layers.Max(l => l.Amplification):F6}; " +
                  $"singular values of ∂Y_N/∂Y_0 in [{stability.JacobianSmallest:F4}, {stability.JacobianLargest:F4}]");

static double Norm(double[,] m) => Math.Sqrt(m.Cast<double>().Sum(x => x * x));
