namespace StableOde.Tests;

/// <summary>The paper's experiments are defined once, in the core's <c>Experiments</c>: <c>train</c>, <c>reproduce</c> and the facade read them.</summary>
public sealed class ExperimentTests : IDisposable
{
    private readonly TempFolder folder = new();

    public void Dispose() => folder.Dispose();

    public static TheoryData<string, string> Networks()
    {
        var data = new TheoryData<string, string>();
        foreach (var e in Core.Experiments.all)
        {
            foreach (var p in e.Propagators)
            {
                data.Add(e.Name, Core.NetworkModule.propagatorName(p));
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Networks))]
    public void TrainBuildsTheExperimentsNetworkWithItsOptions(string dataset, string propagator)
    {
        var experiment = Core.Experiments.tryFind(dataset).Value;
        var expected = Core.Experiments.network(experiment, Core.NetworkModule.tryParsePropagator(propagator).Value, 2);
        var path = folder.File("model.json");

        CliRunner.Succeed("train", "--dataset", dataset.ToUpperInvariant(), "--propagator", propagator.ToUpperInvariant(), "--levels", "2", "--iterations", "1", "--model-out", path, "--json");

        var model = Model.Load(path).Network;
        Assert.Equal((Core.NetworkModule.width(expected), Core.NetworkModule.auxWidth(expected), expected.FinalTime), (model.Width, model.AuxWidth, model.FinalTime));
        var trainer = Trainer.ForDataset(Enum.Parse<PaperDataset>(dataset, ignoreCase: true));
        Assert.Equal((experiment.Options.Propagation.Regulariser.Alpha, experiment.Options.Iterations), (trainer.Smoothness, trainer.Iterations));
    }

    [Fact]
    public void ReproduceRunsEveryExperimentsNetworks()
    {
        var runs = Cli.Reproduce.PaperTraining.Runs;

        Assert.Equal(
            Core.Experiments.all.SelectMany(e => e.Propagators.Select(p => (e.Title, Core.NetworkModule.propagatorName(p), e.Width.Invoke(p)))),
            runs);
        Assert.Equal(["ellipses", "swiss roll", "peaks"], runs.Select(r => r.Dataset).Distinct());
        Assert.Equal("99.1 %", Cli.Reproduce.PaperTraining.PaperAccuracy("peaks", "verlet"));
    }

    [Fact]
    public void TrainReproduceAndCheckpointsUseTheCoresStatusWords()
    {
        (TrainingStatus Facade, Core.OptimisationStatus Core)[] statuses =
        [
            (TrainingStatus.Completed, Core.OptimisationStatus.MaxIterations), (TrainingStatus.LineSearchFailed, Core.OptimisationStatus.LineSearchFailed),
            (TrainingStatus.Diverged, Core.OptimisationStatus.Diverged), (TrainingStatus.Cancelled, Core.OptimisationStatus.Cancelled),
        ];

        Assert.All(statuses, s => Assert.Equal(Core.StatusWord.name(s.Core), Cli.Commands.TrainCommand.StatusName(s.Facade)));
        Assert.Equal(["completed", "lineSearchFailed", "diverged", "cancelled"], statuses.Select(s => Core.StatusWord.name(s.Core)));
    }

    [Fact]
    public void TheDataOptionsMakeOneDataChoice()
    {
        static Cli.DataChoice Of(params string[] args) => Cli.DataChoice.Of(Cli.ParsedOptions.Parse("train", new Cli.Commands.TrainCommand().Options, args));

        Assert.Equal(Core.Experiments.peaks, Assert.IsType<Cli.DataChoice.BuiltIn>(Of("--dataset", "Peaks")).Experiment);
        Assert.Equal(new Cli.DataChoice.CsvPair("a.csv", "b.csv", 3), Of("--train", "a.csv", "--validation", "b.csv", "--classes", "3"));
        Assert.Equal(new Cli.DataChoice.IdxPair("i", "l", new Cli.ImageSizes(null, 5)), Of("--images", "i", "--labels", "l", "--validation-size", "5"));
        Assert.Equal(new Cli.DataChoice.Folder("mnist", "d", new Cli.ImageSizes(7, null)), Of("--dataset", "MNIST", "--data", "d", "--train-size", "7"));
        Assert.Throws<Cli.UsageException>(() => Of("--dataset", "peaks", "--train", "a.csv"));
    }

    [Fact]
    public void ImageSplitsFollowTheExperiment()
    {
        Assert.Equal(Tuple.Create(50_000, 10_000), Core.Experiments.images.SplitCounts.Invoke(60_000));
        Assert.Equal(Tuple.Create(80, 20), Core.Experiments.images.SplitCounts.Invoke(100));
    }
}
