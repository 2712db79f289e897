// The data term's gradient over a training set of images, the way an iteration of training takes
// it (docs/images.md): by reversal tapes of its own forward pass, and from the final states a
// line-search trial kept; with the trial itself. Each is run `REPEATS` times after a full
// collection and prints its wall time, the bytes it allocated and the peak resident memory. Build
// first (dotnet build src/StableOde.Core -c Release), then
//   dotnet fsi bench/image-gradient.fsx IMAGES LABELS [COUNT DEPTH REPEATS]
// (default 2,000 images of the seeded split, a Verlet network of 4 layers, 3 repeats). For an
// older commit, copy this script and ImageBench.fsx into the bench/ of the folder that
// bench/build-rev.sh built.
#load "ImageBench.fsx"

open StableOde.Core
open ImageBench

let usage = "dotnet fsi bench/image-gradient.fsx IMAGES LABELS [COUNT DEPTH REPEATS]"
let count, depth, repeats = argOr 2 2000, argOr 3 4, argOr 4 3
let case = curvatureCase usage count depth
let y0 = case.Images.Features
let strategy = case.Options.Strategy
let layout = snd (Ranks.arrange Ranks.single (Ranks.locate Ranks.single count) (Array.init count id))
let p = case.Model.Parameters
let x = Objective.parametersToVector p
let reg = case.Options.Propagation.Regulariser
printfn "%d images of width %d, %d Verlet layers, %A, %d parts" count case.Width depth strategy layout.Rows.Length

let repeat (name: string) (f: unit -> 'a) =
    Array.init repeats (fun i -> timed $"{name} ({i + 1})" f) |> Array.last

let loss, gradient = repeat "gradient by its own tapes" (fun () -> Objective.dataGradient Ranks.single layout strategy case.Net p case.Classifier y0 case.Labels)
let _, known = repeat "line-search trial keeping its final state" (fun () -> Objective.propagationTrial Ranks.single layout strategy reg case.Net case.Classifier y0 case.Labels x)
let loss', gradient' = repeat "gradient from the trial's final state" (fun () -> Objective.dataGradientFrom known Ranks.single layout strategy case.Net p case.Classifier y0 case.Labels)
let same = loss = loss' && Objective.parametersToVector gradient = Objective.parametersToVector gradient'
printfn "loss %.17g, |gradient| %.17g; the two gradients %s" loss (sqrt (Parameters.dot gradient gradient)) (if same then "bit-identical" else "DIFFER")
