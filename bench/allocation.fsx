// The managed allocation and the collections per S1 ResNet gradient (`Model.gradient`, StoreAll),
// counted over 30 calls after 20 warm-up calls, with the bench build next to this script; for an
// older commit, copy it into that commit's bench/ after bench/build-rev.sh built it, e.g.
//   cp bench/allocation.fsx /tmp/stableode-rev-4990f58/bench/ && dotnet fsi --quiet /tmp/stableode-rev-4990f58/bench/allocation.fsx
#r "bin/Release/net10.0/MathNet.Numerics.dll"
#r "bin/Release/net10.0/StableOde.Core.dll"
#r "bin/Release/net10.0/StableOde.Timing.dll"

open System
open StableOde.Core
open StableOde.Timing

let options = { Bench.Options.defaults with Mode = Bench.Gradient }
let model, y0, labels = Bench.instance options
let strategy = Bench.strategy options
let once () = Model.gradient strategy model y0 labels |> ignore
for _ in 1..20 do
    once ()
let calls = 30
let collections () = Array.init 3 GC.CollectionCount
let before, bytes = collections (), GC.GetTotalAllocatedBytes true
for _ in 1..calls do
    once ()
let allocated = float (GC.GetTotalAllocatedBytes true - bytes) / float calls / 1048576.0
let per = Array.map2 (fun a b -> float (a - b) / float calls) (collections ()) before
printfn "%.2f MiB allocated per call; collections per call: gen0 %.2f, gen1 %.2f, gen2 %.2f" allocated per[0] per[1] per[2]
