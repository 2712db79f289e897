// Multilevel training on one of the paper's two-dimensional examples (§6.1–6.3) with the default
// block coordinate descent. Build the core first:
//   dotnet build src/StableOde.Core -c Release
// then, from the repository root:
//   dotnet fsi examples/train2d.fsx <ellipses|swissroll|peaks> <resnet|antisymmetric|verlet> <width> <maxDepth> [iterations] [seed]
// swissroll.fsx and peaks.fsx run the paper's networks on one data set each.
#load "multilevel.fsx"

open Multilevel

let args = fsi.CommandLineArgs |> Array.skip 1 |> Array.filter (fun a -> a <> "--fast")
let arg i fallback = if args.Length > i then args[i] else fallback

run (arg 0 "ellipses") (arg 1 "verlet") (int (arg 2 "2")) 4 (int (arg 3 "64")) (if args.Length > 4 then Some(int args[4]) else None) (int (arg 5 "1"))
|> ignore
