// The pieces of the image classification step (docs/images.md, sixth session): on random
// features of s examples (8,000 unless given) × 4,704 (6 channels of 28×28) and 10 classes, in
// the parts of one process's layout, with the library's
// image options for the classification step (the Laplacian on W), the wall time of one
// linearisation (value, gradient), of curvature products, of the preconditioner and of an
// evaluation, each after a full collection.
// Build first (dotnet build src/StableOde.Core -c Release), then
//   dotnet fsi bench/image-classification-parts.fsx [s]
#load "ImageBench.fsx"

open System
open StableOde.Core
open ImageBench

let s, n, m = argOr 0 8000, 6 * 28 * 28, 10
let rng = Random 1
let y = Kernels.ofStorage s n (Array.init (s * n) (fun _ -> rng.NextDouble() - 0.5))
let labels = Classifier.labelMatrix Softmax m (Array.init s (fun i -> i % m))
let o = TrainingOptions.images Verlet 6 28 28
let layout = snd (Ranks.arrange Ranks.single (Ranks.locate Ranks.single s) (Array.init s id))
let problem = Objective.classification Ranks.single layout o.Classification.Regulariser Softmax y labels
let x = Array.init (n * m + m) (fun _ -> 0.01 * (rng.NextDouble() - 0.5))
let lin = timed "linearise" (fun () -> problem.Linearise x)
let v = Array.init x.Length (fun _ -> rng.NextDouble())
for _ in 1 .. 3 do timed "curvature product" (fun () -> lin.Curvature v) |> ignore
for _ in 1 .. 3 do timed "preconditioner" (fun () -> lin.Preconditioner v) |> ignore
for _ in 1 .. 2 do timed "evaluate" (fun () -> problem.Evaluate x) |> ignore
