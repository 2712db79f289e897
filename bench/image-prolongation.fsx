// What prolongation does to a trained image network (docs/images.md, "Levels 4 and 8"): the
// validation accuracy of the first level's last iterate, of its prolongation to twice the depth
// with the classifier kept, with the classifier fitted anew (5 Newton × ≤ 10 PCG from zero), and
// after one block coordinate descent iteration of the finer level with the library's image options,
// and, given REFIT-ITERATIONS, after each of that many iterations from the classifier fitted anew.
// Build first (dotnet build src/StableOde.Core -c Release), then
//   dotnet fsi bench/image-prolongation.fsx IMAGES LABELS CHECKPOINT [TRAIN VALIDATION REFIT-ITERATIONS]
// where CHECKPOINT is a `train --model-out` file of a Verlet run on the seeded split of TRAIN and
// VALIDATION images (default 8,000 and 2,000) with at least one finished level.
#load "ImageBench.fsx"

open StableOde.Core
open ImageBench

let set = imageSet "dotnet fsi bench/image-prolongation.fsx IMAGES LABELS CHECKPOINT [TRAIN VALIDATION REFIT-ITERATIONS]"
let width = channels * set.Height * set.Width
let split = Dataset.splitCounts 1 (argOr 3 8000) (argOr 4 2000) set.Data
let widened = { Training = Dataset.widen width split.Training; Validation = Dataset.widen width split.Validation }
let level = (Checkpoint.read args[2]).Levels.Head
let final = level.Final
let percent (model: Model) (d: Dataset) = 100.0 * Training.accuracy model d
printfn "%d layers, last iterate: validation %.2f %%" level.Depth (percent final widened.Validation)
let fineNet, fineTheta = Training.prolongate final.Network final.Parameters
let fine = { final with Network = fineNet; Parameters = fineTheta }
printfn "%d layers, prolongated, classifier kept: validation %.2f %%, training %.2f %%" fineNet.Depth (percent fine widened.Validation) (percent fine widened.Training)
let options = TrainingOptions.images Verlet channels set.Height set.Width
let refit = { fine with Classifier = Training.refitClassifier options { NewtonIterations = 5; PcgIterations = 10 } fine widened.Training }
printfn "%d layers, prolongated, classifier fitted anew: validation %.2f %%, training %.2f %%" fineNet.Depth (percent refit widened.Validation) (percent refit widened.Training)
let first = Training.train { options with Iterations = 1 } Training.noControl fine widened
let r = first.History.Head
printfn "%d layers, one iteration from the kept classifier: validation %.2f %%, training %.2f %%, %.1f s" fineNet.Depth (100.0 * r.ValidationAccuracy) (100.0 * r.TrainingAccuracy) r.Seconds
let report (p: TrainingProgress) =
    let r = p.Latest
    printfn "%d layers from the classifier fitted anew, iteration %d: validation %.2f %%, training %.2f %%, %.1f s" p.Depth r.Iteration (100.0 * r.ValidationAccuracy) (100.0 * r.TrainingAccuracy) r.Seconds
if argOr 5 0 > 0 then
    Training.train { options with Iterations = argOr 5 0 } { Training.noControl with Progress = Some report } refit widened |> ignore
