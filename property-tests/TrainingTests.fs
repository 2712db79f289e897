/// Training's numerical core stated as properties: the regularisers' derivatives and
/// preconditioners, PCG, the classification and Gauss–Newton curvatures, prolongation, the data
/// generators, and block coordinate descent's bookkeeping.
module StableOde.PropertyTests.TrainingTests

open System
open System.Threading
open Expecto
open MathNet.Numerics.LinearAlgebra
open MathNet.Numerics.LinearAlgebra.Double
open StableOde.Core

// ---- helpers ------------------------------------------------------------------------------

let private dotArrays (a: float[]) (b: float[]) = Array.fold2 (fun acc x y -> acc + x * y) 0.0 a b
let private norm (a: float[]) = sqrt (dotArrays a a)

let private randomArray (seed: int) (n: int) = Parameters.gaussians (Random seed) n

/// Observed orders log₂(E(t)/E(t/2)) of the Taylor remainder E(t) = |φ(t) − φ(0) − t φ'(0)|
/// over t = 2⁻¹ … 2⁻¹⁴, dropping pairs whose smaller value is at round-off.
let private taylorOrders (phi: float -> float) (slope: float) =
    let f0 = phi 0.0
    let ts = [ for k in 1 .. 14 -> 0.5 ** float k ]
    let remainders = ts |> List.map (fun t -> abs (phi t - f0 - t * slope))
    let floor = 1e-13 * max 1.0 (abs f0)
    remainders
    |> List.pairwise
    |> List.choose (fun (a, b) -> if b > floor then Some(log (a / b) / log 2.0) else None)

/// Taylor test: second order over at least three consecutive halvings, while the zeroth-order
/// difference |φ(t) − φ(0)| falls only linearly.
let private expectTaylor (name: string) (phi: float -> float) (slope: float) =
    let orders = taylorOrders phi slope
    let longestRun =
        orders |> List.fold (fun (best, run) o -> if o >= 1.9 then (max best (run + 1), run + 1) else (best, 0)) (0, 0) |> fst
    Expect.isGreaterThanOrEqual longestRun 3 $"{name}: second-order Taylor remainder over ≥ 3 halvings, orders {orders}"
    let f0 = phi 0.0
    let first = abs (phi 1e-6 - f0) / abs (phi 5e-7 - f0)
    Expect.floatClose Accuracy.low (log first / log 2.0) 1.0 $"{name}: |φ(t) − φ(0)| is first order"

let private expectRelative (tolerance: float) (name: string) (actual: float) (expected: float) =
    let scale = max (abs expected) 1e-300
    Expect.isLessThanOrEqual (abs (actual - expected) / scale) tolerance $"{name}: {actual} vs {expected}"

let private nets =
    [ "ResNet", Network.resnet { Network.defaults with width = 3; depth = 5; finalTime = 2.0 }
      "antisymmetric", Network.antisymmetric { Network.defaults with width = 3; gamma = 0.1; depth = 4; finalTime = 2.0 }
      "Verlet", Network.verlet { Network.defaults with width = 3; auxWidth = Some 2; depth = 5; finalTime = 2.0 }
      "leapfrog", Network.leapfrog { Network.defaults with width = 3; depth = 6; finalTime = 2.0 } ]

let private theta (seed: int) (net: Network) = Objective.parametersToVector (Parameters.random seed 0.5 net)

// ---- regularisers -------------------------------------------------------------------------

let private parameterRegulariserTests =
    testList "parameter regularisers" [
        for regName, reg in [ "weight decay", WeightDecay; "smoothness in time", TimeSmoothness ] do
            for netName, net in nets do
                testCase $"{regName} on {netName}: gradient Taylor, Hessian symmetric, PSD and exact" <| fun () ->
                    let p = Parameters.random 1 1.0 net
                    let v = Parameters.random 2 1.0 net
                    let u = Parameters.random 3 1.0 net
                    let phi t = Regulariser.value reg net (Parameters.addScaled p t v)
                    expectTaylor regName phi (Parameters.dot (Regulariser.gradient reg net p) v)
                    let hv, hu = Regulariser.hessian reg net v, Regulariser.hessian reg net u
                    expectRelative 1e-12 "⟨Hv, u⟩ = ⟨v, Hu⟩" (Parameters.dot hv u) (Parameters.dot v hu)
                    Expect.isGreaterThanOrEqual (Parameters.dot hv v) 0.0 "⟨Hv, v⟩ ≥ 0"
                    let t = 0.3
                    let dg = Parameters.addScaled (Regulariser.gradient reg net (Parameters.addScaled p t v)) -1.0 (Regulariser.gradient reg net p)
                    let diff = Objective.parametersToVector (Parameters.addScaled dg -t hv)
                    Expect.isLessThan (norm diff) (1e-12 * norm (Objective.parametersToVector hv)) "∇R(θ + tv) − ∇R(θ) = t∇²R v"
                    expectRelative 1e-12 "R(θ) = ½⟨θ, ∇²R θ⟩" (Regulariser.value reg net p) (0.5 * Parameters.dot p (Regulariser.hessian reg net p))
                testCase $"{regName} on {netName}: (α∇²R + εI)⁻¹ inverts" <| fun () ->
                    // Backward error ‖Ax − v‖ / (‖A‖‖x‖ + ‖v‖) at round-off, with ‖A‖ ≤ 4α/h + ε; this
                    // is what a stable solve guarantees however ill-conditioned A (ε = 1e-6) is.
                    for alpha, eps in [ 1e-3, 1e-3; 1.0, 1e-6; 0.0, 2.0; 5.0, 0.5 ] do
                        let v = Parameters.random 4 1.0 net
                        let x = Regulariser.solveShifted reg net alpha eps v
                        let back = Parameters.addScaled (Parameters.scale eps x) alpha (Regulariser.hessian reg net x)
                        let err = norm (Objective.parametersToVector (Parameters.addScaled back -1.0 v))
                        let normA = 4.0 * alpha / Network.stepSize net + eps
                        let scale = normA * norm (Objective.parametersToVector x) + norm (Objective.parametersToVector v)
                        Expect.isLessThan err (1e-14 * scale) $"α = {alpha}, ε = {eps}"
        testCase "smoothness in time vanishes exactly on weights constant in time, and scales as 1/h" <| fun () ->
            let net = Network.verlet { Network.defaults with width = 2; auxWidth = Some 3; depth = 6; finalTime = 3.0 }
            let one = Parameters.random 5 1.0 (Network.withDepth 1 net)
            let constant = { K = Array.init 6 (fun _ -> one.K[0]); b = Array.init 6 (fun _ -> one.b[0]); c = Array.init 6 (fun _ -> one.c[0]) }
            Expect.equal (Regulariser.value TimeSmoothness net constant) 0.0 "R = 0"
            Expect.equal (Objective.parametersToVector (Regulariser.gradient TimeSmoothness net constant) |> Array.forall ((=) 0.0)) true "∇R = 0"
            let p = Parameters.random 6 1.0 net
            let longer = { net with FinalTime = 6.0 }
            expectRelative 1e-12 "R doubles when h halves" (Regulariser.value TimeSmoothness net p) (2.0 * Regulariser.value TimeSmoothness longer p)
        testCase "smoothness in time on one layer is zero and its preconditioner is 1/ε" <| fun () ->
            let net = Network.resnet { Network.defaults with width = 2; depth = 1; finalTime = 1.0 }
            let v = Parameters.random 7 1.0 net
            Expect.equal (Regulariser.value TimeSmoothness net v) 0.0 "no differences"
            let x = Regulariser.solveShifted TimeSmoothness net 3.0 0.25 v
            expectRelative 1e-14 "x = v/ε" (Parameters.dot x v) (4.0 * Parameters.dot v v)
    ]

