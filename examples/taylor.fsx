// A numerical researcher's first script: build each of the four propagators, take the exact
// gradient of the loss by the adjoint solve, and watch the Taylor remainder fall as t².
// Build first (dotnet build src/StableOde.Core -c Release), then: dotnet fsi examples/taylor.fsx
#r "nuget: MathNet.Numerics, 5.0.0"
#r "nuget: System.Numerics.Tensors, 10.0.0"
#r "../src/StableOde.Core/bin/Release/net10.0/StableOde.Core.dll"

open MathNet.Numerics.LinearAlgebra
open StableOde.Core

let gaussian seed rows cols =
    Matrix<float>.Build.Dense(rows, cols, Parameters.gaussians (System.Random seed) (rows * cols))

let data = Dataset.create (gaussian 1 32 2) (Array.init 32 (fun i -> i % 3)) None

let check (net: Network) =
    let width = Network.width net
    let y0 = (Dataset.widen width data).Features
    let labels = Classifier.labelMatrix Softmax 3 data.Labels
    let model =
        { Network = net
          Parameters = Parameters.random 2 0.5 net
          Classifier = { Hypothesis = Softmax; W = gaussian 3 width 3; mu = Vector<float>.Build.Dense 3 } }
    let g = Model.gradient StoreAll model y0 labels
    let direction = Parameters.random 4 1.0 net
    let slope = Parameters.dot g.GradTheta direction
    let loss t = Model.loss { model with Parameters = Parameters.addScaled model.Parameters t direction } y0 labels
    let remainders = [ for k in 1 .. 8 -> let t = 0.5 ** float k in abs (loss t - g.Loss - t * slope) ]
    let orders = remainders |> List.pairwise |> List.map (fun (a, b) -> log (a / b) / log 2.0)
    printfn "%-14s loss %.6f   observed orders %s" (Network.propagatorName net.Propagator) g.Loss
        (orders |> List.map (sprintf "%.2f") |> String.concat " ")
    orders

let results =
    [ Network.resnet { Network.defaults with width = 4; depth = 16; finalTime = 2.0 }
      Network.antisymmetric { Network.defaults with width = 4; gamma = 0.1; depth = 16; finalTime = 2.0 }
      Network.leapfrog { Network.defaults with width = 4; depth = 16; finalTime = 2.0 }
      Network.verlet { Network.defaults with width = 4; auxWidth = Some 3; depth = 16; finalTime = 2.0 } ]
    |> List.map check

if results |> List.exists (fun orders -> List.last orders < 1.9) then
    failwith "a gradient failed its Taylor test"
