using System.Diagnostics;
using System.Globalization;
using System.Text.Json;

namespace StableOde.Tests;

/// <summary>
/// <c>mpirun -np R stableode train …</c> on Open MPI (SPEC §11): the parameters of an R-rank run are those of one process,
/// and a failure on any rank ends every rank with one line. These tests fail, never skip, when <c>mpirun</c> is missing:
/// <c>test.sh</c> (and so CI) installs Open MPI first.
/// </summary>
public sealed class DistributedTrainingTests : IDisposable
{
    private static readonly string[] SwissRoll = ["train", "--dataset", "swissroll", "--levels", "4,8", "--iterations", "3"];

    private readonly TempFolder folder = new();

    public void Dispose() => folder.Dispose();

    /// <summary><c>mpirun</c> on PATH; a failed assertion naming the packages when it is not.</summary>
    private static string MpiRun()
    {
        var found = (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(folder => Path.Combine(folder, "mpirun"))
            .FirstOrDefault(File.Exists);
        Assert.True(found is not null, "mpirun is not on PATH: install Open MPI (apt-get install openmpi-bin libopenmpi-dev), as test.sh does");
        return found!;
    }

    /// <summary>Runs <c>mpirun</c> with the ranks' programs (each: its number of ranks and its stableode arguments, MPMD style) and returns exit code, standard output and standard error.</summary>
    private static (int Code, string Out, string Error) RunRanks(params (int Ranks, string[] Arguments)[] programs)
    {
        var start = new ProcessStartInfo(MpiRun()) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var option in new[] { "--quiet", "--oversubscribe", "--bind-to", "none" }.Concat(Environment.UserName == "root" ? ["--allow-run-as-root"] : Array.Empty<string>()))
        {
            start.ArgumentList.Add(option);
        }

        var dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet";
        for (var i = 0; i < programs.Length; i++)
        {
            if (i > 0)
            {
                start.ArgumentList.Add(":");
            }

            start.ArgumentList.Add("-np");
            start.ArgumentList.Add(programs[i].Ranks.ToString(CultureInfo.InvariantCulture));
            start.ArgumentList.Add(dotnet);
            start.ArgumentList.Add(typeof(Cli.Program).Assembly.Location);
            foreach (var argument in programs[i].Arguments)
            {
                start.ArgumentList.Add(argument);
            }
        }

        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromMinutes(2)))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail("mpirun did not end within two minutes (a rank waiting for another)");
        }

        return (process.ExitCode, output.Result, error.Result);
    }

    /// <summary>θ (K, b, c) and the classifier of a model file, every number in file order.</summary>
    private static double[] Parameters(string path)
    {
        using var document = JsonDocument.Parse(File.ReadAllText(path));
        var values = new List<double>();
        void Collect(JsonElement e)
        {
            switch (e.ValueKind)
            {
                case JsonValueKind.Number:
                    values.Add(e.GetDouble());
                    break;
                case JsonValueKind.Array:
                    foreach (var item in e.EnumerateArray())
                    {
                        Collect(item);
                    }

                    break;
                case JsonValueKind.Object:
                    foreach (var property in e.EnumerateObject())
                    {
                        Collect(property.Value);
                    }

                    break;
            }
        }

        foreach (var name in new[] { "K", "b", "c", "classifier" })
        {
            if (document.RootElement.TryGetProperty(name, out var part))
            {
                Collect(part);
            }
        }

        return [.. values];
    }

    private static double RelativeDifference(double[] expected, double[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        var difference = Math.Sqrt(expected.Zip(actual).Sum(p => (p.First - p.Second) * (p.First - p.Second)));
        return difference / Math.Sqrt(expected.Sum(v => v * v));
    }

    /// <summary>Two rings of 600 points, labels 0 and 1, as a CSV pair (480 training, 120 validation: three parts of the training set).</summary>
    private (string Train, string Validation) Rings()
    {
        var random = new Random(5);
        string Line(int i)
        {
            var label = i % 2;
            var angle = 2 * Math.PI * random.NextDouble();
            var radius = 1 + label + 0.3 * (random.NextDouble() - 0.5);
            return string.Create(CultureInfo.InvariantCulture, $"{radius * Math.Cos(angle):R},{radius * Math.Sin(angle):R},{label}");
        }

        var lines = Enumerable.Range(0, 600).Select(Line).ToArray();
        return (folder.Write("train.csv", string.Join('\n', lines[..480]) + "\n"), folder.Write("validation.csv", string.Join('\n', lines[480..]) + "\n"));
    }

    /// <summary>
    /// The parameters of R ranks are one process's; rank 0 alone prints: one JSON object on standard output, and on standard
    /// error one progress line an iteration (R ranks printing would repeat every line R times).
    /// </summary>
    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    public void RanksTrainTheParametersOfOneProcessOnTheSwissRollAndRankZeroAlonePrints(int ranks)
    {
        var one = folder.File("one.json");
        var many = folder.File($"ranks{ranks}.json");
        var single = CliRunner.Succeed([.. SwissRoll, "--model-out", one, "--json"]);
        var (code, output, error) = RunRanks((ranks, [.. SwissRoll, "--model-out", many, "--json"]));
        Assert.True(code == 0, $"exit code {code}: {error}");
        using var report = JsonDocument.Parse(output);
        var communication = report.RootElement.GetProperty("ranks");
        Assert.Equal(ranks, communication.GetProperty("size").GetInt32());
        var byLength = communication.GetProperty("byLength").EnumerateArray().Select(g => (Length: g.GetProperty("doublesSent").GetInt64(), Count: g.GetProperty("count").GetInt64())).ToArray();
        Assert.Equal(communication.GetProperty("reductions").GetInt64(), byLength.Sum(g => g.Count));
        Assert.Equal(communication.GetProperty("bytesSentPerRank").GetInt64(), byLength.Sum(g => 8 * g.Length * g.Count));
        var expected = report.RootElement.GetProperty("levels").EnumerateArray()
            .SelectMany(level => Enumerable.Range(1, level.GetProperty("iterations").GetInt32())
                .Select(i => string.Create(CultureInfo.InvariantCulture, $"N = {level.GetProperty("layers").GetInt32()}, iteration {i}/3: ")))
            .ToArray();
        Assert.Equal(6, expected.Length);
        var lines = error.TrimEnd('\n').Split('\n');
        Assert.True(expected.Length == lines.Length, $"expected {expected.Length} progress lines, one an iteration, got {lines.Length}:\n{error}");
        foreach (var (prefix, line) in expected.Zip(lines))
        {
            Assert.StartsWith(prefix, line, StringComparison.Ordinal);
            Assert.Contains(" reductions, ", line, StringComparison.Ordinal);
        }

        using var alone = JsonDocument.Parse(single);
        Assert.Equal(alone.RootElement.GetProperty("bestValidationAccuracy").GetDouble(), report.RootElement.GetProperty("bestValidationAccuracy").GetDouble());
        var difference = RelativeDifference(Parameters(one), Parameters(many));
        Assert.True(difference <= 1e-10, $"the {ranks}-rank parameters differ from one process's by {difference:G3} (relative)");
    }

    [Fact]
    public void RanksTrainTheParametersOfOneProcessOnCsvData()
    {
        var (train, validation) = Rings();
        string[] run = ["train", "--train", train, "--validation", validation, "--levels", "2,4", "--iterations", "3"];
        var one = folder.File("one.json");
        var many = folder.File("three.json");
        CliRunner.Succeed([.. run, "--model-out", one, "--json"]);
        var (code, _, error) = RunRanks((3, [.. run, "--model-out", many, "--json"]));
        Assert.True(code == 0, $"exit code {code}: {error}");
        var difference = RelativeDifference(Parameters(one), Parameters(many));
        Assert.True(difference <= 1e-10, $"the 3-rank parameters differ from one process's by {difference:G3} (relative)");
    }

    [Fact]
    public void AFailureOnOneRankEndsEveryRankWithOneLine()
    {
        var (train, validation) = Rings();
        var missing = folder.File("missing.csv");
        string[] good = ["train", "--train", train, "--validation", validation, "--levels", "2", "--iterations", "1"];
        string[] bad = ["train", "--train", missing, "--validation", validation, "--levels", "2", "--iterations", "1"];
        foreach (var programs in new[] { new[] { (1, good), (1, bad), (1, good) }, new[] { (1, bad), (2, good) } })
        {
            var (code, output, error) = RunRanks(programs);
            Assert.Equal(1, code);
            Assert.Equal(string.Empty, output);
            var line = Assert.Single(error.TrimEnd('\n').Split('\n'));
            Assert.StartsWith("stableode: ", line, StringComparison.Ordinal);
            Assert.Contains("missing.csv", line, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void BadInputOnEveryRankEndsWithOneLine()
    {
        var (code, output, error) = RunRanks((3, ["train", "--dataset", "swissroll", "--iterations", "0"]));
        Assert.Equal(1, code);
        Assert.Equal(string.Empty, output);
        Assert.Equal("stableode: --iterations must be at least 1, got 0", error.TrimEnd('\n'));
    }

    [Fact]
    public void TheFacadeRefusesRanksThatDoNotExist()
    {
        var data = Fixtures.Data(2, 300, 2, seed: 1);
        Assert.Contains("too few for 3 ranks", Assert.Throws<ArgumentException>(() => data.Shard(0, 3)).Message, StringComparison.Ordinal);
        Assert.Contains("the rank must be in 0…1, got 2", Assert.Throws<ArgumentException>(() => data.ValidationShard(2, 2)).Message, StringComparison.Ordinal);
        Assert.Equal(150, data.ValidationShard(1, 2).Count);
        Assert.Equal(data.Count, data.Shard(0, 1).Count);
        Assert.Equal(150, data.Shard(1, 2).Count);
        var trainer = new Trainer();
        Assert.Throws<ArgumentNullException>(() => trainer.OnRanks(0, 2, null!));
        Assert.Contains("the number of ranks must be at least 1", Assert.Throws<ArgumentException>(() => trainer.OnRanks(0, 0, v => v)).Message, StringComparison.Ordinal);
        var onRanks = trainer.OnRanks(1, 2, v => v);
        Assert.Equal((1, 2), (onRanks.Rank, onRanks.RankCount));
        Assert.Equal((0, 1), (trainer.Rank, trainer.RankCount));
    }

    [Fact]
    public void OnlyTrainRunsOnSeveralRanks()
    {
        var (code, output, error) = RunRanks((2, ["stability", "--model", "model.json"]));
        Assert.Equal(1, code);
        Assert.Equal(string.Empty, output);
        Assert.Equal("stableode: only train runs on several ranks (mpirun -np 2); run stability as one process", error.TrimEnd('\n'));
    }
}
