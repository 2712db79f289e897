// The vectorised tanh and σ' = 1 − tanh² of `Kernels.tanhInto` against tanh in 120-bit
// arithmetic (mpmath), on both vector widths, and their time on 4,096 arguments in L1.
// Arguments: 20,000 points spread evenly in log10 |x| over 0.001 … 10 with random signs (seed 1).
// Build first (dotnet build src/StableOde.Core -c Release), then
//   dotnet fsi bench/tanh-accuracy.fsx | /usr/bin/python3 bench/tanh-accuracy.py
// The script prints, for each width, the lines "x t d" (round-trip decimal) that the Python side
// compares with mpmath, and the time of tanhInto with and without σ'.
#load "ImageBench.fsx"

open System
open System.Diagnostics
open System.Reflection
open StableOde.Core

/// `Kernels.useVector512`, which is internal: the tests' switch to the Vector256 kernels.
let widthSwitch =
    typeof<Kernels.Vec512>.DeclaringType.GetProperty("useVector512", BindingFlags.Static ||| BindingFlags.NonPublic ||| BindingFlags.Public)

let count = 20000
let rng = Random 1
let xs = Array.init count (fun i -> (if rng.Next 2 = 0 then -1.0 else 1.0) * 10.0 ** (-3.0 + 4.0 * float i / float (count - 1)))

/// The median of nine timings of tanhInto over 4,096 arguments in L1, in µs (after a warm-up).
let time (withDerivative: bool) =
    let a = Array.init 4096 (fun i -> xs[i * 4])
    let u, d = Array.zeroCreate 4096, (if withDerivative then Array.zeroCreate 4096 else null)
    for _ in 1 .. 2000 do Kernels.tanhInto 4096 a u d
    let runs =
        [| for _ in 1 .. 9 ->
               let clock = Stopwatch.StartNew()
               for _ in 1 .. 1000 do Kernels.tanhInto 4096 a u d
               clock.Elapsed.TotalMilliseconds |]
    Array.sortInPlace runs
    runs[4]

for wide in (if Runtime.Intrinsics.Vector512.IsHardwareAccelerated then [ true; false ] else [ false ]) do
    widthSwitch.SetValue(null, wide)
    let width = if wide then "Vector512" else "Vector256"
    let t, d = Array.zeroCreate count, Array.zeroCreate count
    Kernels.tanhInto count xs t d
    printfn "width %s tanh %.3f µs, with σ' %.3f µs" width (time false) (time true)
    for i in 0 .. count - 1 do
        printfn "%s %s %s" (xs[i].ToString "R") (t[i].ToString "R") (d[i].ToString "R")
