// A scheme is a list of stages (SPEC §1b): adding one is writing its stages, nothing else. Here
// the symmetric Verlet scheme — half a kick of Z, a kick of Y, half a kick of Z, second order
// where the paper's Verlet is first — gets the dot-product test of its sensitivity and adjoint,
// the Taylor test of its gradient, and multilevel training on the swiss roll. Build the core:
//   dotnet build src/StableOde.Core -c Release
//   dotnet fsi examples/schemes.fsx          (4 … 64 layers, 10 iterations a level)
//   dotnet fsi examples/schemes.fsx --fast   (4 … 16 layers, 5 iterations a level)
#load "multilevel.fsx"

open MathNet.Numerics.LinearAlgebra
open StableOde.Core
open Multilevel

let symmetricVerlet =
    Scheme.ofStages
        [ Scheme.kick Variable.Z Variable.Y BiasName.C -0.5   // Z ← Z − ½h σ(Y K + c)
          Scheme.kick Variable.Y Variable.Z BiasName.B 1.0    // Y ← Y + h σ(Z Kᵀ + b)
          Scheme.kick Variable.Z Variable.Y BiasName.C -0.5 ] // Z ← Z − ½h σ(Y K + c)

let gaussian seed rows cols = Matrix<float>.Build.Dense(rows, cols, Parameters.gaussians (System.Random seed) (rows * cols))
let net = Network.custom symmetricVerlet { Network.defaults with width = 3; auxWidth = Some 2; depth = 16; finalTime = 2.0 }
let p = Parameters.random 1 0.5 net
let y0 = gaussian 2 20 3

// Dot-product test: ⟨J v, w⟩ = ⟨v, Jᵀ w⟩ for v = (δθ, δY_0), w = Ȳ_N.
let dTheta, dY0, w = Parameters.random 3 1.0 net, gaussian 4 20 3, gaussian 5 20 3
let jv = Solve.sensitivity net p y0 dTheta dY0
let gTheta, gY0 = Solve.adjoint Reversal net p y0 w
let lhs = (jv.PointwiseMultiply w).Enumerate() |> Seq.sum
let rhs = Parameters.dot dTheta gTheta + ((dY0.PointwiseMultiply gY0).Enumerate() |> Seq.sum)
let dotError = abs (lhs - rhs) / (jv.FrobeniusNorm() * w.FrobeniusNorm())
printfn "symmetric Verlet: dot-product test relative error %.1e (reversal adjoint)" dotError

// Taylor test of the softmax loss gradient in θ: the remainder falls as t².
let labels = Classifier.labelMatrix Softmax 3 (Array.init 20 (fun i -> i % 3))
let model = { Network = net; Parameters = p; Classifier = { Hypothesis = Softmax; W = gaussian 6 3 3; mu = Vector<float>.Build.Dense 3 } }
let g = Model.gradient StoreAll model y0 labels
let direction = Parameters.random 7 1.0 net
let slope = Parameters.dot g.GradTheta direction
let remainder t = abs (Model.loss { model with Parameters = Parameters.addScaled p t direction } y0 labels - g.Loss - t * slope)
let orders = [ for k in 4 .. 9 -> log (remainder (0.5 ** float k) / remainder (0.5 ** float (k + 1))) / log 2.0 ]
printfn "symmetric Verlet: Taylor orders %s" (orders |> List.map (sprintf "%.2f") |> String.concat " ")

// Training on the swiss roll (§6.2): width 2, T = 20, the data set's default options.
let swissRoll = experiment "swissroll"
let split, defaults, finalTime = swissRoll.Data 1, swissRoll.Options, swissRoll.FinalTime
let maxDepth, iterations = if fast then 16, 5 else 64, 10
let options = { defaults with MaxDepth = maxDepth; Iterations = iterations }
let result = Training.multilevel options Training.noControl (Network.custom symmetricVerlet { Network.defaults with width = 2; depth = 4; finalTime = finalTime }) split
for l in result.Levels do
    printfn "  %4d layers: best validation accuracy %.2f %%" l.Depth (100.0 * l.BestValidationAccuracy)
printfn "symmetric Verlet on the swiss roll: %.2f %% at %d layers, %.1f s" (100.0 * result.BestValidationAccuracy) result.Best.Network.Depth result.Seconds

if symmetricVerlet <> Scheme.symmetricVerlet then
    eprintfn "schemes.fsx: the stage list differs from the core's Scheme.symmetricVerlet"
    exit 1
if dotError > 1e-10 || List.min orders < 1.9 then
    eprintfn "schemes.fsx: a derivative check failed"
    exit 1
