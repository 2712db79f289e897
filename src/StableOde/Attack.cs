namespace StableOde;

/// <summary>How <see cref="Model.Robustness"/> perturbs the inputs (SPEC §10).</summary>
public enum Attack
{
    /// <summary>The fast gradient sign method: <c>y' = y + ε·sign(∇ℓ_i(y))</c>.</summary>
    Fgsm,

    /// <summary>Projected gradient ascent in ℓ∞ without a random start: k steps of size <c>α = 2.5ε/k</c>, each projected onto <c>‖y' − y‖∞ ≤ ε</c>.</summary>
    Pgd,

    /// <summary>Seeded Gaussian noise <c>y + ε·ξ</c>, <c>ξ ~ N(0, I)</c>, the same ξ for every ε.</summary>
    Noise,
}
