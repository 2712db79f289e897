/// Timing of the solves on the cases of docs/performance.md: the forward pass, or the gradient
/// of a softmax loss with respect to every K_j, b_j (c_j) and Y_0 (`Model.gradient`: forward
/// pass, classifier gradient, adjoint solve), on seeded random data and parameters.
module StableOde.Timing.Bench

open System
open System.Diagnostics
open System.IO
open MathNet.Numerics.LinearAlgebra
open StableOde.Core
open StableOde.Core.Kernels

/// What is timed.
type Mode =
    /// Y_N = forward(θ, Y_0).
    | Forward
    /// `Model.gradient`: loss, ∂S/∂θ, ∂S/∂W, ∂S/∂μ and ∂S/∂Y_0.
    | Gradient

/// One benchmark case.
type Options =
    { Propagator: Propagator
      /// n, the feature width of a dense network (Verlet: m = n too); ignored for a convolution.
      Width: int
      /// s, the batch size.
      Samples: int
      /// N, the number of layers.
      Layers: int
      /// T; h = T / N.
      FinalTime: float
      /// Some(channels, height, width) for 3×3 convolution layers, None for dense layers.
      Conv: (int * int * int) option
      Mode: Mode
      /// Timed runs (k ≥ 1); the result reports their median, minimum and maximum.
      Repeat: int
      /// The adjoint strategy of `Gradient`; None picks Reversal for leapfrog and Verlet (memory
      /// independent of N) and StoreAll for the ResNets.
      Strategy: AdjointStrategy option }

    /// S1 of docs/performance.md for ResNet in forward mode: n = 2, s = 1000, N = 1024, T = 20.
    static member defaults =
        { Propagator = ResNet; Width = 2; Samples = 1000; Layers = 1024; FinalTime = 20.0; Conv = None
          Mode = Forward; Repeat = 10; Strategy = None }

/// Wall-clock times of the timed runs, their rate and the memory they needed.
type BenchResult =
    { MedianMs: float
      MinMs: float
      MaxMs: float
      /// Matrix-product flops of the computation (see `flops`) over the median time.
      Gflops: float
      /// Peak resident memory of the process during one run minus its resident memory just
      /// before it (after a compacting collection): what the run itself needed, in MiB.
      PeakMB: float
      /// The managed size of the parameter gradient ∂S/∂θ a `Gradient` run returns (one MathNet
      /// matrix and one or two vectors per layer), in MiB; 0 for `Forward`. It is part of
      /// `PeakMB` and grows with N by nature, like θ itself; `PeakMB − GradientMB` is the
      /// memory of the solve that an adjoint strategy controls.
      GradientMB: float
      /// The managed bytes the timed runs allocated on every thread, per run, in MiB
      /// (`GC.GetTotalAllocatedBytes`).
      AllocatedMB: float }

/// The network of a case: dense n×n (Verlet n×n too) or a c-channel 3×3 convolution, tanh,
/// one bias entry per feature (per channel for a convolution).
let network (o: Options) : Network =
    let op =
        match o.Conv with
        | Some(c, h, w) -> Conv3x3(c, h, w)
        | None -> Dense(o.Width, o.Width)
    let op = if o.Propagator = AntisymmetricResNet then Antisymmetric(op, 0.0) else op
    Network.create o.Propagator Tanh op o.Layers o.FinalTime false

/// Classes of the softmax classifier: 10 for a convolution (MNIST-like), else 2.
let classes (o: Options) = if o.Conv.IsSome then 10 else 2

/// The model, input Y_0 (s×n, standard normal) and one-hot labels of a case, from fixed seeds:
/// θ ~ N(0, 1/fan-in) entry-wise, W ~ N(0, 1/n), μ = 0, labels uniform over the classes.
let instance (o: Options) : Model * Matrix<float> * Matrix<float> =
    let net = network o
    let rng = Random 1
    let n = Network.width net
    let fanIn =
        match o.Conv with
        | Some(c, _, _) -> 9 * c
        | None -> o.Width
    let p = Parameters.random 2 (1.0 / sqrt (float fanIn)) net
    let y0 = ofStorage o.Samples n (Parameters.gaussians rng (o.Samples * n))
    let m = classes o
    let classifier =
        { Hypothesis = Softmax
          W = ofStorage n m (Array.map (fun g -> g / sqrt (float n)) (Parameters.gaussians rng (n * m)))
          mu = vzeros m }
    let labels = Classifier.labelMatrix Softmax m (Array.init o.Samples (fun _ -> rng.Next m))
    { Network = net; Parameters = p; Classifier = classifier }, y0, labels

/// The adjoint strategy a case uses.
let strategy (o: Options) =
    match o.Strategy with
    | Some s -> s
    | None ->
        if Scheme.isInvertible (Scheme.ofPropagator o.Propagator) then Reversal else StoreAll

