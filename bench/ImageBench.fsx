// What the image benchmarks share (bench/image-profile.fsx, bench/gauss-newton-step.fsx): the
// library, their arguments, the IDX images and a timer that prints the wall time, the bytes
// allocated and the peak resident memory of one piece of work, each after a full collection.
#r "nuget: MathNet.Numerics, 5.0.0"
#r "nuget: System.Numerics.Tensors, 10.0.0"
#r "../src/StableOde.Core/bin/Release/net10.0/StableOde.Core.dll"

open System
open System.Diagnostics
open StableOde.Core

/// The channels every image is repeated into (the library's default for images).
let channels = 6

/// The script's arguments: IMAGES LABELS, then numbers.
let args = fsi.CommandLineArgs |> Array.skip 1

/// Argument i as a number, or d when it is not given.
let argOr i d = if args.Length > i then int args[i] else d

/// The IDX image set of the first two arguments (failing with the usage line without them).
let imageSet (usage: string) =
    if args.Length < 2 then failwith $"usage: {usage}"
    Idx.imageSet args[0] args[1]

/// The peak resident memory of the process so far, in MB.
let peakMB () = float (Process.GetCurrentProcess().PeakWorkingSet64) / 1e6

/// Runs f after a full collection and prints its wall time, the bytes it allocated and the peak
/// resident memory after it.
let timed (name: string) (f: unit -> 'a) : 'a =
    GC.Collect()
    let allocated = GC.GetTotalAllocatedBytes true
    let clock = Stopwatch.StartNew()
    let r = f ()
    let seconds = clock.Elapsed.TotalSeconds
    printfn "%-44s %8.2f s %9.1f MB allocated, peak RSS %6.0f MB" name seconds (float (GC.GetTotalAllocatedBytes true - allocated) / 1e6) (peakMB ())
    r
