// Shared by train2d.fsx, swissroll.fsx and peaks.fsx: multilevel training (§5.3) of one network on
// one of the paper's two-dimensional data sets with the default block coordinate descent, and the
// per-level table. Build the core first: dotnet build src/StableOde.Core -c Release
#r "nuget: MathNet.Numerics, 5.0.0"
#r "nuget: System.Numerics.Tensors, 10.0.0"
#r "../src/StableOde.Core/bin/Release/net10.0/StableOde.Core.dll"

open System
open StableOde.Core

/// True when the script should finish quickly (for CI): the argument --fast or STABLEODE_FAST=1.
let fast =
    Array.contains "--fast" fsi.CommandLineArgs || Environment.GetEnvironmentVariable "STABLEODE_FAST" = "1"

/// The data set's split, its options (α_θ of §6) and its final time T.
let paper (dataset: string) (seed: int) =
    match dataset with
    | "ellipses" -> Datasets.ellipses seed, TrainingOptions.ellipses, 20.0
    | "swissroll" -> Datasets.swissRoll seed, TrainingOptions.swissRoll, 20.0
    | "peaks" -> Datasets.peaks seed, TrainingOptions.peaks, 5.0
    | other -> failwith $"unknown data set {other}"

/// A network of the given propagator, width and depth with tanh (γ = 0 for the antisymmetric one;
/// a momentum of width 4n for the peaks Verlet network, n otherwise, as `stableode train`).
let network (dataset: string) (propagator: string) (width: int) (depth: int) (finalTime: float) =
    match propagator with
    | "resnet" -> Network.resnet Tanh width depth finalTime
    | "antisymmetric" -> Network.antisymmetric Tanh width 0.0 depth finalTime
    | "verlet" -> Network.verlet Tanh width (if dataset = "peaks" then Datasets.peaksMomentumWidth width else width) depth finalTime
    | other -> failwith $"unknown propagator {other}"

/// Trains from `firstDepth` layers to `maxDepth` (doubling) and prints the per-level table.
let run (dataset: string) (propagator: string) (width: int) (firstDepth: int) (maxDepth: int) (iterations: int option) (seed: int) =
    let split, defaults, finalTime = paper dataset seed
    let options = { defaults with MaxDepth = maxDepth; Seed = seed; Iterations = defaultArg iterations defaults.Iterations }
    let widened = { Training = Dataset.widen width split.Training; Validation = Dataset.widen width split.Validation }
    let progress (p: TrainingProgress) =
        if p.Latest.Iteration % 10 = 0 then
            eprintfn "  N=%4d it=%3d  objective=%.4e  training=%.4f  validation=%.4f  best=%.4f  %.1fs"
                p.Depth p.Latest.Iteration p.Latest.Objective p.Latest.TrainingAccuracy p.Latest.ValidationAccuracy p.BestValidationAccuracy p.Latest.Seconds
    let result = Training.multilevel options { Training.noControl with Progress = Some progress } (network dataset propagator width firstDepth finalTime) widened
    printfn ""
    printfn "%s, %s, width %d, T = %g (%d iterations a level, seed %d)" dataset propagator width finalTime options.Iterations seed
    printfn "| layers | best validation accuracy | training accuracy at best | best iteration | status | seconds |"
    printfn "|---:|---:|---:|---:|---|---:|"
    for l in result.Levels do
        printfn "| %d | %.2f %% | %.2f %% | %d | %A | %.1f |" l.Depth (100.0 * l.BestValidationAccuracy) (100.0 * l.TrainingAccuracy) l.BestIteration l.Status l.Seconds
    printfn "best validation accuracy %.2f %% at %d layers; %.1f s" (100.0 * result.BestValidationAccuracy) result.Best.Network.Depth result.Seconds
    result
