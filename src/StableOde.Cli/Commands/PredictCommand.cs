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
        "probability of each class. The labels in the data file are read but not used. Data narrower\n" +
        "than the network is widened by repeating its features.";

    /// <inheritdoc/>
    public override IReadOnlyList<Option> Options { get; } =
    [
        new("model", "The model file (stableode-model/1 JSON).", "FILE", Required: true),
        new("data", "Examples (CSV, label in the last column).", "FILE", Required: true),
    ];

    /// <inheritdoc/>
    public override int Execute(ParsedOptions options, TextWriter stdout, TextWriter stderr)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(stdout);
        var model = Model.Load(options.Required("model"));
        var prediction = model.Predict(Inputs.Data(options.Required("data"), model));
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
