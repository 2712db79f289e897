using System.Globalization;
using System.Text.Json;

namespace StableOde.Tests;

/// <summary>Images (§6.4) through the facade and <c>stableode train</c>: IDX files written by the test, never a real data set.</summary>
public sealed class ImageTrainingTests : IDisposable
{
    private readonly TempFolder folder = new();

    public void Dispose() => folder.Dispose();

    [Fact]
    public void ImageSetsReadAPairOrAFolderWithTheirShape()
    {
        var (images, labels) = IdxFiles.WriteTwoClassImages(folder.Path, 30, 4, 5);

        var pair = ImageSet.Load(images, labels);
        var found = ImageSet.LoadFolder(folder.Path);

        Assert.Equal((4, 5, 30, 20, 10), (pair.Height, pair.Width, pair.Data.Count, pair.Data.Width, pair.Data.Classes));
        Assert.Equal(pair.Data.Features, found.Data.Features);
        Assert.Equal(pair.Data.Labels, found.Data.Labels);
        Assert.All(pair.Data.Features.Cast<double>(), x => Assert.InRange(x, 0.0, 1.0));
        Assert.Throws<FileNotFoundException>(() => ImageSet.Load(folder.File("missing"), labels));
        Assert.Throws<ArgumentException>(() => ImageSet.LoadFolder(" "));
    }

    [Fact]
    public void SplitByCountsIsSeededDisjointAndChecked()
    {
        var (images, labels) = IdxFiles.WriteTwoClassImages(folder.Path, 30, 4, 5);
        var data = ImageSet.Load(images, labels).Data;

        var (training, validation) = data.Split(20, 6, seed: 3);
        var (again, _) = data.Split(20, 6, seed: 3);

        Assert.Equal((20, 6), (training.Count, validation.Count));
        Assert.Equal(training.Features, again.Features);
        var rows = (Dataset d) => Enumerable.Range(0, d.Count).Select(i => string.Join(',', Enumerable.Range(0, d.Width).Select(j => d.Features[i, j].ToString("R", CultureInfo.InvariantCulture)))).ToHashSet();
        Assert.Empty(rows(training).Intersect(rows(validation)));
        Assert.Throws<ArgumentOutOfRangeException>(() => data.Split(25, 6, seed: 3));
        Assert.Throws<ArgumentOutOfRangeException>(() => data.Split(0, 6, seed: 3));
    }

    [Fact]
    public void TheImageTrainerHasThePapersSettings()
    {
        var trainer = Trainer.ForImages(Propagator.Verlet, 6, 28, 28);

        Assert.Equal((5e-3, 1000, int.MaxValue, 5), (trainer.Smoothness, trainer.HessianSubsample, trainer.BatchSize, trainer.Iterations));
        Assert.Equal([10], trainer.LevelIterations);
        var seven = Trainer.ForImages(Propagator.ResNet, 6, 28, 28, iterations: 7);
        Assert.Equal(7, seven.Iterations);
        Assert.Empty(seven.LevelIterations);
        Assert.True(trainer.RefitsClassifier);
        Assert.False(trainer.WithClassifierRefit(false).RefitsClassifier);
        Assert.Throws<ArgumentOutOfRangeException>(() => Trainer.ForImages(Propagator.ResNet, 0, 28, 28));
    }

    [Fact]
    public void TrainOnAnIdxPairWritesAConvolutionalModelThatPredictsAndDifferentiates()
    {
        var (images, labels) = IdxFiles.WriteTwoClassImages(folder.Path, 100, 6, 6);
        var path = folder.File("conv.json");

        var output = CliRunner.Succeed("train", "--images", images, "--labels", labels, "--propagator", "resnet", "--width", "2", "--levels", "2,4",
            "--iterations", "2", "--train-size", "80", "--validation-size", "20", "--json", "--model-out", path);

        using var document = JsonDocument.Parse(output);
        var levels = document.RootElement.GetProperty("levels").EnumerateArray().ToList();
        Assert.Equal([2, 4], levels.Select(l => l.GetProperty("layers").GetInt32()));
        Assert.True(document.RootElement.GetProperty("bestValidationAccuracy").GetDouble() >= 0.9, output);
        var model = Model.Load(path);
        Assert.True(model.Network.IsConvolutional);
        Assert.Equal((72, 10), (model.Network.Width, model.Classes));
        using (var json = JsonDocument.Parse(File.ReadAllText(path)))
        {
            var op = json.RootElement.GetProperty("operator");
            Assert.Equal(("conv3x3", 2, 6, 6), (op.GetProperty("kind").GetString(), op.GetProperty("channels").GetInt32(), op.GetProperty("height").GetInt32(), op.GetProperty("width").GetInt32()));
        }

        var pixels = ImageSet.Load(images, labels).Data.Features;
        var csv = folder.Write("pixels.csv", string.Join('\n', Enumerable.Range(0, 3).Select(i =>
            string.Join(',', Enumerable.Range(0, 36).Select(j => pixels[i, j].ToString("R", CultureInfo.InvariantCulture))) + $",{i % 2}")) + "\n");
        var predicted = CliRunner.Succeed("predict", "--model", path, "--data", csv).TrimEnd('\n').Split('\n');
        Assert.Equal(4, predicted.Length);
        using var gradient = JsonDocument.Parse(CliRunner.Succeed("gradient", "--model", path, "--data", csv));
        Assert.Equal(72, gradient.RootElement.GetProperty("gradY0")[0].GetArrayLength());
    }

