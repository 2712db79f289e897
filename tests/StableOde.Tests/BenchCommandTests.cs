using System.Globalization;
using System.Text.Json;

namespace StableOde.Tests;

/// <summary><c>stableode bench</c> on tiny cases: the line, the JSON object, and one-line errors.</summary>
public sealed class BenchCommandTests
{
    [Theory]
    [InlineData("verlet", "forward", "--width", "3")]
    [InlineData("resnet", "gradient", "--width", "2")]
    [InlineData("verlet", "gradient", "--conv", "2,4,5")]
    [InlineData("resnet", "forward", "--conv", "1,3,3")]
    public void JsonIsExactlyOneObjectWithTheNineFields(string propagator, string mode, string shapeOption, string shape)
    {
        var (code, output, error) = CliRunner.Run(
            "bench", "--propagator", propagator, shapeOption, shape, "--samples", "13", "--layers", "3", "--final-time", "1.5",
            "--mode", mode, "--repeat", "3", "--json");

        Assert.True(code == 0, error);
        Assert.Equal(string.Empty, error);
        Assert.Single(output.TrimEnd('\n').Split('\n'));
        using var document = JsonDocument.Parse(output);
        var root = document.RootElement;
        Assert.Equal(
            ["medianMs", "minMs", "maxMs", "gflops", "peakMB", "gradientMB", "fmaPeakGflops", "fmaPeakOneCoreGflops", "fmaPeakPercent"],
            root.EnumerateObject().Select(p => p.Name));
        var (median, min, max) = (root.GetProperty("medianMs").GetDouble(), root.GetProperty("minMs").GetDouble(), root.GetProperty("maxMs").GetDouble());
        Assert.True(min > 0.0 && min <= median && median <= max, $"min {min}, median {median}, max {max}");
        var gflops = root.GetProperty("gflops").GetDouble();
        Assert.True(gflops > 0.0);
        var peak = root.GetProperty("fmaPeakGflops").GetDouble();
        Assert.True(peak > 0.0 && root.GetProperty("fmaPeakOneCoreGflops").GetDouble() > 0.0);
        Assert.Equal(100.0 * gflops / peak, root.GetProperty("fmaPeakPercent").GetDouble(), 1e-12);
        var gradient = root.GetProperty("gradientMB").GetDouble();
        Assert.True(mode == "gradient" ? gradient > 0.0 : gradient == 0.0, $"gradientMB {gradient} in {mode} mode");
        if (OperatingSystem.IsLinux())
        {
            Assert.True(root.GetProperty("peakMB").GetDouble() >= 0.0);
        }
    }

    [Fact]
    public void WithoutJsonOneLineReportsTheCase()
    {
        var (code, output, error) = CliRunner.Run(
            "bench", "--propagator", "leapfrog", "--width", "2", "--samples", "9", "--layers", "4", "--mode", "gradient", "--repeat", "1");

        Assert.True(code == 0, error);
        Assert.Single(output.TrimEnd('\n').Split('\n'));
        Assert.StartsWith("leapfrog gradient, width 2, 9 samples, 4 layers: median ", output, StringComparison.Ordinal);
        Assert.Contains(" GFLOP/s (", output, StringComparison.Ordinal);
        Assert.Contains(" % of the FMA peak ", output, StringComparison.Ordinal);
        Assert.Contains(" on one), peak ", output, StringComparison.Ordinal);
        Assert.Contains(" MB, of which parameter gradient ", output, StringComparison.Ordinal);
        Assert.EndsWith(" MB\n", output, StringComparison.Ordinal);
        var median = output.Split("median ")[1].Split(' ')[0];
        Assert.True(double.Parse(median, CultureInfo.InvariantCulture) > 0.0);
    }

    [Fact]
    public void BadOptionsGiveOneLineAndExitCodeOne()
    {
        string[] valid = ["--samples", "8", "--layers", "2"];

        Assert.Equal("stableode: 'bench' needs --propagator P", CliRunner.Fail(["bench", "--width", "2", .. valid, "--mode", "forward"]));
        Assert.Equal("stableode: 'bench' needs --mode MODE", CliRunner.Fail(["bench", "--propagator", "verlet", "--width", "2", .. valid]));
        Assert.Equal("stableode: --propagator expects resnet, antisymmetric, leapfrog, verlet or verlet4, got 'euler'", CliRunner.Fail(["bench", "--propagator", "euler", "--width", "2", .. valid, "--mode", "forward"]));
        Assert.Equal("stableode: --mode expects forward or gradient, got 'backward'", CliRunner.Fail(["bench", "--propagator", "verlet", "--width", "2", .. valid, "--mode", "backward"]));
        Assert.Equal("stableode: 'bench' needs --width n or --conv c,H,W", CliRunner.Fail(["bench", "--propagator", "verlet", .. valid, "--mode", "forward"]));
        Assert.Equal("stableode: --width and --conv exclude each other: a convolution's width is c·H·W", CliRunner.Fail(["bench", "--propagator", "verlet", "--width", "2", "--conv", "1,2,2", .. valid, "--mode", "forward"]));
        Assert.Equal("stableode: --conv expects three positive integers c,H,W, got '6,28'", CliRunner.Fail(["bench", "--propagator", "verlet", "--conv", "6,28", .. valid, "--mode", "forward"]));
        Assert.Equal("stableode: --conv expects three positive integers c,H,W, got '0,2,2'", CliRunner.Fail(["bench", "--propagator", "verlet", "--conv", "0,2,2", .. valid, "--mode", "forward"]));
        Assert.Equal("stableode: --width must be at least 1, got 0", CliRunner.Fail(["bench", "--propagator", "verlet", "--width", "0", .. valid, "--mode", "forward"]));
        Assert.Equal("stableode: --samples expects an integer, got 'many'", CliRunner.Fail(["bench", "--propagator", "verlet", "--width", "2", "--samples", "many", "--layers", "2", "--mode", "forward"]));
        Assert.Equal("stableode: --repeat must be at least 1, got 0", CliRunner.Fail(["bench", "--propagator", "verlet", "--width", "2", .. valid, "--mode", "forward", "--repeat", "0"]));
        Assert.Equal("stableode: --final-time must be positive, got -1", CliRunner.Fail(["bench", "--propagator", "verlet", "--width", "2", .. valid, "--mode", "forward", "--final-time", "-1"]));
        Assert.Equal("stableode: unknown option '--bogus' for 'bench'; run 'stableode bench --help'", CliRunner.Fail(["bench", "--propagator", "verlet", "--width", "2", .. valid, "--mode", "forward", "--bogus"]));
    }
}
