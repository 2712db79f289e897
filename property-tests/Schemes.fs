/// Schemes as stage lists (SPEC §1b): the stage list of leapfrog is the paper's two-step formula
/// (Eq. 4.16); bad stage lists are refused with the stage and field named; and the order of
/// accuracy of the Verlet family, measured with constant weights against an RK4 solution of
/// ẏ = σ(z Kᵀ + b), ż = −σ(y K + c) (`Stability.hamiltonianFlowRk4`, independent of the stage
/// lists; checked here against a closed form): the paper's Verlet first order, the symmetric
/// variant second, verlet4 fourth, with verlet4's Hamiltonian band shrinking as h⁴.
module StableOde.PropertyTests.Schemes

open System
open Expecto
open FsCheck
open FsCheck.FSharp
open MathNet.Numerics.LinearAlgebra
open StableOde.Core
open StableOde.PropertyTests.Checks
open StableOde.PropertyTests.Generators

/// σ applied entry by entry to a matrix plus a bias row added to every row.
let private layerMap (act: Activation) (x: Matrix<float>) (bias: Vector<float>) =
    x.MapIndexed(fun _ j v -> Activation.value act (v + bias[j % bias.Count]))

/// Eq. 4.16 literally: Y_1 = Y_0 + ½h² σ(Y_0 K_0 + b_0), Y_{j+1} = 2Y_j − Y_{j−1} + h² σ(Y_j K_j + b_j).
let private leapfrogTwoStep (net: Network) (p: Parameters) (y0: Matrix<float>) =
    let h = Network.stepSize net
    let u j (y: Matrix<float>) = layerMap net.Activation (y * p.K[j]) p.b[j]
    let ys = Array.zeroCreate (net.Depth + 1)
    ys[0] <- y0
    ys[1] <- y0 + 0.5 * h * h * u 0 y0
    for j in 1 .. net.Depth - 1 do
        ys[j + 1] <- 2.0 * ys[j] - ys[j - 1] + h * h * u j ys[j]
    ys

/// A system of SPEC §1b with constant weights: K ∈ R^{n×m} with ‖K‖₂ = 1, b, c, Y_0.
type private OdeCase =
    { K: Matrix<float>
      B: Vector<float>
      C: Vector<float>
      Y0: Matrix<float> }

let private odeCase (seed: int) =
    let k = gaussianMatrix seed 1.0 3 2
    { K = k / k.L2Norm(); B = gaussianVector (seed + 1) 0.3 3; C = gaussianVector (seed + 2) 0.3 2; Y0 = gaussianMatrix (seed + 3) 1.0 4 3 }

/// The network of `steps` layers over T with the case's weights in every layer.
let private constantNetwork (scheme: Scheme) (c: OdeCase) (finalTime: float) (steps: int) =
    let net = Network.create (Custom scheme) Tanh (Dense(3, 2)) steps finalTime false
    net, { K = Array.create steps c.K; b = Array.create steps c.B; c = Array.create steps c.C }

/// The observed orders log₂(e(N)/e(2N)) of Y_N against an RK4 solution in 8,192 steps, N = 8, 16, 32, 64, T = 2.
let private observedOrders (scheme: Scheme) (c: OdeCase) =
    let net, p = constantNetwork scheme c 2.0 8
    Stability.constantWeightErrors net p c.Y0 [ 8; 16; 32; 64 ] 8192 |> List.pairwise |> List.map (fun (e, e2) -> Math.Log2(e / e2))

/// The band max H − min H of the Hamiltonian along a constant-weight trajectory of N layers, T = 2.
let private hamiltonianBand (scheme: Scheme) (c: OdeCase) (steps: int) =
    let net, p = constantNetwork scheme c 2.0 steps
    let h = Stability.hamiltonianAlong net p c.Y0
    Array.max h - Array.min h

let private expectRefused (param: string) (message: string) (f: unit -> unit) =
    let e = Expect.throwsC f id
    match e with
    | :? ArgumentException as a ->
        Expect.equal a.ParamName param $"the parameter named by: {a.Message}"
        Expect.stringContains a.Message message "the message"
    | other -> failtest $"expected an ArgumentException, got {other.GetType().Name}: {other.Message}"

