// The swiss roll (§6.2) as in the paper: the Verlet network of width 2 and the ResNet of width 4
// (the input features duplicated), T = 20, α_θ = 5e-3, 4 … 1024 layers. Build the core first:
//   dotnet build src/StableOde.Core -c Release
//   dotnet fsi examples/swissroll.fsx          (the paper's schedule, minutes)
//   dotnet fsi examples/swissroll.fsx --fast   (5 iterations a level, 4 … 16 layers; STABLEODE_FAST=1 too)
#load "multilevel.fsx"

open Multilevel

let maxDepth, iterations = if fast then 16, Some 5 else 1024, None

for propagator in [ "verlet"; "resnet" ] do
    run "swissroll" propagator (paperWidth "swissroll" propagator) 4 maxDepth iterations 1 |> ignore
