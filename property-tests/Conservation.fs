/// The paper's conservation claims (§4, SPEC §6): with weights constant in time, Verlet keeps the
/// Hamiltonian H(y, z) = Σ_k S((Kᵀy + c)_k) + Σ_i S((K z + b)_i), S' = σ, in a band of width
/// O(h) without drift over thousands of steps while forward Euler on the same system drifts, and
/// leapfrog with identity σ, b = 0 and symmetric K conserves ½‖ẏ‖² − ½ yᵀK y the same way.
module StableOde.PropertyTests.Conservation

open MathNet.Numerics
open MathNet.Numerics.LinearAlgebra
open Expecto
open FsCheck
open FsCheck.FSharp
open StableOde.Core
open StableOde.PropertyTests.Checks

/// The number of steps at the coarser step size (twice as many at h/2, over the same time).
[<Literal>]
let Steps = 5000

/// The largest drift, over the run, of the least-squares line through an energy, as a fraction
/// of the energy's band.
[<Literal>]
let DriftPerBand = 0.05

/// The largest ratio of the band at h/2 to the band at h for a band of width O(h).
[<Literal>]
let FirstOrderShrink = 0.6

/// The largest ratio of the band at h/2 to the band at h for a band of width O(h²).
[<Literal>]
let SecondOrderShrink = 0.35

/// The Euler drift must exceed the Verlet band by this factor.
[<Literal>]
let EulerDriftPerBand = 10.0

/// H(Y, Z) summed over the examples, in the row layout: Σ S((Y K + 1cᵀ)_{rk}) + Σ S((Z Kᵀ + 1bᵀ)_{ri}).
let hamiltonian (act: Activation) (k: Matrix<float>) (b: Vector<float>) (c: Vector<float>) (y: Matrix<float>) (z: Matrix<float>) =
    let s = Activation.antiderivative act
    let e = y * k
    let a = z * k.Transpose()
    let mutable total = 0.0
    for r in 0 .. y.RowCount - 1 do
        for q in 0 .. e.ColumnCount - 1 do
            total <- total + s (e[r, q] + c[q])
        for i in 0 .. a.ColumnCount - 1 do
            total <- total + s (a[r, i] + b[i])
    total

