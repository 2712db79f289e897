// Builds against the StableOde package packed into a local folder (see ./test.sh):
// a Hamiltonian Verlet network whose gradient is taken with the memory-flat reversal strategy.
using StableOde;

var network = Network.Verlet(width: 2, depth: 64, finalTime: 20.0, Activation.Tanh);
var model = Model.Create(network,
                         NetworkParameters.Random(network, seed: 1, scale: 0.1),
                         Classifier.Random(Hypothesis.Logistic, width: 2, classes: 2, seed: 2));
var data = Dataset.FromArrays(new[,] { { 0.5, 0.0 }, { 0.0, 1.5 } }, [0, 1]);
var gradient = model.Gradient(data, AdjointStrategy.Reversal);
Console.WriteLine($"StableOde package: {network}, loss {gradient.Loss:F6}");
