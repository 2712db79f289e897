using StableOde.Core;
using Idx = StableOde.Core.Idx;

namespace StableOde.Tests;

public sealed class IdxTests : IDisposable
{
    private readonly TempFolder folder = new();

    public void Dispose() => folder.Dispose();

    private static readonly byte[] TwoImages = Enumerable.Range(0, 2 * 2 * 3).Select(i => (byte)(i * 20)).ToArray();

    [Fact]
    public void ReadsRawAndGzipImagesAsRowsScaledToOne()
    {
        foreach (var bytes in new[] { IdxFiles.Bytes([2, 2, 3], TwoImages), IdxFiles.Gzip(IdxFiles.Bytes([2, 2, 3], TwoImages)) })
        {
            var array = Idx.parse("images", bytes);
            Assert.Equal([2, 2, 3], array.Dimensions);
            var x = Idx.images("images", array);
            Assert.Equal((2, 6), (x.RowCount, x.ColumnCount));
            Assert.Equal(20.0 / 255.0, x[0, 1]);
            Assert.Equal(220.0 / 255.0, x[1, 5]);
        }
    }

    [Theory]
    [InlineData("magic", "not an IDX file (magic number 01000803)")]
    [InlineData("type", "element type 0x0d is not unsigned bytes (0x08)")]
    [InlineData("short", "too short for an IDX header (3 bytes)")]
    [InlineData("header", "truncated header: 3 dimensions need 16 bytes, the file has 12")]
    [InlineData("truncated", "truncated: the header promises 12 values (2×2×3), the file holds 11")]
    [InlineData("trailing", "1 bytes after the 12 values the header promises")]
    [InlineData("gzip", "truncated gzip data")]
    public void MalformedFilesAreClearErrorsNamingTheFile(string kind, string message)
    {
        var good = IdxFiles.Bytes([2, 2, 3], TwoImages);
        byte[] bytes = kind switch
        {
            "magic" => [1, .. good[1..]],
            "type" => IdxFiles.Bytes([2, 2, 3], TwoImages, type: 0x0D),
            "short" => good[..3],
            "header" => good[..12],
            "truncated" => good[..^1],
            "trailing" => [.. good, 7],
            "gzip" => IdxFiles.Gzip(good)[..20],
            _ => throw new ArgumentOutOfRangeException(nameof(kind)),
        };
        var error = Assert.Throws<InvalidDataException>(() => Idx.parse("digits.idx", bytes));
        Assert.Equal($"digits.idx: {message}", error.Message);
    }

    [Fact]
    public void LabelsOutOfRangeAndMismatchedCountsAreErrors()
    {
        var images = folder.File("t10k-images-idx3-ubyte");
        var labels = folder.File("t10k-labels-idx1-ubyte.gz");
        File.WriteAllBytes(images, IdxFiles.Bytes([2, 2, 3], TwoImages));
        File.WriteAllBytes(labels, IdxFiles.Gzip(IdxFiles.Bytes([2], [3, 10])));
        Assert.Equal("t10k-labels-idx1-ubyte.gz: label 10 of example 1 is outside 0…9",
                     Assert.Throws<InvalidDataException>(() => Idx.dataset(images, labels)).Message);

        File.WriteAllBytes(labels, IdxFiles.Gzip(IdxFiles.Bytes([3], [3, 1, 2])));
        Assert.Equal("t10k-labels-idx1-ubyte.gz: 3 labels for the 2 images of t10k-images-idx3-ubyte",
                     Assert.Throws<InvalidDataException>(() => Idx.dataset(images, labels)).Message);

        File.WriteAllBytes(labels, IdxFiles.Gzip(IdxFiles.Bytes([2], [3, 1])));
        var (foundImages, foundLabels) = Idx.findPair(folder.Path);
        Assert.Equal((images, labels), (foundImages, foundLabels));
        var data = Idx.dataset(foundImages, foundLabels);
        Assert.Equal([3, 1], data.Labels);
        Assert.Equal(10, data.Classes);
    }

    [Fact]
    public void AFolderWithoutAnImagePairIsAnError()
    {
        Assert.Throws<FileNotFoundException>(() => Idx.findPair(folder.Path));
        Assert.Throws<DirectoryNotFoundException>(() => Idx.findPair(folder.File("missing")));
    }
}
