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

/// The experiment of a data set (its split, options, T, widths: `Experiments` in the core).
let experiment (dataset: string) =
    match Experiments.tryFind dataset with
    | Some e -> e
    | None -> failwith $"unknown data set {dataset}"

/// A network of the given propagator, width and depth with tanh (γ = 0 for the antisymmetric one;
/// the experiment's momentum width for Verlet, as `stableode train`).
let network (e: Experiment) (propagator: string) (width: int) (depth: int) =
    match Network.tryParsePropagator propagator with
    | Some p -> Experiments.network { e with Width = fun _ -> width } p depth
    | None -> failwith $"unknown propagator {propagator}"

/// The paper's width of a propagator's network on a data set (the experiment's).
let paperWidth (dataset: string) (propagator: string) =
    match Network.tryParsePropagator propagator with
    | Some p -> (experiment dataset).Width p
    | None -> failwith $"unknown propagator {propagator}"

/// Trains from `firstDepth` layers to `maxDepth` (doubling) and prints the per-level table.
let run (dataset: string) (propagator: string) (width: int) (firstDepth: int) (maxDepth: int) (iterations: int option) (seed: int) =
    let e = experiment dataset
    let split, defaults, finalTime = e.Data seed, e.Options, e.FinalTime
    let options = { defaults with MaxDepth = maxDepth; Seed = seed; Iterations = defaultArg iterations defaults.Iterations }
    let widened = { Training = Dataset.widen width split.Training; Validation = Dataset.widen width split.Validation }
    let progress (p: TrainingProgress) =
        if p.Latest.Iteration % 10 = 0 then
            eprintfn "  N=%4d it=%3d  objective=%.4e  training=%.4f  validation=%.4f  best=%.4f  %.1fs"
                p.Depth p.Latest.Iteration p.Latest.Objective p.Latest.TrainingAccuracy p.Latest.ValidationAccuracy p.BestValidationAccuracy p.Latest.Seconds
    let result = Training.multilevel options { Training.noControl with Progress = Some progress } (network e propagator width firstDepth) widened
    printfn ""
    printfn "%s, %s, width %d, T = %g (%d iterations a level, seed %d)" dataset propagator width finalTime options.Iterations seed
    printfn "| layers | best validation accuracy | training accuracy at best | best iteration | status | seconds |"
    printfn "|---:|---:|---:|---:|---|---:|"
    for l in result.Levels do
        printfn "| %d | %.2f %% | %.2f %% | %d | %s | %.1f |" l.Depth (100.0 * l.BestValidationAccuracy) (100.0 * l.TrainingAccuracy) l.BestIteration (StatusWord.name l.Status) l.Seconds
    printfn "best validation accuracy %.2f %% at %d layers; %.1f s" (100.0 * result.BestValidationAccuracy) result.Best.Network.Depth result.Seconds
    result
