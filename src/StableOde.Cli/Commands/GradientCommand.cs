namespace StableOde.Cli.Commands;

/// <summary><c>stableode gradient --model FILE --data FILE</c>: the loss and its exact gradient as one JSON object.</summary>
public sealed class GradientCommand : Command
{
    /// <inheritdoc/>
    public override string Name => "gradient";

    /// <inheritdoc/>
    public override string Summary => "The loss of a model on labelled data and its exact gradient, as one JSON object.";

    /// <inheritdoc/>
    public override string Details =>
        "Prints {\"loss\", \"YN\", \"gradK\", \"gradB\", \"gradC\" (Verlet), \"gradW\", \"gradMu\", \"gradY0\"}:\n" +
        "the mean loss of the model's classifier on the propagated data and its gradient with respect\n" +
        "to every parameter and the input, each shaped like what it differentiates (convolution\n" +
        "weights as [out][in][3][3]). Data narrower than the network is widened by repeating its features.";

    /// <inheritdoc/>
    public override IReadOnlyList<Option> Options { get; } =
    [
        new("model", "The model file (stableode-model/1 JSON).", "FILE", Required: true),
        new("data", "Labelled examples (CSV, label in the last column).", "FILE", Required: true),
    ];

    /// <inheritdoc/>
    public override int Execute(ParsedOptions options, TextWriter stdout, TextWriter stderr)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(stdout);
        var model = Model.Load(options.Required("model"));
        var dataPath = options.Required("data");
        var data = Inputs.Data(dataPath, model);
        Inputs.CheckLabels(data, model.Classes, dataPath, "the model");
        stdout.Write(model.Gradient(data, AdjointStrategy.StoreAll).ToJson());
        return 0;
    }
}