let private classifierRegulariserTests =
    let cases =
        [ "Tikhonov", Tikhonov, 7
          "image gradient", ImageGradient(2, 4, 5), 40
          "image Laplacian", ImageLaplacian(1, 6, 7), 42 ]
    testList "classifier regularisers" [
        for name, reg, n in cases do
            testCase $"{name}: gradient Taylor, Hessian symmetric, PSD and exact" <| fun () ->
                let w = DenseMatrix.OfColumnMajor(n, 3, randomArray 1 (3 * n)) :> Matrix<float>
                let v = DenseMatrix.OfColumnMajor(n, 3, randomArray 2 (3 * n)) :> Matrix<float>
                let u = DenseMatrix.OfColumnMajor(n, 3, randomArray 3 (3 * n)) :> Matrix<float>
                let inner (a: Matrix<float>) (b: Matrix<float>) = dotArrays (a.ToColumnMajorArray()) (b.ToColumnMajorArray())
                expectTaylor name (fun t -> Regulariser.classifierValue reg (w + t * v)) (inner (Regulariser.classifierGradient reg w) v)
                let hv, hu = Regulariser.classifierHessian reg v, Regulariser.classifierHessian reg u
                expectRelative 1e-12 "⟨Hv, u⟩ = ⟨v, Hu⟩" (inner hv u) (inner v hu)
                Expect.isGreaterThanOrEqual (inner hv v) 0.0 "⟨Hv, v⟩ ≥ 0"
                expectRelative 1e-12 "R(W) = ½⟨W, ∇²R W⟩" (Regulariser.classifierValue reg w) (0.5 * inner w (Regulariser.classifierHessian reg w))
            testCase $"{name}: (α∇²R + εI)⁻¹ inverts" <| fun () ->
                for alpha, eps in [ 0.01, 1e-4; 1.0, 1.0; 0.0, 0.5 ] do
                    let v = DenseMatrix.OfColumnMajor(n, 2, randomArray 4 (2 * n)) :> Matrix<float>
                    let x = Regulariser.classifierSolveShifted reg alpha eps v
                    let back = eps * x + alpha * Regulariser.classifierHessian reg x
                    Expect.isLessThan ((back - v).FrobeniusNorm()) (1e-10 * v.FrobeniusNorm()) $"α = {alpha}, ε = {eps}"
        testCase "image gradient: constant images cost nothing" <| fun () ->
            let w = Matrix<float>.Build.Dense(2 * 4 * 5, 3, fun i k -> float (i / 20 + 3 * k))
            Expect.equal (Regulariser.classifierValue (ImageGradient(2, 4, 5)) w) 0.0 "R = 0 on constant channels"
        testCase "an image shape that does not match W is refused" <| fun () ->
            Expect.throwsT<ArgumentException> (fun () -> Regulariser.classifierValue (ImageGradient(1, 3, 3)) (Matrix<float>.Build.Dense(8, 2)) |> ignore) "9 ≠ 8"
    ]

// ---- optimisers ---------------------------------------------------------------------------

/// A random SPD matrix BᵀB + I as an operator, with its matrix for checking.
let private spd (seed: int) (n: int) =
    let b = DenseMatrix.OfColumnMajor(n, n, randomArray seed (n * n)) :> Matrix<float>
    let a = b.TransposeThisAndMultiply b + Matrix<float>.Build.DenseIdentity n
    a, (fun (x: float[]) -> (a * Vector<float>.Build.DenseOfArray x).ToArray())

let private optimiserTests =
    testList "optimisers" [
        testCase "PCG solves SPD systems, with and without a preconditioner" <| fun () ->
            for seed in 1 .. 4 do
                let n = 30
                let a, apply = spd seed n
                let b = randomArray (seed + 100) n
                let exact = a.Solve(Vector<float>.Build.DenseOfArray b).ToArray()
                let jacobi (x: float[]) = Array.init n (fun i -> x[i] / a[i, i])
                for name, m in [ "identity", Array.copy; "Jacobi", jacobi ] do
                    let r = Optimisers.pcg { MaxIterations = 200; RelativeTolerance = 1e-12 } apply m b
                    Expect.isLessThanOrEqual r.RelativeResidual 1e-12 $"{name}: residual reached"
                    let err = norm (Array.map2 (-) r.Solution exact) / norm exact
                    Expect.isLessThan err 1e-8 $"{name}: the solution"
                    let trueResidual = norm (Array.map2 (-) b (apply r.Solution)) / norm b
                    Expect.isLessThan (abs (r.RelativeResidual - trueResidual)) 1e-13 $"{name}: reported residual is the true one"
        testCase "PCG respects its iteration limit and reduces the residual monotonically in the A-norm" <| fun () ->
            let n = 40
            let a, apply = spd 9 n
            let b = randomArray 10 n
            let exact = a.Solve(Vector<float>.Build.DenseOfArray b)
            let energyError k =
                let r = Optimisers.pcg { MaxIterations = k; RelativeTolerance = 0.0 } apply Array.copy b
                Expect.equal r.Iterations k "iterations used"
                let e = Vector<float>.Build.DenseOfArray r.Solution - exact
                e * (a * e)
            let errors = [ for k in 0 .. 6 -> energyError k ]
            errors |> List.pairwise |> List.iter (fun (x, y) -> Expect.isLessThan y x "‖x − x*‖_A decreases")
        testCase "PCG's product is A x without another application of A, stopped early or not" <| fun () ->
            let n = 30
            let a, apply = spd 21 n
            let b = randomArray 22 n
            let jacobi (x: float[]) = Array.init n (fun i -> x[i] / a[i, i])
            for k in [ 0; 1; 3; 8; 60 ] do
                let applications = ref 0
                let counted (v: float[]) =
                    applications.Value <- applications.Value + 1
                    apply v
                let r = Optimisers.pcg { MaxIterations = k; RelativeTolerance = 1e-12 } counted jacobi b
                Expect.equal applications.Value r.Iterations $"{k}: one application an iteration"
                let ax = apply r.Solution
                Expect.isLessThan (norm (Array.map2 (-) r.Product ax)) (1e-12 * norm b) $"{k}: the product is A x"
        testCase "PCG applies the preconditioner: one iteration suffices when M = A" <| fun () ->
            let n = 12
            let a, apply = spd 11 n
            let inverse (x: float[]) = a.Solve(Vector<float>.Build.DenseOfArray x).ToArray()
            let r = Optimisers.pcg { MaxIterations = 5; RelativeTolerance = 1e-10 } apply inverse (randomArray 12 n)
            Expect.equal r.Iterations 1 "exact preconditioner"
        testCase "Armijo accepts sufficient decrease and rejects ascent" <| fun () ->
            let f x = (x - 3.0) ** 2.0
            match Optimisers.armijo Optimisers.lineSearchDefaults (fun t -> f (0.0 + t * 10.0), t) (f 0.0) (-6.0 * 10.0) with
            | Accepted(t, v, evaluations, trial) ->
                Expect.equal t 0.5 "t = 1 overshoots to 100, t = ½ gives 4"
                Expect.equal v 4.0 "value at the step"
                Expect.equal evaluations 2 "two trials"
                Expect.equal trial 0.5 "what the accepted trial gave beside the value"
            | Rejected _ -> failtest "a descent direction must be accepted"
            Expect.equal (Optimisers.armijo Optimisers.lineSearchDefaults (fun t -> f (t * -1.0), ()) (f 0.0) 6.0) (Rejected 0) "ascent is refused"
        testCase "Newton–PCG converges on a strictly convex problem" <| fun () ->
            let n = 8
            let _, apply = spd 13 n
            let b = randomArray 14 n
            // f(x) = Σ exp(x_i)/10 + ½xᵀAx − bᵀx
            let f (x: float[]) = Array.sumBy (fun v -> exp v / 10.0) x + 0.5 * dotArrays x (apply x) - dotArrays b x
            let lin (x: float[]) =
                { Value = f x
                  Gradient = Array.init n (fun i -> exp x[i] / 10.0 + (apply x)[i] - b[i])
                  Curvature = fun v -> Array.init n (fun i -> exp x[i] / 10.0 * v[i] + (apply v)[i])
                  Preconditioner = Array.copy }
            let newton = Optimisers.newtonPcg { Optimisers.newtonDefaults with GradientTolerance = 1e-9; Pcg = { MaxIterations = n; RelativeTolerance = 1e-10 } } CancellationToken.None (fun x -> f x, Array.copy x) lin (Array.zeroCreate n)
            let r = newton.Result
            Expect.equal r.Status Converged "status"
            Expect.isLessThan (norm (lin r.Solution).Gradient) 1e-9 "gradient"
            Expect.isLessThanOrEqual r.History.Length 10 "quadratic convergence needs few iterations"
            match newton.LastStep with
            | Some last ->
                Expect.equal last.Trial r.Solution "the last accepted trial is the solution's"
                Expect.equal last.Linearisation.Value (f last.From) "the last step's linearisation is at its start"
                Expect.isLessThan (f r.Solution) (f last.From) "the last step decreased f"
                let s = Array.map2 (-) r.Solution last.From
                let predicted = Optimisers.predictedDecrease last.Linearisation s (last.Linearisation.Curvature s)
                expectRelative 1e-10 "the predicted decrease is the quadratic model's" last.PredictedDecrease.Value predicted
            | None -> failtest "Newton–PCG accepted no step"
        testCase "Newton–PCG predicts a step's decrease from PCG without another curvature product" <| fun () ->
            let n = 10
            let _, apply = spd 23 n
            let b = randomArray 24 n
            // f(x) = Σ cosh(x_i)/5 + ½xᵀAx − bᵀx, its Hessian diag(cosh(x)/5) + A.
            let f (x: float[]) = Array.sumBy (fun v -> cosh v / 5.0) x + 0.5 * dotArrays x (apply x) - dotArrays b x
            let products = ref 0
            let lin (x: float[]) =
                { Value = f x
                  Gradient = Array.init n (fun i -> sinh x[i] / 5.0 + (apply x)[i] - b[i])
                  Curvature = fun v -> products.Value <- products.Value + 1; Array.init n (fun i -> cosh x[i] / 5.0 * v[i] + (apply v)[i])
                  Preconditioner = Array.copy }
            let options = { Optimisers.newtonDefaults with MaxIterations = 1; Pcg = { MaxIterations = 4; RelativeTolerance = 0.0 } }
            let r = Optimisers.newtonPcg options CancellationToken.None (fun x -> f x, ()) lin (randomArray 25 n)
            match r.LastStep, r.Result.History with
            | Some last, [ step ] ->
                let predicted = last.PredictedDecrease.Value
                Expect.equal products.Value step.PcgIterations "the prediction took no product beyond PCG's"
                let s = Array.map2 (-) r.Result.Solution last.From
                expectRelative 1e-10 "it is the quadratic model's" predicted (Optimisers.predictedDecrease last.Linearisation s (last.Linearisation.Curvature s))
            | _ -> failtest "one accepted Newton step"
        testCase "Newton–PCG stops with Cancelled before its next iteration when the token is signalled" <| fun () ->
            use cancel = new CancellationTokenSource()
            let linearisations = ref 0
            let lin (x: float[]) =
                linearisations.Value <- linearisations.Value + 1
                if linearisations.Value = 2 then cancel.Cancel()
                { Value = 0.5 * x[0] * x[0] + exp x[0]; Gradient = [| x[0] + exp x[0] |]; Curvature = (fun v -> [| (1.0 + exp x[0]) * v[0] |]); Preconditioner = Array.copy }
            let r = Optimisers.newtonPcg { Optimisers.newtonDefaults with GradientTolerance = 0.0 } cancel.Token (fun x -> 0.5 * x[0] * x[0] + exp x[0], ()) lin [| 2.0 |]
            Expect.equal r.Result.Status Cancelled "status"
            Expect.equal r.Result.History.Length 2 "the two iterations begun before the signal finish"
            Expect.equal linearisations.Value 2 "no iteration starts after the signal"
            Expect.isSome r.LastStep "the last accepted step"
        testCase "Newton–PCG reports Diverged on a non-finite objective" <| fun () ->
            let lin (_: float[]) = { Value = nan; Gradient = [| 1.0 |]; Curvature = Array.copy; Preconditioner = Array.copy }
            let r = Optimisers.newtonPcg Optimisers.newtonDefaults CancellationToken.None (fun _ -> nan, ()) lin [| 0.0 |]
            Expect.equal r.Result.Status Diverged "status"
            Expect.isNone r.LastStep "no step accepted"
        testCase "Newton–PCG reports LineSearchFailed when no step decreases f" <| fun () ->
            // A gradient that lies: f is constant, so nothing decreases it.
            let lin (_: float[]) = { Value = 1.0; Gradient = [| 1.0 |]; Curvature = Array.copy; Preconditioner = Array.copy }
            let r = Optimisers.newtonPcg Optimisers.newtonDefaults CancellationToken.None (fun _ -> 1.0, ()) lin [| 0.0 |]
            Expect.equal r.Result.Status LineSearchFailed "status"
        testCase "SGD with momentum and Adam minimise a least-squares objective on mini-batches" <| fun () ->
            let count, n = 64, 3
            let rows = Array.init count (fun i -> randomArray (200 + i) n)
            let truth = [| 1.0; -2.0; 0.5 |]
            let targets = rows |> Array.map (dotArrays truth)
            let objective (batch: int[]) (x: float[]) =
                let g = Array.zeroCreate n
                let mutable v = 0.0
                for i in batch do
                    let r = dotArrays rows[i] x - targets[i]
                    v <- v + 0.5 * r * r / float batch.Length
                    for k in 0 .. n - 1 do
                        g[k] <- g[k] + r * rows[i][k] / float batch.Length
                v, g
            let sgd = Optimisers.sgd { Optimisers.sgdDefaults with Epochs = 60; BatchSize = 8 } CancellationToken.None objective count (Array.zeroCreate n)
            let adam = Optimisers.adam { Optimisers.adamDefaults with Epochs = 300; BatchSize = 8; LearningRate = 0.05 } CancellationToken.None objective count (Array.zeroCreate n)
            for name, r in [ "SGD", sgd; "Adam", adam ] do
                Expect.equal r.Status MaxIterations $"{name}: ran all epochs"
                Expect.isLessThan (norm (Array.map2 (-) r.Solution truth)) 1e-2 $"{name}: reached the minimiser"
                Expect.isLessThan (List.last r.History).Objective (1e-3 * r.History.Head.Objective) $"{name}: objective fell"
    ]

