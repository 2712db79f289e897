namespace StableOde;

/// <summary>Argument checks that name the offending parameter.</summary>
internal static class Guard
{
    public static void Positive(int value, string name)
    {
        if (value < 1)
        {
            throw new ArgumentOutOfRangeException(name, value, $"{name} must be at least 1.");
        }
    }

    public static void PositiveFinite(double value, string name)
    {
        if (!double.IsFinite(value) || value <= 0.0)
        {
            throw new ArgumentOutOfRangeException(name, value, $"{name} must be finite and positive.");
        }
    }

    public static void NonNegativeFinite(double value, string name)
    {
        if (!double.IsFinite(value) || value < 0.0)
        {
            throw new ArgumentOutOfRangeException(name, value, $"{name} must be finite and non-negative.");
        }
    }

    public static void Path(string path, string name)
    {
        ArgumentNullException.ThrowIfNull(path, name);
        if (string.IsNullOrWhiteSpace(path))
        {
            throw new ArgumentException($"{name} must not be empty or blank.", name);
        }
    }

    public static void Defined<T>(T value, string name)
        where T : struct, Enum
    {
        if (!Enum.IsDefined(value))
        {
            throw new ArgumentOutOfRangeException(name, value, $"{value} is not a {typeof(T).Name}.");
        }
    }

    public static void Layer(int layer, int depth, string name)
    {
        if (layer < 0 || layer >= depth)
        {
            throw new ArgumentOutOfRangeException(name, layer, $"{name} must be between 0 and {depth - 1}.");
        }
    }

    public static void Finite(double[] values, string name)
    {
        foreach (var v in values)
        {
            if (!double.IsFinite(v))
            {
                throw new ArgumentException($"{name} contains NaN or infinity.", name);
            }
        }
    }

    public static void Finite(double[,] values, string name)
    {
        foreach (var v in values)
        {
            if (!double.IsFinite(v))
            {
                throw new ArgumentException($"{name} contains NaN or infinity.", name);
            }
        }
    }

    /// <summary>A batch of examples, one a row, with <paramref name="width"/> finite features each.</summary>
    public static void Features(double[,] features, int width, string name)
    {
        ArgumentNullException.ThrowIfNull(features, name);
        if (features.GetLength(0) < 1)
        {
            throw new ArgumentException($"{name} must hold at least one example (row).", name);
        }

        if (features.GetLength(1) != width)
        {
            throw new ArgumentException($"{name} must have {width} columns (the network's width), got {features.GetLength(1)}.", name);
        }

        Finite(features, name);
    }

    public static void Shape(double[,] values, int rows, int columns, string name)
    {
        ArgumentNullException.ThrowIfNull(values, name);
        if (values.GetLength(0) != rows || values.GetLength(1) != columns)
        {
            throw new ArgumentException($"{name} must be {rows}×{columns}, got {values.GetLength(0)}×{values.GetLength(1)}.", name);
        }

        Finite(values, name);
    }

    public static void Length(double[] values, int length, string name)
    {
        ArgumentNullException.ThrowIfNull(values, name);
        if (values.Length != length)
        {
            throw new ArgumentException($"{name} must have length {length}, got {values.Length}.", name);
        }

        Finite(values, name);
    }
}
