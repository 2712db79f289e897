/// The conformance suite of the solves (SPEC §2), written once and run for every built-in scheme
/// and for randomly generated stage lists (SPEC §1b) on every operator: the dot-product test of sensitivity against adjoint, the Taylor test of the
/// whole loss gradient, the same two tests of the recorded Jacobian's products (`Solve.linearise`) and its
/// Gauss–Newton product against the solves', agreement with the plain reference solves and of the adjoint strategies
/// with each other, inputs never mutated and repeated calls bit-identical.
module StableOde.PropertyTests.NetworkConformance

open Expecto
open FsCheck
open FsCheck.FSharp
open StableOde.Core
open StableOde.PropertyTests.Checks
open StableOde.PropertyTests.Generators

/// Is the network's scheme exactly invertible, so that it admits the reversal strategy?
let reversible (net: Network) = Scheme.isInvertible (Network.scheme net)

/// Every adjoint strategy a network admits: checkpoints every 1, 2, 3, N and N + 3 steps, every
/// ⌈√N⌉ steps, and reversal for invertible schemes.
let strategies (net: Network) =
    [ Checkpoints 1; Checkpoints 2; Checkpoints 3; Checkpoints net.Depth; Checkpoints(net.Depth + 3); Solve.sqrtCheckpoints net ]
    @ (if reversible net then [ Reversal ] else [])

/// A random direction (δθ, δY_0) and a random adjoint input Ȳ_N for a case.
let private directions (c: NetworkCase) =
    let s, n = c.Y0.RowCount, c.Y0.ColumnCount
    Parameters.random c.Seed 1.0 c.Network, gaussianMatrix (c.Seed + 1) 1.0 s n, gaussianMatrix (c.Seed + 2) 1.0 s n

/// The Taylor test of Model.gradient along random directions of (θ, W, μ, Y_0) together.
let private taylorTest (c: NetworkCase) =
    let model = c.Model
    let g = Model.gradient StoreAll model c.Y0 c.Labels
    Expect.floatClose Accuracy.roundOff g.Loss (Model.loss model c.Y0 c.Labels) "the loss Model.gradient reports against Model.loss"
    let w = c.Classifier.W
    let along (i: int) =
        let seed = c.Seed + 10 * i
        let dTheta = Parameters.random seed 1.0 c.Network
        let dY0 = gaussianMatrix (seed + 1) 1.0 c.Y0.RowCount c.Y0.ColumnCount
        let dW = gaussianMatrix (seed + 3) (w.FrobeniusNorm() / sqrt (float (w.RowCount * w.ColumnCount))) w.RowCount w.ColumnCount
        let dMu = gaussianVector (seed + 4) 1.0 c.Classifier.mu.Count
        let f (t: float) =
            let moved =
                { model with
                    Parameters = Parameters.addScaled c.Parameters t dTheta
                    Classifier = { c.Classifier with W = w + t * dW; mu = c.Classifier.mu + t * dMu } }
            Model.loss moved (c.Y0 + t * dY0) c.Labels
        f, Parameters.dot g.GradTheta dTheta + inner g.GradW dW + g.GradMu.DotProduct dMu + inner g.GradY0 dY0
    expectTaylor 4 along

/// J δθ and Jᵀ Ȳ_N of `Solve.linearise`, through the caller-owned outputs of `jvpInto` and
/// `vjpInto`, on one recorded Jacobian.
let private jacobianProducts (jac: Jacobian) (dTheta: Parameters) (w: MathNet.Numerics.LinearAlgebra.Matrix<float>) (net: Network) =
    let jv = Kernels.zeros w.RowCount w.ColumnCount
    Solve.jvpInto jac dTheta jv
    let g = Parameters.zeros net
    Solve.vjpInto jac w g
    jv, g

/// Whether θ reaches Y_N: a kick updates Y, or a drift moves into Y a Z that a kick updates. (A
/// random stage list may update Z alone, leaving Y_N = Y_0.)
let private thetaReachesOutput (scheme: Scheme) =
    let updates kind target = scheme.Stages |> List.exists (fun s -> s.Kind = kind && s.Target = target)
    updates Kick Variable.Y || (updates Drift Variable.Y && updates Kick Variable.Z)

