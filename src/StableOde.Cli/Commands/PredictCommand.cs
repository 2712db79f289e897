using System.Globalization;
using System.Text;

namespace StableOde.Cli.Commands;

/// <summary><c>stableode predict --model FILE --data FILE</c>: predicted classes and probabilities as CSV.</summary>
public sealed class PredictCommand : Command
{
    /// <inheritdoc/>
    public override string Name => "predict";

    /// <inheritdoc/>
    public override string Summary => "Predicted classes and class probabilities, as CSV.";

    /// <inheritdoc/>
    public override string Details =>
        "Prints the header label,p0,p1,… and one line per example: the most probable class and the\n" +
        "probability of each class. A data file with as many columns as the network's width holds\n" +
        "features only; otherwise its last column is a label, checked but not used, and features\n" +
        "narrower than the network are widened by repeating them.";

    /// <inheritdoc/>
    public override IReadOnlyList<Option> Options { get; } =
    [
        new("model", "The model file (stableode-model/1 JSON).", "FILE", Required: true),
        new("data", "Examples (CSV; features only, or with the label in the last column).", "FILE", Required: true),
    ];

    /// <inheritdoc/>
    public override int Execute(ParsedOptions options, TextWriter stdout, TextWriter stderr)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(stdout);
        var model = Model.Load(options.Required("model"));
        var prediction = model.Predict(Inputs.Features(options.Required("data"), model));
        var probabilities = prediction.Probabilities;
        var text = new StringBuilder("label");
        for (var k = 0; k < prediction.Classes; k++)
        {
            text.Append(CultureInfo.InvariantCulture, $",p{k}");
        }

        text.Append('\n');
        for (var i = 0; i < prediction.Count; i++)
        {
            text.Append(prediction.Labels[i].ToString(CultureInfo.InvariantCulture));
            for (var k = 0; k < prediction.Classes; k++)
            {
                text.Append(',').Append(probabilities[i, k].ToString("R", CultureInfo.InvariantCulture));
            }

            text.Append('\n');
        }

        stdout.Write(text.ToString());
        return 0;
    }
}