/// Forward Euler on ẏ = σ(Z Kᵀ + b), ż = −σ(Y K + c) from (Y_0, 0): H at every step j = 0…N.
let eulerHamiltonian (act: Activation) (k: Matrix<float>) (b: Vector<float>) (c: Vector<float>) (h: float) (steps: int) (y0: Matrix<float>) =
    let sigma (m: Matrix<float>) = m.Map(fun x -> Activation.value act x)
    let bias (v: Vector<float>) = Matrix<float>.Build.Dense(y0.RowCount, v.Count, fun _ q -> v[q])
    let mutable y = y0.Clone()
    let mutable z = Matrix<float>.Build.Dense(y0.RowCount, k.ColumnCount)
    [| for j in 0 .. steps do
           yield hamiltonian act k b c y z
           if j < steps then
               let y' = y + h * sigma (z * k.Transpose() + bias b)
               z <- z - h * sigma (y * k + bias c)
               y <- y' |]

/// max − min of a series.
let band (values: float[]) = Array.max values - Array.min values

/// The change over the series of its least-squares line: slope × length.
let drift (values: float[]) =
    let struct (_, slope) = Fit.Line(Array.init values.Length float, values)
    slope * float values.Length

/// Expects a bounded energy: its fitted drift is a small fraction of its band.
let expectNoDrift (name: string) (energy: float[]) =
    let d, w = drift energy, band energy
    if not (abs d <= DriftPerBand * w) then
        failtestf "%s drifts: the least-squares line changes by %g over the run, more than %g × the band %g" name d DriftPerBand w

/// A Verlet system with constant weights: K ∈ R^{n×m} (n, m = 1…4) scaled to ‖K‖₂ = 1…2,
/// b, c ~ N(0, ¼), Y_0 ~ N(0, 1) with 1…4 examples, tanh or identity, h = h₀/‖K‖₂ with h₀ = 0.05…0.2.
[<StructuredFormatDisplay("{Description}")>]
type VerletCase =
    { Activation: Activation
      K: Matrix<float>
      b: Vector<float>
      c: Vector<float>
      Y0: Matrix<float>
      H: float
      Description: string }

/// Verlet cases with constant weights.
let verletCases =
    gen {
        let! n = Gen.choose (1, 4)
        let! m = Gen.choose (1, 4)
        let! s = Gen.choose (1, 4)
        let! act = Gen.elements [ Tanh; Identity ]
        let! h0 = Gen.elements [ 0.05; 0.1; 0.2 ]
        let! normK = Gen.elements [ 1.0; 1.5; 2.0 ]
        let! seed = Generators.seed
        let k = gaussianMatrix seed 1.0 n m
        let k = (normK / k.L2Norm()) * k
        return
            { Activation = act
              K = k
              b = gaussianVector (seed + 1) 0.5 n
              c = gaussianVector (seed + 2) 0.5 m
              Y0 = gaussianMatrix (seed + 3) 1.0 s n
              H = h0 / normK
              Description = $"n {n}, m {m}, batch {s}, %A{act}, ‖K‖ {normK}, h {h0 / normK}, seed {seed}" }
    }

/// The Verlet network of `steps` steps of size h with the case's weights in every layer.
let verletNetwork (c: VerletCase) (h: float) (steps: int) =
    Network.verlet { Network.defaults with activation = c.Activation; width = c.K.RowCount; auxWidth = Some c.K.ColumnCount; depth = steps; finalTime = h * float steps }, constantParameters steps c.K c.b (Some c.c)

/// H along the Verlet trajectory of `steps` steps of size h, at the states (Y_j, Z_{j−½}).
let verletHamiltonian (c: VerletCase) (h: float) (steps: int) =
    let net, p = verletNetwork c h steps
    Solve.trajectory net p c.Y0 |> Array.map (fun s -> hamiltonian c.Activation c.K c.b c.c s.Y s.Z.Value)

/// A leapfrog system with identity σ, b = 0 and K = −B Bᵀ, B ∈ R^{n×r} (n, r = 1…4), 1…4
/// examples Y_0 ~ N(0, 1), h = h₀/‖B‖₂ (h₀ = 0.05…0.2, so h ω ≤ h₀ for every frequency ω).
[<StructuredFormatDisplay("{Description}")>]
type LeapfrogCase =
    { Operator: Operator
      Theta: Matrix<float>
      Y0: Matrix<float>
      H: float
      Description: string }

/// Leapfrog cases with K = −B Bᵀ and no bias.
let leapfrogCases =
    gen {
        let! n = Gen.choose (1, 4)
        let! r = Gen.choose (1, 4)
        let! s = Gen.choose (1, 4)
        let! h0 = Gen.elements [ 0.05; 0.1; 0.2 ]
        let! seed = Generators.seed
        let theta = gaussianMatrix seed 1.0 n r
        return
            { Operator = NegativeSemidefinite(Dense(n, r))
              Theta = theta
              Y0 = gaussianMatrix (seed + 1) 1.0 s n
              H = h0 / theta.L2Norm()
              Description = $"K = −B Bᵀ, B {n}×{r}, batch {s}, h₀ {h0}, seed {seed}" }
    }

/// The leapfrog trajectory of `steps` steps of size h, and the explicit K.
let leapfrogTrajectory (c: LeapfrogCase) (h: float) (steps: int) =
    let net = Network.create Leapfrog Identity c.Operator steps (h * float steps) false
    let zeroBias = Vector<float>.Build.Dense net.BiasWidth
    Solve.trajectory net (constantParameters steps c.Theta zeroBias None) c.Y0, Operator.matrix c.Operator c.Theta

/// ½‖ẏ‖² − ½ yᵀK y summed over the examples at the nodes j = 1…N−1, with the node velocity
/// ẏ_j = ½(Z_{j−½} + Z_{j+½}).
let leapfrogEnergy (c: LeapfrogCase) (h: float) (steps: int) =
    let states, k = leapfrogTrajectory c h steps
    Array.init (steps - 1) (fun i ->
        let j = i + 1
        let v = 0.5 * (states[j].Z.Value + states[j + 1].Z.Value)
        0.5 * inner v v - 0.5 * inner states[j].Y (states[j].Y * k))

let private property title maxTest (cases: Gen<'case>) (check: 'case -> unit) =
    testPropertyWithConfig (config maxTest) title (Prop.forAll (Arb.fromGen cases) check)

/// Verlet against forward Euler, and leapfrog.
let tests =
    testList "conservation" [
        property "Verlet keeps H in a band of width O(h) without drift over 5,000 steps; forward Euler drifts" 20 verletCases (fun c ->
            let coarse = verletHamiltonian c c.H Steps
            let fine = verletHamiltonian c (0.5 * c.H) (2 * Steps)
            expectNoDrift "H under Verlet at h" coarse
            expectNoDrift "H under Verlet at h/2" fine
            let ratio = band fine / band coarse
            if not (ratio <= FirstOrderShrink) then
                failtestf "the band of H does not shrink with h: %g at h, %g at h/2 (ratio %.3f > %g)" (band coarse) (band fine) ratio FirstOrderShrink
            let euler = eulerHamiltonian c.Activation c.K c.b c.c c.H Steps c.Y0
            let eulerDrift = drift euler
            if not (abs eulerDrift >= EulerDriftPerBand * band coarse) then
                failtestf "forward Euler drifts by only %g, less than %g × the Verlet band %g" eulerDrift EulerDriftPerBand (band coarse))

        property "Stability.hamiltonianAlong and eulerHamiltonianAlong give H along Verlet and along forward Euler" 20 verletCases (fun c ->
            let steps = 300
            let net, p = verletNetwork c c.H steps
            let expectSame (name: string) (actual: float[]) (expected: float[]) =
                Expect.equal actual.Length expected.Length $"{name}: one value per state"
                Array.iteri2 (fun j a e -> Expect.floatClose Accuracy.roundOff a e $"{name}: H at state {j}") actual expected
            expectSame "hamiltonianAlong" (Stability.hamiltonianAlong net p c.Y0) (verletHamiltonian c c.H steps)
            expectSame "eulerHamiltonianAlong" (Stability.eulerHamiltonianAlong net p c.Y0) (eulerHamiltonian c.Activation c.K c.b c.c c.H steps c.Y0))

        property "leapfrog (identity σ, b = 0, K = −B Bᵀ) keeps ½‖ẏ‖² − ½ yᵀK y in a band of width O(h²) without drift" 20 leapfrogCases (fun c ->
            let coarse = leapfrogEnergy c c.H Steps
            let fine = leapfrogEnergy c (0.5 * c.H) (2 * Steps)
            expectNoDrift "the energy at h" coarse
            expectNoDrift "the energy at h/2" fine
            let ratio = band fine / band coarse
            if not (ratio <= SecondOrderShrink) then
                failtestf "the band of the energy does not shrink as h²: %g at h, %g at h/2 (ratio %.3f > %g)" (band coarse) (band fine) ratio SecondOrderShrink)

        property "leapfrog (identity σ, b = 0, K = −B Bᵀ) conserves ½‖Z_{j+1/2}‖² − ½⟨Y_{j+1}, Y_j K⟩ to round-off" 20 leapfrogCases (fun c ->
            let states, k = leapfrogTrajectory c c.H Steps
            let terms j =
                let z = states[j + 1].Z.Value
                0.5 * inner z z, 0.5 * inner states[j + 1].Y (states[j].Y * k)
            let kinetic0, potential0 = terms 0
            let e0 = kinetic0 - potential0
            for j in 1 .. Steps - 1 do
                let kinetic, potential = terms j
                let scale = kinetic + abs potential + kinetic0 + abs potential0
                Expect.floatClose (Accuracy.relativeTo scale Accuracy.roundOff) (kinetic - potential) e0 $"discrete energy at step {j}")
    ]
