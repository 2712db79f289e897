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

/// The curvature benchmarks' case (bench/gauss-newton-step.fsx, bench/gauss-newton-products.fsx):
/// `count` images of the seeded split of the first two arguments widened to `channels`, a Verlet
/// network of `depth` layers (T = 6) at the image defaults' initial model, the images' label
/// matrix and a random classifier of 10 classes (seed 2, entries of 0.01 standard deviation).
type CurvatureCase =
    { Width: int
      Images: Dataset
      Net: Network
      Options: TrainingOptions
      Model: Model
      Labels: MathNet.Numerics.LinearAlgebra.Matrix<float>
      Classifier: Classifier }

/// The curvature case of `count` images and `depth` layers (see `CurvatureCase`).
let curvatureCase (usage: string) (count: int) (depth: int) =
    let set = imageSet usage
    let width = channels * set.Height * set.Width
    let images = Dataset.widen width (Dataset.splitCounts 1 count 1 set.Data).Training
    let net = Network.create Verlet Tanh (Conv3x3(channels, set.Height, set.Width)) depth 6.0 false
    let options = TrainingOptions.images Verlet channels set.Height set.Width
    let model = Training.initialModel options net 10
    { Width = width
      Images = images
      Net = net
      Options = options
      Model = model
      Labels = Classifier.labelMatrix model.Classifier.Hypothesis 10 images.Labels
      Classifier =
        Objective.classifierOfVector model.Classifier.Hypothesis width 10
            (Parameters.gaussians (Random 2) (width * 10 + 10) |> Array.map (fun g -> 0.01 * g)) }
