// The Gauss–Newton step of the image run alone (docs/images.md, issue 12): the curvature set-up
// of `Objective.gaussNewton` on a subsample of images (the Jacobian recorded by `Solve.linearise`)
// and a few of its products, each timed with the bytes it allocated, then the process's peak
// resident memory and ⟨Gv, v⟩ (the same for every build that computes the same product).
// Build first (dotnet build src/StableOde.Core -c Release), then
//   DOTNET_TieredCompilation=0 DOTNET_gcConcurrent=0 /usr/bin/time -v \
//     dotnet fsi bench/gauss-newton-step.fsx IMAGES LABELS [COUNT DEPTH PRODUCTS]
// (default 1,000 images of the seeded split, Verlet with 6 channels and T = 6 at 4 layers, 3 products).
#load "ImageBench.fsx"

open System
open StableOde.Core
open ImageBench

let count, depth, products = argOr 2 1000, argOr 3 4, argOr 4 3
let setUp = curvatureCase "dotnet fsi bench/gauss-newton-step.fsx IMAGES LABELS [COUNT DEPTH PRODUCTS]" count depth
let width, images, net, options, model, labels, classifier = setUp.Width, setUp.Images, setUp.Net, setUp.Options, setUp.Model, setUp.Labels, setUp.Classifier

printfn "Gauss–Newton step: %d images of %d features, Verlet, %d layers" count width depth
let product = timed "set-up (record the curvature subsample)" (fun () -> Objective.gaussNewton (Objective.jacobiansFor net count Solve.linearise) Ranks.single (Ranks.whole count) options.Strategy net model.Parameters classifier images.Features labels)
let v = Parameters.random 3 1.0 net
for k in 1 .. products do
    let gv = timed $"product {k}" (fun () -> product v)
    printfn "  ⟨Gv, v⟩ = %.12g" (Parameters.dot gv v)
printfn "peak RSS %.0f MB" (peakMB ())