/// The flops of the matrix products a case needs, 2 per multiply–add, counting each product
/// once: per layer P products Y K (P = the scheme's kicks: 1 for the ResNets and leapfrog, 2 for Verlet) in the
/// forward pass, and in the gradient 3P (forward, V Kᵀ and the parameter gradient), as a solver
/// that stores every pre-activation would do; recomputation by checkpoints or reversal,
/// activations, biases, updates and the classifier are not counted. A product costs 2·s·n·m
/// for a dense n×m K, and 2·s·c²·(3H − 2)(3W − 2) for the convolution (only the taps inside the
/// image; the antisymmetric operator is one product too: the fused kernels multiply by its
/// effective weights ½(K − Kᵀ − γI)).
let flops (o: Options) : float =
    let net = network o
    let perProduct =
        match o.Conv with
        | Some(c, h, w) -> 2.0 * float o.Samples * float (c * c) * float (3 * h - 2) * float (3 * w - 2)
        | None -> 2.0 * float o.Samples * float (Operator.inWidth net.Operator) * float (Operator.outWidth net.Operator)
    let products = (Scheme.ofPropagator o.Propagator).Stages |> List.filter (fun s -> s.Kind = Kick) |> List.length |> float
    let passes = if o.Mode = Gradient then 3.0 else 1.0
    float o.Layers * products * passes * perProduct

let private residentKiB (field: string) =
    File.ReadLines "/proc/self/status"
    |> Seq.tryFind (fun l -> l.StartsWith(field + ":", StringComparison.Ordinal))
    |> Option.map (fun l -> float (l.Substring(field.Length + 1).Trim().Split(' ')[0]))

/// Runs f once and returns its peak resident memory above the level before it, in MiB: a
/// compacting collection, then the kernel's peak counter (VmHWM) is reset through
/// /proc/self/clear_refs. Linux only; NaN elsewhere.
let private peakMiB (f: unit -> unit) =
    GC.Collect(2, GCCollectionMode.Aggressive, true, true)
    GC.WaitForPendingFinalizers()
    let reset =
        try
            File.WriteAllText("/proc/self/clear_refs", "5")
            true
        with _ -> false
    match reset, residentKiB "VmRSS" with
    | true, Some before ->
        f ()
        match residentKiB "VmHWM" with
        | Some peak -> (peak - before) / 1024.0
        | None -> nan
    | _ ->
        f ()
        nan

/// The bytes the parameter gradient of a case occupies, in MiB: measured by allocating it the
/// way the adjoint solve does (`Parameters.zeros`) and counting the bytes the allocator handed out.
let private gradientMiB (o: Options) (net: Network) =
    match o.Mode with
    | Forward -> 0.0
    | Gradient ->
        let before = GC.GetAllocatedBytesForCurrentThread()
        let gradient = Parameters.zeros net
        let bytes = GC.GetAllocatedBytesForCurrentThread() - before
        GC.KeepAlive gradient
        float bytes / 1048576.0

/// Times a case: warm-up runs first (at least one, and more until one second has passed, at
/// most 20), one run for the peak memory, then `Repeat` timed runs.
let run (o: Options) : BenchResult =
    if o.Repeat < 1 then invalidArg "repeat" $"repeat must be at least 1, got {o.Repeat}"
    if o.Samples < 1 then invalidArg "samples" $"samples must be at least 1, got {o.Samples}"
    let model, y0, labels = instance o
    let net, p = model.Network, model.Parameters
    let strategy = strategy o
    let once () =
        match o.Mode with
        | Forward -> Solve.forward net p y0 |> ignore
        | Gradient -> Model.gradient strategy model y0 labels |> ignore
    let warm = Stopwatch.StartNew()
    let mutable warmups = 0
    while warmups = 0 || (warm.Elapsed.TotalSeconds < 1.0 && warmups < 20) do
        once ()
        warmups <- warmups + 1
    let peak = peakMiB once
    let allocated = GC.GetTotalAllocatedBytes true
    let times =
        Array.init o.Repeat (fun _ ->
            let t = Stopwatch.StartNew()
            once ()
            t.Elapsed.TotalMilliseconds)
    let allocatedMiB = float (GC.GetTotalAllocatedBytes true - allocated) / float o.Repeat / 1048576.0
    let times = Array.sort times
    let median =
        if times.Length % 2 = 1 then times[times.Length / 2]
        else 0.5 * (times[times.Length / 2 - 1] + times[times.Length / 2])
    { MedianMs = median
      MinMs = times[0]
      MaxMs = times[times.Length - 1]
      Gflops = flops o / (median * 1e6)
      PeakMB = peak
      GradientMB = gradientMiB o net
      AllocatedMB = allocatedMiB }
