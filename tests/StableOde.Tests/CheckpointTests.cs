using System.Diagnostics;
using System.Text.Json;

namespace StableOde.Tests;

/// <summary>Runs that survive: <c>--model-out</c> as a checkpoint, a kill -9 during a multilevel run, and <c>train --resume</c>.</summary>
public sealed class CheckpointTests : IDisposable
{
    private static readonly string[] Run = ["train", "--dataset", "ellipses", "--propagator", "resnet", "--levels", "2,4,8,16,32", "--iterations", "4"];

    private readonly TempFolder folder = new();

    public void Dispose() => folder.Dispose();

    private static int FinishedLevels(string path)
    {
        try
        {
            using var document = JsonDocument.Parse(File.ReadAllText(path));
            return document.RootElement.GetProperty("checkpoint").GetProperty("levels").GetArrayLength();
        }
        catch (IOException)
        {
            return 0;
        }
    }

    /// <summary>The built command line running <see cref="Run"/> as a process of its own, returned once its checkpoint holds <paramref name="levels"/> finished levels (and the run goes on).</summary>
    private static Process StartUntil(int levels, string modelOut)
    {
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(typeof(Cli.Program).Assembly.Location);
        foreach (var argument in Run.Concat(["--model-out", modelOut, "--json"]))
        {
            start.ArgumentList.Add(argument);
        }

        var process = Process.Start(start)!;
        var clock = Stopwatch.StartNew();
        while (!(File.Exists(modelOut) && FinishedLevels(modelOut) >= levels))
        {
            Assert.False(process.HasExited, $"the run ended (exit code {(process.HasExited ? process.ExitCode : 0)}) before its checkpoint held {levels} levels");
            Assert.True(clock.Elapsed < TimeSpan.FromMinutes(2), "no checkpoint within two minutes");
            Thread.Sleep(20);
        }

        Assert.False(process.HasExited, "the run ended before it was stopped");
        return process;
    }

    /// <summary>The run killed with SIGKILL once its checkpoint holds <paramref name="levels"/> finished levels.</summary>
    private static void KillAfter(int levels, string modelOut)
    {
        using var process = StartUntil(levels, modelOut);
        process.Kill(entireProcessTree: true);
        process.WaitForExit();
    }

    [Fact]
    public async Task SigtermStopsARunAfterItsIterationWithTheBestModelWrittenAndStatusCancelled()
    {
        var path = folder.File("terminated.json");
        using var process = StartUntil(1, path);
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();

        using (var kill = Process.Start("kill", ["-TERM", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
        {
            await kill.WaitForExitAsync();
            Assert.Equal(0, kill.ExitCode);
        }

        using var limit = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await process.WaitForExitAsync(limit.Token);
        Assert.Equal(0, process.ExitCode);
        using var result = JsonDocument.Parse(await output);
        Assert.Equal("cancelled", result.RootElement.GetProperty("status").GetString());
        Assert.Contains("interrupted at", await errors, StringComparison.Ordinal);
        var stopped = TrainingCheckpoint.Load(path);
        Assert.InRange(stopped.Levels.Count, 1, 4);
        Assert.Equal(result.RootElement.GetProperty("bestValidationAccuracy").GetDouble(), Model.Load(path).Accuracy(Datasets.Ellipses(seed: 1).Validation), 12);
    }

    private static IEnumerable<string> WithoutTimes(string json) =>
        json.Split('\n').Where(l => !l.Contains("\"seconds\"", StringComparison.Ordinal) && !l.Contains("\"model\"", StringComparison.Ordinal));

    [Fact]
    public void AKilledRunLeavesALoadableModelAndResumingEndsWhereTheUninterruptedRunEnds()
    {
        var cut = folder.File("cut.json");
        var whole = folder.File("whole.json");

        KillAfter(2, cut);

        var killed = TrainingCheckpoint.Load(cut);
        Assert.InRange(killed.Levels.Count, 2, 4);
        Assert.Equal(Run[1..], killed.Run);
        Assert.Equal(killed.Levels.Max(l => l.BestValidationAccuracy), Model.Load(cut).Accuracy(Datasets.Ellipses(seed: 1).Validation));
        var data = folder.Write("points.csv", "x1,x2\n0.1,0.2\n-0.5,0.4\n");
        Assert.Equal(3, CliRunner.Succeed("predict", "--model", cut, "--data", data).TrimEnd('\n').Split('\n').Length);

        var resumed = CliRunner.Succeed("train", "--resume", cut, "--json");
        var uninterrupted = CliRunner.Succeed([.. Run, "--model-out", whole, "--json"]);

        Assert.Equal(WithoutTimes(uninterrupted), WithoutTimes(resumed));
        var (a, b) = (Model.Load(whole), Model.Load(cut));
        Assert.Equal(a.Network.Depth, b.Network.Depth);
        Assert.Equal(Fixtures.Bits(a.Parameters.Weights(a.Network.Depth - 1)), Fixtures.Bits(b.Parameters.Weights(b.Network.Depth - 1)));
        Assert.Equal(Fixtures.Bits(a.Classifier.Weights), Fixtures.Bits(b.Classifier.Weights));
        Assert.Equal(5, TrainingCheckpoint.Load(cut).Levels.Count);
    }

    [Fact]
    public void DuringALevelTheCheckpointHoldsTheBestModelSoFar()
    {
        var path = folder.File("timed.json");
        var (training, validation) = Datasets.Ellipses(seed: 1);
        var best = double.NegativeInfinity;
        var checks = 0;
        var progress = new Immediate(p =>
        {
            best = Math.Max(best, p.BestValidationAccuracy);
            var checkpoint = TrainingCheckpoint.Load(path);
            Assert.Equal(best, checkpoint.BestModel.Accuracy(validation));
            Assert.Equal(p.Depth == 2 ? 0 : 1, checkpoint.Levels.Count);
            checks++;
        });

        Trainer.ForDataset(PaperDataset.Ellipses, iterations: 3).FitMultilevel(
            Network.ResNet(width: 2, depth: 2, finalTime: 20.0), training, validation, maxDepth: 4, new Checkpointing(path, interval: TimeSpan.FromTicks(1)), progress);

        Assert.Equal(6, checks);
    }

    [Fact]
    public void ACheckpointRecordsTheDataFilesByTheirFullPaths()
    {
        var train = folder.Write("train.csv", "x1,x2,label\n0,0,0\n1,0,1\n0,1,1\n1,1,0\n");
        var relative = Path.GetRelativePath(Environment.CurrentDirectory, train);
        var path = folder.File("csv.json");

        CliRunner.Succeed("train", "--train", relative, "--validation", relative, "--levels", "2", "--iterations", "1", "--model-out", path, "--json");

        Assert.Equal(["--train", train, "--validation", train, "--levels", "2", "--iterations", "1"], TrainingCheckpoint.Load(path).Run);
    }

    [Fact]
    public void ResumeTakesItsSettingsFromTheCheckpointAndNeedsOne()
    {
        var model = folder.File("model.json");
        Fixtures.Model("resnet").Save(model);

        Assert.Equal("stableode: --resume continues the run with the settings its checkpoint records; only --model-out and --json go with it, not --levels", CliRunner.Fail("train", "--resume", model, "--levels", "2"));
        Assert.Equal("stableode: model.json: a model file but not a checkpoint (no \"checkpoint\" field); train --resume needs the --model-out file of a run", CliRunner.Fail("train", "--resume", model));
    }

    private sealed class Immediate(Action<TrainingProgress> report) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value) => report(value);
    }
}
