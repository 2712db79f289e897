/// FsCheck generators of seeds and sizes, and the cases built from them: operators with their
/// parameters and batches, and networks with seeded weights, inputs and classifiers.
module StableOde.PropertyTests.Generators

open MathNet.Numerics.LinearAlgebra
open FsCheck
open FsCheck.FSharp
open StableOde.Core
open StableOde.PropertyTests.Checks

/// A seed for a generator of weights or data.
let seed = Gen.choose (0, 1_000_000)

/// A feature width 1…6.
let width = Gen.choose (1, 6)

/// A batch size 1…8.
let batch = Gen.choose (1, 8)

/// A depth 1…12.
let depth = Gen.choose (1, 12)

/// Every activation: for properties that need only σ' (dot products, agreement of strategies).
let anyActivation = Gen.elements [ Tanh; Relu; Identity ]

/// Smooth activations: for Taylor tests, which need second derivatives.
let smoothActivation = Gen.elements [ Tanh; Identity ]

/// A positive γ for the antisymmetric operator: 0.1…2.
let positiveGamma = Gen.choose (1, 20) |> Gen.map (fun k -> 0.1 * float k)

/// γ for the antisymmetric operator: 0 (purely imaginary spectrum) a third of the time, else 0.1…2.
let gamma = Gen.frequency [ 1, Gen.constant 0.0; 2, positiveGamma ]

/// A square dense operator n×n.
let dense = width |> Gen.map (fun n -> Dense(n, n))

/// A dense operator n×m with independent widths (Verlet, and the base B of −B Bᵀ).
let rectangular = Gen.map2 (fun n m -> Dense(n, m)) width width

/// A 3×3 convolution on 1…2 channels of 1…3 × 1…3 pixels (the edge cases of zero padding included).
let convolution =
    Gen.map3 (fun c h w -> Conv3x3(c, h, w)) (Gen.choose (1, 2)) (Gen.choose (1, 3)) (Gen.choose (1, 3))

/// A(K) = ½(K − Kᵀ − γI) on a base operator, γ drawn from a generator.
let antisymmetricWith (gammas: Gen<float>) (baseOperator: Gen<Operator>) =
    Gen.map2 (fun b g -> Antisymmetric(b, g)) baseOperator gammas

/// A(K) = ½(K − Kᵀ − γI) on a base operator, γ = 0 a third of the time.
let antisymmetric (baseOperator: Gen<Operator>) = antisymmetricWith gamma baseOperator

/// −B Bᵀ on a base operator.
let negativeSemidefinite (baseOperator: Gen<Operator>) = Gen.map NegativeSemidefinite baseOperator

/// An operator with parameters θ, a direction δθ and batches Y (s × in), V (s × out).
[<StructuredFormatDisplay("{Description}")>]
type OperatorCase =
    { Operator: Operator
      Theta: Matrix<float>
      DTheta: Matrix<float>
      Y: Matrix<float>
      V: Matrix<float>
      Description: string }

/// An operator case from an operator generator: θ, δθ, Y and V standard normal from seeds.
let operatorCase (operator: Gen<Operator>) : Gen<OperatorCase> =
    gen {
        let! op = operator
        let! s = batch
        let! seed = seed
        let rows, cols = Operator.parameterShape op
        return
            { Operator = op
              Theta = gaussianMatrix seed 1.0 rows cols
              DTheta = gaussianMatrix (seed + 1) 1.0 rows cols
              Y = gaussianMatrix (seed + 2) 1.0 s (Operator.inWidth op)
              V = gaussianMatrix (seed + 3) 1.0 s (Operator.outWidth op)
              Description = $"%A{op}, batch {s}, seed {seed}" }
    }

/// A network with seeded weights θ, an input batch Y_0, a classifier and labels.
[<StructuredFormatDisplay("{Description}")>]
type NetworkCase =
    { Network: Network
      Parameters: Parameters
      Y0: Matrix<float>
      Classifier: Classifier
      Labels: Matrix<float>
      /// Seeds the directions and adjoint inputs a property draws.
      Seed: int
      Description: string }

    /// The model made of the network, its parameters and its classifier.
    member c.Model = { Network = c.Network; Parameters = c.Parameters; Classifier = c.Classifier }

