using MathNet.Numerics.LinearAlgebra;

namespace StableOde;

/// <summary>Conversions between the F# core's types and the arrays and enums of the C# API.</summary>
internal static class Interop
{
    public static Matrix<double> ToMatrix(double[,] values) => Matrix<double>.Build.DenseOfArray(values);

    public static Vector<double> ToVector(double[] values) => Vector<double>.Build.DenseOfArray(values);

    public static Core.Propagator ToCore(Propagator propagator) => propagator switch
    {
        Propagator.ResNet => Core.Propagator.ResNet,
        Propagator.Antisymmetric => Core.Propagator.AntisymmetricResNet,
        Propagator.Leapfrog => Core.Propagator.Leapfrog,
        Propagator.Verlet => Core.Propagator.Verlet,
        Propagator.Verlet4 => Core.Propagator.Verlet4,
        _ => throw new ArgumentException("a custom propagator needs its stage list: pass a Scheme.", nameof(propagator)),
    };

    public static Propagator FromCore(Core.Propagator propagator) => propagator.Tag switch
    {
        Core.Propagator.Tags.ResNet => Propagator.ResNet,
        Core.Propagator.Tags.AntisymmetricResNet => Propagator.Antisymmetric,
        Core.Propagator.Tags.Leapfrog => Propagator.Leapfrog,
        Core.Propagator.Tags.Verlet => Propagator.Verlet,
        Core.Propagator.Tags.Verlet4 => Propagator.Verlet4,
        _ => Propagator.Custom,
    };

    public static Core.Activation ToCore(Activation activation) => activation switch
    {
        Activation.Tanh => Core.Activation.Tanh,
        Activation.Relu => Core.Activation.Relu,
        _ => Core.Activation.Identity,
    };

    public static Activation FromCore(Core.Activation activation) => activation.Tag switch
    {
        Core.Activation.Tags.Tanh => Activation.Tanh,
        Core.Activation.Tags.Relu => Activation.Relu,
        _ => Activation.Identity,
    };

    public static Core.Hypothesis ToCore(Hypothesis hypothesis) => hypothesis switch
    {
        Hypothesis.Softmax => Core.Hypothesis.Softmax,
        Hypothesis.Logistic => Core.Hypothesis.Logistic,
        _ => Core.Hypothesis.LeastSquares,
    };

    public static Hypothesis FromCore(Core.Hypothesis hypothesis) => hypothesis.Tag switch
    {
        Core.Hypothesis.Tags.Softmax => Hypothesis.Softmax,
        Core.Hypothesis.Tags.Logistic => Hypothesis.Logistic,
        _ => Hypothesis.LeastSquares,
    };
}
