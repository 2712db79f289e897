using Core = StableOde.Core;

namespace StableOde.Tests;

/// <summary>The memory a run would need, estimated from its sizes before it starts (issue 12).</summary>
public sealed class MemoryEstimateTests
{
    private static Core.Network Conv(Core.Propagator propagator, int depth) =>
        Core.NetworkModule.create(propagator, Core.Activation.Tanh, Core.Operator.NewConv3x3(6, 28, 28), depth, 6.0, false);

    private static Core.Network ConvVerlet(int depth) => Conv(Core.Propagator.Verlet, depth);

    private static readonly Core.TrainingOptions Images = Core.TrainingOptionsModule.images(Core.Propagator.Verlet, 6, 28, 28);

    [Fact]
    public void TheEstimateCountsTheImagesAndGrowsWithTheSizesTheJacobianAndTheStoredStates()
    {
        var needed = Core.Training.memoryNeeded(Images, ConvVerlet(4), 8000, 2000);
        var resNet = Core.TrainingOptionsModule.images(Core.Propagator.ResNet, 6, 28, 28);

        Assert.InRange(needed, 8L * 4704 * 10000, 2_500_000_000L);
        Assert.True(Core.Training.memoryNeeded(Images, ConvVerlet(4), 50000, 10000) > needed);
        // A trial keeps Z_N of 8,000 images for the next gradient, not of 50,000 (1.9 GB).
        Assert.True(Core.Objective.keepsZ(ConvVerlet(4), 8000));
        Assert.False(Core.Objective.keepsZ(ConvVerlet(4), 50000));
        var subsample = Images.Propagation.HessianSubsample;
        // The curvature subsample's Jacobian (4 layers) or its reversal tape of one state (16 layers).
        Assert.True(Core.Objective.usesJacobian(ConvVerlet(4), subsample));
        Assert.False(Core.Objective.usesJacobian(ConvVerlet(16), subsample));
        // The Jacobian, with the subsample's copies, its working states and δY_N (4n + 2m a row),
        // against the tape's one state (Y and Z) and the subsample's two copies.
        var jacobian = Core.Solve.jacobianBytes(ConvVerlet(4), subsample) + 8L * (4 * 4704 + 2 * 4704) * subsample;
        var tape = 8L * (4704 + 4704) * subsample + 16L * 4704 * subsample;
        Assert.Equal(needed - jacobian + tape, Core.Training.memoryNeeded(Images, ConvVerlet(16), 8000, 2000));
        var resNetSubsample = resNet.Propagation.HessianSubsample;
        Assert.True(Core.Objective.usesJacobian(Conv(Core.Propagator.ResNet, 4), resNetSubsample));
        Assert.False(Core.Objective.usesJacobian(Conv(Core.Propagator.ResNet, 16), resNetSubsample));
        var resNetJacobian = Core.Solve.jacobianBytes(Conv(Core.Propagator.ResNet, 4), resNetSubsample)
            + 8L * (4 * 4704 + 2 * Core.NetworkModule.auxWidth(Conv(Core.Propagator.ResNet, 4))) * resNetSubsample;
        Assert.True(
            Core.Training.memoryNeeded(resNet, Conv(Core.Propagator.ResNet, 16), 8000, 2000)
                >= Core.Training.memoryNeeded(resNet, Conv(Core.Propagator.ResNet, 4), 8000, 2000) - resNetJacobian + 8L * 4704 * resNetSubsample * 17,
            "ResNet's tape at 16 layers stores its 17 states for the adjoint");
    }

    [Fact]
    public void TheLevelHoldsOneForwardPassOfTheBatchBesideTheImagesAndTheirOneChannelCopy()
    {
        // 1,000 more training images (every batch is the whole set; parts of the gradient at
        // their cap of 891 rows, Z_N not kept, the same curvature subsample) add their features
        // (6 channels), their one channel before widening and their row of the level's one Y_N.
        var extra = Core.Training.memoryNeeded(Images, ConvVerlet(4), 61000, 10000) - Core.Training.memoryNeeded(Images, ConvVerlet(4), 60000, 10000);

        Assert.Equal(1000L * 8 * (4704 + 784 + 4704), extra);
        // A forward pass propagates chunks of at most 16 MiB a state (445 images), and the
        // two-dimensional data sets at once.
        Assert.Equal(445, Core.Solve.chunkRows(4704));
        Assert.Equal(Core.Solve.ChunkRows, Core.Solve.chunkRows(2));
    }

    [Fact]
    public void TheExpectedPeakIsTheRuntimeAndTheNeededBytesTimesTheHeapsGrowth()
    {
        var needed = Core.Training.memoryNeeded(Images, ConvVerlet(4), 8000, 2000);

        Assert.Equal(Core.Training.RuntimeBytes + (long)(1.5 * needed), Core.Training.memoryEstimate(1.5, Images, ConvVerlet(4), 8000, 2000));
        Assert.InRange(Core.Training.memoryEstimate(1.5, Images, ConvVerlet(4), 8000, 2000), 0L, 4_000_000_000L);
        Assert.InRange(Core.Training.memoryEstimate(1.5, Images, ConvVerlet(16), 50000, 10000), 0L, 10_000_000_000L);
        Assert.InRange(Core.Training.heapGrowth(), 1.0, 4.5);
        var error = Assert.Throws<ArgumentException>(() => Core.Training.memoryEstimate(0.5, Images, ConvVerlet(4), 8000, 2000));
        Assert.Equal("growth", error.ParamName);
    }

    [Fact]
    public void ARunAboveAFakeLimitSaysSoWithItsSizes()
    {
        var error = Assert.Throws<ArgumentException>(() => Core.Training.checkMemory(1_000_000L, Images, ConvVerlet(4), 8000, 2000));

        Assert.Equal("split", error.ParamName);
        Assert.StartsWith("training 8000 and validating 2000 examples of 4704 features at 4 layers needs about", error.Message);
        Assert.Contains("more than the 0.0 GB available", error.Message);
        Core.Training.checkMemory(4_000_000_000L, Images, ConvVerlet(4), 8000, 2000);
    }

    [Fact]
    public void AHugeRequestedSizeStopsBeforeTraining()
    {
        var available = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;

        var error = Assert.Throws<ArgumentException>(() => Core.Training.checkMemory(available, Images, ConvVerlet(16), 10_000_000, 1_000_000));

        Assert.Contains("training 10000000 and validating 1000000 examples", error.Message);
    }
}