/// The Taylor test of the Jacobian's transposed product: the loss f(t) = L(Y_N(θ + t δθ)) has
/// slope ⟨δθ, Jᵀ ∇_{Y_N} L⟩; where θ cannot reach Y_N, Jᵀ is exactly zero.
let private jacobianTaylorTest (c: NetworkCase) =
    let jac = Solve.linearise c.Network c.Parameters c.Y0
    let g = Parameters.zeros c.Network
    Solve.vjpInto jac (Classifier.lossGradient c.Classifier jac.YN c.Labels).GradY g
    if thetaReachesOutput (Network.scheme c.Network) then
        let along (i: int) =
            let dTheta = Parameters.random (c.Seed + 10 * i + 5) 1.0 c.Network
            (fun t -> Model.loss { c.Model with Parameters = Parameters.addScaled c.Parameters t dTheta } c.Y0 c.Labels), Parameters.dot dTheta g
        expectTaylor 4 along
    else Expect.equal (Parameters.dot g g) 0.0 "Jᵀ ∇L where Y_N does not depend on θ"

/// The conformance tests of a propagator on an operator, over the cases the generator draws for
/// an activation generator (the Taylor tests draw smooth activations only).
let suite (name: string) (maxTest: int) (cases: Gen<Activation> -> Gen<Hypothesis> -> Gen<NetworkCase>) =
    let property title (activation: Gen<Activation>) (hyp: Gen<Hypothesis>) (check: NetworkCase -> unit) =
        testPropertyWithConfig (config maxTest) title (Prop.forAll (Arb.fromGen (cases activation hyp)) check)
    testList name [
        property "dot-product test: ⟨J (δθ, δY_0), W⟩ = ⟨(δθ, δY_0), Jᵀ W⟩" anyActivation hypothesis (fun c ->
            let dTheta, dY0, w = directions c
            let jv = Solve.sensitivity c.Network c.Parameters c.Y0 dTheta dY0
            let gTheta, gY0 = Solve.adjoint StoreAll c.Network c.Parameters c.Y0 w
            let scale = jv.FrobeniusNorm() * w.FrobeniusNorm()
            Expect.floatClose (Accuracy.relativeTo scale Accuracy.dotProduct) (inner jv w) (Parameters.dot dTheta gTheta + inner dY0 gY0) "⟨J v, w⟩ against ⟨v, Jᵀ w⟩")

        property "input-only adjoint: ⟨J_Y δY_0, W⟩ = ⟨δY_0, backwardInput W⟩, and it equals the full ∂/∂Y_0 under StoreAll, √N checkpoints and reversal" anyActivation hypothesis (fun c ->
            let net, p, y0 = c.Network, c.Parameters, c.Y0
            let _, dY0, w = directions c
            let jv = Solve.sensitivity net p y0 (Parameters.zeros net) dY0
            let gY0 = Solve.backwardInput (Solve.record StoreAll net p y0) w
            let scale = jv.FrobeniusNorm() * w.FrobeniusNorm()
            Expect.floatClose (Accuracy.relativeTo scale Accuracy.dotProduct) (inner jv w) (inner dY0 gY0) "⟨J_Y δY_0, w⟩ against ⟨δY_0, J_Yᵀ w⟩"
            for strategy in [ StoreAll; Solve.sqrtCheckpoints net ] @ (if reversible net then [ Reversal ] else []) do
                let tape = Solve.record strategy net p y0
                let inputOnly = (Solve.backwardInput tape w).ToColumnMajorArray()
                expectNormClose Accuracy.roundOff inputOnly ((snd (Solve.backward tape w)).ToColumnMajorArray()) $"backwardInput against backward's ∂/∂Y_0 on one %A{strategy} tape"
                expectNormClose Accuracy.strategies inputOnly (gY0.ToColumnMajorArray()) $"backwardInput under %A{strategy} against StoreAll")

        property "Taylor test of the loss in Y_0 with the input-only adjoint's slope" smoothActivation hypothesis (fun c ->
            let model = c.Model
            let tape = Solve.record StoreAll c.Network c.Parameters c.Y0
            let gY0 = Solve.backwardInput tape (Classifier.lossGradient c.Classifier tape.YN c.Labels).GradY
            expectTaylor 4 (fun i ->
                let dY0 = gaussianMatrix (c.Seed + 10 * i) 1.0 c.Y0.RowCount c.Y0.ColumnCount
                (fun t -> Model.loss model (c.Y0 + t * dY0) c.Labels), inner gY0 dY0))

        property "Taylor test of the softmax loss gradient w.r.t. θ, W, μ and Y_0" smoothActivation (Gen.constant Softmax) taylorTest

        property "Taylor test of the logistic loss gradient w.r.t. θ, W, μ and Y_0" smoothActivation (Gen.constant Logistic) taylorTest

        property "the solves agree with the plain backend" anyActivation hypothesis (fun c ->
            let net, p, y0 = c.Network, c.Parameters, c.Y0
            let dTheta, dY0, w = directions c
            let close name (actual: float[]) (expected: float[]) = expectNormClose Accuracy.roundOff actual expected $"{name} against Plain"
            close "forward" ((Solve.forward net p y0).ToColumnMajorArray()) ((Plain.forward net p y0).ToColumnMajorArray())
            close "sensitivity" ((Solve.sensitivity net p y0 dTheta dY0).ToColumnMajorArray()) ((Plain.sensitivity net p y0 dTheta dY0).ToColumnMajorArray())
            let gTheta, gY0 = Solve.adjoint StoreAll net p y0 w
            let rTheta, rY0 = Plain.adjoint net p y0 w
            close "adjoint" (flatten gTheta [ gY0 ]) (flatten rTheta [ rY0 ]))

        property "Jacobian products: ⟨J δθ, W⟩ = ⟨δθ, Jᵀ W⟩, and both agree with the plain backend" anyActivation hypothesis (fun c ->
            let net, p, y0 = c.Network, c.Parameters, c.Y0
            let dTheta, _, w = directions c
            let jac = Solve.linearise net p y0
            let jv, g = jacobianProducts jac dTheta w net
            let scale = jv.FrobeniusNorm() * w.FrobeniusNorm()
            Expect.floatClose (Accuracy.relativeTo scale Accuracy.dotProduct) (inner jv w) (Parameters.dot dTheta g) "⟨J δθ, W⟩ against ⟨δθ, Jᵀ W⟩"
            let close name (actual: float[]) (expected: float[]) = expectNormClose Accuracy.roundOff actual expected $"{name} against Plain"
            close "Y_N of the linearisation" (jac.YN.ToColumnMajorArray()) ((Plain.forward net p y0).ToColumnMajorArray())
            close "J δθ" (jv.ToColumnMajorArray()) ((Plain.sensitivity net p y0 dTheta (Kernels.zeros y0.RowCount y0.ColumnCount)).ToColumnMajorArray())
            close "Jᵀ W" (flatten g []) (flatten (fst (Plain.adjoint net p y0 w)) []))

        property "Taylor test of the loss gradient through the Jacobian's transposed product" smoothActivation hypothesis jacobianTaylorTest

        property "the Jacobian's input product: ⟨J_Y δY_0, W⟩ = ⟨δY_0, vjpInputInto W⟩, equal to backwardInput" anyActivation hypothesis (fun c ->
            let net, p, y0 = c.Network, c.Parameters, c.Y0
            let _, dY0, w = directions c
            let jv = Solve.sensitivity net p y0 (Parameters.zeros net) dY0
            let jac = Solve.linearise net p y0
            let gY0 = Kernels.zeros y0.RowCount y0.ColumnCount
            Solve.vjpInputInto jac w gY0
            let scale = jv.FrobeniusNorm() * w.FrobeniusNorm()
            Expect.floatClose (Accuracy.relativeTo scale Accuracy.dotProduct) (inner jv w) (inner dY0 gY0) "⟨J_Y δY_0, w⟩ against ⟨δY_0, J_Yᵀ w⟩"
            expectNormClose Accuracy.roundOff (gY0.ToColumnMajorArray()) ((Solve.backwardInput (Solve.record StoreAll net p y0) w).ToColumnMajorArray()) "vjpInputInto against backwardInput")

        property "Taylor test of the loss in Y_0 with the Jacobian's input product as slope" smoothActivation hypothesis (fun c ->
            let jac = Solve.linearise c.Network c.Parameters c.Y0
            let gY0 = Kernels.zeros c.Y0.RowCount c.Y0.ColumnCount
            Solve.vjpInputInto jac (Classifier.lossGradient c.Classifier jac.YN c.Labels).GradY gY0
            expectTaylor 4 (fun i ->
                let dY0 = gaussianMatrix (c.Seed + 10 * i + 7) 1.0 c.Y0.RowCount c.Y0.ColumnCount
                (fun t -> Model.loss c.Model (c.Y0 + t * dY0) c.Labels), inner gY0 dY0))

        property "the Gauss–Newton product from the Jacobian equals the sensitivity and adjoint solves' product" anyActivation hypothesis (fun c ->
            let net, p, y0, cl = c.Network, c.Parameters, c.Y0, c.Classifier
            let v = Parameters.random (c.Seed + 3) 1.0 net
            let z = Classifier.scores cl (Solve.forward net p y0)
            let dY = Solve.sensitivity net p y0 v (Kernels.zeros y0.RowCount y0.ColumnCount)
            let yBar = Kernels.timesTranspose (Classifier.hessianOfScores cl.Hypothesis z c.Labels (Kernels.times dY cl.W)) cl.W
            let expected = fst (Solve.adjoint StoreAll net p y0 yBar)
            let product = Objective.jacobianGaussNewton net p cl y0 c.Labels
            expectNormClose Accuracy.roundOff (flatten (product v) []) (flatten expected []) "G v against J_θᵀ (∇²_Y S) J_θ v by Solve.sensitivity and Solve.adjoint")

        property "all adjoint strategies agree with StoreAll" anyActivation hypothesis (fun c ->
            let _, _, w = directions c
            let gTheta, gY0 = Solve.adjoint StoreAll c.Network c.Parameters c.Y0 w
            let reference = flatten gTheta [ gY0 ]
            for strategy in strategies c.Network do
                let gTheta', gY0' = Solve.adjoint strategy c.Network c.Parameters c.Y0 w
                expectNormClose Accuracy.strategies (flatten gTheta' [ gY0' ]) reference $"%A{strategy} against StoreAll"
            if not (reversible c.Network) then
                Expect.throwsT<System.ArgumentException> (fun () -> Solve.adjoint Reversal c.Network c.Parameters c.Y0 w |> ignore) "reversal of a scheme that is not invertible")

        property "inputs are never mutated and repeated calls are bit-identical" anyActivation hypothesis (fun c ->
            let net, p, y0 = c.Network, c.Parameters, c.Y0
            let dTheta, dY0, w = directions c
            let final = Solve.trajectory net p y0 |> Array.last
            let finalZ = Option.toList final.Z
            let inputs () =
                Array.concat [ flatten p ([ y0; dY0; w; c.Classifier.W; c.Labels; final.Y ] @ finalZ)
                               flatten dTheta []
                               c.Classifier.mu.ToArray() ]
            let state (s: State) = Array.append (s.Y.ToColumnMajorArray()) (s.Z |> Option.map (fun z -> z.ToColumnMajorArray()) |> Option.defaultValue [||])
            let adjoint strategy () =
                let gTheta, gY0 = Solve.adjoint strategy net p y0 w
                flatten gTheta [ gY0 ]
            expectPureCalls inputs [
                yield "Solve.forward", fun () -> (Solve.forward net p y0).ToColumnMajorArray()
                yield "Solve.trajectory", fun () -> Solve.trajectory net p y0 |> Array.collect state
                yield "Solve.sensitivity", fun () -> (Solve.sensitivity net p y0 dTheta dY0).ToColumnMajorArray()
                yield "Solve.adjoint StoreAll", adjoint StoreAll
                for strategy in strategies net -> $"Solve.adjoint %A{strategy}", adjoint strategy
                yield "Model.loss", fun () -> [| Model.loss c.Model y0 c.Labels |]
                yield "Model.gradient", fun () ->
                    let g = Model.gradient StoreAll c.Model y0 c.Labels
                    Array.concat [ [| g.Loss |]; flatten g.GradTheta [ g.YN; g.GradW; g.GradY0 ]; g.GradMu.ToArray() ]
                if reversible net then yield "Solve.reconstruct", fun () -> state (Solve.reconstruct net p final)
                let jac = Solve.linearise net p y0
                yield "Solve.linearise", fun () -> (Solve.linearise net p y0).YN.ToColumnMajorArray()
                yield "Solve.jvpInto and Solve.vjpInto on one Jacobian", fun () ->
                    let jv, g = jacobianProducts jac dTheta w net
                    flatten g [ jv ]
                yield "Solve.vjpInputInto on one Jacobian", fun () ->
                    let gY0 = Kernels.zeros y0.RowCount y0.ColumnCount
                    Solve.vjpInputInto jac w gY0
                    gY0.ToColumnMajorArray() ])

        property "invertible schemes: reconstruct recovers (Y_0, Z_0 = 0) from the final state, as the plain inverse does" anyActivation hypothesis (fun c ->
            if reversible c.Network then
                let net, p = c.Network, c.Parameters
                let states = Solve.trajectory net p c.Y0
                let final = Array.last states
                let back = Solve.reconstruct net p final
                let scale = states |> Array.map (fun s -> s.Y.FrobeniusNorm() + (s.Z |> Option.map (fun z -> z.FrobeniusNorm()) |> Option.defaultValue 0.0)) |> Array.max
                let drift = (back.Y - c.Y0).FrobeniusNorm() + (back.Z |> Option.map (fun z -> z.FrobeniusNorm()) |> Option.defaultValue 0.0)
                Expect.isLessThanOrEqual drift (Accuracy.reconstruction.relative * scale) $"reversal drift {drift:E2} against max_j ‖(Y_j, Z_j)‖ = {scale:E2}"
                let finalZ = match final.Z with Some z -> z | None -> Kernels.zeros c.Y0.RowCount (Network.auxWidth net)
                let plainY, _ = Plain.reconstruct net p final.Y finalZ
                expectNormClose Accuracy.roundOff (back.Y.ToColumnMajorArray()) (plainY.ToColumnMajorArray()) "Solve.reconstruct against Plain.reconstruct")
    ]

