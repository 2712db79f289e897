using MathNet.Numerics.LinearAlgebra;

namespace StableOde;

/// <summary>
/// A trained or trainable model: a network, its parameters θ and a classifier (W, μ). It
/// propagates features, classifies them, and gives the loss with its exact gradient with
/// respect to every parameter and the input. Immutable.
/// </summary>
public sealed class Model
{
    private Model(Core.Model inner, Network network, NetworkParameters parameters, Classifier classifier)
    {
        Inner = inner;
        Network = network;
        Parameters = parameters;
        Classifier = classifier;
    }

    internal Core.Model Inner { get; }

    /// <summary>The network.</summary>
    public Network Network { get; }

    /// <summary>The network's parameters θ.</summary>
    public NetworkParameters Parameters { get; }

    /// <summary>The classifier (W, μ).</summary>
    public Classifier Classifier { get; }

    /// <summary>The number of classes the classifier distinguishes.</summary>
    public int Classes => Classifier.Classes;

    /// <summary>A copy of the classifier's Weights W (n×m).</summary>
    public double[,] ClassifierWeights => Classifier.Weights;

    /// <summary>A copy of the classifier's Bias μ (length m).</summary>
    public double[] ClassifierBias => Classifier.Bias;

    /// <summary>A model from its three parts.</summary>
    /// <param name="network">The network.</param>
    /// <param name="parameters">Parameters of <paramref name="network"/>.</param>
    /// <param name="classifier">A classifier reading <see cref="Network.Width"/> features.</param>
    /// <returns>The model.</returns>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="ArgumentException">The parameters belong to another network, or the classifier's width differs from the network's.</exception>
    public static Model Create(Network network, NetworkParameters parameters, Classifier classifier)
    {
        ArgumentNullException.ThrowIfNull(network);
        ArgumentNullException.ThrowIfNull(classifier);
        network.CheckParameters(parameters, nameof(parameters));
        if (classifier.Width != network.Width)
        {
            throw new ArgumentException($"classifier reads {classifier.Width} features but the network has width {network.Width}.", nameof(classifier));
        }

        return new Model(new Core.Model(network.Inner, parameters.Inner, classifier.Inner), network, parameters, classifier);
    }

    internal static Model Wrap(Core.Model inner)
    {
        var network = new Network(inner.Network);
        return new Model(inner, network, new NetworkParameters(network, inner.Parameters), new Classifier(inner.Classifier));
    }

    /// <summary>Reads a model file ("stableode-model/1" JSON, SPEC §9).</summary>
    /// <param name="path">The file.</param>
    /// <returns>The model.</returns>
    /// <exception cref="ArgumentException"><paramref name="path"/> is empty.</exception>
    /// <exception cref="System.IO.InvalidDataException">The file is malformed; the message names the file and the field.</exception>
    /// <exception cref="System.IO.IOException">The file cannot be read.</exception>
    public static Model Load(string path)
    {
        Guard.Path(path, nameof(path));
        return Wrap(Core.ModelFile.read(path));
    }

    /// <summary>Reads a model from "stableode-model/1" JSON text.</summary>
    /// <param name="json">The text.</param>
    /// <param name="source">A name for the text in error messages, such as a file name.</param>
    /// <returns>The model.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="json"/> is null.</exception>
    /// <exception cref="System.IO.InvalidDataException">The text is malformed; the message names the source and the field.</exception>
    public static Model FromJson(string json, string source = "model")
    {
        ArgumentNullException.ThrowIfNull(json);
        ArgumentNullException.ThrowIfNull(source);
        return Wrap(Core.ModelFile.ofJson(source, json));
    }

    /// <summary>The model as "stableode-model/1" JSON; numbers read back bit-exactly.</summary>
    /// <returns>The text.</returns>
    public string ToJson() => Core.ModelFile.toJson(Inner);

