/// The attacks of SPEC §10 over random models: the input gradient of each example's own loss
/// against central finite differences and a Taylor test (widened inputs and convolutions
/// included), FGSM's first-order loss increase ε‖∇ℓ_i‖₁, PGD's iterates in the ε-ball and in
/// [0, 1], seeded noise, ε = 0 giving the clean accuracy exactly, and pure calls.
module StableOde.PropertyTests.RobustnessTests

open System
open MathNet.Numerics.LinearAlgebra
open Expecto
open FsCheck
open FsCheck.FSharp
open StableOde.Core
open StableOde.PropertyTests.Checks
open StableOde.PropertyTests.Generators

/// A model, data of d ≤ n features as the user gives it (widened by the attacks) and integer labels.
[<StructuredFormatDisplay("{Description}")>]
type AttackCase =
    { Model: Model
      Y: Matrix<float>
      Labels: int[]
      Seed: int
      Description: string }

/// An attack case from a network case: the first d columns of its Y_0 (d from 1 to n, n itself
/// half of the time), or the same features mapped into (0, 1) when `unitBox`.
let private attackCase (unitBox: bool) (cases: Gen<NetworkCase>) : Gen<AttackCase> =
    gen {
        let! c = cases
        let n = Network.width c.Network
        let! narrow = Gen.elements [ false; true ]
        let! d = Gen.choose (1, n)
        let width = if narrow then d else n
        let y = c.Y0.SubMatrix(0, c.Y0.RowCount, 0, width)
        let labels =
            Array.init c.Labels.RowCount (fun i ->
                if c.Classifier.Hypothesis = Logistic then int c.Labels[i, 0] else c.Labels.Row(i).MaximumIndex())
        return
            { Model = c.Model
              Y = (if unitBox then y.Map(fun v -> 1.0 / (1.0 + Math.Exp -v)) else y)
              Labels = labels
              Seed = c.Seed
              Description = $"{c.Description} · data width {width}" }
    }

/// Every propagator on dense operators and on 3×3 convolutions, with smooth σ (Taylor tests).
let private networks =
    Gen.oneof [
        networkCase ResNet dense smoothActivation hypothesis
        networkCase AntisymmetricResNet (antisymmetric dense) smoothActivation hypothesis
        networkCase Leapfrog (negativeSemidefinite rectangular) smoothActivation hypothesis
        networkCase Verlet rectangular smoothActivation hypothesis
        networkCase ResNet convolution smoothActivation hypothesis
        networkCase Verlet convolution smoothActivation hypothesis ]

let private property title maxTest (unitBox: bool) (check: AttackCase -> unit) =
    testPropertyWithConfig (config maxTest) title (Prop.forAll (Arb.fromGen (attackCase unitBox networks)) check)

/// Central differences of a smooth per-example loss with t = 1e-5: truncation O(t²) and
/// round-off O(1e-16/t) of the loss's scale.
let private finiteDifference = { absolute = 1e-8; relative = 1e-6 }

/// Where FGSM's first-order ratio must have come within at the smallest ε (2^−16).
let private firstOrder = 1e-3

