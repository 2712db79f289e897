// The README's F# quick start, word for word: a Verlet network trained on the swiss roll by the
// multilevel schedule (4 … 16 layers), its gradient and its stability.
// Build first (dotnet build src/StableOde.Core -c Release), then from any folder:
//   dotnet fsi examples/fsharp-quickstart.fsx
#r "nuget: MathNet.Numerics, 5.0.0"
#r "nuget: System.Numerics.Tensors, 10.0.0"
#r "../src/StableOde.Core/bin/Release/net10.0/StableOde.Core.dll"
open StableOde.Core

let split = Datasets.swissRoll 1                          // seeded, SPEC §7
let net = Network.verlet { Network.defaults with width = 2; depth = 4; finalTime = 20.0 }
let options = { TrainingOptions.swissRoll with MaxDepth = 16 }      // 4, 8, 16 layers
let fit = Training.multilevel options Training.noControl net split
printfn "best validation accuracy %.3f at %d layers" fit.BestValidationAccuracy fit.Best.Network.Depth

let y0 = split.Validation.Features
let g = Model.gradient Reversal fit.Best y0 (Classifier.labelMatrix Logistic 2 split.Validation.Labels)
let report = Stability.report fit.Best.Network fit.Best.Parameters (Some y0)
printfn "loss %.4f, largest singular value of dY_N/dY_0 %.3f" g.Loss report.Jacobian.Largest