    /// <summary>Writes the model file atomically: the file is replaced completely or not at all.</summary>
    /// <param name="path">The file.</param>
    /// <exception cref="ArgumentException"><paramref name="path"/> is empty.</exception>
    /// <exception cref="System.IO.IOException">The file cannot be written.</exception>
    public void Save(string path)
    {
        Guard.Path(path, nameof(path));
        Core.ModelFile.write(path, Inner);
    }

    /// <summary>The output features <c>Y_N</c> of the network for a batch.</summary>
    /// <param name="features">The input features <c>Y_0</c>, one example a row, <see cref="Network.Width"/> columns.</param>
    /// <returns>A new s×n array.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="features"/> is null.</exception>
    /// <exception cref="ArgumentException">The features are misshapen or not finite.</exception>
    public double[,] Propagate(double[,] features) => Network.Propagate(Parameters, features);

    /// <summary>The loss of the classifier on the propagated data (for softmax the mean cross-entropy).</summary>
    /// <param name="data">Labelled examples with <see cref="Network.Width"/> features and labels below <see cref="Classes"/>.</param>
    /// <returns>The loss.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="data"/> is null.</exception>
    /// <exception cref="ArgumentException">The data's width differs from the network's, or a label is not one of the model's classes.</exception>
    public double Loss(Dataset data) => Core.ModelModule.loss(Inner, CheckedFeatures(data), LabelMatrix(data));

    /// <summary>
    /// The loss on a batch and its exact gradient with respect to every parameter, the
    /// classifier and the input features, by one forward pass and one adjoint (back-propagation) pass.
    /// </summary>
    /// <param name="data">Labelled examples with <see cref="Network.Width"/> features and labels below <see cref="Classes"/>.</param>
    /// <param name="strategy">How the adjoint obtains the forward states; null for <see cref="AdjointStrategy.StoreAll"/>.</param>
    /// <returns>The loss, <c>Y_N</c> and the gradients.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="data"/> is null.</exception>
    /// <exception cref="ArgumentException">
    /// The data's width differs from the network's, a label is not one of the model's classes, or
    /// <see cref="AdjointStrategy.Reversal"/> was asked of a scheme that is not invertible (a ResNet).
    /// </exception>
    public ModelGradient Gradient(Dataset data, AdjointStrategy? strategy = null)
    {
        var features = CheckedFeatures(data);
        var labels = LabelMatrix(data);
        var chosen = strategy ?? AdjointStrategy.StoreAll;
        if (chosen.Kind == AdjointStrategyKind.Reversal && !Network.IsInvertible)
        {
            throw new ArgumentException("reversal needs an invertible scheme (leapfrog, Verlet, verlet4, …): a stage of this one reads its own target.", nameof(strategy));
        }

        return new ModelGradient(Inner, Network, Core.ModelModule.gradient(chosen.ToCore(), Inner, features, labels));
    }

    /// <summary>The predicted class and the class probabilities of each example.</summary>
    /// <param name="features">One example a row, <see cref="Network.Width"/> columns.</param>
    /// <returns>The prediction.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="features"/> is null.</exception>
    /// <exception cref="ArgumentException">The features are misshapen or not finite.</exception>
    public Prediction Predict(double[,] features)
    {
        Guard.Features(features, Network.Width, nameof(features));
        return PredictMatrix(Interop.ToMatrix(features));
    }

    /// <summary>The predicted class and the class probabilities of each example of a data set (its labels are not used).</summary>
    /// <param name="data">Examples with <see cref="Network.Width"/> features.</param>
    /// <returns>The prediction.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="data"/> is null.</exception>
    /// <exception cref="ArgumentException">The data's width differs from the network's.</exception>
    public Prediction Predict(Dataset data) => PredictMatrix(CheckedFeatures(data));

    private Prediction PredictMatrix(Matrix<double> features)
    {
        var (labels, probabilities) = Core.ModelModule.prediction(Inner, features);
        return new Prediction(labels, probabilities.ToArray());
    }

