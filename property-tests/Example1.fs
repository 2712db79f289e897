/// Example 1 of the paper (§3, SPEC §1): ResNets with the same K in every layer, b = 0, T = 1,
/// for K+ = [[2, −2], [0, 2]] (λ = 2, 2), K− = [[−2, 0], [2, −2]] (λ = −2, −2) and
/// K0 = [[0, −1], [1, 0]] (λ = ±i): the distances between three feature vectors grow under K+,
/// decay under K− and are preserved up to O(h) under K0. In the row layout Y K the step is
/// Y_{j+1} = Y_j (I + h K) for identity σ; K and Kᵀ have the same eigenvalues, so the claims are
/// those of the paper's column layout.
module StableOde.PropertyTests.Example1

open System
open System.Numerics
open MathNet.Numerics.LinearAlgebra
open Expecto
open FsCheck
open FsCheck.FSharp
open StableOde.Core
open StableOde.PropertyTests.Checks

/// A matrix from its rows.
let ofRows (rows: float list list) = Matrix<float>.Build.DenseOfRowArrays(rows |> List.map List.toArray)

/// K+ = [[2, −2], [0, 2]]: a double eigenvalue 2.
let kPlus = ofRows [ [ 2.0; -2.0 ]; [ 0.0; 2.0 ] ]

/// K− = [[−2, 0], [2, −2]]: a double eigenvalue −2.
let kMinus = ofRows [ [ -2.0; 0.0 ]; [ 2.0; -2.0 ] ]

/// K0 = [[0, −1], [1, 0]]: eigenvalues ±i.
let kZero = ofRows [ [ 0.0; -1.0 ]; [ 1.0; 0.0 ] ]

/// The factor by which every distance must at least grow under K+ after T = 1.
[<Literal>]
let Growth = 2.0

/// The factor below which every distance must fall under K− after T = 1.
[<Literal>]
let Decay = 0.5

/// Three feature vectors within `Radius` of the origin, a depth (h = 1/N) and an activation.
[<StructuredFormatDisplay("{Description}")>]
type Case =
    { Points: Matrix<float>
      Depth: int
      Activation: Activation
      Description: string }

/// The radius of the disc the three points are drawn from (the paper's points are of size 0.1).
[<Literal>]
let Radius = 0.1

/// Three points drawn uniformly from the disc of radius `Radius`, N = 10…80 and an activation.
let cases (activations: Activation list) =
    gen {
        let! depth = Gen.elements [ 10; 20; 40; 80 ]
        let! act = Gen.elements activations
        let! seed = Generators.seed
        let rng = Random seed
        let point () =
            let r = Radius * sqrt (rng.NextDouble())
            let phi = 2.0 * Math.PI * rng.NextDouble()
            [ r * cos phi; r * sin phi ]
        return
            { Points = ofRows [ point (); point (); point () ]
              Depth = depth
              Activation = act
              Description = $"depth {depth} (h = {1.0 / float depth}), %A{act}, seed {seed}" }
    }

/// The features after N layers of the ResNet with K in every layer, b = 0 and T = 1.
let propagate (k: Matrix<float>) (c: Case) =
    let net = Network.resnet { Network.defaults with activation = c.Activation; width = 2; depth = c.Depth; finalTime = 1.0 }
    Solve.forward net (constantParameters c.Depth k (Vector<float>.Build.Dense 2) None) c.Points

/// The ratios ‖y_a(T) − y_b(T)‖ / ‖y_a(0) − y_b(0)‖ for the three pairs.
let distanceRatios (k: Matrix<float>) (c: Case) =
    let y = propagate k c
    [ for a, b in [ 0, 1; 0, 2; 1, 2 ] -> (y.Row a - y.Row b).L2Norm() / (c.Points.Row a - c.Points.Row b).L2Norm() ]

let private property title (cases: Gen<Case>) (check: Case -> unit) =
    testPropertyWithConfig (config 100) title (Prop.forAll (Arb.fromGen cases) check)

/// Example 1's three ResNets.
let tests =
    testList "Example 1 (ResNet stability, §3)" [
        testCase "K+, K− and K0 (and their transposes) have the eigenvalues 2, 2; −2, −2; ±i" (fun () ->
            // A 2×2 matrix's eigenvalues are the roots of λ² − tr K λ + det K: exact, unlike an
            // eigensolver on the defective K±, whose double eigenvalues it resolves only to √ε.
            for name, k, trace, determinant in [ "K+", kPlus, 4.0, 4.0; "K−", kMinus, -4.0, 4.0; "K0", kZero, 0.0, 1.0 ] do
                for m in [ k; k.Transpose() ] do
                    Expect.floatClose Accuracy.roundOff (m.Trace()) trace $"tr {name}"
                    Expect.floatClose Accuracy.roundOff (m.Determinant()) determinant $"det {name}"
            let eigenvalues = kZero.Evd().EigenValues.ToArray() |> Array.sortBy (fun l -> l.Imaginary)
            for l, expected in Array.zip eigenvalues [| Complex(0.0, -1.0); Complex(0.0, 1.0) |] do
                Expect.floatClose (Accuracy.relativeTo 1.0 Accuracy.roundOff) l.Real expected.Real "Re λ(K0)"
                Expect.floatClose Accuracy.roundOff l.Imaginary expected.Imaginary "Im λ(K0)")

        property "identity σ: Y_N = Y_0 (I + hK)^N for K+, K− and K0" (cases [ Identity ]) (fun c ->
            let h = 1.0 / float c.Depth
            for name, k in [ "K+", kPlus; "K−", kMinus; "K0", kZero ] do
                let step = Matrix<float>.Build.DenseIdentity 2 + h * k
                let expected = c.Points * step.Power c.Depth
                expectNormClose Accuracy.roundOff ((propagate k c).ToColumnMajorArray()) (expected.ToColumnMajorArray()) $"{name}: Y_N against Y_0 (I + hK)^N")

        property "K+ (λ = 2): every distance grows" (cases [ Identity; Tanh ]) (fun c ->
            for ratio in distanceRatios kPlus c do
                if not (ratio >= Growth) then failtestf "a distance grows only by %g < %g" ratio Growth)

        property "K− (λ = −2): every distance decays" (cases [ Identity; Tanh ]) (fun c ->
            for ratio in distanceRatios kMinus c do
                if not (ratio <= Decay) then failtestf "a distance decays only to %g > %g" ratio Decay)

        property "K0 (λ = ±i), identity σ: every distance scales by |1 + ih|^N = (1 + h²)^{N/2} = 1 + O(h)" (cases [ Identity ]) (fun c ->
            let h = 1.0 / float c.Depth
            for ratio in distanceRatios kZero c do
                Expect.floatClose Accuracy.roundOff ratio ((1.0 + h * h) ** (0.5 * float c.Depth)) "distance ratio against |1 + ih|^N"
                if not (abs (ratio - 1.0) <= h) then failtestf "a distance changes by %g > h = %g" (ratio - 1.0) h)

        property "K0 (λ = ±i), tanh: every distance changes by at most h + Radius² (Euler's O(h) and tanh's curvature)" (cases [ Tanh ]) (fun c ->
            let h = 1.0 / float c.Depth
            for ratio in distanceRatios kZero c do
                if not (abs (ratio - 1.0) <= h + Radius * Radius) then
                    failtestf "a distance changes by %g > h + Radius² = %g" (ratio - 1.0) (h + Radius * Radius))
    ]
