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

    /// <summary>
    /// The features of a data CSV for a model, for commands that do not use labels (SPEC §9): a file
    /// with as many columns as the network's width holds features only; otherwise its last column is
    /// the label and the features are widened as in <see cref="Data(string, Model)"/>.
    /// </summary>
    public static double[,] Features(string path, Model model)
    {
        var width = model.Network.Width;
        var features = StableOde.Core.DataFile.readFeatures(width, path);
        if (features.ColumnCount > width)
        {
            throw new InvalidDataException($"{Path.GetFileName(path)}: the data has {features.ColumnCount} features but the model's network has width {width}");
        }

        return StableOde.Core.DatasetModule.widenFeatures(width, features).ToArray();
    }

    /// <summary>Checks that every label of the data read from <paramref name="path"/> is one of <paramref name="classes"/> classes (those of <paramref name="owner"/>, which may have more classes than the data shows).</summary>
    public static void CheckLabels(Dataset data, int classes, string path, string owner)
    {
        var labels = data.Labels;
        for (var i = 0; i < labels.Count; i++)
        {
            if (labels[i] >= classes)
            {
                throw new InvalidDataException($"{Path.GetFileName(path)}: label {labels[i]} of example {i + 1} is not one of the {classes} classes of {owner} (0…{classes - 1})");
            }
        }
    }
}
