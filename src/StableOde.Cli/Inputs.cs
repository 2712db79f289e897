namespace StableOde.Cli;

/// <summary>Reading a command's input files, with errors that name the file.</summary>
internal static class Inputs
{
    /// <summary>
    /// A data CSV for a model. Data narrower than the network is widened by repeating its
    /// features (SPEC §8), as training widens its input; wider data is an error.
    /// </summary>
    public static Dataset Data(string path, Model model)
    {
        var data = Dataset.FromCsv(path);
        var width = model.Network.Width;
        if (data.Width > width)
        {
            throw new InvalidDataException($"{Path.GetFileName(path)}: the data has {data.Width} features but the model's network has width {width}");
        }

        return data.Width < width ? data.Widen(width) : data;
    }

    /// <summary>Checks that every label is one of the model's classes (the model may have more classes than the data shows).</summary>
    public static void CheckLabels(Dataset data, Model model, string path)
    {
        var labels = data.Labels;
        for (var i = 0; i < labels.Count; i++)
        {
            if (labels[i] >= model.Classes)
            {
                throw new InvalidDataException($"{Path.GetFileName(path)}: label {labels[i]} of example {i + 1} is not one of the model's {model.Classes} classes (0…{model.Classes - 1})");
            }
        }
    }
}
