// Multilevel training on the paper's two-dimensional examples (§6.1–6.3) with the default
// block coordinate descent. Build the core first:
//   dotnet build src/StableOde.Core -c Release
// then, from the repository root:
//   dotnet fsi examples/train2d.fsx <ellipses|swissroll|peaks> <resnet|antisymmetric|verlet> <width> <maxDepth> [iterations] [seed]
#r "nuget: MathNet.Numerics, 5.0.0"
#r "nuget: System.Numerics.Tensors, 10.0.0"
#r "../src/StableOde.Core/bin/Release/net10.0/StableOde.Core.dll"

open StableOde.Core

let args = fsi.CommandLineArgs |> Array.skip 1
let arg i fallback = if args.Length > i then args[i] else fallback
let dataset = arg 0 "ellipses"
let propagator = arg 1 "verlet"
let width = int (arg 2 "2")
let maxDepth = int (arg 3 "64")
let seed = int (arg 5 "1")

let split, options, finalTime =
    match dataset with
    | "ellipses" -> Datasets.ellipses seed, TrainingOptions.ellipses, 20.0
    | "swissroll" -> Datasets.swissRoll seed, TrainingOptions.swissRoll, 20.0
    | "peaks" -> Datasets.peaks seed, TrainingOptions.peaks, 5.0
    | other -> failwith $"unknown data set {other}"

let options' =
    { options with
        MaxDepth = maxDepth
        Seed = seed
        Iterations = (if args.Length > 4 then int args[4] else options.Iterations) }

let widened = { Training = Dataset.widen width split.Training; Validation = Dataset.widen width split.Validation }

let net =
    match propagator with
    | "resnet" -> Network.resnet Tanh width 4 finalTime
    | "antisymmetric" -> Network.antisymmetric Tanh width 0.0 4 finalTime
    | "verlet" -> Network.verlet Tanh width width 4 finalTime
    | other -> failwith $"unknown propagator {other}"

let progress (p: TrainingProgress) =
    let r = p.Latest
    if r.Iteration % 10 = 0 then
        eprintfn "  N=%4d it=%3d  obj=%.4e  train=%.4f  val=%.4f  best=%.4f  pcg=%d+%d  step=%.3g  %.1fs"
            p.Depth r.Iteration r.Objective r.TrainingAccuracy r.ValidationAccuracy p.BestValidationAccuracy
            r.ClassificationPcgIterations r.PropagationPcgIterations r.StepLength r.Seconds

let control = { Training.noControl with Progress = Some progress }
let result = Training.multilevel options' control net widened

printfn "%s %s width %d (iterations/level %d, seed %d)" dataset propagator width options'.Iterations seed
printfn "| layers | best validation accuracy | training accuracy at best | best iteration | status | seconds |"
printfn "|---:|---:|---:|---:|---|---:|"
for l in result.Levels do
    printfn "| %d | %.2f %% | %.2f %% | %d | %A | %.1f |" l.Depth (100.0 * l.BestValidationAccuracy) (100.0 * l.TrainingAccuracy) l.BestIteration l.Status l.Seconds
printfn "best validation accuracy %.2f %% at %d layers; total %.1f s" (100.0 * result.BestValidationAccuracy) result.Best.Network.Depth result.Seconds