// ---- objective: classification Hessian, Gauss–Newton, gradients ----------------------------

let private batch (seed: int) (s: int) (n: int) = DenseMatrix.OfColumnMajor(s, n, randomArray seed (s * n)) :> Matrix<float>

let private labelsFor (h: Hypothesis) (seed: int) (s: int) (classes: int) =
    let rng = Random seed
    Classifier.labelMatrix h classes (Array.init s (fun _ -> rng.Next classes))

let private hypotheses = [ "softmax", Softmax, 4; "logistic", Logistic, 2; "least squares", LeastSquares, 3 ]

let private objectiveTests =
    testList "objective" [
        for name, h, classes in hypotheses do
            testCase $"classification ({name}): gradient Taylor, Hessian-vector products vs gradient differences, symmetric" <| fun () ->
                let s, n = 25, 3
                let y = batch 1 s n
                let labels = labelsFor h 2 s classes
                let m = Classifier.labelWidth h classes
                let reg = { Regulariser = Tikhonov; Alpha = 0.05; Shift = 0.1 }
                let problem = Objective.classification Ranks.single (Ranks.whole y.RowCount) reg h y labels
                let x, v, u = randomArray 3 (n * m + m), randomArray 4 (n * m + m), randomArray 5 (n * m + m)
                let lin = problem.Linearise x
                let along (d: float[]) t = Array.map2 (fun a b -> a + t * b) x d
                expectTaylor "loss" (fun t -> problem.Evaluate (along v t)) (dotArrays lin.Gradient v)
                expectRelative 1e-13 "Evaluate agrees with Linearise" (problem.Evaluate x) lin.Value
                let hv = lin.Curvature v
                let gradientAlong t = dotArrays (problem.Linearise (along v t)).Gradient u
                if h = LeastSquares then
                    let remainder = abs (gradientAlong 0.5 - gradientAlong 0.0 - 0.5 * dotArrays hv u)
                    Expect.isLessThan remainder (1e-13 * norm hv * norm u) "a quadratic loss: the gradient is exactly linear"
                else expectTaylor "gradient along u" gradientAlong (dotArrays hv u)
                expectRelative 1e-12 "⟨Hv, u⟩ = ⟨v, Hu⟩" (dotArrays hv u) (dotArrays v (lin.Curvature u))
                Expect.isGreaterThan (dotArrays hv v) 0.0 "convex"
        for netName, net in nets do
            for name, h, classes in hypotheses do
                testCase $"Gauss–Newton on {netName} ({name}): symmetric, PSD, ⟨v, Gv⟩ = ⟨Jv W, ∇²S Jv W⟩" <| fun () ->
                    let s, n = 9, Network.width net
                    let y0 = batch 1 s n
                    let labels = labelsFor h 2 s classes
                    let m = Classifier.labelWidth h classes
                    let p = Parameters.random 3 0.5 net
                    let c = Objective.classifierOfVector h n m (randomArray 4 (n * m + m))
                    let gn = Objective.gaussNewton (Objective.jacobiansFor net s Solve.linearise) Ranks.single (Ranks.whole y0.RowCount) StoreAll net p c y0 labels
                    let v, u = Parameters.random 5 1.0 net, Parameters.random 6 1.0 net
                    let gv = gn v
                    expectRelative 1e-10 "⟨Gv, u⟩ = ⟨v, Gu⟩" (Parameters.dot gv u) (Parameters.dot v (gn u))
                    let dz = Solve.sensitivity net p y0 v (Matrix<float>.Build.Dense(s, n)) * c.W
                    let z = Classifier.scores c (Solve.forward net p y0)
                    let quadratic = dotArrays (dz.ToColumnMajorArray()) ((Classifier.hessianOfScores h z labels dz).ToColumnMajorArray())
                    expectRelative 1e-10 "quadratic form from the sensitivity alone" (Parameters.dot gv v) quadratic
                    Expect.isGreaterThanOrEqual (Parameters.dot gv v) 0.0 "PSD"
        for netName, net in nets do
            testCase $"propagation objective on {netName}: gradient Taylor; curvature symmetric positive definite" <| fun () ->
                let s, n = 11, Network.width net
                let y0 = batch 7 s n
                let labels = labelsFor Softmax 8 s 3
                let c = Objective.classifierOfVector Softmax n 3 (randomArray 9 (3 * n + 3))
                let reg = { Regulariser = TimeSmoothness; Alpha = 0.1; Shift = 0.01 }
                let problem = Objective.propagation (Objective.jacobiansFor net 6 Solve.linearise) Ranks.single None StoreAll reg 1e-3 net c None (Ranks.whole y0.RowCount) y0 labels (Ranks.whole 6) (y0.SubMatrix(0, 6, 0, n)) (labels.SubMatrix(0, 6, 0, 3))
                let x = theta 10 net
                let v, u = theta 11 net, theta 12 net
                let lin = problem.Linearise x
                expectTaylor "objective" (fun t -> problem.Evaluate (Array.map2 (fun a b -> a + t * b) x v)) (dotArrays lin.Gradient v)
                let hv = lin.Curvature v
                expectRelative 1e-10 "⟨Hv, u⟩ = ⟨v, Hu⟩" (dotArrays hv u) (dotArrays v (lin.Curvature u))
                Expect.isGreaterThanOrEqual (dotArrays hv v) (1e-3 * dotArrays v v) "damped: ⟨Hv, v⟩ ≥ λ‖v‖²"
                let pv = lin.Preconditioner v
                expectRelative 1e-10 "preconditioner symmetric" (dotArrays pv u) (dotArrays v (lin.Preconditioner u))
        testCase "the whole objective's joint gradient passes the Taylor test" <| fun () ->
            let net = Network.verlet { Network.defaults with width = 2; auxWidth = Some 3; depth = 4; finalTime = 1.5 }
            let s = 10
            let y0 = batch 13 s 2
            let labels = labelsFor Logistic 14 s 2
            let model = { Network = net; Parameters = Parameters.random 15 0.5 net; Classifier = Objective.classifierOfVector Logistic 2 1 (randomArray 16 3) }
            let tr = { Regulariser = TimeSmoothness; Alpha = 0.2; Shift = 1.0 }
            let cr = { Regulariser = Tikhonov; Alpha = 0.3; Shift = 1.0 }
            let count = Parameters.count net
            let value, g = Objective.valueAndGradient StoreAll tr cr model y0 labels
            expectRelative 1e-13 "value" value (Objective.value Ranks.single (Ranks.whole y0.RowCount) tr cr model y0 labels)
            let v = randomArray 17 g.Length
            let moved t =
                { model with
                    Parameters = Parameters.addScaled model.Parameters t (Objective.parametersOfVector net v[.. count - 1])
                    Classifier =
                        let d = Objective.classifierOfVector Logistic 2 1 v[count ..]
                        { model.Classifier with W = model.Classifier.W + t * d.W; mu = model.Classifier.mu + t * d.mu } }
            expectTaylor "objective" (fun t -> Objective.value Ranks.single (Ranks.whole y0.RowCount) tr cr (moved t) y0 labels) (dotArrays g v)
    ]

