namespace StableOde;

/// <summary>The activation function σ, applied element-wise.</summary>
public enum Activation
{
    /// <summary><c>σ(x) = tanh x</c>.</summary>
    Tanh,

    /// <summary><c>σ(x) = max(0, x)</c>.</summary>
    Relu,

    /// <summary><c>σ(x) = x</c>.</summary>
    Identity,
}
