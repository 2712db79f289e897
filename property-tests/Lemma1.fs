/// Lemma 1 of the paper (§3): forward Euler, Y_{j+1} = Y_j + h σ(Y_j K_j + b_j), is stable iff
/// max_i |1 + h λ_i(J_j)| ≤ 1. For a linear ResNet with the same K in every layer, J = Kᵀ and
/// Y_N = Y_0 (I + hK)^N: ‖Y_N‖ stays bounded when the Lemma-1 quantity ρ = max_i |1 + hλ_i(K)| is
/// below 1 and grows without bound when it exceeds 1.
module StableOde.PropertyTests.Lemma1

open MathNet.Numerics.LinearAlgebra
open Expecto
open FsCheck
open FsCheck.FSharp
open StableOde.Core
open StableOde.PropertyTests.Checks

/// Steps of the stable runs.
[<Literal>]
let StableSteps = 2000

/// The unstable runs take enough steps for ρ^N to reach this, so that a random Y_0 with any
/// reasonable component along the growing direction grows past `Unbounded`.
[<Literal>]
let UnstableAmplification = 1e12

/// The growth ‖Y_N‖/‖Y_0‖ an unstable run must show.
[<Literal>]
let Unbounded = 1e3

/// A linear ResNet with constant K = −(B Bᵀ/n + ½I) + ½(C − Cᵀ) (n = 1…4; every eigenvalue has
/// Re λ ≤ −½), h = f · h* where h* = min_i −2 Re λ_i / |λ_i|² is the largest stable step
/// (f < 1 stable, f > 1 unstable), and 1…4 examples Y_0 ~ N(0, 1).
[<StructuredFormatDisplay("{Description}")>]
type Case =
    { K: Matrix<float>
      H: float
      /// max_i |1 + h λ_i(K)|.
      Rho: float
      /// The condition number of K's eigenvector matrix: ‖(I + hK)^j‖ ≤ κ ρ^j.
      Kappa: float
      Y0: Matrix<float>
      Description: string }

/// Linear ResNets whose step is h = f · h* for f drawn from `fractions`.
let cases (fractions: float list) =
    gen {
        let! n = Gen.choose (1, 4)
        let! s = Gen.choose (1, 4)
        let! f = Gen.elements fractions
        let! seed = Generators.seed
        let b = gaussianMatrix seed 1.0 n n
        let c = gaussianMatrix (seed + 1) 1.0 n n
        let k = -(b * b.Transpose() / float n + 0.5 * Matrix<float>.Build.DenseIdentity n) + 0.5 * (c - c.Transpose())
        let evd = k.Evd()
        let eigenvalues = evd.EigenValues.ToArray()
        let hStar = eigenvalues |> Array.map (fun l -> -2.0 * l.Real / (l.Magnitude * l.Magnitude)) |> Array.min
        let h = f * hStar
        let rho = eigenvalues |> Array.map (fun l -> (1.0 + h * l).Magnitude) |> Array.max
        return
            { K = k
              H = h
              Rho = rho
              Kappa = evd.EigenVectors.ConditionNumber()
              Y0 = gaussianMatrix (seed + 2) 1.0 s n
              Description = $"n {n}, batch {s}, h = {f} h* = {h:g4}, ρ = {rho:g6}, seed {seed}" }
    }

/// Every state Y_j of the linear ResNet with K in every layer, b = 0.
let trajectory (c: Case) (steps: int) =
    let n = c.K.RowCount
    let net = Network.resnet { Network.defaults with activation = Identity; width = n; depth = steps; finalTime = c.H * float steps }
    Solve.trajectory net (constantParameters steps c.K (Vector<float>.Build.Dense n) None) c.Y0 |> Array.map (fun s -> s.Y)

let private property title (cases: Gen<Case>) (check: Case -> unit) =
    testPropertyWithConfig (config 100) title (Prop.forAll (Arb.fromGen cases) check)

/// Bounded below the threshold, unbounded above it.
let tests =
    testList "Lemma 1 (forward Euler stability)" [
        property "ρ = max|1 + hλ| < 1: ‖Y_j‖ ≤ κ(V) ‖Y_0‖ for j ≤ 2,000" (cases [ 0.25; 0.5; 0.9 ]) (fun c ->
            if not (c.Rho < 1.0) then failtestf "the case is not stable: ρ = %g" c.Rho
            let bound = c.Kappa * c.Y0.FrobeniusNorm()
            trajectory c StableSteps
            |> Array.iteri (fun j y ->
                if not (y.FrobeniusNorm() <= bound) then failtestf "‖Y_%d‖ = %g exceeds κ ‖Y_0‖ = %g" j (y.FrobeniusNorm()) bound))

        property "ρ = max|1 + hλ| > 1: ‖Y_N‖ grows without bound" (cases [ 1.25; 1.5; 2.0 ]) (fun c ->
            if not (c.Rho > 1.0) then failtestf "the case is not unstable: ρ = %g" c.Rho
            let steps = int (ceil (log UnstableAmplification / log c.Rho))
            let yN = trajectory c steps |> Array.last
            let growth = yN.FrobeniusNorm() / c.Y0.FrobeniusNorm()
            if not (growth >= Unbounded) then failtestf "after %d steps ‖Y_N‖/‖Y_0‖ = %g < %g" steps growth Unbounded)
    ]
