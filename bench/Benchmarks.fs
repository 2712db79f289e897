/// BenchmarkDotNet classes: the cases S1–S3 of docs/performance.md end to end, and the kernels
/// alone (the vectorised tanh, one fused dense layer step).
module StableOde.Bench.Benchmarks

open System
open BenchmarkDotNet.Attributes
open MathNet.Numerics.LinearAlgebra
open StableOde.Core
open StableOde.Core.Kernels
open StableOde.Timing

/// A case's model, input and labels, built once per benchmark.
type Prepared =
    { Options: Bench.Options
      Model: Model
      Y0: Matrix<float>
      Labels: Matrix<float> }

let prepare (o: Bench.Options) =
    let model, y0, labels = Bench.instance o
    { Options = o; Model = model; Y0 = y0; Labels = labels }

/// The named cases: S1 and S2 (dense) and S3 (convolution), for ResNet and Verlet.
let case (name: string) (propagator: Propagator) : Bench.Options =
    let d = { Bench.Options.defaults with Propagator = propagator }
    match name with
    | "S1" -> d
    | "S2" -> { d with Width = 8; Samples = 4000; FinalTime = 5.0 }
    | "S3" -> { d with Samples = 5000; Layers = 16; FinalTime = 6.0; Conv = Some(6, 28, 28) }
    | _ -> invalidArg (nameof name) $"unknown case {name}"

/// The dense cases end to end: forward pass and `Model.gradient`.
[<MemoryDiagnoser>]
type Cases() =
    let mutable prepared = Unchecked.defaultof<Prepared>

    [<Params("S1", "S2")>]
    member val Case = "S1" with get, set

    [<Params("ResNet", "Verlet")>]
    member val Propagator = "ResNet" with get, set

    [<GlobalSetup>]
    member this.Setup() =
        let p = if this.Propagator = "Verlet" then Verlet else ResNet
        prepared <- prepare (case this.Case p)

    [<Benchmark>]
    member _.Forward() = Solve.forward prepared.Model.Network prepared.Model.Parameters prepared.Y0

    [<Benchmark>]
    member _.Gradient() =
        Model.gradient (Bench.strategy prepared.Options) prepared.Model prepared.Y0 prepared.Labels

/// The convolution case S3 (seconds a run: few iterations).
[<MemoryDiagnoser; SimpleJob(launchCount = 1, warmupCount = 1, iterationCount = 3)>]
type ConvCase() =
    let mutable prepared = Unchecked.defaultof<Prepared>

    [<Params("ResNet", "Verlet")>]
    member val Propagator = "ResNet" with get, set

    [<GlobalSetup>]
    member this.Setup() =
        let p = if this.Propagator = "Verlet" then Verlet else ResNet
        prepared <- prepare (case "S3" p)

    [<Benchmark>]
    member _.Forward() = Solve.forward prepared.Model.Network prepared.Model.Parameters prepared.Y0

    [<Benchmark>]
    member _.Gradient() =
        Model.gradient (Bench.strategy prepared.Options) prepared.Model prepared.Y0 prepared.Labels

/// The vectorised tanh (with σ') on 4,096 entries, against Math.Tanh.
[<MemoryDiagnoser>]
type TanhKernel() =
    let count = 4096
    let a = Array.init count (fun i -> 8.0 * float i / float count - 4.0)
    let u = Array.zeroCreate count
    let d = Array.zeroCreate count

    [<Benchmark>]
    member _.TanhInto() = tanhInto count a u d

    [<Benchmark(Baseline = true)>]
    member _.MathTanh() =
        for i in 0 .. count - 1 do
            u[i] <- Math.Tanh a[i]

/// One layer of the fast path on a block of 1,000 examples: forward, sensitivity and adjoint.
[<MemoryDiagnoser>]
type LayerKernel() =
    let mutable prepared = Unchecked.defaultof<Prepared>
    let mutable tape = Unchecked.defaultof<Tape>

    [<Params(2, 8)>]
    member val Width = 2 with get, set

    [<Params("ResNet", "Verlet")>]
    member val Propagator = "ResNet" with get, set

    [<GlobalSetup>]
    member this.Setup() =
        let p = if this.Propagator = "Verlet" then Verlet else ResNet
        let o = { case "S1" p with Width = this.Width; Layers = 1 }
        prepared <- prepare o
        tape <- Solve.record (Bench.strategy o) prepared.Model.Network prepared.Model.Parameters prepared.Y0

    [<Benchmark>]
    member _.Step() = Solve.forward prepared.Model.Network prepared.Model.Parameters prepared.Y0

    [<Benchmark>]
    member _.Adjoint() = Solve.backward tape prepared.Y0
