// Does a higher-order scheme lose less at each prolongation, and does it train better for the same
// time? Multilevel training (the experiment's options, levels 4 … maxDepth) of the paper's Verlet
// (first order with constant weights), the symmetric Verlet (second) and verlet4 (fourth) on the
// swiss roll and peaks. For every prolongation it measures, on the validation set, the relative
// change ‖Y_N(fine) − Y_N(coarse)‖ / ‖Y_N(coarse)‖ of the prolongated network and its accuracy with
// the coarse classifier kept, next to the finer level's starting accuracy after the classifier's
// refit and its best accuracy and time. Every network has the width n = 2 of the paper's Verlet
// networks and the experiment's momentum width. Build the core first, then (results in docs/training-results.md):
//   dotnet build src/StableOde.Core -c Release
//   flock /tmp/stableode-cpu.lock dotnet fsi bench/prolongation.fsx [maxDepth] [seed]
#r "nuget: MathNet.Numerics, 5.0.0"
#r "nuget: System.Numerics.Tensors, 10.0.0"
#r "../src/StableOde.Core/bin/Release/net10.0/StableOde.Core.dll"

open StableOde.Core

let args = fsi.CommandLineArgs |> Array.skip 1
let maxDepth = if args.Length > 0 then int args[0] else 64
let seed = if args.Length > 1 then int args[1] else 1

let schemes = [ "verlet", Verlet; "symmetric", Custom Scheme.symmetricVerlet; "verlet4", Verlet4 ]

for dataset in [ Experiments.swissRoll; Experiments.peaks ] do
    let split = dataset.Data seed
    for name, propagator in schemes do
        let net = Experiments.network { dataset with Width = fun _ -> 2 } propagator 4
        let widened = { Training = Dataset.widen (Network.width net) split.Training; Validation = Dataset.widen (Network.width net) split.Validation }
        let options = { dataset.Options with MaxDepth = maxDepth; Seed = seed }
        let result = Training.multilevel options Training.noControl net widened
        printfn ""
        printfn "%s, %s (n = %d, m = %d, T = %g, %d iterations a level, seed %d): best %.2f %% at %d layers, %.1f s"
            dataset.Name name (Network.width net) (Network.auxWidth net) dataset.FinalTime options.Iterations seed
            (100.0 * result.BestValidationAccuracy) result.Best.Network.Depth result.Seconds
        printfn "| layers | start (after refit) | best validation | seconds | cumulative s | prolongated: ‖ΔY_N‖/‖Y_N‖ | accuracy before → after, classifier kept |"
        printfn "|---:|---:|---:|---:|---:|---:|---|"
        let mutable cumulative = 0.0
        for level in result.Levels do
            cumulative <- cumulative + level.Seconds
            let coarse = level.Final
            let fineNet, fineTheta = Training.prolongate coarse.Network coarse.Parameters
            let fine = { coarse with Network = fineNet; Parameters = fineTheta }
            let y0 = widened.Validation.Features
            let yCoarse = Solve.forward coarse.Network coarse.Parameters y0
            let yFine = Solve.forward fine.Network fine.Parameters y0
            let change = (yFine - yCoarse).FrobeniusNorm() / yCoarse.FrobeniusNorm()
            printfn "| %d | %.2f %% | %.2f %% | %.1f | %.1f | %.3g | %.2f %% → %.2f %% |"
                level.Depth (100.0 * level.InitialValidationAccuracy) (100.0 * level.BestValidationAccuracy) level.Seconds cumulative
                change (100.0 * Training.accuracy coarse widened.Validation) (100.0 * Training.accuracy fine widened.Validation)
