// The cost of a Gauss–Newton product on the curvature subsample cut into the training set's parts
// (SPEC §11: one part per 128 training examples, 62 at 8,000) against the same rows in 2 and in 4
// parts (docs/images.md, "Cheaper iterations"): three products each, at 4 layers (Verlet), with a
// random classifier. Build first (dotnet build src/StableOde.Core -c Release), then
//   dotnet fsi bench/image-curvature-parts.fsx IMAGES LABELS
#load "ImageBench.fsx"

open MathNet.Numerics.LinearAlgebra
open StableOde.Core
open ImageBench

let set = imageSet "dotnet fsi bench/image-curvature-parts.fsx IMAGES LABELS"
let trainCount = 8000
let width = channels * set.Height * set.Width
let training = Dataset.widen width (Dataset.splitCounts 1 trainCount 2000 set.Data).Training
let options = TrainingOptions.images Verlet channels set.Height set.Width
let net = Network.create Verlet Tanh (Conv3x3(channels, set.Height, set.Width)) 4 6.0 false
let model = Training.initialModel options net 10
let classifier = { model.Classifier with W = Matrix<float>.Build.Random(width, 10, 3) * 0.01 }
let shard = Ranks.locate Ranks.single trainCount
let direction = Parameters.random 5 0.1 net
for count in [ 1000; 2000 ] do
    let rows, layout = Ranks.arrange Ranks.single shard (Array.sub (Dataset.permutation 7 trainCount) 0 count)
    let data = Dataset.select rows training
    let labels = Classifier.labelMatrix classifier.Hypothesis 10 data.Labels
    let evenly parts = { Slots = parts; Rows = Array.init parts (fun k -> struct (k * count / parts, (k + 1) * count / parts - k * count / parts)) }
    for name, l in [ "the training set's parts", layout; "2 parts", evenly 2; "4 parts", evenly 4 ] do
        let product = Objective.gaussNewton (Objective.jacobiansFor net count Solve.linearise) Ranks.single l options.Strategy net model.Parameters classifier data.Features labels
        product direction |> ignore
        timed $"{count} rows, {name} ({l.Rows.Length}), 3 products" (fun () -> for _ in 1 .. 3 do product direction |> ignore)