/// A network case of a propagator on an operator: depth 1…12, T = 0.5…3, a batch size from
/// `batches`, tied or per-feature biases, θ ~ N(0, scale²) with scale ¼, ½ or 1, Y_0 ~ N(0, 1),
/// and a softmax (2…4 classes) or logistic classifier with random labels, μ ~ N(0, 1) and
/// W ~ N(0, 1/(n r²)) for the root mean square r of Y_N: scores of order 1, as a trained
/// classifier has, so that the loss is not saturated to round-off by features that grew.
let networkCaseWith (batches: Gen<int>) (propagator: Propagator) (operator: Gen<Operator>) (activation: Gen<Activation>) (hypothesis: Gen<Hypothesis>) =
    gen {
        let! op = operator
        let! act = activation
        let! depth = depth
        let! finalTime = Gen.choose (1, 6) |> Gen.map (fun k -> 0.5 * float k)
        let! s = batches
        let! tied = Gen.elements [ false; true ]
        let! scale = Gen.elements [ 0.25; 0.5; 1.0 ]
        let! hyp = hypothesis
        let! classes = if hyp = Logistic then Gen.constant 2 else Gen.choose (2, 4)
        let! seed = seed
        let net = Network.create propagator act op depth finalTime tied
        let n = Network.width net
        let parameters = Parameters.random seed scale net
        let y0 = gaussianMatrix (seed + 1) 1.0 s n
        let rms = (Solve.forward net parameters y0).FrobeniusNorm() / sqrt (float (s * n))
        let m = Classifier.labelWidth hyp classes
        let rng = System.Random(seed + 3)
        let labels = Array.init s (fun _ -> rng.Next classes)
        return
            { Network = net
              Parameters = parameters
              Y0 = y0
              Classifier = { Hypothesis = hyp; W = gaussianMatrix (seed + 2) (1.0 / (sqrt (float n) * max rms 1e-3)) n m; mu = gaussianVector (seed + 4) 1.0 m }
              Labels = Classifier.labelMatrix hyp classes labels
              Seed = seed + 5
              Description =
                $"{Network.propagatorName propagator} {ModelFile.schemeToJson (Scheme.ofPropagator propagator)} · %A{op} · %A{act} · depth {depth} · T {finalTime} · batch {s} · tied {tied} · scale {scale} · %A{hyp} {classes} · seed {seed}" }
    }

/// A network case with a batch of 1…8 examples.
let networkCase propagator operator activation hypothesis = networkCaseWith batch propagator operator activation hypothesis

/// A network case on a 3×3 convolution of 5…8 channels of 2…4 × 2…4 pixels (the fused
/// convolution kernels' groups of 6 channels partly filled, full, and more than one) with 9…40
/// examples (several of their chunks of examples), θ scaled by 1/√(9c) so that a layer's
/// operator has a norm of order one (unscaled, h‖K‖ reaches about 4, and the reversal and the
/// agreement with the plain backend then lose their digits to the dynamics, not to the kernels).
let groupedConvolutionCase (propagator: Propagator) (activation: Gen<Activation>) (hypothesis: Gen<Hypothesis>) =
    gen {
        let! channels = Gen.choose (5, 8)
        let! h = Gen.choose (2, 4)
        let! w = Gen.choose (2, 4)
        let! c = networkCaseWith (Gen.choose (9, 40)) propagator (Gen.constant (Conv3x3(channels, h, w))) activation hypothesis
        let scale = 1.0 / sqrt (9.0 * float channels)
        return { c with Parameters = Parameters.scale scale c.Parameters; Description = $"{c.Description} · θ scaled by {scale:G3}" }
    }

/// A random valid stage list (SPEC §1b) of 1…4 stages drawn by `rng`, for an operator that is
/// `square` (n = m) or not. Square: kicks (70 %) between any variables with either bias, and
/// drifts between Y and Z; not square: kicks from one variable into the other, with the bias of
/// the target's width. Coefficients a ∈ [−1.5, 1.5]; a third of the stages have their own aFirst.
let randomScheme (rng: System.Random) (square: bool) : Scheme =
    let variable () = if rng.Next 2 = 0 then Variable.Y else Variable.Z
    let other v = if v = Variable.Y then Variable.Z else Variable.Y
    let coefficient () = -1.5 + 3.0 * rng.NextDouble()
    let stage () =
        let s =
            if square && rng.Next 10 < 3 then
                let t = variable ()
                Scheme.drift t (other t) (coefficient ())
            elif square then Scheme.kick (variable ()) (variable ()) (if rng.Next 2 = 0 then BiasName.B else BiasName.C) (coefficient ())
            else
                let source = variable ()
                let target = other source
                Scheme.kick target source (if target = Variable.Y then BiasName.B else BiasName.C) (coefficient ())
        if rng.Next 3 = 0 then Scheme.withFirst (coefficient ()) s else s
    Scheme.ofStages (List.init (1 + rng.Next 4) (fun _ -> stage ()))

/// A random valid stage list for an operator (see `randomScheme`).
let schemeFor (op: Operator) : Gen<Scheme> =
    seed |> Gen.map (fun k -> randomScheme (System.Random k) (Operator.inWidth op = Operator.outWidth op))

/// A network case of a random stage list that fits the drawn operator.
let schemeCaseWith (batches: Gen<int>) (operator: Gen<Operator>) (activation: Gen<Activation>) (hypothesis: Gen<Hypothesis>) =
    gen {
        let! op = operator
        let! scheme = schemeFor op
        return! networkCaseWith batches (Custom scheme) (Gen.constant op) activation hypothesis
    }

/// A random-scheme case with a batch of 1…8 examples.
let schemeCase operator activation hypothesis = schemeCaseWith batch operator activation hypothesis

/// A batch of 256…1,100 examples: the solves cut it into 2, 4 or 8 row blocks that run in parallel.
let largeBatch = Gen.choose (256, 1100)

/// Either hypothesis of SPEC §3 used for classification.
let hypothesis = Gen.elements [ Softmax; Logistic ]
