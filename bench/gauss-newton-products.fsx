// One image Gauss–Newton curvature both ways (issue 12, docs/performance.md): the product of
// one pass each, a sensitivity solve and an adjoint solve on a recorded tape (what
// `Objective.gaussNewton` runs where `Objective.usesJacobian` is false), against the product of
// the recorded Jacobian (`Objective.jacobianGaussNewton`: `Solve.linearise` once, then
// `Solve.jvpInto` and `Solve.vjpInto` a product), each set-up and product timed with the bytes
// it allocated, and ⟨Gv, v⟩ of both (equal to round-off).
// Build first (dotnet build src/StableOde.Core -c Release), then
//   DOTNET_TieredCompilation=0 dotnet fsi bench/gauss-newton-products.fsx IMAGES LABELS [COUNT DEPTH PRODUCTS]
// (default 1,000 images of the seeded split, Verlet with 6 channels and T = 6 at 4 layers, 3 products).
#load "ImageBench.fsx"

open System
open StableOde.Core
open ImageBench

let count, depth, products = argOr 2 1000, argOr 3 4, argOr 4 3
let setUp = curvatureCase "dotnet fsi bench/gauss-newton-products.fsx IMAGES LABELS [COUNT DEPTH PRODUCTS]" count depth
let width, images, net, options, model, labels, classifier = setUp.Width, setUp.Images, setUp.Net, setUp.Options, setUp.Model, setUp.Labels, setUp.Classifier
let v = Parameters.random 3 1.0 net

printfn "Gauss–Newton products: %d images of %d features, Verlet, %d layers, %s strategy for the tape; Objective.usesJacobian = %b"
    count width depth (sprintf "%A" options.Strategy) (Objective.usesJacobian net count)
let run (name: string) (setUp: unit -> (Parameters -> Parameters)) =
    let product = timed $"{name}: set-up" setUp
    let mutable gv = Parameters.zeros net
    for k in 1 .. products do
        gv <- timed $"{name}: product {k}" (fun () -> product v)
    printfn "  ⟨Gv, v⟩ = %.15g" (Parameters.dot gv v)
run "tape (sensitivity + adjoint)" (fun () ->
    // The tape path of Objective.gaussNewton, forced: one part of all the rows.
    let tape = Solve.record options.Strategy net model.Parameters images.Features
    let z = Classifier.scores classifier tape.YN
    let zero = Kernels.zeros count width
    fun d ->
        let dY = Solve.sensitivity net model.Parameters images.Features d zero
        let hz = Classifier.hessianOfScores classifier.Hypothesis z labels (Kernels.times dY classifier.W)
        fst (Solve.backward tape (Kernels.timesTranspose hz classifier.W)))
run "Jacobian (jvp + vjp)" (fun () -> Objective.jacobianGaussNewton net model.Parameters classifier images.Features labels)
printfn "peak RSS %.0f MB" (peakMB ())
