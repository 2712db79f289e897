/// The stability analysis of SPEC §6 against direct computations: the extreme singular values
/// of ∂Y_N/∂Y_0 against SVDs of the explicit per-example Jacobians (built column by column with
/// sensitivity solves), the per-layer eigenvalues against MathNet Evd of the explicit K_j, the
/// Lemma-1 amplification against the spectral radius of each step's explicit Jacobian, and the
/// Verlet Hamiltonian against its definition.
module StableOde.PropertyTests.StabilityAnalysis

open System.Numerics
open MathNet.Numerics.LinearAlgebra
open Expecto
open FsCheck
open FsCheck.FSharp
open StableOde.Core
open StableOde.PropertyTests.Checks
open StableOde.PropertyTests.Generators

/// The Jacobian ∂y_N/∂y_0 of every example of the batch (n×n each): column i of each is the
/// matching row of the sensitivity for δθ = 0 and δY_0 = e_i in every row.
let exampleJacobians (net: Network) (p: Parameters) (y0: Matrix<float>) : Matrix<float>[] =
    let s, n = y0.RowCount, y0.ColumnCount
    let zero = Parameters.zeros net
    let columns = Array.init n (fun i -> Solve.sensitivity net p y0 zero (Matrix<float>.Build.Dense(s, n, fun _ col -> if col = i then 1.0 else 0.0)))
    Array.init s (fun r -> Matrix<float>.Build.Dense(n, n, fun a i -> columns[i][r, a]))

/// Pairs every expected eigenvalue with the nearest unused reported one; expects them within the accuracy.
let expectSameEigenvalues (accuracy: Accuracy) (reported: Complex[]) (expected: Complex[]) (message: string) =
    Expect.equal reported.Length expected.Length $"{message}: number of eigenvalues"
    let unused = System.Collections.Generic.List<Complex>(reported)
    for l in expected do
        let nearest = unused |> Seq.minBy (fun r -> (r - l).Magnitude)
        unused.Remove nearest |> ignore
        Expect.floatClose accuracy nearest.Real l.Real $"{message}: Re of {l}"
        Expect.floatClose accuracy nearest.Imaginary l.Imaginary $"{message}: Im of {l}"

/// Two spectral radii of non-normal matrices whose entries agree to round-off: a nearly
/// defective eigenvalue moves by O(√ε) under such a perturbation.
let spectralRadiusAccuracy = { absolute = 0.0; relative = 1e-7 }

/// The round-off Stability allows above 1 before it calls a layer unstable.
let stableAllowance = 1e-10

/// A vector bias of any length expanded over its groups of features to the full width.
let expand (width: int) (v: Vector<float>) =
    let g = width / v.Count
    Vector<float>.Build.Dense(width, fun f -> v[f / g])

let private property title maxTest (cases: Gen<NetworkCase>) (check: NetworkCase -> unit) =
    testPropertyWithConfig (config maxTest) title (Prop.forAll (Arb.fromGen cases) check)

/// Networks of every propagator on dense operators, smooth σ.
let private denseNetworks =
    Gen.oneof [
        networkCase ResNet dense smoothActivation hypothesis
        networkCase AntisymmetricResNet (antisymmetric dense) smoothActivation hypothesis
        networkCase Leapfrog (negativeSemidefinite rectangular) smoothActivation hypothesis
        networkCase Verlet rectangular smoothActivation hypothesis ]

let private resnets (activation: Gen<Activation>) =
    Gen.oneof [
        networkCase ResNet dense activation hypothesis
        networkCase AntisymmetricResNet (antisymmetric dense) activation hypothesis ]

