/// The machine's double-precision peak, measured: independent chains of fused multiply–adds on
/// the widest accelerated vectors (Vector512, else Vector256), held in registers, so nothing but
/// the floating-point units is timed. What `stableode bench` divides its GFLOP/s by.
module StableOde.Timing.FmaPeak

open System
open System.Diagnostics
open System.Runtime.CompilerServices
open System.Runtime.Intrinsics
open System.Threading

/// The measured peak.
type Peak =
    { /// Doubles in one vector of the probe: 8 (Vector512), 4 (Vector256) or 1 (scalar).
      Lanes: int
      /// The cores the process may run on (`Environment.ProcessorCount`, which honours an
      /// affinity mask such as `taskset -c 0`).
      Cores: int
      /// GFLOP/s of one thread.
      OneCore: float
      /// GFLOP/s of one thread per core, all at once.
      AllCores: float }

/// Independent accumulator chains: enough to cover the latency of a multiply–add on two
/// pipelines (4–5 cycles × 2), and with the multiplier and the addend 14 of the 16 vector
/// registers a machine without AVX-512 has.
[<Literal>]
let Chains = 12

/// Multiply–adds per chain and run: about 10 ms at the peak of a current core.
let private iterations = 1 <<< 22

/// Runs the chains x ← a·x + b (a < 1, so x tends to b/(1 − a) and stays normal) and returns
/// their sum, which keeps the loop from being removed. Under tiered compilation the loop leaves
/// tier 0 by on-stack replacement within its first few thousand of 4 million iterations.
let inline private chains ([<InlineIfLambda>] splat: float -> ^V) ([<InlineIfLambda>] fma: ^V -> ^V -> ^V -> ^V) (count: int) : ^V =
    let a = splat 0.999999
    let b = splat 1e-6
    let mutable x0, x1, x2, x3 = splat 0.10, splat 0.11, splat 0.12, splat 0.13
    let mutable x4, x5, x6, x7 = splat 0.14, splat 0.15, splat 0.16, splat 0.17
    let mutable x8, x9, x10, x11 = splat 0.18, splat 0.19, splat 0.20, splat 0.21
    for _ in 1..count do
        x0 <- fma x0 a b; x1 <- fma x1 a b; x2 <- fma x2 a b; x3 <- fma x3 a b
        x4 <- fma x4 a b; x5 <- fma x5 a b; x6 <- fma x6 a b; x7 <- fma x7 a b
        x8 <- fma x8 a b; x9 <- fma x9 a b; x10 <- fma x10 a b; x11 <- fma x11 a b
    x0 + x1 + x2 + x3 + x4 + x5 + x6 + x7 + x8 + x9 + x10 + x11

[<MethodImpl(MethodImplOptions.NoInlining)>]
let private chains512 (count: int) : float =
    Vector512.Sum(chains Vector512.Create (fun x a b -> Vector512.FusedMultiplyAdd(x, a, b)) count)

[<MethodImpl(MethodImplOptions.NoInlining)>]
let private chains256 (count: int) : float =
    Vector256.Sum(chains Vector256.Create (fun x a b -> Vector256.FusedMultiplyAdd(x, a, b)) count)

[<MethodImpl(MethodImplOptions.NoInlining)>]
let private chains1 (count: int) : float =
    chains id (fun x a b -> Math.FusedMultiplyAdd(x, a, b)) count

/// The widest probe this process runs accelerated, with its lanes.
let private probe () : int * (int -> float) =
    if Vector512.IsHardwareAccelerated then 8, chains512
    elif Vector256.IsHardwareAccelerated then 4, chains256
    else 1, chains1

/// Seconds for `threads` threads to run the probe once each, started together.
let private seconds (threads: int) (run: int -> float) : float =
    use start = new Barrier(threads + 1)
    let workers =
        Array.init threads (fun _ ->
            let worker =
                Thread(
                    ThreadStart(fun () ->
                        start.SignalAndWait()
                        run iterations |> ignore),
                    IsBackground = true)
            worker.Start()
            worker)
    start.SignalAndWait()
    let clock = Stopwatch.StartNew()
    for worker in workers do
        worker.Join()
    clock.Elapsed.TotalSeconds

/// Measures the peak: the best of `trials` runs on one thread, then on one thread per core
/// (about 10 ms each on a current machine).
let measureWith (trials: int) : Peak =
    if trials < 1 then invalidArg (nameof trials) $"trials must be at least 1, got {trials}"
    let lanes, run = probe ()
    let flops threads = float threads * float iterations * float (Chains * lanes * 2)
    let best threads =
        Seq.init trials (fun _ -> seconds threads run) |> Seq.min |> fun s -> flops threads / s / 1e9
    let cores = Environment.ProcessorCount
    { Lanes = lanes; Cores = cores; OneCore = best 1; AllCores = best cores }

/// `measureWith 5`.
let measure () : Peak = measureWith 5

/// A rate in GFLOP/s as a percentage of the peak of all the process's cores.
let percentOf (peak: Peak) (gflops: float) : float = 100.0 * gflops / peak.AllCores
