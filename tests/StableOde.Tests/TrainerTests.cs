namespace StableOde.Tests;

/// <summary>The training facade: data sets, multilevel training, progress, cancellation and argument checks (small and fast).</summary>
public sealed class TrainerTests
{
    private static readonly Trainer Quick = new(iterations: 3, batchSize: 300, hessianSubsample: 100, seed: 4);

    private sealed class Recorder : IProgress<TrainingProgress>
    {
        public List<TrainingProgress> Reports { get; } = [];

        public Action<TrainingProgress>? Then { get; init; }

        public void Report(TrainingProgress value)
        {
            Reports.Add(value);
            Then?.Invoke(value);
        }
    }

    [Fact]
    public void DatasetsHaveThePapersSizesAndDependOnlyOnTheSeed()
    {
        var (ellipsesTraining, ellipsesValidation) = Datasets.Ellipses(seed: 3);
        var (swissTraining, swissValidation) = Datasets.SwissRoll(seed: 3);
        var (peaksTraining, peaksValidation) = Datasets.Peaks(seed: 3);

        Assert.Equal((1000, 200, 2, 2), (ellipsesTraining.Count, ellipsesValidation.Count, ellipsesTraining.Width, ellipsesTraining.Classes));
        Assert.Equal((513, 513, 2), (swissTraining.Count, swissValidation.Count, swissTraining.Classes));
        Assert.Equal((4000, 1000, 5), (peaksTraining.Count, peaksValidation.Count, peaksTraining.Classes));
        Assert.Equal(Fixtures.Bits(ellipsesTraining.Features), Fixtures.Bits(Datasets.Load(PaperDataset.Ellipses, seed: 3).Training.Features));
        Assert.NotEqual(Fixtures.Bits(ellipsesTraining.Features), Fixtures.Bits(Datasets.Ellipses(seed: 4).Training.Features));
    }

    [Fact]
    public void MultilevelTrainingDoublesTheDepthReportsEveryIterationAndKeepsTheBestModel()
    {
        var (training, validation) = Datasets.Ellipses();
        var recorder = new Recorder();

        var fit = Quick.FitMultilevel(Network.ResNet(width: 2, depth: 2, finalTime: 4.0), training, validation, maxDepth: 4, progress: recorder);

        Assert.Equal(TrainingStatus.Completed, fit.Status);
        Assert.Equal([2, 4], fit.Levels.Select(l => l.Depth));
        Assert.All(fit.Levels, l => Assert.Equal(3, l.Iterations));
        Assert.Equal([(2, 1), (2, 2), (2, 3), (4, 1), (4, 2), (4, 3)], recorder.Reports.Select(p => (p.Depth, p.Iteration)));
        Assert.All(recorder.Reports, p => Assert.Equal(3, p.Iterations));
        Assert.Equal(fit.Levels.Max(l => l.BestValidationAccuracy), fit.BestValidationAccuracy);
        Assert.Equal(fit.BestValidationAccuracy, fit.BestModel.Accuracy(validation));
        Assert.All(fit.Levels, l => Assert.Equal(l.BestValidationAccuracy, l.BestModel.Accuracy(validation)));
        Assert.All(fit.Levels, l => Assert.Equal(l.TrainingAccuracy, l.BestModel.Accuracy(training)));
        Assert.True(fit.BestValidationAccuracy > 0.6, $"best validation accuracy {fit.BestValidationAccuracy}");
        Assert.Equal(Hypothesis.Logistic, fit.BestModel.Classifier.Hypothesis);
    }

    [Fact]
    public void TheSameSeedGivesTheSameModel()
    {
        var (training, validation) = Datasets.SwissRoll();
        var network = Network.Verlet(width: 2, depth: 2, finalTime: 4.0);

        var first = Quick.FitMultilevel(network, training, validation, maxDepth: 2);
        var second = Quick.FitMultilevel(network, training, validation, maxDepth: 2);

        Assert.Equal(first.BestModel.ToJson(), second.BestModel.ToJson());
    }

    [Fact]
    public void NarrowDataIsWidenedAndFiveClassesUseSoftmax()
    {
        var (training, validation) = Datasets.Peaks();

        var fit = new Trainer(iterations: 1, batchSize: 200, hessianSubsample: 50).FitMultilevel(Network.ResNet(width: 4, depth: 2, finalTime: 1.0), training, validation, maxDepth: 2);

        Assert.Equal(4, fit.BestModel.Network.Width);
        Assert.Equal(Hypothesis.Softmax, fit.BestModel.Classifier.Hypothesis);
        Assert.Equal(5, fit.BestModel.Classes);
        Assert.Equal(fit.BestValidationAccuracy, fit.BestModel.Accuracy(validation.Widen(4)));
    }

    [Fact]
    public void CancellingKeepsTheBestModelSoFar()
    {
        var (training, validation) = Datasets.Ellipses();
        using var cancel = new CancellationTokenSource();
        var recorder = new Recorder { Then = _ => cancel.Cancel() };

        var fit = Quick.FitMultilevel(Network.Verlet(width: 2, depth: 2, finalTime: 4.0), training, validation, maxDepth: 8, recorder, cancel.Token);

        Assert.Equal(TrainingStatus.Cancelled, fit.Status);
        Assert.Single(fit.Levels);
        Assert.Single(recorder.Reports);
        Assert.Equal(1, fit.Levels[0].Iterations);
        Assert.Equal(fit.BestValidationAccuracy, fit.BestModel.Accuracy(validation));
    }

