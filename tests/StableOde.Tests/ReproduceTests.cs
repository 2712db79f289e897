using System.Text.Json;

namespace StableOde.Tests;

public sealed class ReproduceTests : IDisposable
{
    private readonly TempFolder folder = new();

    public void Dispose() => folder.Dispose();

    private static (int Code, string Out, string Error) Run(params string[] args) => CliRunner.Run(args);

    [Fact]
    public void ReproduceWritesFiguresReportAndResults()
    {
        var output = folder.File("report");
        var images = folder.File("images");
        Directory.CreateDirectory(images);
        IdxFiles.WriteTwoClassImages(images, 100, 6, 6);
        var (code, stdout, stderr) = Run("reproduce", "--out", output, "--quiet", "--max-depth", "8", "--iterations", "2", "--data", images);

        Assert.Equal(0, code);
        Assert.Equal(string.Empty, stderr);
        Assert.Equal(Path.Combine(output, "report.md"), stdout.TrimEnd('\n').Split('\n')[^1]);
        Assert.Contains("swiss roll", stdout);
        string[] figures =
        [
            "figure1.png", "figure2.png", "figure2-long.png", "hamiltonian.png", "order.png", "figure3.png",
            "figure4-ellipses.png", "figure5-swiss-roll.png", "figure6-peaks.png",
            "spectra-ellipses.png", "spectra-swiss-roll.png", "spectra-peaks.png",
            "jacobian-ellipses.png", "jacobian-swiss-roll.png", "jacobian-peaks.png", "figure7.png",
            "robustness-peaks.png", "robustness-sigma-peaks.png", "robustness-images.png", "robustness-sigma-images.png",
        ];
        foreach (var figure in figures)
        {
            var bytes = File.ReadAllBytes(Path.Combine(output, figure));
            Assert.True(bytes.Length > 10_000, $"{figure} is only {bytes.Length} bytes");
            Assert.Equal([0x89, 0x50, 0x4E, 0x47], bytes[..4]);
        }

        var report = File.ReadAllText(Path.Combine(output, "report.md"));
        Assert.Contains("![Figure 1", report);
        Assert.Contains("Table 1: training error (TE) and validation error (VE)", report);
        Assert.DoesNotContain("## Skipped", report);
        Assert.Empty(Directory.GetFiles(output, "*.tmp"));

        using var results = JsonDocument.Parse(File.ReadAllText(Path.Combine(output, "results.json")));
        var example1 = results.RootElement.GetProperty("results").GetProperty("example1");
        double Spread(int k, string which) => example1[k].GetProperty(which).EnumerateArray().Sum(x => x.GetDouble());
        Assert.True(Spread(0, "outputDistances") > 2 * Spread(0, "inputDistances"), "K+ must spread the features apart");
        Assert.True(Spread(1, "outputDistances") < 0.5 * Spread(1, "inputDistances"), "K− must contract the features");
        Assert.InRange(Spread(2, "outputDistances") / Spread(2, "inputDistances"), 0.95, 1.1);

        var training = results.RootElement.GetProperty("results").GetProperty("training").EnumerateArray().ToList();
        Assert.Equal(9, training.Count);
        Assert.All(training, run => Assert.Equal([4, 8], run.GetProperty("levels").EnumerateArray().Select(l => l.GetProperty("layers").GetInt32())));

        var imageRuns = results.RootElement.GetProperty("results").GetProperty("images").EnumerateArray().ToList();
        Assert.Equal(["resnet", "antisymmetric", "verlet"], imageRuns.Select(r => r.GetProperty("propagator").GetString()));
        Assert.All(imageRuns, run => Assert.Equal((80, 20), (run.GetProperty("training").GetInt32(), run.GetProperty("validation").GetInt32())));
        Assert.All(imageRuns, run => Assert.Equal([4, 8, 16], run.GetProperty("levels").EnumerateArray().Select(l => l.GetProperty("layers").GetInt32())));

        foreach (var (key, networks, epsilons) in new[] { ("robustnessPeaks", new[] { "resnet (n = 8)", "antisymmetric (n = 8)", "verlet (n = 2)" }, 7), ("robustnessImages", ["resnet", "antisymmetric", "verlet"], 5) })
        {
            var robustness = results.RootElement.GetProperty("results").GetProperty(key).EnumerateArray().ToList();
            Assert.Equal(networks, robustness.Select(r => r.GetProperty("network").GetString()));
            foreach (var run in robustness)
            {
                var fgsm = run.GetProperty("fgsm").EnumerateArray().ToList();
                var pgd = run.GetProperty("pgd").EnumerateArray().ToList();
                Assert.Equal(epsilons, fgsm.Count);
                Assert.Equal(fgsm[0].GetProperty("accuracy").GetDouble(), pgd[0].GetProperty("accuracy").GetDouble());
                Assert.Equal(0.0, pgd[0].GetProperty("amplificationMax").GetDouble());
                Assert.True(pgd[^1].GetProperty("amplificationMean").GetDouble() > 0.0);
                Assert.All(run.GetProperty("sigmaMax").EnumerateArray(), x => Assert.True(x.GetDouble() > 0.0));
            }
        }

        var conservation = results.RootElement.GetProperty("results").GetProperty("conservation").EnumerateArray().ToList();
        double Band(string name) => conservation.Single(c => c.GetProperty("integrator").GetString() == name).GetProperty("band").GetDouble();
        Assert.InRange(Band("Verlet, h = 0.05") / Band("Verlet, h = 0.1"), 0.4, 0.6);
        Assert.True(Band("forward Euler, h = 0.1") > 1000 * Band("Verlet, h = 0.1"));

        var order = results.RootElement.GetProperty("results").GetProperty("order").EnumerateArray()
            .ToDictionary(r => r.GetProperty("scheme").GetString()!, r => r.GetProperty("order").GetDouble());
        Assert.InRange(order["Verlet (paper)"], 0.9, 1.1);
        Assert.InRange(order["symmetric Verlet"], 1.9, 2.1);
        Assert.InRange(order["verlet4"], 3.8, 4.3);
        Assert.Contains("![Error ‖Y_N − y(T)‖_F against the number of layers N", report);
    }

    [Theory]
    [InlineData("--max-depth", "6", "--max-depth must be a power of two of at least 4, got 6")]
    [InlineData("--max-depth", "2", "--max-depth must be a power of two of at least 4, got 2")]
    [InlineData("--iterations", "0", "--iterations must be at least 1, got 0")]
    public void ReproduceRejectsBadScheduleOptions(string option, string value, string message)
    {
        var (code, stdout, stderr) = Run("reproduce", "--out", folder.File("r"), option, value);

        Assert.Equal(1, code);
        Assert.Equal(string.Empty, stdout);
        Assert.Equal($"stableode: {message}\n", stderr);
    }

    [Fact]
    public void ReproduceRejectsAMissingDataFolderInOneLine()
    {
        var (code, _, stderr) = Run("reproduce", "--out", folder.File("r"), "--data", folder.File("no-such-folder"));

        Assert.Equal(1, code);
        Assert.Single(stderr.TrimEnd('\n').Split('\n'));
        Assert.StartsWith("stableode: --data:", stderr);
    }

    [Fact]
    public void ReproduceRejectsAnOutputFolderThatIsAFile()
    {
        var file = folder.Write("taken", "not a folder");
        var (code, _, stderr) = Run("reproduce", "--out", file, "--quiet");

        Assert.Equal(1, code);
        Assert.StartsWith("stableode: --out: cannot write to", stderr);
        Assert.Equal("not a folder", File.ReadAllText(file));
    }
}
