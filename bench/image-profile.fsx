// Where one block coordinate descent iteration of the image run spends its time and memory
// (docs/images.md, "Profile"): the pieces of `Training.train`'s iteration, timed one by one with the
// library's own options for images, with the bytes each allocates and the process's peak resident
// memory after it. Build first (dotnet build src/StableOde.Core -c Release), then
//   dotnet fsi bench/image-profile.fsx IMAGES LABELS [TRAIN VALIDATION DEPTH SUBSAMPLE PRODUCTS]
// (default 8,000 training and 2,000 validation images of the seeded split, 4 layers, Verlet, the
// Gauss–Newton curvature on the options' 5,000 of them, PCG stopped after 1 product; an
// iteration of training makes up to 20).
#load "ImageBench.fsx"

open StableOde.Core
open ImageBench

let set = imageSet "dotnet fsi bench/image-profile.fsx IMAGES LABELS [TRAIN VALIDATION DEPTH SUBSAMPLE PRODUCTS]"
let trainCount, validationCount, depth = argOr 2 8000, argOr 3 2000, argOr 4 4
let width = channels * set.Height * set.Width
let split = Dataset.splitCounts 1 trainCount validationCount set.Data
let training, validation = Dataset.widen width split.Training, Dataset.widen width split.Validation
let imageOptions = TrainingOptions.images Verlet channels set.Height set.Width
let options = { imageOptions with Propagation = { imageOptions.Propagation with HessianSubsample = argOr 5 imageOptions.Propagation.HessianSubsample } }
let net = Network.create Verlet Tanh (Conv3x3(channels, set.Height, set.Width)) depth 6.0 false
let model = Training.initialModel options net 10
let labels = Classifier.labelMatrix model.Classifier.Hypothesis 10 training.Labels

let yN = timed "forward, training set" (fun () -> Solve.forward net model.Parameters training.Features)
// One process, laid out in the fixed parts training uses (SPEC §11).
let shard = Ranks.locate Ranks.single trainCount
let layout = snd (Ranks.arrange Ranks.single shard (Array.init trainCount id))
let problem = Objective.classification Ranks.single layout options.Classification.Regulariser model.Classifier.Hypothesis yN labels
let newton =
    { MaxIterations = options.Classification.NewtonIterations
      GradientTolerance = 1e-12
      Pcg = { MaxIterations = options.Classification.PcgIterations; RelativeTolerance = options.Classification.PcgTolerance }
      LineSearch = options.LineSearch }
let fit = timed "classifier: 5 Newton × ≤10 PCG" (fun () -> (Optimisers.newtonPcg newton System.Threading.CancellationToken.None (fun x -> problem.Evaluate x, ()) problem.Linearise (Objective.classifierToVector model.Classifier)).Result)
printfn "  %d Newton iterations, %d PCG iterations (%A), objective %.6f" fit.History.Length (fit.History |> List.sumBy (fun i -> i.PcgIterations)) fit.Status (problem.Evaluate fit.Solution)
let classifier = Objective.classifierOfVector model.Classifier.Hypothesis width 10 fit.Solution
let sub = Array.sub (Dataset.permutation 7 trainCount) 0 (min options.Propagation.HessianSubsample trainCount)
let rowsH, layoutH = Ranks.arrange Ranks.single shard sub
let dataH = Dataset.select rowsH training
let labelsH = Classifier.labelMatrix model.Classifier.Hypothesis 10 dataH.Labels
let propagation =
    Objective.propagation (Objective.jacobiansFor net sub.Length Solve.linearise) Ranks.single None options.Strategy options.Propagation.Regulariser options.Propagation.Damping net classifier None layout training.Features labels layoutH dataH.Features labelsH
let x0 = Objective.parametersToVector model.Parameters
let _ = timed "gradient, training set" (fun () -> Objective.dataGradient Ranks.single layout options.Strategy net model.Parameters classifier training.Features labels)
let lin = timed "linearise (gradient + curvature set-up)" (fun () -> propagation.Linearise x0)
let direction = Array.map (fun g -> -g) lin.Gradient
let products = argOr 6 1
let pcg =
    timed $"PCG, {products} Gauss–Newton product(s)" (fun () ->
        Optimisers.pcg { MaxIterations = products; RelativeTolerance = options.Propagation.PcgTolerance } lin.Curvature lin.Preconditioner direction)
let trial = timed "one line-search evaluation" (fun () -> propagation.Evaluate (Array.map2 (fun x d -> x + d) x0 pcg.Solution))
let updated = { model with Parameters = Objective.parametersOfVector net (Array.map2 (fun x d -> x + d) x0 pcg.Solution); Classifier = classifier }
let _ = timed "accuracy, training set" (fun () -> Training.accuracy updated training)
let _ = timed "accuracy, validation set" (fun () -> Training.accuracy updated validation)
printfn "objective after the step %.4f; peak RSS %.0f MB" trial (peakMB ())