    [Fact]
    public void TheMnistDatasetReadsItsFolderAndSplitsEightyTwenty()
    {
        IdxFiles.WriteTwoClassImages(folder.Path, 50, 5, 5);

        var output = CliRunner.Succeed("train", "--dataset", "mnist", "--data", folder.Path, "--width", "1", "--levels", "2", "--iterations", "1", "--hessian-subsample", "7");

        Assert.Contains("on mnist (40 training, 10 validation examples)", output, StringComparison.Ordinal);
        Assert.Contains("the curvature on 7, seed 1", System.Text.RegularExpressions.Regex.Replace(output, @"\s+", " "), StringComparison.Ordinal);
        Assert.Contains("convolutional", output, StringComparison.Ordinal);
    }

    [Fact]
    public void TheLevelsTakeTheirOwnIterationsAndTheClassificationAndProlongationOptionsApply()
    {
        var (images, labels) = IdxFiles.WriteTwoClassImages(folder.Path, 60, 4, 4);

        var output = CliRunner.Succeed("train", "--images", images, "--labels", labels, "--width", "1", "--levels", "2,4", "--iterations", "3,1",
            "--classification-newton", "3,1", "--classifier-at-prolongation", "refit", "--json");

        using var document = JsonDocument.Parse(output);
        var histories = document.RootElement.GetProperty("levels").EnumerateArray().Select(l => l.GetProperty("history").GetArrayLength());
        Assert.Equal([3, 1], histories);
        var trainer = Trainer.ForImages(Propagator.Verlet, 1, 4, 4).WithLevelIterations(3, 1).WithClassificationNewton(3, 1).WithClassifierRefit(true);
        Assert.Equal([3], trainer.LevelIterations);
        Assert.Equal((1, 3, 1, true), (trainer.Iterations, trainer.ClassificationNewtonIterations, trainer.LaterClassificationNewtonIterations, trainer.RefitsClassifier));
        Assert.Throws<ArgumentOutOfRangeException>(() => trainer.WithLevelIterations());
        Assert.Throws<ArgumentOutOfRangeException>(() => trainer.WithLevelIterations(2, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => trainer.WithClassificationNewton(0, 1));
        Assert.Contains("--iterations gives 3 counts for 2 levels", CliRunner.Fail("train", "--images", images, "--labels", labels, "--levels", "2,4", "--iterations", "3,1,1"), StringComparison.Ordinal);
        Assert.Contains("--iterations must be at least 1, got 0", CliRunner.Fail("train", "--images", images, "--labels", labels, "--levels", "2,4", "--iterations", "3,0"), StringComparison.Ordinal);
        Assert.Contains("--classification-newton expects one or two counts of at least 1", CliRunner.Fail("train", "--images", images, "--labels", labels, "--classification-newton", "5,0"), StringComparison.Ordinal);
        Assert.Contains("--classification-newton expects one or two counts", CliRunner.Fail("train", "--images", images, "--labels", labels, "--classification-newton", "5,2,1"), StringComparison.Ordinal);
        Assert.Contains("--classifier-at-prolongation expects keep or refit, got 'drop'", CliRunner.Fail("train", "--images", images, "--labels", labels, "--classifier-at-prolongation", "drop"), StringComparison.Ordinal);
    }

    [Fact]
    public void BadImageOptionsAreOneLineErrors()
    {
        var (images, labels) = IdxFiles.WriteTwoClassImages(folder.Path, 20, 4, 4);

        Assert.Contains("--dataset mnist needs --data DIR", CliRunner.Fail("train", "--dataset", "mnist"), StringComparison.Ordinal);
        Assert.Contains("--images needs --labels FILE as well", CliRunner.Fail("train", "--images", images), StringComparison.Ordinal);
        Assert.Contains("more than the 20 there are", CliRunner.Fail("train", "--images", images, "--labels", labels, "--train-size", "18"), StringComparison.Ordinal);
        Assert.Contains("--train-size applies to image data", CliRunner.Fail("train", "--dataset", "ellipses", "--train-size", "10"), StringComparison.Ordinal);
        Assert.Contains("--hessian-subsample applies to image data", CliRunner.Fail("train", "--dataset", "ellipses", "--hessian-subsample", "10"), StringComparison.Ordinal);
        Assert.Contains("--hessian-subsample must be at least 1, got 0", CliRunner.Fail("train", "--images", images, "--labels", labels, "--hessian-subsample", "0"), StringComparison.Ordinal);
        Assert.Contains("--aux-width does not apply to images", CliRunner.Fail("train", "--images", images, "--labels", labels, "--aux-width", "2"), StringComparison.Ordinal);
        Assert.Contains("give one of", CliRunner.Fail("train", "--dataset", "ellipses", "--images", images, "--labels", labels), StringComparison.Ordinal);
        Assert.Contains("no such folder", CliRunner.Fail("train", "--dataset", "mnist", "--data", folder.File("none")), StringComparison.Ordinal);
        File.WriteAllBytes(labels, IdxFiles.Bytes([20], Enumerable.Repeat((byte)11, 20).ToArray()));
        Assert.Contains("label 11 of example 0 is outside 0…9", CliRunner.Fail("train", "--images", images, "--labels", labels), StringComparison.Ordinal);
    }
}