// ---- prolongation ---------------------------------------------------------------------------

/// θ(t) sampled from smooth functions of time at t_j = j h.
let private smoothTheta (net: Network) =
    let h = Network.stepSize net
    let rows, cols = Operator.parameterShape net.Operator
    let at j = float j * h
    { K = Array.init net.Depth (fun j -> Matrix<float>.Build.Dense(rows, cols, fun r c -> 0.8 * sin (at j + float (r + 2 * c)) - 0.3))
      b = Array.init net.Depth (fun j -> Vector<float>.Build.Dense(net.BiasWidth, fun i -> 0.2 * cos (2.0 * at j + float i)))
      c = Array.init (if net.Propagator = Verlet then net.Depth else 0) (fun j -> Vector<float>.Build.Dense(net.AuxBiasWidth, fun i -> 0.1 * sin (at j - float i))) }

let private prolongationTests =
    testList "prolongation" [
        testCase "fine layers copy, average and copy the last, exactly as SPEC §5" <| fun () ->
            let net = Network.verlet { Network.defaults with width = 2; auxWidth = Some 3; depth = 4; finalTime = 2.0 }
            let p = Parameters.random 1 1.0 net
            let fine, q = Training.prolongate net p
            Expect.equal fine.Depth 8 "2N layers"
            Expect.equal fine.FinalTime net.FinalTime "T kept"
            for j in 0 .. 3 do
                Expect.equal q.K[2 * j] p.K[j] $"K[{2 * j}] copies K[{j}]"
                Expect.equal q.c[2 * j] p.c[j] $"c[{2 * j}] copies c[{j}]"
            for j in 0 .. 2 do
                Expect.equal q.K[2 * j + 1] (0.5 * (p.K[j] + p.K[j + 1])) $"K[{2 * j + 1}] averages"
                Expect.equal q.b[2 * j + 1] (0.5 * (p.b[j] + p.b[j + 1])) $"b[{2 * j + 1}] averages"
            Expect.equal q.K[7] p.K[3] "the last copies the last"
            Expect.equal q.b[7] p.b[3] "the last bias copies the last"
            Expect.equal (Parameters.toVector p) (Parameters.toVector (Parameters.random 1 1.0 net)) "the coarse parameters are untouched"
        for netName, make in [ "ResNet", (fun d -> Network.resnet { Network.defaults with width = 2; depth = d; finalTime = 2.0 }); "Verlet", (fun d -> Network.verlet { Network.defaults with width = 2; depth = d; finalTime = 2.0 })
                               "antisymmetric", (fun d -> Network.antisymmetric { Network.defaults with width = 2; depth = d; finalTime = 2.0 }) ] do
            testCase $"{netName}: the prolongated network's output changes by O(h)" <| fun () ->
                let y0 = batch 2 20 2
                let change depth =
                    let net = make depth
                    let p = smoothTheta net
                    let fine, q = Training.prolongate net p
                    (Solve.forward fine q y0 - Solve.forward net p y0).FrobeniusNorm()
                let changes = [ for d in [ 8; 16; 32; 64 ] -> change d ]
                for a, b in List.pairwise changes do
                    let ratio = a / b
                    Expect.isGreaterThan ratio 1.8 $"halving h halves the change: {changes}"
                    Expect.isLessThan ratio 2.2 $"halving h halves the change: {changes}"
    ]

// ---- data generators ----------------------------------------------------------------------

let private countsOf (classes: int) (labels: int[]) = Array.init classes (fun k -> labels |> Array.filter ((=) k) |> Array.length)

let private sameSplit (a: Split) (b: Split) =
    a.Training.Features = b.Training.Features && a.Training.Labels = b.Training.Labels
    && a.Validation.Features = b.Validation.Features && a.Validation.Labels = b.Validation.Labels

let private datasetTests =
    testList "data generators" [
        for name, gen in [ "ellipses", Datasets.ellipses; "swiss roll", Datasets.swissRoll; "peaks", Datasets.peaks ] do
            testCase $"{name} is deterministic for a seed" <| fun () ->
                Expect.isTrue (sameSplit (gen 3) (gen 3)) "same seed, same data"
                Expect.isFalse (sameSplit (gen 3) (gen 4)) "another seed, other data"
        testCase "ellipses: 1,000 + 200 examples, 600 a class, radii by class" <| fun () ->
            let d = Datasets.ellipses 1
            Expect.equal (Dataset.count d.Training, Dataset.count d.Validation) (1000, 200) "sizes"
            Expect.equal (countsOf 2 (Array.append d.Training.Labels d.Validation.Labels)) [| 600; 600 |] "class sizes"
            for set in [ d.Training; d.Validation ] do
                for i in 0 .. Dataset.count set - 1 do
                    let x, y = set.Features[i, 0], set.Features[i, 1] / 0.4
                    let r = sqrt (x * x + y * y)
                    if set.Labels[i] = 0 then Expect.isLessThanOrEqual r 1.0 "class 0 inside r = 1"
                    else Expect.isTrue (r >= 1.0 && r <= 2.0) "class 1 in 1 ≤ r ≤ 2"
        testCase "swiss roll: 513 + 513 examples, 513 a class, on the two spirals, alternate points" <| fun () ->
            let d = Datasets.swissRoll 1
            Expect.equal (Dataset.count d.Training, Dataset.count d.Validation) (513, 513) "sizes"
            Expect.equal (countsOf 2 (Array.append d.Training.Labels d.Validation.Labels)) [| 513; 513 |] "class sizes"
            Expect.equal (countsOf 2 d.Training.Labels) [| 257; 256 |] "training: even points of the listing"
            let onSpiral (set: Dataset) i =
                let x, y = set.Features[i, 0], set.Features[i, 1]
                let r = sqrt (x * x + y * y)
                let k = round ((r - (if set.Labels[i] = 0 then 0.0 else 0.2)) * 512.0)
                let theta = 4.0 * Math.PI * k / 512.0
                abs (x - r * cos theta) < 1e-12 && abs (y - r * sin theta) < 1e-12 && k >= 0.0 && k <= 512.0
            for set in [ d.Training; d.Validation ] do
                for i in 0 .. Dataset.count set - 1 do
                    Expect.isTrue (onSpiral set i) "point on its class's spiral"
        testCase "peaks: 4,000 + 1,000 examples, 1,000 a class, classes by equal-width bins of the value" <| fun () ->
            let d = Datasets.peaks 1
            Expect.equal (Dataset.count d.Training, Dataset.count d.Validation) (4000, 1000) "sizes"
            Expect.equal (countsOf 5 (Array.append d.Training.Labels d.Validation.Labels)) (Array.create 5 1000) "class sizes"
            let grid = [| for i in 0 .. 255 -> -3.0 + 6.0 * float i / 255.0 |]
            let values = [| for a in grid do for b in grid -> Datasets.peaksFunction a b |]
            let lo, hi = Array.min values, Array.max values
            for set in [ d.Training; d.Validation ] do
                for i in 0 .. Dataset.count set - 1 do
                    let v = Datasets.peaksFunction set.Features[i, 0] set.Features[i, 1]
                    let k = set.Labels[i]
                    Expect.isTrue (v >= lo + float k * (hi - lo) / 5.0 - 1e-12 && v <= lo + float (k + 1) * (hi - lo) / 5.0 + 1e-12) "value in its bin"
                    Expect.isTrue (Array.contains set.Features[i, 0] grid && Array.contains set.Features[i, 1] grid) "a grid point"
            let all = Array.append (Array.init 4000 (fun i -> d.Training.Features[i, 0], d.Training.Features[i, 1])) (Array.init 1000 (fun i -> d.Validation.Features[i, 0], d.Validation.Features[i, 1]))
            Expect.equal (Array.distinct all).Length 5000 "drawn without replacement"
        testCase "peaks function is MATLAB's" <| fun () ->
            Expect.floatClose Accuracy.veryHigh (Datasets.peaksFunction 0.0 0.0) (3.0 * exp -1.0 - exp -1.0 / 3.0) "f(0, 0)"
    ]