/// Every propagator of SPEC §1 on every operator it takes, through the suite.
let tests =
    testList "network conformance" [
        suite "ResNet · Dense" 100 (networkCase ResNet dense)
        suite "ResNet · Conv3x3" 60 (networkCase ResNet convolution)
        suite "ResNet · NegativeSemidefinite(Dense)" 100 (networkCase ResNet (negativeSemidefinite rectangular))
        suite "antisymmetric ResNet · Antisymmetric(Dense, γ)" 100 (networkCase AntisymmetricResNet (antisymmetric dense))
        suite "antisymmetric ResNet · Antisymmetric(Conv3x3, γ)" 60 (networkCase AntisymmetricResNet (antisymmetric convolution))
        suite "leapfrog · Dense" 100 (networkCase Leapfrog dense)
        suite "leapfrog · NegativeSemidefinite(Dense)" 100 (networkCase Leapfrog (negativeSemidefinite rectangular))
        suite "leapfrog · NegativeSemidefinite(Conv3x3)" 60 (networkCase Leapfrog (negativeSemidefinite convolution))
        suite "Verlet · Dense n×m" 100 (networkCase Verlet rectangular)
        suite "Verlet · Conv3x3" 60 (networkCase Verlet convolution)
        suite "verlet4 · Dense n×m" 25 (networkCase Verlet4 rectangular)
        suite "verlet4 · Conv3x3" 10 (networkCase Verlet4 convolution)
        suite "ResNet · Conv3x3 of 5…8 channels, 9…40 examples" 4 (groupedConvolutionCase ResNet)
        suite "Verlet · Conv3x3 of 5…8 channels, 9…40 examples" 4 (groupedConvolutionCase Verlet)
        suite "verlet4 · Conv3x3 of 5…8 channels, 9…40 examples" 3 (groupedConvolutionCase Verlet4)
        suite "random schemes · Dense n×m" 50 (schemeCase rectangular)
        suite "random schemes · Antisymmetric(Dense, γ) and NegativeSemidefinite(Dense)" 25 (schemeCase (Gen.oneof [ antisymmetric dense; negativeSemidefinite rectangular ]))
        suite "random schemes · Conv3x3" 20 (schemeCase convolution)
        suite "random schemes · Dense n×m, 256…1,100 examples in parallel row blocks" 6 (schemeCaseWith largeBatch rectangular)
        suite "ResNet · Dense, 256…1,100 examples in parallel row blocks" 12 (networkCaseWith largeBatch ResNet dense)
        suite "leapfrog · Dense, 256…1,100 examples in parallel row blocks" 12 (networkCaseWith largeBatch Leapfrog dense)
        suite "Verlet · Dense n×m, 256…1,100 examples in parallel row blocks" 12 (networkCaseWith largeBatch Verlet rectangular)
        testCase "the dense constructors build from settings what Network.create builds, and refuse settings that do not fit, naming the field" (fun () ->
            let s = { Network.defaults with width = 3; depth = 5; finalTime = 2.0; activation = Relu }
            let rect = { s with auxWidth = Some 2 }
            Expect.equal (Network.resnet s) (Network.create ResNet Relu (Dense(3, 3)) 5 2.0 false) "ResNet"
            Expect.equal (Network.antisymmetric { s with gamma = 0.1 }) (Network.create AntisymmetricResNet Relu (Antisymmetric(Dense(3, 3), 0.1)) 5 2.0 false) "antisymmetric ResNet"
            Expect.equal (Network.leapfrog { s with tiedBias = true }) (Network.create Leapfrog Relu (Dense(3, 3)) 5 2.0 true) "leapfrog, tied bias"
            Expect.equal (Network.verlet rect) (Network.create Verlet Relu (Dense(3, 2)) 5 2.0 false) "Verlet, m = 2"
            Expect.equal (Network.verlet s) (Network.create Verlet Relu (Dense(3, 3)) 5 2.0 false) "Verlet, m = n"
            Expect.equal (Network.verlet4 rect) (Network.create Verlet4 Relu (Dense(3, 2)) 5 2.0 false) "verlet4"
            Expect.equal (Network.custom Scheme.verlet rect) (Network.create (Custom Scheme.verlet) Relu (Dense(3, 2)) 5 2.0 false) "custom"
            let refused (field: string) (text: string) (make: unit -> Network) =
                let e = Expect.throwsC (make >> ignore) id
                match e with
                | :? System.ArgumentException as a ->
                    Expect.equal a.ParamName field $"the field named by: {a.Message}"
                    Expect.stringContains a.Message text "the message"
                | other -> failtest $"expected an ArgumentException, got {other.GetType().Name}"
            refused "auxWidth" "ResNet is square" (fun () -> Network.resnet rect)
            refused "auxWidth" "leapfrog is square" (fun () -> Network.leapfrog rect)
            refused "gamma" "only the antisymmetric ResNet has γ" (fun () -> Network.verlet { rect with gamma = 0.5 })
            refused "depth" "at least 1" (fun () -> Network.verlet { rect with depth = 0 })
            refused "finalTime" "finite and positive" (fun () -> Network.resnet { s with finalTime = nan }))
    ]