let tests =
    testList "schemes as stage lists" [
        testPropertyWithConfig (config 40) "leapfrog's stage list (kick Z ← Y, aFirst ½; drift Y ← Z) is the two-step formula of Eq. 4.16" (fun (seed: int) ->
            let rng = Random seed
            let n = 1 + rng.Next 5
            let net = Network.create Leapfrog Tanh (Dense(n, n)) (1 + rng.Next 12) (0.5 + 3.0 * rng.NextDouble()) false
            let p = Parameters.random seed 0.7 net
            let y0 = gaussianMatrix (seed + 1) 1.0 (1 + rng.Next 9) n
            let ours = Solve.trajectory net p y0
            let paper = leapfrogTwoStep net p y0
            for j in 0 .. net.Depth do
                expectNormClose Accuracy.roundOff (ours[j].Y.ToColumnMajorArray()) (paper[j].ToColumnMajorArray()) $"Y_{j}")

        testCase "the built-in propagators' stage lists, invertibility and biases" (fun () ->
            Expect.isFalse (Scheme.isInvertible Scheme.resnet) "ResNet's Y ← Y kick"
            for s in [ Scheme.leapfrog; Scheme.verlet; Scheme.verlet4; Scheme.symmetricVerlet ] do
                Expect.isTrue (Scheme.isInvertible s) $"{ModelFile.schemeToJson s}"
            Expect.equal (Scheme.verlet4.Stages |> List.sumBy (fun s -> if s.Target = Variable.Y then s.A else 0.0)) 1.0 "verlet4's Y kicks sum to 1"
            Expect.floatClose Accuracy.roundOff (Scheme.verlet4.Stages |> List.sumBy (fun s -> if s.Target = Variable.Z then s.A else 0.0)) -1.0 "verlet4's Z kicks sum to −1"
            Expect.isFalse (Scheme.usesC Scheme.leapfrog) "leapfrog has no c"
            Expect.isTrue (Scheme.usesZ Scheme.leapfrog) "leapfrog carries Z"
            Expect.isFalse (Scheme.usesZ Scheme.resnet) "ResNet has no Z")

        testCase "a stage list that does not fit is refused, naming the stage and the field" (fun () ->
            let validate n m stages () = Scheme.validate n m (Scheme.ofStages stages)
            expectRefused "scheme" "at least one stage" (validate 2 2 [])
            expectRefused "scheme[1].bias" "stage 1: bias c has width 2, not the width 3 of the target Y" (validate 3 2 [ Scheme.kick Variable.Z Variable.Y BiasName.C -1.0; Scheme.kick Variable.Y Variable.Z BiasName.C 1.0 ])
            expectRefused "scheme[0].source" "stage 0: a drift between different widths" (validate 3 2 [ Scheme.drift Variable.Y Variable.Z 1.0 ])
            expectRefused "scheme[0].source" "another variable than its target" (validate 2 2 [ Scheme.drift Variable.Y Variable.Y 1.0 ])
            expectRefused "scheme[0].target" "produces width 2" (validate 3 2 [ Scheme.kick Variable.Y Variable.Y BiasName.B 1.0 ])
            expectRefused "scheme[1].a" "must be finite" (validate 2 2 [ Scheme.kick Variable.Y Variable.Y BiasName.B 1.0; Scheme.kick Variable.Y Variable.Y BiasName.B nan ])
            expectRefused "scheme[0].aFirst" "must be finite" (validate 2 2 [ Scheme.kick Variable.Y Variable.Y BiasName.B 1.0 |> Scheme.withFirst infinity ])
            let net = Network.create (Custom(Scheme.ofStages [ Scheme.kick Variable.Z Variable.Y BiasName.B 1.0; Scheme.kick Variable.Y Variable.Y BiasName.B 1.0 ])) Tanh (Dense(2, 2)) 3 1.0 false
            let p = Parameters.random 1 0.5 net
            let y0 = gaussianMatrix 2 1.0 3 2
            expectRefused "strategy" "stage 1 reads its own target" (fun () -> Solve.record Reversal net p y0 |> ignore))

        testCase "a custom scheme in model JSON: written, read back, and its bad stages named" (fun () ->
            let net = Network.create (Custom Scheme.symmetricVerlet) Tanh (Dense(3, 2)) 4 2.0 false
            let model = { Network = net; Parameters = Parameters.random 3 0.5 net; Classifier = { Hypothesis = Softmax; W = gaussianMatrix 4 1.0 3 2; mu = gaussianVector 5 1.0 2 } }
            let back = ModelFile.ofJson "m.json" (ModelFile.toJson model)
            Expect.equal back.Network net "the network"
            Expect.equal (Parameters.toVector back.Parameters) (Parameters.toVector model.Parameters) "the parameters"
            let bad (json: string) (field: string) =
                let e = Expect.throwsC (fun () -> ModelFile.schemeOfJson "s.json" json |> ignore) id
                Expect.isTrue (e :? IO.InvalidDataException) $"{e.GetType().Name}: {e.Message}"
                Expect.stringContains e.Message field "the field"
            bad """[{"stage": "kick", "target": "X", "source": "Y", "bias": "c", "a": -1}]""" "scheme[0].target"
            bad """[{"stage": "kick", "target": "Z", "source": "Y", "bias": "c", "a": -1}, {"stage": "hop", "target": "Y", "source": "Z", "a": 1}]""" "scheme[1].stage"
            bad """[{"stage": "drift", "target": "Y", "source": "Z", "bias": "b", "a": 1}]""" "scheme[0].bias"
            bad """[]""" "scheme"
            Expect.equal (ModelFile.schemeOfJson "s.json" (ModelFile.schemeToJson Scheme.verlet4)) Scheme.verlet4 "verlet4 through JSON")

        testCase "the RK4 reference solves ẏ = z, ż = −y (σ = identity, K = 1) to y(T) = y(0) cos T, with fourth-order error" (fun () ->
            let net = Network.verlet { Network.defaults with width = 1; depth = 1; finalTime = 2.0; activation = Identity }
            let p = { K = [| Matrix<float>.Build.Dense(1, 1, 1.0) |]; b = [| Vector<float>.Build.Dense 1 |]; c = [| Vector<float>.Build.Dense 1 |] }
            let y0 = Matrix<float>.Build.DenseOfArray(array2D [ [ 0.7 ]; [ -1.3 ] ])
            let error steps = (Stability.hamiltonianFlowRk4 net p y0 steps - y0 * cos 2.0).FrobeniusNorm()
            Expect.isLessThan (error 200) 1e-9 "200 steps"
            Expect.floatClose Accuracy.order (Math.Log2(error 25 / error 50)) 4.0 "the observed order")

        testCase "order with constant weights: Verlet first, symmetric Verlet second, verlet4 fourth (≥ 3.8)" (fun () ->
            for seed in [ 1; 2; 3 ] do
                let c = odeCase (10 * seed)
                let orders scheme = observedOrders scheme c
                let last (o: float list) = List.last o
                let verlet, symmetric, fourth = orders Scheme.verlet, orders Scheme.symmetricVerlet, orders Scheme.verlet4
                Expect.isTrue (abs (last verlet - 1.0) <= Accuracy.order.absolute * 2.0) $"seed {seed}: the paper's Verlet, orders %A{verlet}"
                Expect.isTrue (abs (last symmetric - 2.0) <= Accuracy.order.absolute * 2.0) $"seed {seed}: symmetric Verlet, orders %A{symmetric}"
                Expect.isGreaterThanOrEqual (last fourth) 3.8 $"seed {seed}: verlet4, orders %A{fourth}")

        testCase "verlet4's Hamiltonian band shrinks as h⁴ with constant weights" (fun () ->
            for seed in [ 1; 2; 3 ] do
                let c = odeCase (10 * seed + 5)
                let bands = [ 16; 32; 64 ] |> List.map (hamiltonianBand Scheme.verlet4 c)
                let orders = bands |> List.pairwise |> List.map (fun (a, b) -> Math.Log2(a / b))
                Expect.isGreaterThanOrEqual (List.last orders) 3.8 $"seed {seed}: bands %A{bands}, orders %A{orders}")
    ]