// ---- block coordinate descent -------------------------------------------------------------

let private smallSplit (seed: int) =
    let d = Datasets.ellipses seed
    { Training = Dataset.select [| 0 .. 199 |] d.Training; Validation = Dataset.select [| 0 .. 79 |] d.Validation }

let private quick = { TrainingOptions.ellipses with Iterations = 6; BatchSize = 120; Propagation = { TrainingOptions.ellipses.Propagation with HessianSubsample = 60; PcgIterations = 5 } }

let private trainingTests =
    testList "block coordinate descent" [
        testCase "keeps the parameters with the best validation accuracy" <| fun () ->
            for seed in 1 .. 3 do
                let split = smallSplit seed
                let start = Training.initialModel { quick with Seed = seed } (Network.resnet { Network.defaults with width = 2; depth = 4; finalTime = 20.0 }) 2
                let r = Training.train { quick with Seed = seed } Training.noControl start split
                Expect.equal r.Status MaxIterations "ran all iterations"
                Expect.equal r.History.Length quick.Iterations "one record per iteration"
                let best = List.fold (fun acc (i: TrainingIteration) -> max acc i.ValidationAccuracy) r.InitialValidationAccuracy r.History
                Expect.equal r.BestValidationAccuracy best "the best of the history"
                Expect.equal (Training.accuracy r.Best split.Validation) best "the kept model reaches it"
                if r.BestIteration > 0 then
                    Expect.equal (List.item (r.BestIteration - 1) r.History).ValidationAccuracy best "at the reported iteration"
                    Expect.equal (Training.accuracy r.Best split.Training) r.TrainingAccuracy "its training accuracy"
                Expect.isGreaterThan r.BestValidationAccuracy r.InitialValidationAccuracy "training improved the zero classifier"
        testCase "leaves its inputs unchanged and is repeatable" <| fun () ->
            let split = smallSplit 1
            let start = Training.initialModel quick (Network.verlet { Network.defaults with width = 2; depth = 4; finalTime = 20.0 }) 2
            let before = Parameters.toVector start.Parameters, start.Classifier.W.Clone(), split.Training.Features.Clone()
            let a = Training.train quick Training.noControl start split
            let b = Training.train quick Training.noControl start split
            Expect.equal (Parameters.toVector start.Parameters, start.Classifier.W, split.Training.Features) before "inputs unchanged"
            Expect.equal (a.History |> List.map (fun i -> i.Objective)) (b.History |> List.map (fun i -> i.Objective)) "same seed, same run"
        testCase "a non-finite objective stops with Diverged and keeps the best" <| fun () ->
            let split = smallSplit 2
            let net = Network.resnet { Network.defaults with activation = Identity; width = 2; depth = 4; finalTime = 20.0 }
            let huge = { Parameters.zeros net with K = Array.init 4 (fun _ -> 1e80 * Matrix<float>.Build.DenseIdentity 2) }
            let start = { Network = net; Parameters = huge; Classifier = Classifier.zero Logistic 2 2 }
            let r = Training.train quick Training.noControl start split
            Expect.equal r.Status Diverged "status"
            Expect.equal r.Best start "the starting model is the best there is"
            let ml = Training.multilevelFrom { quick with MaxDepth = 16 } Training.noControl start split
            Expect.equal ml.Levels.Length 1 "multilevel stops at the diverged level"
            Expect.equal ml.Status Diverged "and says so"
        testCase "cancellation returns the best so far with status Cancelled" <| fun () ->
            use cts = new CancellationTokenSource()
            let mutable reports = 0
            let control = { Training.noControl with Progress = Some(fun _ -> reports <- reports + 1; if reports = 2 then cts.Cancel()); Cancellation = cts.Token }
            let split = smallSplit 3
            let r = Training.train quick control (Training.initialModel quick (Network.resnet { Network.defaults with width = 2; depth = 4; finalTime = 20.0 }) 2) split
            Expect.equal r.Status Cancelled "status"
            Expect.equal r.History.Length 2 "stopped after the second iteration"
            Expect.equal (Training.accuracy r.Best split.Validation) r.BestValidationAccuracy "best kept"
        testCase "multilevel doubles the depth up to MaxDepth and keeps the classifier at prolongation without Refit" <| fun () ->
            let split = smallSplit 4
            let o = { quick with Iterations = 3; MaxDepth = 16; Refit = None }
            let r = Training.multilevel o Training.noControl (Network.verlet { Network.defaults with width = 2; depth = 4; finalTime = 20.0 }) split
            Expect.equal (r.Levels |> List.map (fun l -> l.Depth)) [ 4; 8; 16 ] "levels"
            Expect.equal r.BestValidationAccuracy (r.Levels |> List.map (fun l -> l.BestValidationAccuracy) |> List.max) "best over levels"
            Expect.equal (Training.accuracy r.Best split.Validation) r.BestValidationAccuracy "the best model reaches it"
            let l4, l8 = r.Levels[0], r.Levels[1]
            let prolongated = { l4.Final with Network = Network.withDepth 8 l4.Final.Network; Parameters = snd (Training.prolongate l4.Final.Network l4.Final.Parameters) }
            Expect.equal l8.InitialValidationAccuracy (Training.accuracy prolongated split.Validation) "level 8 starts from the prolongated last iterate and its classifier"
        testCase "with Refit, every finer level starts from the prolongated last iterate and a classifier fitted to it" <| fun () ->
            let split = smallSplit 5
            let o = { quick with Iterations = 3; MaxDepth = 16 }
            let refit = Option.get o.Refit
            let r = Training.multilevel o Training.noControl (Network.resnet { Network.defaults with width = 2; depth = 4; finalTime = 20.0 }) split
            for coarse, fine in List.pairwise r.Levels do
                let net, theta = Training.prolongate coarse.Final.Network coarse.Final.Parameters
                let prolongated = { coarse.Final with Network = net; Parameters = theta }
                let refitted = { prolongated with Classifier = Training.refitClassifier o refit prolongated split.Training }
                Expect.equal fine.InitialValidationAccuracy (Training.accuracy refitted split.Validation) $"level {fine.Depth}"
        testCase "the refitted classifier descends the classification objective from zero and leaves the model unchanged" <| fun () ->
            let split = smallSplit 6
            let level = Training.train quick Training.noControl (Training.initialModel quick (Network.resnet { Network.defaults with width = 2; depth = 4; finalTime = 20.0 }) 2) split
            let net, theta = Training.prolongate level.Final.Network level.Final.Parameters
            let model = { level.Final with Network = net; Parameters = theta }
            let before = Parameters.toVector model.Parameters, model.Classifier.W.Clone(), model.Classifier.mu.Clone()
            let yN = Solve.forward net theta split.Training.Features
            let labels = Classifier.labelMatrix Logistic 2 split.Training.Labels
            let objective (c: Classifier) =
                (Objective.classification Ranks.single (Ranks.whole yN.RowCount) quick.Classification.Regulariser Logistic yN labels).Evaluate (Objective.classifierToVector c)
            let values =
                [ 0; 1; 3; 10 ]
                |> List.map (fun k -> objective (Training.refitClassifier quick { NewtonIterations = k; PcgIterations = 10 } model split.Training))
            Expect.floatClose Accuracy.veryHigh values.Head (log 2.0) "no iteration: the zero classifier, ln 2"
            for a, b in List.pairwise values do
                Expect.isLessThanOrEqual b a "more Newton iterations never increase the objective"
            Expect.isLessThan (List.last values) (0.9 * log 2.0) "ten iterations fit the features"
            Expect.equal (Parameters.toVector model.Parameters, model.Classifier.W, model.Classifier.mu) before "model unchanged"
        testCase "adaptive damping follows the trust-region rule within its bounds" <| fun () ->
            Expect.floatClose Accuracy.veryHigh (Training.adaptDamping 1e-3 0.3 0.9) 0.1 "a good model (ρ > ¾) divides λ by 3"
            Expect.equal (Training.adaptDamping 1e-3 0.3 0.5) 0.3 "a fair one keeps λ"
            Expect.equal (Training.adaptDamping 1e-3 0.3 0.1) 0.6 "a poor one (ρ < ¼) doubles λ"
            Expect.equal (Training.adaptDamping 1e-3 0.3 -2.0) 0.6 "and so does an increase of the objective"
            Expect.equal (Training.adaptDamping 1e-3 2e-3 1.0) 1e-3 "never below the floor"
            Expect.equal (Training.adaptDamping 1e-3 600.0 -1.0) Training.maxDamping "never above the cap"
        testCase "the data sets' options share α_θ between the regulariser, the preconditioner and the damping floor" <| fun () ->
            for o, alpha in [ TrainingOptions.ellipses, 1e-3; TrainingOptions.swissRoll, 5e-3; TrainingOptions.peaks, 5e-6 ] do
                let p = o.Propagation
                Expect.equal (p.Regulariser.Alpha, p.Regulariser.Shift, p.Damping) (alpha, alpha, alpha) $"α_θ = {alpha}"
                Expect.equal o.Refit (Some { NewtonIterations = 10; PcgIterations = 10 }) "the classifier is fitted anew after prolongation"
            Expect.equal (TrainingOptions.images Verlet 6 28 28).Refit (Some { NewtonIterations = 5; PcgIterations = 10 }) "images fit the classifier anew at prolongation, with the classification step's iterations"
        testCase "the gain ratio of an exact quadratic model is 1" <| fun () ->
            let a = [| 3.0; 0.5 |]
            let f (x: float[]) = 0.5 * (a[0] * x[0] * x[0] + a[1] * x[1] * x[1]) + x[0] - 2.0 * x[1]
            let x0 = [| 0.3; -0.7 |]
            let lin =
                { Value = f x0
                  Gradient = [| a[0] * x0[0] + 1.0; a[1] * x0[1] - 2.0 |]
                  Curvature = fun v -> [| a[0] * v[0]; a[1] * v[1] |]
                  Preconditioner = id }
            let predicted (x1: float[]) =
                let s = Array.map2 (-) x1 x0
                Optimisers.predictedDecrease lin s (lin.Curvature s)
            for x1 in [ [| 0.1; 0.2 |]; [| -0.3; 4.0 |] ] do
                Expect.floatClose Accuracy.high (Training.gainRatio lin.Value (predicted x1) (f x1)) 1.0 "ρ = 1"
            let x1 = [| 0.1; 0.2 |]
            Expect.floatClose Accuracy.high (Training.gainRatio lin.Value (predicted x1) (lin.Value + 1.0)) (-1.0 / (lin.Value - f x1)) "an increase gives ρ < 0"
            Expect.equal (Training.gainRatio lin.Value (predicted x0) (f x0)) 1.0 "a step that does not move: ρ = 1"
        testCase "the damping of every iteration is recorded: fixed, or adapted from the floor" <| fun () ->
            let split = smallSplit 6
            let start o = Training.initialModel o (Network.resnet { Network.defaults with width = 2; depth = 4; finalTime = 20.0 }) 2
            let fixedOptions = { quick with Propagation = { quick.Propagation with AdaptiveDamping = false; Damping = 0.02 } }
            let fixedRun = Training.train fixedOptions Training.noControl (start fixedOptions) split
            Expect.all (fixedRun.History |> List.map (fun i -> i.Damping)) (fun d -> d = 0.02) "fixed λ"
            let adaptiveOptions = { quick with Iterations = 12; Propagation = { quick.Propagation with AdaptiveDamping = true; Damping = 0.02 } }
            let adaptive = Training.train adaptiveOptions Training.noControl (start adaptiveOptions) split
            let lambdas = adaptive.History |> List.map (fun i -> i.Damping)
            Expect.equal lambdas.Head 0.02 "the first iteration uses the floor"
            Expect.all lambdas (fun d -> d >= 0.02 && d <= Training.maxDamping) "within the bounds"
            Expect.isGreaterThan (List.distinct lambdas).Length 1 "λ adapts"
        testCase "the first-order baseline lowers the objective" <| fun () ->
            let split = smallSplit 5
            let start = Training.initialModel quick (Network.resnet { Network.defaults with width = 2; depth = 4; finalTime = 20.0 }) 2
            let r = Training.firstOrder (Adam { Optimisers.adamDefaults with Epochs = 30; BatchSize = 50; LearningRate = 0.02 }) quick Training.noControl start split
            Expect.equal r.Optimiser.Status MaxIterations "ran all epochs"
            Expect.isLessThan (List.last r.Optimiser.History).Objective (0.8 * r.Optimiser.History.Head.Objective) "objective fell"
            Expect.equal r.ValidationAccuracy (Training.accuracy r.Model split.Validation) "reported accuracy is the model's"
    ]

