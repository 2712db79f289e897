// Validation accuracy against wall time for variants of the image options (docs/images.md,
// "Cheaper iterations"): block coordinate descent at one depth on the seeded split, with the
// curvature subsample, the propagation PCG cap and tolerance, the classification step's Newton and
// PCG iterations and the batch given, every iteration's accuracies and seconds printed as it ends.
// Build first (dotnet build src/StableOde.Core -c Release), then
//   dotnet fsi bench/image-configurations.fsx IMAGES LABELS TRAIN VALIDATION DEPTH ITERATIONS
//     SUBSAMPLE PCG PCG-TOLERANCE NEWTON CLASSIFICATION-PCG [BATCH [LATER-NEWTON [REFIT]]]
// (Verlet, the library's image options for everything not given; STABLEODE_PROFILE=1 adds the
// profile of every phase on standard error).
#load "ImageBench.fsx"

open System
open StableOde.Core
open ImageBench

let set = imageSet "dotnet fsi bench/image-configurations.fsx IMAGES LABELS TRAIN VALIDATION DEPTH ITERATIONS SUBSAMPLE PCG PCG-TOLERANCE NEWTON CLASSIFICATION-PCG [BATCH [LATER-NEWTON [REFIT]]]"
let trainCount, validationCount, depth, iterations = argOr 2 8000, argOr 3 2000, argOr 4 4, argOr 5 3
let width = channels * set.Height * set.Width
let split = Dataset.splitCounts 1 trainCount validationCount set.Data
let widened = { Training = Dataset.widen width split.Training; Validation = Dataset.widen width split.Validation }
let o = TrainingOptions.images Verlet channels set.Height set.Width
let tolerance = if args.Length > 8 then float args[8] else o.Propagation.PcgTolerance
let options =
    { o with
        Iterations = iterations
        BatchSize = argOr 11 o.BatchSize
        Classification =
            { o.Classification with
                NewtonIterations = argOr 9 o.Classification.NewtonIterations
                LaterNewtonIterations = (if args.Length > 12 then Some(int args[12]) else o.Classification.LaterNewtonIterations)
                PcgIterations = argOr 10 o.Classification.PcgIterations }
        Propagation = { o.Propagation with HessianSubsample = argOr 6 o.Propagation.HessianSubsample; PcgIterations = argOr 7 o.Propagation.PcgIterations; PcgTolerance = tolerance } }
printfn "train %d validation %d depth %d: subsample %d, PCG ≤ %d to %g, classification %d × ≤ %d, batch %d"
    trainCount validationCount depth options.Propagation.HessianSubsample options.Propagation.PcgIterations tolerance
    options.Classification.NewtonIterations options.Classification.PcgIterations (min options.BatchSize trainCount)
let net = Network.create Verlet Tanh (Conv3x3(channels, set.Height, set.Width)) depth 6.0 false
let report (p: TrainingProgress) =
    let r = p.Latest
    printfn "iteration %2d  %7.1f s  validation %6.2f %%  training %6.2f %%  PCG %2d + %2d  step %.3g  λ %.3g"
        r.Iteration r.Seconds (100.0 * r.ValidationAccuracy) (100.0 * r.TrainingAccuracy) r.ClassificationPcgIterations r.PropagationPcgIterations r.StepLength r.Damping
let profile = if isNull (Environment.GetEnvironmentVariable "STABLEODE_PROFILE") then None else Some(fun (line: string) -> eprintfn "%s" line)
let control = { Training.noControl with Progress = Some report; Profile = profile }
let level = Training.train options control (Training.initialModel options net 10) widened
printfn "best %.2f %% at iteration %d, %.1f s, peak RSS %.0f MB" (100.0 * level.BestValidationAccuracy) level.BestIteration level.Seconds (peakMB ())
