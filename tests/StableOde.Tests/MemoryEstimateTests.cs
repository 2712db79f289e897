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
        var tapeForJacobian = 8L * (4704 + 4704) * subsample - Core.Solve.jacobianBytes(ConvVerlet(4), subsample);
        Assert.Equal(needed + tapeForJacobian, Core.Training.memoryNeeded(Images, ConvVerlet(16), 8000, 2000));
        var resNetSubsample = resNet.Propagation.HessianSubsample;
        Assert.True(Core.Objective.usesJacobian(Conv(Core.Propagator.ResNet, 4), resNetSubsample));
        Assert.False(Core.Objective.usesJacobian(Conv(Core.Propagator.ResNet, 16), resNetSubsample));
        Assert.True(
            Core.Training.memoryNeeded(resNet, Conv(Core.Propagator.ResNet, 16), 8000, 2000)
                >= Core.Training.memoryNeeded(resNet, Conv(Core.Propagator.ResNet, 4), 8000, 2000)
                    - Core.Solve.jacobianBytes(Conv(Core.Propagator.ResNet, 4), resNetSubsample) + 8L * 4704 * resNetSubsample * 17,
            "ResNet's tape at 16 layers stores its 17 states for the adjoint");
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
