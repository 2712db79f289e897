namespace StableOde.Tests;

/// <summary>Reading data CSV files: valid variants, and malformed files rejected with the file, line and column.</summary>
public sealed class DataFileTests
{
    private static Dataset Read(string text)
    {
        using var folder = new TempFolder();
        return Dataset.FromCsv(folder.Write("data.csv", text));
    }

    private static string Error(string text) => Assert.Throws<InvalidDataException>(() => Read(text)).Message;

    [Fact]
    public void HeaderBlankLinesAndCarriageReturnsAreAccepted()
    {
        var data = Read("x,y,label\r\n0.5,-1.25,1\r\n\r\n   \n1e-3, 2 ,0\n-0,3.5,2.0\n");

        Assert.Equal(3, data.Count);
        Assert.Equal(2, data.Width);
        Assert.Equal(3, data.Classes);
        Assert.Equal([1, 0, 2], data.Labels);
        Assert.Equal(new[,] { { 0.5, -1.25 }, { 1e-3, 2.0 }, { -0.0, 3.5 } }, data.Features);
    }

    [Fact]
    public void WithoutHeaderTheFirstLineIsAnExample()
    {
        var data = Read("1,2,0\n3,4,0\n");

        Assert.Equal(2, data.Count);
        Assert.Equal(2, data.Classes);
        Assert.Equal(1.0, data.Features[0, 0]);
    }

    /// <summary>Each case: the file's text and the whole message.</summary>
    public static TheoryData<string, string> Cases() => new()
    {
        { string.Empty, "data.csv: no examples (the file is empty or holds only a header)" },
        { "\n  \n\r\n", "data.csv: no examples (the file is empty or holds only a header)" },
        { "x,y,label\n", "data.csv: no examples (the file is empty or holds only a header)" },
        { "x,y,label\n1,2,0\n3,1\n", "data.csv line 3, column 3: expected 3 columns like line 1, got 2" },
        { "1,2,0\n\n3,4,5,1\n", "data.csv line 3, column 4: expected 3 columns like line 1, got 4" },
        { "x,y,label\n1,2,0\n3,4,1\n5,abc,1\n", "data.csv line 4, column 2: \"abc\" is not a number" },
        { "1,2,0\nNaN,1,1\n", "data.csv line 2, column 1: \"NaN\" is not a finite number" },
        { "1,-Infinity,0\n", "data.csv line 1, column 2: \"-Infinity\" is not a finite number" },
        { "1,2,0\n1,,0\n", "data.csv line 2, column 2: empty cell where a number is expected" },
        { "x,label\n1,0\n2,-1\n", "data.csv line 3, column 2: \"-1\" is not a class label (an integer from 0 to 65535)" },
        { "1,2,0.5\n", "data.csv line 1, column 3: \"0.5\" is not a class label (an integer from 0 to 65535)" },
        { "1,2,70000\n", "data.csv line 1, column 3: \"70000\" is not a class label (an integer from 0 to 65535)" },
        { "x,label\n1,cat\n", "data.csv line 2, column 2: \"cat\" is not a class label (an integer from 0 to 65535)" },
        { "1\n2\n", "data.csv line 1, column 2: expected at least one feature and a label, got 1 column" },
        { "x;y;label\n1,5;2;0\n", "data.csv line 2, column 2: expected 1 column like line 1, got 2" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void MalformedFilesNameFileLineAndColumn(string text, string expected)
    {
        Assert.Equal(expected, Error(text));
    }

    [Fact]
    public void MissingFileIsAnIOException()
    {
        using var folder = new TempFolder();

        Assert.Throws<FileNotFoundException>(() => Dataset.FromCsv(folder.File("absent.csv")));
    }

    [Fact]
    public void ClassesAreTheLargestLabelPlusOneAndAtLeastTwo()
    {
        Assert.Equal(2, Read("1,0\n2,0\n").Classes);
        Assert.Equal(8, Read("1,7\n2,0\n").Classes);
    }
}