let tests =
    testList "robustness (SPEC §10)" [
        property "∇ℓ_i equals a central finite difference of example i's own loss, feature by feature" 40 false (fun c ->
            let g = Robustness.inputGradient c.Model c.Y c.Labels
            let t = 1e-5
            for i in 0 .. c.Y.RowCount - 1 do
                for k in 0 .. c.Y.ColumnCount - 1 do
                    let shifted (delta: float) =
                        let y = c.Y.Clone()
                        y[i, k] <- y[i, k] + delta
                        (Robustness.losses c.Model y c.Labels)[i]
                    let fd = (shifted t - shifted -t) / (2.0 * t)
                    Expect.floatClose finiteDifference g[i, k] fd $"∂ℓ_{i}/∂y_{i},{k}")

        property "Taylor test of Σ_i ℓ_i along a random direction with the slope ⟨∇ℓ, v⟩" 30 false (fun c ->
            let g = Robustness.inputGradient c.Model c.Y c.Labels
            let v = gaussianMatrix c.Seed 1.0 c.Y.RowCount c.Y.ColumnCount
            let f (t: float) = Array.sum (Robustness.losses c.Model (c.Y + t * v) c.Labels)
            match taylor 3 f (inner g v) with
            | None -> ()
            | Some failure -> failtest failure)

        property "FGSM raises each example's loss by ε‖∇ℓ_i‖₁ to first order: the ratio tends to 1 as ε halves" 40 false (fun c ->
            let g = Robustness.inputGradient c.Model c.Y c.Labels
            let clean = Robustness.losses c.Model c.Y c.Labels
            let error (k: int) =
                let epsilon = Math.Pow(2.0, float -k)
                let perturbed = Robustness.losses c.Model (Robustness.fgsm false epsilon c.Model c.Y c.Labels) c.Labels
                Array.init c.Y.RowCount (fun i ->
                    let l1 = g.Row(i).L1Norm()
                    if l1 < 1e-3 then 0.0 else abs ((perturbed[i] - clean[i]) / (epsilon * l1) - 1.0))
            let coarse, fine = error 12, error 16
            for i in 0 .. c.Y.RowCount - 1 do
                Expect.isLessThanOrEqual fine[i] firstOrder $"example {i}: |ratio − 1| at ε = 2^−16"
                Expect.isLessThanOrEqual fine[i] (0.1 * coarse[i] + 1e-8) $"example {i}: |ratio − 1| falls as ε (2^−12: {coarse[i]}, 2^−16: {fine[i]})")

        property "every PGD iterate stays in the ε-ball around its example and, clipped, in [0, 1]" 30 true (fun c ->
            let rng = Random c.Seed
            let epsilon = 0.5 * rng.NextDouble()
            let steps = rng.Next(1, 6)
            let iterates = Robustness.pgdIterates true steps epsilon c.Model c.Y c.Labels
            Expect.equal iterates.Length (steps + 1) "steps + 1 iterates"
            for x in iterates do
                let distance = (x - c.Y).Enumerate() |> Seq.map abs |> Seq.max
                Expect.isLessThanOrEqual distance (epsilon * (1.0 + 1e-12) + 1e-15) "‖x − y‖∞ ≤ ε"
                Expect.all (x.Enumerate()) (fun v -> v >= 0.0 && v <= 1.0) "every entry in [0, 1]")

        property "PGD takes steps of α = 2.5ε/k: one unprojected step is FGSM with budget α" 30 false (fun c ->
            let steps = 5
            let epsilon = 0.2
            let first = (Robustness.pgdIterates false steps epsilon c.Model c.Y c.Labels)[1]
            let fgsm = Robustness.fgsm false (2.5 * epsilon / float steps) c.Model c.Y c.Labels
            let projected = Matrix<float>.Build.Dense(c.Y.RowCount, c.Y.ColumnCount, fun i k -> Math.Clamp(fgsm[i, k], c.Y[i, k] - epsilon, c.Y[i, k] + epsilon))
            Expect.equal (bits (first.ToColumnMajorArray())) (bits (projected.ToColumnMajorArray())) "the first PGD iterate")

        property "the same seed gives the same noise, another seed other noise; clipped noise stays in [0, 1]" 30 true (fun c ->
            let a = Robustness.noise true c.Seed 0.3 c.Y
            let b = Robustness.noise true c.Seed 0.3 c.Y
            let other = Robustness.noise false (c.Seed + 1) 0.3 c.Y
            Expect.equal (bits (a.ToColumnMajorArray())) (bits (b.ToColumnMajorArray())) "same seed, same noise"
            Expect.notEqual (bits (other.ToColumnMajorArray())) (bits ((Robustness.noise false c.Seed 0.3 c.Y).ToColumnMajorArray())) "another seed"
            Expect.all (a.Enumerate()) (fun v -> v >= 0.0 && v <= 1.0) "every entry in [0, 1]")

        property "ε = 0 gives the clean accuracy exactly and zero amplification, for every attack" 30 false (fun c ->
            let data = { Features = c.Y; Labels = c.Labels; Classes = Classifier.classes c.Model.Classifier }
            let clean =
                Classifier.accuracy c.Model.Classifier (Solve.forward c.Model.Network c.Model.Parameters (Dataset.widenFeatures (Network.width c.Model.Network) c.Y)) c.Labels
            for attack in [ Fgsm; Pgd 3; Noise c.Seed ] do
                let report = Robustness.evaluate { Attack = attack; Clip = false } [| 0.0; 0.25; 0.0 |] c.Model data
                Expect.equal report.CleanAccuracy clean $"%A{attack}: clean accuracy"
                for r in [ report.Results[0]; report.Results[2] ] do
                    Expect.equal r.Accuracy clean $"%A{attack}: accuracy at ε = 0"
                    Expect.equal (r.AmplificationMean, r.AmplificationMax) (0.0, 0.0) $"%A{attack}: amplification at ε = 0"
                Expect.isGreaterThanOrEqual report.Results[1].AmplificationMax report.Results[1].AmplificationMean $"%A{attack}: max ≥ mean")

        property "chunks of 1, 2 and 3 examples give the one-chunk report: the same accuracies, amplifications to round-off" 20 true (fun c ->
            let data = { Features = c.Y; Labels = c.Labels; Classes = Classifier.classes c.Model.Classifier }
            let epsilons = [| 0.0; 0.1; 0.3 |]
            for attack in [ Fgsm; Pgd 2; Noise c.Seed ] do
                let options = { Attack = attack; Clip = true }
                let whole = Robustness.evaluateInChunks c.Y.RowCount options epsilons c.Model data
                for chunk in [ 1; 2; 3 ] do
                    let parts = Robustness.evaluateInChunks chunk options epsilons c.Model data
                    Expect.equal parts.CleanAccuracy whole.CleanAccuracy $"%A{attack}, chunks of {chunk}: clean accuracy"
                    for r, w in Array.zip parts.Results whole.Results do
                        Expect.equal r.Accuracy w.Accuracy $"%A{attack}, chunks of {chunk}: accuracy at ε = {w.Epsilon}"
                        expectNormClose Accuracy.roundOff [| r.AmplificationMean; r.AmplificationMax |] [| w.AmplificationMean; w.AmplificationMax |] $"%A{attack}, chunks of {chunk}: amplification at ε = {w.Epsilon}")

        property "the attacks leave their inputs unchanged and repeat bit-identically" 20 true (fun c ->
            let data = { Features = c.Y; Labels = c.Labels; Classes = Classifier.classes c.Model.Classifier }
            let flat (m: Matrix<float>) = m.ToColumnMajorArray()
            let report (attack: Attack) () =
                let r = Robustness.evaluate { Attack = attack; Clip = true } [| 0.1 |] c.Model data
                [| r.CleanAccuracy; r.Results[0].Accuracy; r.Results[0].AmplificationMean; r.Results[0].AmplificationMax |]
            expectPureCalls
                (fun () -> Array.append (flat c.Y) (flatten c.Model.Parameters [ c.Model.Classifier.W ]))
                [ "inputGradient", (fun () -> flat (Robustness.inputGradient c.Model c.Y c.Labels))
                  "fgsm", (fun () -> flat (Robustness.fgsm true 0.1 c.Model c.Y c.Labels))
                  "pgd", (fun () -> flat (Robustness.pgd true 3 0.1 c.Model c.Y c.Labels))
                  "noise", (fun () -> flat (Robustness.noise true 2 0.1 c.Y))
                  "evaluate (pgd)", report (Pgd 2)
                  "evaluate (noise)", report (Noise 3) ])

        property "per-example σ_max by power iteration: from below, and the exact SVD's where σ₂/σ₁ ≤ 0.8" 20 false (fun c ->
            let net, p = c.Model.Network, c.Model.Parameters
            let y0 = Dataset.widenFeatures (Network.width net) c.Y
            let exact = Stability.exampleSingularValues net p y0
            let estimate = Robustness.largestSingularValuesIterative 60 net p y0
            let exactLargest = Robustness.largestSingularValues net p y0
            for i in 0 .. y0.RowCount - 1 do
                let sigma = exact[i].Maximum()
                Expect.equal exactLargest[i] sigma $"example {i}: the exact path"
                Expect.isLessThanOrEqual estimate[i] (sigma * (1.0 + 1e-12) + 1e-300) $"example {i}: from below"
                let gap = if exact[i].Count > 1 then exact[i][1] / exact[i][0] else 0.0
                if gap <= 0.8 then Expect.floatClose Accuracy.iterative estimate[i] sigma $"example {i}: σ_max (σ₂/σ₁ = {gap})")

        testCase "predictions are taken on the scores: the first largest on a tie, as torch.argmax; logistic z > 0" <| fun () ->
            let tenth = 0.1
            let above = BitConverter.Int64BitsToDouble(BitConverter.DoubleToInt64Bits tenth + 1L)
            let z = Matrix<float>.Build.DenseOfArray(array2D [ [ 0.0; 2.0; 2.0 ]; [ 5.0; 5.0; 5.0 ]; [ tenth; above; -1.0 ]; [ -1.0; above; tenth ]; [ -3.0; -2.0; -1.0 ] ])
            let softmax = Classifier.probabilitiesOfScores Softmax z
            Expect.equal softmax[2, 0] softmax[2, 1] "softmax rounds scores one ulp apart to equal probabilities"
            let expected = [| 1; 0; 1; 1; 2 |]
            Expect.equal (Classifier.predictOfScores Softmax z) expected "softmax"
            Expect.equal (Classifier.predictOfScores LeastSquares z) expected "least squares"
            let logistic = Matrix<float>.Build.DenseOfArray(array2D [ [ 0.0 ]; [ 1e-17 ]; [ -1e-17 ]; [ 2.0 ] ])
            let sigmoid = Classifier.probabilitiesOfScores Logistic logistic
            Expect.equal sigmoid[1, 0] 0.5 "sigmoid rounds z = 1e-17 to ½"
            Expect.equal (Classifier.predictOfScores Logistic logistic) [| 0; 1; 0; 1 |] "logistic"
    ]