    [Fact]
    public void OneLevelFromAModelNeverEndsWorseOnValidationThanItStarted()
    {
        var (training, validation) = Datasets.Ellipses();
        var start = Quick.FitMultilevel(Network.ResNet(width: 2, depth: 4, finalTime: 4.0), training, validation, maxDepth: 4).BestModel;

        var fit = Quick.Fit(start, training, validation);

        Assert.Single(fit.Levels);
        Assert.Equal(4, fit.BestModel.Network.Depth);
        Assert.True(fit.BestValidationAccuracy >= start.Accuracy(validation));
    }

    [Fact]
    public void TheDatasetTrainerHasThePapersSmoothnessAndItsBatch()
    {
        Assert.Equal(1e-3, Trainer.ForDataset(PaperDataset.Ellipses).Smoothness);
        Assert.Equal(5e-3, Trainer.ForDataset(PaperDataset.SwissRoll).Smoothness);
        Assert.Equal(5e-6, Trainer.ForDataset(PaperDataset.Peaks).Smoothness);
        Assert.Equal((2000, 2000, 4000), (Trainer.ForDataset(PaperDataset.Ellipses).BatchSize, Trainer.ForDataset(PaperDataset.SwissRoll).BatchSize, Trainer.ForDataset(PaperDataset.Peaks).BatchSize));
        Assert.Equal(2e-2, Trainer.ForDataset(PaperDataset.Peaks, smoothness: 2e-2, iterations: 7, seed: 9).Smoothness);
        Assert.Equal((7, 9), (Trainer.ForDataset(PaperDataset.Peaks, iterations: 7, seed: 9).Iterations, Trainer.ForDataset(PaperDataset.Peaks, iterations: 7, seed: 9).Seed));
        Assert.True(Trainer.ForDataset(PaperDataset.Ellipses).RefitsClassifier);
        Assert.True(new Trainer().RefitsClassifier);
        Assert.False(new Trainer(refitClassifier: false).RefitsClassifier);
    }

    [Fact]
    public void EveryOptionGivenReplacesItsDefaultAndTheOthersStay()
    {
        var all = new Trainer(smoothness: 2e-3, iterations: 3, batchSize: 50, hessianSubsample: 20, initialScale: 0.3, seed: 5, refitClassifier: false);
        Assert.Equal((2e-3, 3, 50, 20, 0.3, 5, false), (all.Smoothness, all.Iterations, all.BatchSize, all.HessianSubsample, all.InitialScale, all.Seed, all.RefitsClassifier));
        var defaults = new Trainer();
        var one = new Trainer(hessianSubsample: 77);
        Assert.Equal((defaults.Smoothness, defaults.Iterations, defaults.BatchSize, 77, defaults.InitialScale, defaults.Seed, true), (one.Smoothness, one.Iterations, one.BatchSize, one.HessianSubsample, one.InitialScale, one.Seed, one.RefitsClassifier));
        var images = Trainer.ForImages(Propagator.Verlet, 6, 28, 28, hessianSubsample: 300, seed: 4);
        Assert.Equal((5e-3, 5, int.MaxValue, 300, 4, true), (images.Smoothness, images.Iterations, images.BatchSize, images.HessianSubsample, images.Seed, images.RefitsClassifier));
    }

    [Fact]
    public void BadArgumentsNameTheParameter()
    {
        var (training, validation) = Datasets.Ellipses();
        var network = Network.ResNet(width: 2, depth: 4, finalTime: 4.0);
        var threeClasses = Dataset.FromArrays(new[,] { { 0.0, 1.0 }, { 1.0, 0.0 } }, [0, 2]);
        var wide = Dataset.FromArrays(new[,] { { 0.0, 1.0, 2.0 } }, [1]);

        Assert.Equal("smoothness", Assert.Throws<ArgumentOutOfRangeException>(() => new Trainer(smoothness: -1.0)).ParamName);
        Assert.Equal("smoothness", Assert.Throws<ArgumentOutOfRangeException>(() => new Trainer(smoothness: double.NaN)).ParamName);
        Assert.Equal("iterations", Assert.Throws<ArgumentOutOfRangeException>(() => new Trainer(iterations: 0)).ParamName);
        Assert.Equal("batchSize", Assert.Throws<ArgumentOutOfRangeException>(() => new Trainer(batchSize: 0)).ParamName);
        Assert.Equal("hessianSubsample", Assert.Throws<ArgumentOutOfRangeException>(() => new Trainer(hessianSubsample: -2)).ParamName);
        Assert.Equal("initialScale", Assert.Throws<ArgumentOutOfRangeException>(() => new Trainer(initialScale: -0.1)).ParamName);
        Assert.Equal("dataset", Assert.Throws<ArgumentOutOfRangeException>(() => Trainer.ForDataset((PaperDataset)7)).ParamName);
        Assert.Equal("maxDepth", Assert.Throws<ArgumentOutOfRangeException>(() => Quick.FitMultilevel(network, training, validation, maxDepth: 2)).ParamName);
        Assert.Equal("network", Assert.Throws<ArgumentNullException>(() => Quick.FitMultilevel(null!, training, validation, maxDepth: 4)).ParamName);
        Assert.Equal("validation", Assert.Throws<ArgumentNullException>(() => Quick.FitMultilevel(network, training, null!, maxDepth: 4)).ParamName);
        Assert.Equal("validation", Assert.Throws<ArgumentException>(() => Quick.FitMultilevel(network, training, threeClasses, maxDepth: 4)).ParamName);
        Assert.Equal("training", Assert.Throws<ArgumentException>(() => Quick.FitMultilevel(network, wide, validation, maxDepth: 4)).ParamName);
    }
}