// ---- images and large batches (§6.4) ---------------------------------------------------------

/// Synthetic two-class images of height×width pixels: class 1 is brighter in its left half,
/// class 0 in its right half, with noise; seeded.
let private twoClassImages (seed: int) (count: int) (height: int) (width: int) : Dataset =
    let rng = Random seed
    let labels = Array.init count (fun i -> i % 2)
    let x =
        Matrix<float>.Build.Dense(count, height * width, fun i p ->
            let left = p % width < width / 2
            let bright = (labels[i] = 1) = left
            (if bright then 0.7 else 0.2) + 0.25 * rng.NextDouble())
    { Features = x; Labels = labels; Classes = 2 }

let private imageTests =
    testList "images and large batches" [
        for s in [ 1; 511; 512; 513; 1300 ] do
            testCase $"thin products Y K, V Kᵀ and Xᵀ V equal MathNet's for s = {s}" <| fun () ->
                let y, k, v = batch 1 s 7, batch 2 7 3, batch 3 s 3
                let close name (a: Matrix<float>) (b: Matrix<float>) =
                    Expect.isLessThanOrEqual ((a - b).FrobeniusNorm()) (1e-13 * b.FrobeniusNorm()) name
                close "Y K" (Kernels.times y k) (y * k)
                close "V Kᵀ" (Kernels.timesTranspose v k) (v * k.Transpose())
                close "Yᵀ V" (Kernels.transposeTimes y v) (y.Transpose() * v)
                Expect.throwsT<ArgumentException> (fun () -> Kernels.times y v |> ignore) "7 columns against 3 rows"
        testCase "the products on rows of a matrix read in place give the bits of the products on a copy of them" <| fun () ->
            let s, n, m = 1300, 7, 3
            let y, w = batch 4 s n, batch 5 n m
            let c = { Hypothesis = Softmax; W = w; mu = Vector<float>.Build.DenseOfArray(randomArray 6 m) }
            for first, rows in [ 0, s; 0, 129; 513, 700; 1299, 1; 17, 0 ] do
                let copied = y.SubMatrix(first, rows, 0, n)
                Expect.equal ((Classifier.scoresOfRows c y first rows).ToColumnMajorArray()) ((Classifier.scores c copied).ToColumnMajorArray()) $"scores of rows {first}+{rows}"
                if rows > 0 then
                    let labels = labelsFor Softmax (first + 3) rows m
                    Expect.equal (Classifier.lossOfRows c y first rows labels) (Classifier.loss c copied labels) $"loss of rows {first}+{rows}"
                let v = batch 7 rows m
                let inPlace = Array.zeroCreate (n * m)
                Kernels.transposeMulAddRows false 1.0 s first rows n m (Kernels.storage y) (Kernels.storage v) inPlace
                Expect.equal inPlace ((Kernels.transposeTimes copied v).ToColumnMajorArray()) $"Xᵀ V of rows {first}+{rows}"
            Expect.throwsT<ArgumentException> (fun () -> Classifier.scoresOfRows c y 1299 2 |> ignore) "rows beyond Y"
        testCase "the classification subproblem on parts of rows equals it on one part" <| fun () ->
            let s, n, classes = 40, 5, 3
            let y = batch 8 s n
            let labels = labelsFor Softmax 9 s classes
            let reg = { Regulariser = Tikhonov; Alpha = 0.05; Shift = 0.1 }
            let parts = { Slots = 4; Rows = [| struct (0, 13); struct (13, 0); struct (13, 20); struct (33, 7) |] }
            let one = Objective.classification Ranks.single (Ranks.whole s) reg Softmax y labels
            let split = Objective.classification Ranks.single parts reg Softmax y labels
            let x, v = randomArray 10 (n * classes + classes), randomArray 11 (n * classes + classes)
            let lin1, lin2 = one.Linearise x, split.Linearise x
            expectRelative 1e-13 "value" lin2.Value lin1.Value
            expectRelative 1e-13 "Evaluate" (split.Evaluate x) (one.Evaluate x)
            let close name (a: float[]) (b: float[]) = Expect.isLessThanOrEqual (norm (Array.map2 (-) a b)) (1e-13 * norm b) name
            close "gradient" lin2.Gradient lin1.Gradient
            let first = lin2.Curvature v
            close "curvature product" first (lin1.Curvature v)
            lin2.Curvature x |> ignore
            Expect.equal (lin2.Curvature v) first "a product is the same after the buffers served another"
        testCase "the loss gradient of rows read in place, into a new array or a buffer, is lossGradient's of a copy of them, bit for bit" <| fun () ->
            for h, classes, seed in [ Softmax, 3, 41; Logistic, 2, 42 ] do
                let s, n = 29, 4
                let y = batch seed s n
                let labels = labelsFor h (seed + 1) s classes
                let c = Objective.classifierOfVector h n labels.ColumnCount (randomArray (seed + 2) (labels.ColumnCount * (n + 1)))
                let first, rows = 7, 15
                let loss, gradY = Classifier.lossGradientOfRows c y first rows (labels.SubMatrix(first, rows, 0, labels.ColumnCount))
                let copy = Classifier.lossGradient c (y.SubMatrix(first, rows, 0, n)) (labels.SubMatrix(first, rows, 0, labels.ColumnCount))
                Expect.equal loss copy.Loss $"%A{h}: loss"
                Expect.equal (gradY.ToColumnMajorArray()) (copy.GradY.ToColumnMajorArray()) $"%A{h}: ∂S/∂Y"
                Expect.throwsT<ArgumentException> (fun () -> Classifier.lossGradientOfRows c y 20 10 (labels.SubMatrix(0, 10, 0, labels.ColumnCount)) |> ignore) $"%A{h}: rows beyond Y"
                let stale = Array.create (rows * n) nan
                let loss' = Classifier.lossGradientOfRowsInto c y first rows (labels.SubMatrix(first, rows, 0, labels.ColumnCount)) stale
                Expect.equal loss' copy.Loss $"%A{h}: loss into a buffer"
                Expect.equal stale (copy.GradY.ToColumnMajorArray()) $"%A{h}: ∂S/∂Y into a buffer that held NaN"
                Expect.throwsT<ArgumentException> (fun () -> Classifier.lossGradientOfRowsInto c y first rows (labels.SubMatrix(first, rows, 0, labels.ColumnCount)) (Array.zeroCreate (rows * n - 1)) |> ignore) $"%A{h}: a buffer of the wrong size"
        testCase "the data term's gradient over blocks of examples equals the gradient over the whole batch" <| fun () ->
            let net = Network.verlet { Network.defaults with width = 2; auxWidth = Some 3; depth = 3; finalTime = 1.0 }
            let s = Objective.blockRows 2 + 37
            let y0 = batch 21 s 2
            let labels = labelsFor Softmax 22 s 3
            let model = { Network = net; Parameters = Parameters.random 23 0.5 net; Classifier = Objective.classifierOfVector Softmax 2 3 (randomArray 24 9) }
            let whole = Model.gradient StoreAll model y0 labels
            let value, gradient = Objective.dataGradient Ranks.single (Ranks.whole y0.RowCount) StoreAll net model.Parameters model.Classifier y0 labels
            expectRelative 1e-12 "loss" value whole.Loss
            let difference = Parameters.addScaled gradient -1.0 whole.GradTheta
            Expect.isLessThanOrEqual (sqrt (Parameters.dot difference difference)) (1e-12 * sqrt (Parameters.dot whole.GradTheta whole.GradTheta)) "gradient"
        testCase "a line-search trial's forward pass gives the gradient at its θ to the last bit, without a forward pass" <| fun () ->
            let dense = Network.verlet { Network.defaults with width = 2; auxWidth = Some 3; depth = 3; finalTime = 1.0 }
            let conv = Network.create Verlet Tanh (Conv3x3(2, 4, 5)) 3 1.5 false
            for net, s in [ dense, Objective.blockRows 2 + 37; conv, 61 ] do
                let n = Network.width net
                let y0 = batch 31 s n
                let labels = labelsFor Softmax 32 s 3
                let c = Objective.classifierOfVector Softmax n 3 (randomArray 33 (3 * n + 3))
                let p = Parameters.random 34 0.5 net
                let x = Objective.parametersToVector p
                let reg = { Regulariser = TimeSmoothness; Alpha = 0.1; Shift = 0.01 }
                let parts = { Slots = 3; Rows = [| struct (0, 20); struct (20, 0); struct (20, s - 20) |] }
                let value, forward = Objective.propagationTrial Ranks.single parts Reversal reg net c y0 labels x
                let plainValue, plain = Objective.propagationTrial Ranks.single parts StoreAll reg net c y0 labels x
                Expect.equal value plainValue "the trial's objective does not depend on the blocks"
                Expect.equal (forward.Value.YN.ToColumnMajorArray()) (plain.Value.YN.ToColumnMajorArray()) "Y_N equals the forward pass's"
                Expect.isNone plain.Value.ZN "no Z_N kept for a strategy that records its states"
                let loss, gradient = Objective.dataGradient Ranks.single parts Reversal net p c y0 labels
                let loss', gradient' = Objective.dataGradientFrom forward Ranks.single parts Reversal net p c y0 labels
                Expect.equal loss' loss "loss"
                Expect.equal (Objective.parametersToVector gradient') (Objective.parametersToVector gradient) "gradient, bit for bit"
                let elsewhere = Parameters.random 35 0.5 net
                Expect.throwsT<ArgumentException> (fun () -> Objective.dataGradientFrom forward Ranks.single parts Reversal net elsewhere c y0 labels |> ignore) "another θ"
                Expect.throwsT<ArgumentException> (fun () -> Objective.dataGradientFrom forward Ranks.single (Ranks.whole s) Reversal net p c y0 labels |> ignore) "another layout"
                let problem = Objective.propagation (Objective.jacobiansFor net s Solve.linearise) Ranks.single None Reversal reg 1e-3 net c forward parts y0 labels parts y0 labels
                let lin = problem.Linearise x
                Expect.equal lin.Value (loss + Objective.parameterPenalty reg net p) "the subproblem's value from the kept forward pass"
                Expect.equal lin.Gradient (problem.Linearise x).Gradient "the kept forward pass serves once, then the gradient is recomputed alike"
        testCase "the reversal tape of a known final state gives the recorded tape's adjoint to the last bit" <| fun () ->
            let net = Network.create Verlet Tanh (Conv3x3(2, 4, 5)) 3 1.5 false
            let s, n = 13, Network.width net
            let y0 = batch 36 s n
            let p = Parameters.random 37 0.5 net
            let yBar = batch 38 s n
            let recorded = Solve.backward (Solve.record Reversal net p y0) yBar
            let final = (Solve.trajectory net p y0) |> Array.last
            let known = Solve.backward (Solve.reversalTape net p final) yBar
            Expect.equal (Objective.parametersToVector (fst known)) (Objective.parametersToVector (fst recorded)) "∂L/∂θ"
            Expect.equal ((snd known).ToColumnMajorArray()) ((snd recorded).ToColumnMajorArray()) "∂L/∂Y_0"
            Expect.throwsT<ArgumentException> (fun () -> Solve.reversalTape net p { final with Z = None } |> ignore) "Z_N missing"
            let resnet = Network.create ResNet Tanh (Conv3x3(2, 4, 5)) 3 1.5 false
            Expect.throwsT<ArgumentException> (fun () -> Solve.reversalTape resnet (Parameters.random 39 0.5 resnet) { Y = final.Y; Z = None } |> ignore) "forward Euler has no inverse"
        testCase "the Gauss–Newton product over blocks of examples equals J_θᵀ(∇²_Y S)J_θ v over the whole batch" <| fun () ->
            let net = Network.verlet { Network.defaults with width = 2; auxWidth = Some 3; depth = 3; finalTime = 1.0 }
            let s = Objective.blockRows 2 + 37
            let y0 = batch 25 s 2
            let labels = labelsFor Softmax 26 s 3
            let p = Parameters.random 27 0.5 net
            let c = Objective.classifierOfVector Softmax 2 3 (randomArray 28 9)
            let v = Parameters.random 29 1.0 net
            let z = Classifier.scores c (Solve.forward net p y0)
            let dY = Solve.sensitivity net p y0 v (Matrix<float>.Build.Dense(s, 2))
            let whole = fst (Solve.adjoint StoreAll net p y0 ((Classifier.hessianOfScores Softmax z labels (dY * c.W)) * c.W.Transpose()))
            for name, gn in [ "solves", Objective.gaussNewton None Ranks.single (Ranks.whole y0.RowCount) Reversal net p c y0 labels; "Jacobian", Objective.jacobianGaussNewton net p c y0 labels ] do
                let blocked = gn v
                let difference = Parameters.addScaled blocked -1.0 whole
                Expect.isLessThanOrEqual (sqrt (Parameters.dot difference difference)) (1e-12 * sqrt (Parameters.dot whole whole)) $"product by the {name}"
                let again = Parameters.addScaled (gn v) -1.0 blocked
                Expect.equal (Parameters.dot again again) 0.0 $"the recorded blocks serve every product by the {name} alike"
        testCase "classification with the Laplacian on the weight images (Eq. 5.25): Taylor, symmetric, convex" <| fun () ->
            let net = Network.create ResNet Tanh (Conv3x3(2, 4, 5)) 2 1.0 false
            let y = Solve.forward net (Parameters.random 31 0.3 net) (batch 32 13 40)
            let labels = labelsFor Softmax 33 13 3
            let reg = { Regulariser = ImageLaplacian(2, 4, 5); Alpha = 0.01; Shift = 0.01 }
            let problem = Objective.classification Ranks.single (Ranks.whole y.RowCount) reg Softmax y labels
            let x, v, u = randomArray 34 123, randomArray 35 123, randomArray 36 123
            let lin = problem.Linearise x
            expectTaylor "loss" (fun t -> problem.Evaluate (Array.map2 (fun a b -> a + t * b) x v)) (dotArrays lin.Gradient v)
            expectRelative 1e-12 "⟨Hv, u⟩ = ⟨v, Hu⟩" (dotArrays (lin.Curvature v) u) (dotArrays v (lin.Curvature u))
            expectRelative 1e-12 "preconditioner symmetric" (dotArrays (lin.Preconditioner v) u) (dotArrays v (lin.Preconditioner u))
            Expect.isGreaterThan (dotArrays (lin.Curvature v) v) 0.0 "convex"
        testCase "a seeded split by counts: disjoint, of the sizes asked, the same for the same seed" <| fun () ->
            let d = { Features = batch 41 30 2; Labels = Array.init 30 (fun i -> i % 3); Classes = 3 }
            let split = Dataset.splitCounts 5 17 9 d
            Expect.equal (Dataset.count split.Training, Dataset.count split.Validation) (17, 9) "sizes"
            let rowsOf (part: Dataset) = [ for i in 0 .. Dataset.count part - 1 -> part.Features.Row(i).ToArray() |> List.ofArray ]
            let all = rowsOf d |> Set.ofList
            let training, validation = rowsOf split.Training |> Set.ofList, rowsOf split.Validation |> Set.ofList
            Expect.isTrue (Set.isSubset training all && Set.isSubset validation all) "rows come from the data"
            Expect.isEmpty (Set.intersect training validation) "disjoint"
            Expect.equal (Dataset.splitCounts 5 17 9 d) split "deterministic"
            Expect.equal (Dataset.split 5 9 d) (Dataset.splitCounts 5 21 9 d) "split is splitCounts with every other example for training"
            Expect.throwsT<ArgumentException> (fun () -> Dataset.splitCounts 5 22 9 d |> ignore) "31 > 30"
        testCase "widening an image to c·H·W features repeats it in every channel" <| fun () ->
            let d = twoClassImages 51 4 3 5
            let wide = Dataset.widen 45 d
            for ch in 0 .. 2 do
                Expect.equal (wide.Features.SubMatrix(0, 4, 15 * ch, 15)) d.Features $"channel {ch}"
        testCase "block coordinate descent with the image settings learns synthetic images on a 3×3 convolutional Verlet network" <| fun () ->
            let height, width, channels = 6, 6, 2
            let data = twoClassImages 61 160 height width |> Dataset.widen (channels * height * width)
            let split = Dataset.splitCounts 62 120 40 data
            let options = TrainingOptions.images Verlet channels height width |> TrainingOptions.withSchedule 2 4
            let options = { options with Propagation = { options.Propagation with HessianSubsample = 60 } }
            let net = Network.create Verlet Tanh (Conv3x3(channels, height, width)) 2 6.0 false
            let r = Training.multilevel options Training.noControl net split
            Expect.equal (r.Levels |> List.map (fun l -> l.Depth)) [ 2; 4 ] "levels 2 and 4"
            Expect.isGreaterThanOrEqual r.BestValidationAccuracy 0.95 "separates the two classes"
            Expect.equal (Training.accuracy r.Best split.Validation) r.BestValidationAccuracy "the reported accuracy is the best model's"
            for l in r.Levels do
                Expect.equal (List.last l.History).TrainingAccuracy (Training.accuracy l.Final split.Training) $"the training accuracy from the accepted step's Y_N at {l.Depth} layers"
    ]

/// R ranks in one process, one thread each: every Gather waits for all R vectors and returns them
/// in rank order, as MPI_Allgather does.
let private simulatedRanks (size: int) : Ranks[] =
    let barrier = new Barrier(size)
    let slots: float[][] = Array.zeroCreate size
    let gather (rank: int) (x: float[]) =
        slots[rank] <- Array.copy x
        barrier.SignalAndWait()
        let all = Array.concat slots
        barrier.SignalAndWait()
        all
    Array.init size (fun r -> { Rank = r; Size = size; Gather = gather r })

/// Every rank's result of `work rank shardOfSplit`, the ranks on threads of their own.
let private onRanks (size: int) (split: Split) (work: Ranks -> Split -> 'a) : 'a[] =
    simulatedRanks size
    |> Array.map (fun ranks ->
        let shard = { Training = Ranks.shard ranks.Rank size split.Training; Validation = Ranks.validationShard ranks.Rank size split.Validation }
        Tasks.Task.Factory.StartNew((fun () -> work ranks shard), Tasks.TaskCreationOptions.LongRunning))
    |> Array.map (fun t -> t.Result)

let private bits (p: Parameters) = Objective.parametersToVector p |> Array.map BitConverter.DoubleToInt64Bits

let private rankTests =
    testList "data-parallel ranks (SPEC §11)" [
        testCase "shards are runs of whole parts that cover the examples in order" <| fun () ->
            for total in [ 1; 127; 128; 513; 8000; 50000; 100000 ] do
                let parts = Ranks.partCount total
                Expect.isTrue (parts >= 1 && parts <= Ranks.MaxParts) $"{total}: parts within 1…{Ranks.MaxParts}"
                for size in 1 .. min parts 5 do
                    let ranges = Array.init size (fun r -> Ranks.shardRange size r total)
                    Expect.equal (fst ranges[0]) 0 "the first shard starts at 0"
                    Expect.equal (ranges |> Array.sumBy snd) total "the shards cover every example"
                    for r in 1 .. size - 1 do
                        let s, _ = ranges[r]
                        Expect.equal s (fst ranges[r - 1] + snd ranges[r - 1]) "contiguous, in rank order"
                        Expect.notEqual (Ranks.partOf total (s - 1)) (Ranks.partOf total s) "a shard boundary is a part boundary"

        testCase "a shard of fewer parts than ranks is refused, naming the parts" <| fun () ->
            let d = (smallSplit 1).Training
            Expect.throwsC (fun () -> Ranks.shard 0 3 d |> ignore) (fun e -> Expect.stringContains e.Message "too few for 3 ranks" "the message")

        testCase "R simulated ranks train the bits of one process, with random batches and subsamples" <| fun () ->
            let d = Datasets.ellipses 3
            let split = { Training = Dataset.select [| 0 .. 599 |] d.Training; Validation = Dataset.select [| 0 .. 99 |] d.Validation }
            let options = { quick with Iterations = 3; BatchSize = 450; Propagation = { quick.Propagation with HessianSubsample = 200 } }
            let start = Training.initialModel options (Network.verlet { Network.defaults with width = 2; auxWidth = Some 2; depth = 4; finalTime = 20.0 }) 2
            let train (ranks: Ranks) (shard: Split) =
                Training.multilevelFrom { options with MaxDepth = 8 } { Training.noControl with Ranks = ranks } start shard
            let one = train Ranks.single split
            for size in 2 .. 4 do
                let all = onRanks size split train
                for r in all do
                    Expect.equal (bits r.Best.Parameters) (bits one.Best.Parameters) $"θ on {size} ranks"
                    Expect.equal (Objective.classifierToVector r.Best.Classifier) (Objective.classifierToVector one.Best.Classifier) $"the classifier on {size} ranks"
                    Expect.equal (r.Levels |> List.map (fun l -> l.History |> List.map (fun i -> i.Objective, i.ValidationAccuracy))) (one.Levels |> List.map (fun l -> l.History |> List.map (fun i -> i.Objective, i.ValidationAccuracy))) "every iteration's objective and accuracy"
    ]

/// Every training test.
let tests =
    testList "training" [
        parameterRegulariserTests
        classifierRegulariserTests
        optimiserTests
        objectiveTests
        prolongationTests
        datasetTests
        trainingTests
        rankTests
        imageTests ]
