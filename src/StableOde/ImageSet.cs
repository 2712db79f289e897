namespace StableOde;

/// <summary>
/// Labelled images read from IDX files (MNIST, Fashion-MNIST; gzip or raw): one image a row of
/// <see cref="Data"/>, pixel (row, col) in column row·<see cref="Width"/> + col, scaled to [0, 1],
/// ten classes. Immutable.
/// </summary>
public sealed class ImageSet
{
    private ImageSet(Core.ImageSet inner)
    {
        Data = new Dataset(inner.Data);
        Height = inner.Height;
        Width = inner.Width;
    }

    /// <summary>The images as features and their labels.</summary>
    public Dataset Data { get; }

    /// <summary>The image height in pixels.</summary>
    public int Height { get; }

    /// <summary>The image width in pixels.</summary>
    public int Width { get; }

    /// <summary>Reads an image file and a label file of the same length.</summary>
    /// <param name="imagesPath">An IDX file of unsigned bytes, count × height × width.</param>
    /// <param name="labelsPath">An IDX file of unsigned bytes, one label 0…9 per image.</param>
    /// <returns>The labelled images.</returns>
    /// <exception cref="ArgumentException">A path is empty.</exception>
    /// <exception cref="FileNotFoundException">A file does not exist.</exception>
    /// <exception cref="InvalidDataException">A file is corrupt or truncated, a label is above 9, or the lengths differ; the message names the file.</exception>
    public static ImageSet Load(string imagesPath, string labelsPath)
    {
        Guard.Path(imagesPath, nameof(imagesPath));
        Guard.Path(labelsPath, nameof(labelsPath));
        return new ImageSet(Core.Idx.imageSet(imagesPath, labelsPath));
    }

    /// <summary>
    /// Reads the training pair of an MNIST-style folder (<c>train-images-idx3-ubyte</c>,
    /// <c>train-labels-idx1-ubyte</c>), or the test pair (<c>t10k-…</c>) when there is no training
    /// pair; each raw or with a <c>.gz</c> suffix.
    /// </summary>
    /// <param name="folder">The folder.</param>
    /// <returns>The labelled images.</returns>
    /// <exception cref="ArgumentException"><paramref name="folder"/> is empty.</exception>
    /// <exception cref="DirectoryNotFoundException">The folder does not exist.</exception>
    /// <exception cref="FileNotFoundException">The folder holds neither pair.</exception>
    /// <exception cref="InvalidDataException">A file is corrupt; the message names it.</exception>
    public static ImageSet LoadFolder(string folder)
    {
        Guard.Path(folder, nameof(folder));
        var (images, labels) = Core.Idx.findPair(folder);
        return new ImageSet(Core.Idx.imageSet(images, labels));
    }
}
