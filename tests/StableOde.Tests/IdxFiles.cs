using System.IO.Compression;

namespace StableOde.Tests;

/// <summary>IDX files written by hand for the tests: headers, gzip, and small synthetic image sets.</summary>
internal static class IdxFiles
{
    /// <summary>An IDX file of unsigned bytes with the given dimensions and data.</summary>
    public static byte[] Bytes(int[] dims, byte[] data, byte type = 0x08)
    {
        var header = new List<byte> { 0, 0, type, (byte)dims.Length };
        foreach (var d in dims)
        {
            header.AddRange([(byte)(d >> 24), (byte)(d >> 16), (byte)(d >> 8), (byte)d]);
        }

        return [.. header, .. data];
    }

    /// <summary>The bytes gzip-compressed.</summary>
    public static byte[] Gzip(byte[] bytes)
    {
        using var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.Fastest))
        {
            gzip.Write(bytes);
        }

        return output.ToArray();
    }

    /// <summary>
    /// Writes <paramref name="count"/> seeded two-class images of <paramref name="height"/>×<paramref name="width"/>
    /// pixels (label 1 brighter in the left half, label 0 in the right half, with noise) as a gzip
    /// image file and a raw label file named as MNIST's training pair; returns their paths.
    /// </summary>
    public static (string Images, string Labels) WriteTwoClassImages(string folder, int count, int height, int width, int seed = 1)
    {
        var random = new Random(seed);
        var labels = Enumerable.Range(0, count).Select(i => (byte)(i % 2)).ToArray();
        var pixels = new byte[count * height * width];
        for (var i = 0; i < count; i++)
        {
            for (var p = 0; p < height * width; p++)
            {
                var bright = (labels[i] == 1) == (p % width < width / 2);
                pixels[(i * height * width) + p] = (byte)((bright ? 170 : 50) + random.Next(60));
            }
        }

        var images = Path.Combine(folder, "train-images-idx3-ubyte.gz");
        var labelFile = Path.Combine(folder, "train-labels-idx1-ubyte");
        File.WriteAllBytes(images, Gzip(Bytes([count, height, width], pixels)));
        File.WriteAllBytes(labelFile, Bytes([count], labels));
        return (images, labelFile);
    }
}
