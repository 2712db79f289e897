namespace StableOde;

/// <summary>The time-stepping scheme that turns the layers of a network into an ODE discretisation.</summary>
public enum Propagator
{
    /// <summary>Forward Euler (Eq. 2.1): <c>Y_{j+1} = Y_j + h σ(Y_j K_j + b_j)</c>.</summary>
    ResNet,

    /// <summary>Forward Euler on <c>A(K) = ½(K − Kᵀ − γI)</c> (Eq. 4.12): eigenvalues on <c>Re λ = −γ/2</c>.</summary>
    Antisymmetric,

    /// <summary>Hamiltonian leapfrog (Eq. 4.16): <c>Y_{j+1} = 2Y_j − Y_{j−1} + h² σ(Y_j K_j + b_j)</c>.</summary>
    Leapfrog,

    /// <summary>Hamiltonian Verlet (Eq. 4.17) in the features Y and the momentum Z.</summary>
    Verlet,

    /// <summary>The fourth-order Forest–Ruth splitting of the Verlet ODE (verlet4, SPEC §1b).</summary>
    Verlet4,

    /// <summary>A user's stage list (<see cref="Scheme"/>); see <see cref="Network.Scheme"/>.</summary>
    Custom,
}