/// Stability.jacobianSpectrum, layers, report and hamiltonian.
let tests =
    testList "stability analysis" [
        property "jacobianSpectrum: the extreme singular values of the explicit per-example Jacobians" 40 denseNetworks (fun c ->
            let singular = exampleJacobians c.Network c.Parameters c.Y0 |> Array.map (fun j -> j.Svd().S.ToArray())
            let spectrum = Stability.jacobianSpectrum c.Network c.Parameters c.Y0
            Expect.floatClose Accuracy.iterative spectrum.Largest (singular |> Array.map Array.max |> Array.max) "σ_max"
            Expect.floatClose Accuracy.iterative spectrum.Smallest (singular |> Array.map Array.min |> Array.min) "σ_min")

        property "jacobianSpectrumIterative: Rayleigh quotients stay inside [σ_min, σ_max] of the exact spectrum" 20 denseNetworks (fun c ->
            let exact = Stability.jacobianSpectrumExact c.Network c.Parameters c.Y0
            let iterative = Stability.jacobianSpectrumIterative 1e-10 200 c.Network c.Parameters c.Y0
            Expect.isLessThanOrEqual iterative.Largest (exact.Largest * (1.0 + 1e-9)) "power iteration cannot exceed σ_max"
            Expect.isGreaterThanOrEqual iterative.Smallest (exact.Smallest * (1.0 - 1e-9)) "inverse iteration cannot fall below σ_min")

        test "jacobianSpectrumIterative: separated singular values converge to the exact ones" {
            let net = Network.resnet { Network.defaults with activation = Identity; width = 4; depth = 1; finalTime = 1.0 }
            let p = { Parameters.zeros net with K = [| Matrix<float>.Build.DenseOfDiagonalArray [| -0.5; 0.0; 0.6; 1.5 |] |] }
            let y0 = Matrix<float>.Build.Dense(3, 4, fun i j -> float (i + j) / 10.0)
            let spectrum = Stability.jacobianSpectrumIterative 1e-12 500 net p y0
            Expect.isTrue spectrum.Converged "converged"
            Expect.floatClose Accuracy.iterative spectrum.Largest 2.5 "σ_max of I + K"
            Expect.floatClose Accuracy.iterative spectrum.Smallest 0.5 "σ_min of I + K"
        }

        test "jacobianSpectrumIterative: clustered singular values are either accurate or reported as not converged" {
            let net = Network.resnet { Network.defaults with activation = Identity; width = 2; depth = 1; finalTime = 1.0 }
            let p = { Parameters.zeros net with K = [| Matrix<float>.Build.DenseOfDiagonalArray [| -0.1; -0.099 |] |] }
            let spectrum = Stability.jacobianSpectrumIterative 1e-10 50 net p (Matrix<float>.Build.Dense(1, 2))
            let accurate = abs (spectrum.Largest - 0.901) <= 1e-6 * 0.901 && abs (spectrum.Smallest - 0.9) <= 1e-6 * 0.9
            Expect.isTrue (accurate || not spectrum.Converged) "an inaccurate result must say it did not converge"
            Expect.isTrue (Stability.jacobianSpectrumExact net p (Matrix<float>.Build.Dense(1, 2))).Converged "the exact method is exact"
        }

        property "layers: the eigenvalues of K_j (A(K_j) for the antisymmetric ResNet), by MathNet Evd" 100 (resnets anyActivation) (fun c ->
            let layers = Stability.layers c.Network c.Parameters (Some c.Y0)
            Expect.equal layers.Length c.Network.Depth "one entry per layer"
            for j in 0 .. c.Network.Depth - 1 do
                let k = Operator.matrix c.Network.Operator c.Parameters.K[j]
                expectSameEigenvalues (Accuracy.relativeTo (k.L2Norm()) Accuracy.roundOff) layers[j].Eigenvalues (k.Evd().EigenValues.ToArray()) $"layer {j}")

        property "layers (Verlet): the eigenvalues of [[0, K_j], [−K_jᵀ, 0]] are ±i σ(K_j) and |n − m| zeros" 100 (networkCase Verlet rectangular anyActivation hypothesis) (fun c ->
            let layers = Stability.layers c.Network c.Parameters (Some c.Y0)
            for j in 0 .. c.Network.Depth - 1 do
                let k = c.Parameters.K[j]
                let sigma = k.Svd().S.ToArray()
                let expected =
                    Array.concat [ sigma |> Array.map (fun s -> Complex(0.0, s))
                                   sigma |> Array.map (fun s -> Complex(0.0, -s))
                                   Array.create (abs (k.RowCount - k.ColumnCount)) Complex.Zero ]
                expectSameEigenvalues (Accuracy.relativeTo (k.L2Norm()) Accuracy.roundOff) layers[j].Eigenvalues expected $"layer {j}")

        property "layers, linear ResNet: Amplification = max_i |1 + hλ_i(K_j)| (Lemma 1) and Stable iff ≤ 1" 100 (resnets (Gen.constant Identity)) (fun c ->
            let h = Network.stepSize c.Network
            let layers = Stability.layers c.Network c.Parameters (Some c.Y0)
            for j in 0 .. c.Network.Depth - 1 do
                let k = Operator.matrix c.Network.Operator c.Parameters.K[j]
                let rho = k.Evd().EigenValues.ToArray() |> Array.map (fun l -> (1.0 + h * l).Magnitude) |> Array.max
                Expect.floatClose spectralRadiusAccuracy layers[j].Amplification rho $"layer {j}: amplification"
                Expect.equal layers[j].Stable (layers[j].Amplification <= 1.0 + stableAllowance) $"layer {j}: Stable flag")

        property "layers, nonlinear ResNet: Amplification = max over examples of the spectral radius of ∂y_{j+1}/∂y_j" 100 (resnets smoothActivation) (fun c ->
            let net, p = c.Network, c.Parameters
            let states = Solve.trajectory net p c.Y0
            let layers = Stability.layers net p (Some c.Y0)
            for j in 0 .. net.Depth - 1 do
                let step = { net with Depth = 1; FinalTime = Network.stepSize net }
                let layer = { K = [| p.K[j] |]; b = [| p.b[j] |]; c = [||] }
                let rho =
                    exampleJacobians step layer states[j].Y
                    |> Array.map (fun jac -> jac.Evd().EigenValues.ToArray() |> Array.map (fun l -> l.Magnitude) |> Array.max)
                    |> Array.max
                Expect.floatClose spectralRadiusAccuracy layers[j].Amplification rho $"layer {j}: amplification")

        property "report: the layers and the Jacobian spectrum at the data (at Y_0 = 0 without data)" 20 denseNetworks (fun c ->
            let net, p = c.Network, c.Parameters
            let report = Stability.report net p (Some c.Y0)
            Expect.equal report.Propagator net.Propagator "propagator"
            Expect.equal report.StepSize (Network.stepSize net) "step size"
            Expect.equal report.Layers (Stability.layers net p (Some c.Y0)) "layers"
            Expect.equal report.Jacobian (Stability.jacobianSpectrum net p c.Y0) "Jacobian spectrum"
            let atZero = Stability.report net p None
            let zero = Matrix<float>.Build.Dense(1, Network.width net)
            Expect.equal atZero.Layers (Stability.layers net p (Some zero)) "layers at Y_0 = 0"
            Expect.equal atZero.Jacobian (Stability.jacobianSpectrum net p zero) "Jacobian spectrum at Y_0 = 0")

        property "hamiltonian: H(y, z) = Σ_k S((Kᵀy + c)_k) + Σ_i S((K z + b)_i) at every state of a Verlet trajectory" 100 (networkCase Verlet rectangular anyActivation hypothesis) (fun c ->
            let net, p = c.Network, c.Parameters
            let n, m = Network.width net, Network.auxWidth net
            Solve.trajectory net p c.Y0
            |> Array.iteri (fun j state ->
                let layer = min j (net.Depth - 1)
                let expected = Conservation.hamiltonian net.Activation p.K[layer] (expand n p.b[layer]) (expand m p.c[layer]) state.Y state.Z.Value
                Expect.floatClose Accuracy.roundOff (Stability.hamiltonian net p layer state) expected $"H at state {j}"))
    ]
