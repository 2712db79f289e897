// The stability analysis of a trained network (SPEC §6): train Verlet and ResNet networks on the
// swiss roll for a few levels, then look at every layer's spectrum and amplification (Lemma 1 for
// the ResNet) and at the singular values of ∂Y_N/∂Y_0: how far perturbations of the input grow.
// Build first (dotnet build src/StableOde.Core -c Release), then: dotnet fsi examples/stability.fsx [maxDepth]
#r "nuget: MathNet.Numerics, 5.0.0"
#r "nuget: System.Numerics.Tensors, 10.0.0"
#r "../src/StableOde.Core/bin/Release/net10.0/StableOde.Core.dll"

open StableOde.Core

let maxDepth = fsi.CommandLineArgs |> Array.tryItem 1 |> Option.map int |> Option.defaultValue 16
let split = Datasets.swissRoll 1
let options = { TrainingOptions.swissRoll with MaxDepth = maxDepth; Iterations = 15 }

let analyse (name: string) (width: int) (net: Network) =
    let data = { Training = Dataset.widen width split.Training; Validation = Dataset.widen width split.Validation }
    let result = Training.multilevel options Training.noControl net data
    let model = result.Best
    let sample = Dataset.select (Array.init 100 id) data.Validation
    let report = Stability.report model.Network model.Parameters (Some sample.Features)
    let amplification = report.Layers |> Array.map (fun l -> l.Amplification)
    printfn "%s: best validation accuracy %.1f %% at %d layers (h = %.3g)" name (100.0 * result.BestValidationAccuracy) model.Network.Depth report.StepSize
    printfn "  %s" report.Condition
    printfn "  stable layers %d of %d; amplification per layer in [%.4f, %.4f]"
        (report.Layers |> Array.filter (fun l -> l.Stable) |> Array.length) report.Layers.Length (Array.min amplification) (Array.max amplification)
    printfn "  singular values of dY_N/dY_0 on 100 validation examples: [%.4g, %.4g]" report.Jacobian.Smallest report.Jacobian.Largest
    report

// A Verlet step is symplectic: where it is stable its amplification matrix has spectral radius
// exactly 1; a layer with h‖K‖ too large has a real pair μ, 1/μ and amplifies.
analyse "Verlet (n = 2)" 2 (Network.verlet { Network.defaults with width = 2; depth = 4; finalTime = 20.0 }) |> ignore
analyse "ResNet (n = 4)" 4 (Network.resnet { Network.defaults with width = 4; depth = 4; finalTime = 20.0 }) |> ignore