    /// <summary>The fraction of examples whose predicted class is their label.</summary>
    /// <param name="data">Labelled examples with <see cref="Network.Width"/> features.</param>
    /// <returns>A number between 0 and 1 (0 when the propagated features are not finite).</returns>
    /// <exception cref="ArgumentNullException"><paramref name="data"/> is null.</exception>
    /// <exception cref="ArgumentException">The data's width differs from the network's.</exception>
    public double Accuracy(Dataset data)
    {
        CheckedFeatures(data);
        return Core.Training.accuracy(Inner, data.Inner);
    }

    /// <summary>The stability analysis of the model's network (see <see cref="Network.Stability"/>).</summary>
    /// <param name="features">The batch to analyse at; null for one example at <c>Y_0 = 0</c>.</param>
    /// <returns>The report.</returns>
    /// <exception cref="ArgumentException">The features are misshapen or not finite.</exception>
    public StabilityReport Stability(double[,]? features = null) => Network.Stability(Parameters, features);

    /// <summary>
    /// The model's accuracy under perturbations of size ε of its input (SPEC §10), each example
    /// attacked through its own cross-entropy and its exact input gradient: for every ε of
    /// <paramref name="epsilons"/>, the accuracy on the perturbed data and the observed
    /// amplification of the perturbation, next to the clean accuracy. Data narrower than the
    /// network is perturbed as given and then widened by repeating its features.
    /// </summary>
    /// <param name="data">Labelled examples with at most <see cref="Network.Width"/> features and labels below <see cref="Classes"/>.</param>
    /// <param name="attack">The perturbation.</param>
    /// <param name="epsilons">The budgets ε, each finite and ≥ 0; at least one.</param>
    /// <param name="steps">The PGD steps k (α = 2.5ε/k); ignored by the other attacks.</param>
    /// <param name="seed">The seed of the noise; ignored by the other attacks.</param>
    /// <param name="clip">Clip every iterate to [0, 1] (image data).</param>
    /// <returns>The report.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="data"/> or <paramref name="epsilons"/> is null.</exception>
    /// <exception cref="ArgumentException">
    /// The list of ε is empty or holds a negative or non-finite value, <paramref name="steps"/> is
    /// below 1, the data is wider than the network, or a label is not one of the model's classes.
    /// </exception>
    public RobustnessReport Robustness(Dataset data, Attack attack, IReadOnlyList<double> epsilons, int steps = 10, int seed = 1, bool clip = false)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(epsilons);
        Guard.Defined(attack, nameof(attack));
        if (epsilons.Count == 0)
        {
            throw new ArgumentException("the list of ε is empty.", nameof(epsilons));
        }

        foreach (var epsilon in epsilons)
        {
            Guard.NonNegativeFinite(epsilon, nameof(epsilons));
        }

        Guard.Positive(steps, nameof(steps));
        if (data.Width > Network.Width)
        {
            throw new ArgumentException($"data has {data.Width} features but the network has width {Network.Width}.", nameof(data));
        }

        LabelMatrix(data);
        var core = attack switch
        {
            Attack.Fgsm => Core.Attack.Fgsm,
            Attack.Pgd => Core.Attack.NewPgd(steps),
            _ => Core.Attack.NewNoise(seed),
        };
        var options = new Core.RobustnessOptions(core, clip);
        return new RobustnessReport(Core.Robustness.evaluate(options, epsilons.ToArray(), Inner, data.Inner), steps);
    }

    private Matrix<double> CheckedFeatures(Dataset data)
    {
        ArgumentNullException.ThrowIfNull(data);
        if (data.Width != Network.Width)
        {
            throw new ArgumentException($"data has {data.Width} features but the network has width {Network.Width}.", nameof(data));
        }

        return data.Inner.Features;
    }

    private Matrix<double> LabelMatrix(Dataset data)
    {
        Core.ClassifierModule.checkLabels(nameof(data), Classes, data.Inner.Labels);
        return Core.ClassifierModule.labelMatrix(Inner.Classifier.Hypothesis, Classes, data.Inner.Labels);
    }
}
