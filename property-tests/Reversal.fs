/// The paper's claim that the Hamiltonian networks are exactly invertible (§4, SPEC §2): Verlet
/// and leapfrog run backwards from their final state recover the input, so the reversal adjoint
/// needs memory independent of depth; its drift is measured here over 1,024 steps.
module StableOde.PropertyTests.Reversal

open System
open Expecto
open FsCheck
open FsCheck.FSharp
open StableOde.Core
open StableOde.PropertyTests.Checks
open StableOde.PropertyTests.Generators

/// The number of steps the reversal runs.
[<Literal>]
let Steps = 1024

/// Stable deep Hamiltonian networks: Verlet and verlet4 on a dense n×m operator and leapfrog on −B Bᵀ
/// (Eq. 4.14), tanh or identity, 1,024 layers, T = 5…20 (h ≈ 0.005…0.02), θ ~ N(0, ¼).
let cases =
    let verlet = networkCase Verlet rectangular
    let leapfrog = networkCase Leapfrog (negativeSemidefinite rectangular)
    let verlet4 = networkCase Verlet4 rectangular
    gen {
        let! make = Gen.elements [ verlet; leapfrog; verlet4 ]
        let! c = make smoothActivation hypothesis
        let! finalTime = Gen.elements [ 5.0; 10.0; 20.0 ]
        let net = { c.Network with Depth = Steps; FinalTime = finalTime }
        return
            { c with
                Network = net
                Parameters = Parameters.random (c.Seed + 100) 0.5 net
                Description = $"{c.Description}, redrawn at depth {Steps}, T {finalTime}, scale 0.5" }
    }

let private property title (check: NetworkCase -> unit) =
    testPropertyWithConfig (config 40) title (Prop.forAll (Arb.fromGen cases) check)

/// Reconstruction and the reversal adjoint over 1,024 steps.
let tests =
    testList "reversal (Verlet, leapfrog, verlet4)" [
        property "reconstruct from the final state recovers Y_0 and Z_{-1/2} = 0 after 1,024 steps" (fun c ->
            let states = Solve.trajectory c.Network c.Parameters c.Y0
            let back = Solve.reconstruct c.Network c.Parameters (Array.last states)
            expectNormClose Accuracy.reconstruction (back.Y.ToColumnMajorArray()) (c.Y0.ToColumnMajorArray()) "reconstructed Y_0"
            let zScale = states |> Array.map (fun s -> s.Z.Value.FrobeniusNorm()) |> Array.max
            let z = back.Z.Value.ToColumnMajorArray()
            expectNormClose (Accuracy.relativeTo zScale Accuracy.reconstruction) z (Array.zeroCreate z.Length) "reconstructed Z_{-1/2}, relative to max_j ‖Z_j‖")

        property "the reversal adjoint agrees with StoreAll after 1,024 steps" (fun c ->
            let w = gaussianMatrix c.Seed 1.0 c.Y0.RowCount c.Y0.ColumnCount
            let gTheta, gY0 = Solve.adjoint StoreAll c.Network c.Parameters c.Y0 w
            let gTheta', gY0' = Solve.adjoint Reversal c.Network c.Parameters c.Y0 w
            expectNormClose Accuracy.reconstruction (flatten gTheta' [ gY0' ]) (flatten gTheta [ gY0 ]) "Reversal against StoreAll")

        testCase "besides the gradient it returns, the reversal adjoint allocates nothing that grows with depth" (fun () ->
            // 100 examples make one block, which runs on the calling thread: its allocations are
            // the thread's. The least of three runs leaves out the compiler's own.
            let beyondGradient depth =
                let net = Network.verlet { Network.defaults with width = 4; auxWidth = Some 3; depth = depth; finalTime = 5.0 }
                let p = Parameters.random 1 0.5 net
                let y0 = gaussianMatrix 2 1.0 100 4
                let yBar = gaussianMatrix 3 1.0 100 4
                let bytes (f: unit -> obj) =
                    let before = GC.GetAllocatedBytesForCurrentThread()
                    GC.KeepAlive(f ())
                    GC.GetAllocatedBytesForCurrentThread() - before
                List.min [ for _ in 1..3 -> bytes (fun () -> box (Solve.adjoint Reversal net p y0 yBar)) - bytes (fun () -> box (Parameters.zeros net)) ]
            let shallow, deep = beyondGradient 64, beyondGradient 2048
            // What remains per layer is the solve's bookkeeping of its segments of 64 layers.
            Expect.isLessThanOrEqual (deep - shallow) (8L * int64 (2048 - 64)) $"bytes beyond the gradient: {shallow} at depth 64, {deep} at depth 2,048")
    ]
