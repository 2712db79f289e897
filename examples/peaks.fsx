// Peaks (§6.3) as in the paper: the Verlet network of width 2 (momentum 8), and the ResNet and antisymmetric
// ResNet of width 8 (the input features duplicated), T = 5, softmax over five classes,
// α_θ = 5e-6, 4 … 1024 layers. Build the core first:
//   dotnet build src/StableOde.Core -c Release
//   dotnet fsi examples/peaks.fsx          (the paper's schedule, many minutes)
//   dotnet fsi examples/peaks.fsx --fast   (5 iterations a level, 4 … 16 layers; STABLEODE_FAST=1 too)
#load "multilevel.fsx"

open Multilevel

let maxDepth, iterations = if fast then 16, Some 5 else 1024, None

for propagator in [ "verlet"; "resnet"; "antisymmetric" ] do
    run "peaks" propagator (paperWidth "peaks" propagator) 4 maxDepth iterations 1 |> ignore
