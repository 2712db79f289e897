/// Speed never changes a result: the fast solves (row blocks on all cores, fused kernels,
/// vectorised tanh) agree with the straightforward solves of `Plain` to 1e-12 relative, and
/// the vectorised tanh stays within 4 ulp of Math.Tanh.
module StableOde.PropertyTests.EngineMatchesReference

open System
open Expecto
open FsCheck
open MathNet.Numerics.LinearAlgebra
open StableOde.Core
open StableOde.Core.Kernels

/// Relative agreement of the fast solves with the reference.
[<Literal>]
let Tolerance = 1e-12

/// A random case: network, parameters, input, a direction and an output cotangent.
type Case =
    { Net: Network
      P: Parameters
      Y0: Matrix<float>
      DTheta: Parameters
      DY0: Matrix<float>
      YBar: Matrix<float> }
    override c.ToString() =
        $"{Network.propagatorName c.Net.Propagator} {ModelFile.schemeToJson (Network.scheme c.Net)} %A{c.Net.Operator} %A{c.Net.Activation} depth {c.Net.Depth} s {c.Y0.RowCount}"

/// Batch sizes that give one block (with and without padding rows) and several blocks.
let batchSizes = [| 1; 5; 8; 13; 130; 300; 517; 1100 |]

let private caseOf (seed: int) : Case =
    let rng = Random seed
    let pick (a: 'a[]) = a[rng.Next a.Length]
    // Up to 9 features: the fused dense kernels form outputs four, two and one at a time.
    let n = 1 + rng.Next 9
    let propagator = pick [| ResNet; AntisymmetricResNet; Leapfrog; Verlet; Verlet4; Custom Scheme.resnet |]
    let square =
        pick
            [| Dense(n, n)
               Antisymmetric(Dense(n, n), pick [| 0.0; 0.3 |])
               NegativeSemidefinite(Dense(n, 1 + rng.Next 4))
               Conv3x3(1 + rng.Next 2, 2 + rng.Next 2, 2 + rng.Next 3) |]
    let op =
        match propagator with
        | AntisymmetricResNet -> Antisymmetric(pick [| Dense(n, n); Conv3x3(2, 3, 2) |], pick [| 0.0; 0.2 |])
        | Verlet | Verlet4 | Custom _ -> pick [| Dense(n, 1 + rng.Next 9); square |]
        | ResNet | Leapfrog -> square
    let propagator =
        match propagator with
        | Custom _ -> Custom(Generators.randomScheme rng (Operator.inWidth op = Operator.outWidth op))
        | p -> p
    let activation = pick [| Tanh; Tanh; Relu; Identity |]
    let depth = 1 + rng.Next 10
    let net = Network.create propagator activation op depth (0.5 + 3.0 * rng.NextDouble()) (rng.Next 4 = 0)
    let s = pick batchSizes
    let width = Network.width net
    let matrix rows cols = ofStorage rows cols (Parameters.gaussians rng (rows * cols))
    { Net = net
      P = Parameters.random (rng.Next()) 0.7 net
      Y0 = matrix s width
      DTheta = Parameters.random (rng.Next()) 1.0 net
      DY0 = matrix s width
      YBar = matrix s width }

let private relative (fast: float[]) (reference: float[]) =
    let diff = Array.map2 (-) fast reference
    sqrt (dot diff diff) / max (sqrt (dot reference reference)) Double.Epsilon

let private expectWithin (tolerance: float) (what: string) (fast: float[]) (reference: float[]) =
    let r = relative fast reference
    if not (r <= tolerance) then failtest $"{what}: relative difference {r:E2} > {tolerance:E0}"

let private expectClose = expectWithin Tolerance

/// The agreement asked of an adjoint strategy with the plain backend, which keeps every state:
/// round-off (`Tolerance`) for the strategies that keep or recompute states forward; for
/// Reversal, which rebuilds them backwards through the scheme's inverse, the reconstruction
/// accuracy of SPEC §2 (its drift grows with the stages a layer has: verlet4 has seven).
let private expectStrategyClose (strategy: AdjointStrategy) =
    expectWithin (if strategy = Reversal then Checks.Accuracy.reconstruction.relative else Tolerance)

let private strategies (net: Network) =
    [ yield StoreAll
      yield Checkpoints 1
      yield Checkpoints 3
      yield Solve.sqrtCheckpoints net
      if Scheme.isInvertible (Network.scheme net) then yield Reversal ]

let private config = { FsCheckConfig.defaultConfig with maxTest = 60 }

/// Solve.forward agrees with Plain.forward.
let private checkForward (c: Case) =
    expectClose (string c) (storage (Solve.forward c.Net c.P c.Y0)) (storage (Plain.forward c.Net c.P c.Y0))

/// Solve.sensitivity agrees with Plain.sensitivity.
let private checkSensitivity (c: Case) =
    expectClose (string c)
        (storage (Solve.sensitivity c.Net c.P c.Y0 c.DTheta c.DY0))
        (storage (Plain.sensitivity c.Net c.P c.Y0 c.DTheta c.DY0))

/// Solve.adjoint agrees with Plain.adjoint under every strategy.
let private checkAdjoint (c: Case) =
    let gRef, y0Ref = Plain.adjoint c.Net c.P c.Y0 c.YBar
    for strategy in strategies c.Net do
        let g, y0Bar = Solve.adjoint strategy c.Net c.P c.Y0 c.YBar
        expectStrategyClose strategy $"{c} %A{strategy}: ∂L/∂θ" ((Parameters.toVector g).AsArray()) ((Parameters.toVector gRef).AsArray())
        expectStrategyClose strategy $"{c} %A{strategy}: ∂L/∂Y_0" (storage y0Bar) (storage y0Ref)

/// The number of ulps between two doubles of the same sign (0 when equal).
let ulps (a: float) (b: float) =
    if a = b then 0L else abs (BitConverter.DoubleToInt64Bits a - BitConverter.DoubleToInt64Bits b)

let private tanhOf (xs: float[]) =
    let u = Array.zeroCreate xs.Length
    let d = Array.zeroCreate xs.Length
    tanhInto xs.Length xs u d
    u, d

/// Arguments across the whole range: ±0, subnormal, tiny, around the branch at 0.625, moderate,
/// where tanh rounds to ±1, huge, ±∞.
let tanhArguments =
    let special = [| 0.0; -0.0; Double.Epsilon; -Double.Epsilon; 1e-300; -1e-300; 1e-20; 1e-8; 0.3; 0.6249999999; 0.625; 0.6250000001; 1.0; 2.5; 7.0; 18.0; 19.1; 20.0; 40.0; 1e10; Double.MaxValue; Double.PositiveInfinity |]
    let rng = Random 11
    let random = Array.init 20001 (fun i -> (if i % 2 = 0 then 1.0 else -1.0) * Math.Pow(10.0, -12.0 + 14.0 * rng.NextDouble()))
    Array.concat [ special; Array.map (fun x -> -x) special; random ]

/// tanhInto, with and without σ', is within 4 ulp of Math.Tanh, keeps the sign of zero and NaN.
/// The thin products of `Kernels` (Y K, V Kᵀ and Xᵀ V, plain, accumulated and scaled) against
/// MathNet's products to 1e-13 of the norm, on shapes that cut them into every block they have:
/// batches shorter than one vector and between whole vectors, inputs of more than one panel,
/// groups of up to five outputs and fewer; and the products of rows read in place bit for bit
/// against those of a copy of the rows.
let private checkThinProducts () =
    let rng = Random 11
    let matrix (rows: int) (cols: int) = Matrix<float>.Build.Dense(rows, cols, fun _ _ -> rng.NextDouble() - 0.5)
    let close (name: string) (a: float[]) (b: Matrix<float>) =
        let err = (ofStorage b.RowCount b.ColumnCount a - b).FrobeniusNorm()
        Expect.isLessThanOrEqual err (1e-13 * max 1.0 (b.FrobeniusNorm())) name
    for s in [ 1; 3; 4; 7; 8; 9; 16; 17; 24; 33; 129 ] do
        for n in [ 1; 6; 129; 300 ] do
            for m in [ 1; 2; 5; 7; 10; 12 ] do
                let shape = $"s {s}, n {n}, m {m}"
                let y, k, v, d = matrix s n, matrix n m, matrix s m, matrix s m
                let yk = Array.copy (storage d)
                mulAdd true 0.5 s n m (storage y) (storage k) yk
                close $"Y K accumulated, {shape}" yk (d + 0.5 * (y * k))
                close $"Y K, {shape}" (storage (times y k)) (y * k)
                let e = matrix s n
                let vk = Array.copy (storage e)
                mulTransposeAdd true -2.0 s n m (storage v) (storage k) vk
                close $"V Kᵀ accumulated, {shape}" vk (e - 2.0 * (v * k.Transpose()))
                close $"V Kᵀ, {shape}" (storage (timesTranspose v k)) (v * k.Transpose())
                let g0 = matrix n m
                let yv = Array.copy (storage g0)
                transposeMulAdd true 3.0 s n m (storage y) (storage v) yv
                close $"Yᵀ V accumulated, {shape}" yv (g0 + 3.0 * (y.Transpose() * v))
                close $"Yᵀ V, {shape}" (storage (transposeTimes y v)) (y.Transpose() * v)
    let s, n, m = 211, 140, 7
    let y, k = matrix s n, matrix n m
    for first, rows in [ 0, s; 1, 9; 5, 3; 13, 130; 200, 11; 210, 1 ] do
        let copied = y.SubMatrix(first, rows, 0, n)
        let inPlace = Array.zeroCreate (rows * m)
        mulAddRows false 1.0 s first rows n m (storage y) (storage k) inPlace
        Expect.equal inPlace (storage (times copied k)) $"Y K of rows {first}+{rows}"
        let v = matrix rows m
        let dots = Array.zeroCreate (n * m)
        transposeMulAddRows false 1.0 s first rows n m (storage y) (storage v) dots
        Expect.equal dots (storage (transposeTimes copied v)) $"Xᵀ V of rows {first}+{rows}"

let private checkTanh () =
    let xs = Array.append tanhArguments [| Double.NaN; -Double.NaN |]
    for count in [ xs.Length; xs.Length - 1; xs.Length - 5; 3 ] do
        let part = Array.sub xs (xs.Length - count) count
        let withDerivative, _ = tanhOf part
        let alone = Array.zeroCreate count
        tanhInto count part alone null
        for u in [ withDerivative; alone ] do
            u |> Array.iteri (fun i t ->
                let x = part[i]
                let expected = Math.Tanh x
                if Double.IsNaN x then Expect.isTrue (Double.IsNaN t) $"tanh NaN = {t}"
                else
                    Expect.isTrue (ulps t expected <= 4L) $"tanh {x:R} = {t:R}, Math.Tanh gives {expected:R}"
                    Expect.equal (Double.IsNegative t) (Double.IsNegative expected) $"sign of tanh {x:R}")

/// A case for the convolution kernels: ResNet, Verlet (the fused whole-layer kernels), leapfrog,
/// antisymmetric ResNet, verlet4 or a random stage list (stage by stage) with a 3×3 convolution,
/// plain or antisymmetric (every fourth case, and every antisymmetric ResNet), of 1–8
/// channels (one group of `FusedConv.Group` output channels, padded, or two), images from 1×1 to
/// 5×6 or of 16×17 pixels (wide: blocks of 16–23 rows), and batch sizes whose blocks end in a
/// whole chunk of 16 examples or in a half one.
let private convCaseOf (seed: int) : Case =
    let rng = Random seed
    let conv =
        if rng.Next 4 = 0 then Conv3x3(1 + rng.Next 3, 16, 17)
        else Conv3x3(1 + rng.Next 8, 1 + rng.Next 5, 1 + rng.Next 6)
    let propagator =
        match rng.Next 8 with
        | 0 | 1 -> ResNet
        | 2 | 3 -> Verlet
        | 4 -> Leapfrog
        | 5 -> AntisymmetricResNet
        | 6 -> Verlet4
        | _ -> Custom(Generators.randomScheme rng true)
    let op =
        if propagator = AntisymmetricResNet || rng.Next 4 = 0 then Antisymmetric(conv, [| 0.0; 0.3 |][rng.Next 2])
        else conv
    let activation = [| Tanh; Tanh; Relu; Identity |][rng.Next 4]
    let net = Network.create propagator activation op (1 + rng.Next 4) (0.5 + 2.0 * rng.NextDouble()) (rng.Next 2 = 0)
    let s = [| 1; 8; 9; 16; 24; 37; 300 |][rng.Next 7]
    let width = Network.width net
    let matrix rows cols = ofStorage rows cols (Parameters.gaussians rng (rows * cols))
    { Net = net
      P = Parameters.random (rng.Next()) 0.4 net
      Y0 = matrix s width
      DTheta = Parameters.random (rng.Next()) 1.0 net
      DY0 = matrix s width
      YBar = matrix s width }

/// The direct convolution kernels (`Operator.fast…`: tiles of two vectors of examples, a scalar
/// loop past them) against the tap-by-tap products over whole columns, for every operator on a
/// 3×3 convolution of 1–7 channels (one or more groups of three output channels), images up to
/// 5×6 and batch sizes around a tile's 8 and 16 rows; each output is accumulated onto a random one.
let private checkDirectConvolution (seed: int) =
    let rng = Random seed
    let conv = Conv3x3(1 + rng.Next 7, 1 + rng.Next 5, 1 + rng.Next 6)
    let s = [| 1; 7; 8; 9; 16; 17; 40; 45 |][rng.Next 8]
    let random count = Parameters.gaussians rng count
    for op in [ conv; Antisymmetric(conv, 0.3); NegativeSemidefinite conv ] do
        let rows, cols = Operator.parameterShape op
        let theta, dTheta = random (rows * cols), random (rows * cols)
        let n, m = Operator.inWidth op, Operator.outWidth op
        let x, v, start = random (s * n), random (s * m), random (s * m)
        let both (f: bool -> float[] -> unit) (init: float[]) =
            let fast, plain = Array.copy init, Array.copy init
            f true fast
            f false plain
            expectClose $"seed {seed}, %A{op}, s = {s}" fast plain
        both (fun fast dst -> (if fast then Operator.fastApplyInto else Operator.applyInto) true 0.7 op s theta x dst) start
        both (fun fast dst -> (if fast then Operator.fastApplyTransposeInto else Operator.applyTransposeInto) true 0.7 op s theta v dst) (random (s * n))
        both (fun fast dst -> (if fast then Operator.fastDerivativeInto else Operator.derivativeInto) true 0.7 op s theta x dTheta dst) start
        both (fun fast g -> (if fast then Operator.fastDerivativeTransposeInto else Operator.derivativeTransposeInto) true 0.7 op s theta x v g) (random (rows * cols))

/// The recorded Jacobian's products agree with Plain: J δθ (δY_0 = 0) with the sensitivity,
/// Jᵀ Ȳ_N with the adjoint's ∂L/∂θ, the input-only (∂Y_N/∂Y_0)ᵀ Ȳ_N with its ∂L/∂Y_0.
let private checkJacobian (c: Case) =
    let jac = Solve.linearise c.Net c.P c.Y0
    let s, n = c.Y0.RowCount, c.Y0.ColumnCount
    let jv = zeros s n
    Solve.jvpInto jac c.DTheta jv
    expectClose $"{c}: J δθ" (storage jv) (storage (Plain.sensitivity c.Net c.P c.Y0 c.DTheta (zeros s n)))
    let gRef, y0Ref = Plain.adjoint c.Net c.P c.Y0 c.YBar
    let g = Parameters.zeros c.Net
    Solve.vjpInto jac c.YBar g
    expectClose $"{c}: Jᵀ Ȳ_N" ((Parameters.toVector g).AsArray()) ((Parameters.toVector gRef).AsArray())
    let yBar0 = zeros s n
    Solve.vjpInputInto jac c.YBar yBar0
    expectClose $"{c}: (∂Y_N/∂Y_0)ᵀ Ȳ_N" (storage yBar0) (storage y0Ref)
    let inPlace = c.YBar.Clone()
    Solve.vjpInputInto jac inPlace inPlace
    Expect.equal (storage inPlace) (storage yBar0) $"{c}: the input product written over Ȳ_N"

/// Forward, sensitivity, adjoint (every strategy) and the Jacobian's products agree with Plain.
let private checkAll (c: Case) =
    checkForward c
    checkSensitivity c
    checkAdjoint c
    checkJacobian c

/// Runs f with the fused dense and convolution kernels and tanhInto on Vector256, as on a
/// machine without AVX-512. The switch is process-wide, so the tests that use it run on their own (sequenced).
let private on256 (f: unit -> unit) =
    let saved = useVector512
    useVector512 <- false
    try f () finally useVector512 <- saved

let tests =
    testList "speed never changes a result" [
        testPropertyWithConfig { config with maxTest = 40 } "convolution: forward, sensitivity, adjoint and the Jacobian's products agree with Plain" (convCaseOf >> checkAll)

        testCase "the fused kernels inline σ: Fused and FusedConv make no closures" (fun () ->
            // A σ passed through a lambda that is not inlined becomes a closure called per vector:
            // the kernels then ran up to twice as slow with the same results.
            let closures =
                typeof<Fused.Scratch>.Assembly.GetTypes()
                |> Array.filter (fun t ->
                    (t.FullName.StartsWith "StableOde.Core.Fused+" || t.FullName.StartsWith "StableOde.Core.FusedConv+")
                    && t.Name.Contains "@" && not (t.Name.StartsWith "perThread@"))
                |> Array.map (fun t -> t.FullName)
            Expect.isEmpty closures "closure types in the kernel modules")

        testCase "the convolution runs the fused kernels wherever the dense ones run" (fun () ->
            for scheme, expected in [ ResNet, Engine.ConvResNet; Verlet, Engine.ConvVerlet; Leapfrog, Engine.ConvStages; Verlet4, Engine.ConvStages ] do
                for op in [ Conv3x3(2, 3, 3); Antisymmetric(Conv3x3(2, 3, 3), 0.1) ] do
                    let net = Network.create scheme Tanh op 2 1.0 false
                    Expect.equal (Engine.fusion net) (if Fused.available then expected else Engine.Stages) $"%A{scheme} %A{op}")

        testCase "a batch larger than one chunk of forward gives each example what it gives alone" <| fun () ->
            let net = Network.verlet { Network.defaults with width = 3; auxWidth = Some 2; depth = 4; finalTime = 1.5 }
            let p = Parameters.random 5 0.5 net
            let s = Solve.ChunkRows + 37
            let y0 = ofStorage s 3 (Parameters.gaussians (Random 6) (3 * s))
            let whole = Solve.forward net p y0
            for first, rows in [ 0, 5; Solve.ChunkRows - 2, 4; s - 3, 3 ] do
                let part = Solve.forward net p (y0.SubMatrix(first, rows, 0, 3))
                Expect.equal (whole.SubMatrix(first, rows, 0, 3)) part $"rows {first}…{first + rows - 1}"
            expectClose "against the reference" (storage whole) (storage (Plain.forward net p y0))

        testCase "a wide batch of several chunks gives each example what it gives alone, into any Y_N and in chunks of equal length" <| fun () ->
            let net = Network.create Verlet Tanh (Conv3x3(6, 28, 28)) 2 1.0 false
            let p = Parameters.random 7 0.3 net
            let n = Network.width net
            let rows = Solve.chunkRows n
            let s = 2 * rows + 8
            let y0 = ofStorage s n (Parameters.gaussians (Random 8) (n * s))
            let whole = Solve.forward net p y0
            for first, len in [ 0, 3; rows - 1, 2; 2 * rows + 5, 2 ] do
                Expect.equal (whole.SubMatrix(first, len, 0, n)) (Solve.forward net p (y0.SubMatrix(first, len, 0, n))) $"rows {first}…{first + len - 1}"
            let into = ofStorage s n (Array.create (n * s) nan)
            Solve.forwardInto net p y0 into
            Expect.equal into whole "forwardInto a matrix of NaN"
            let chunks = ResizeArray()
            Solve.forwardEach net p y0 (fun first yN ->
                Expect.equal yN (whole.SubMatrix(first, yN.RowCount, 0, n)) $"the chunk at row {first}"
                chunks.Add((first, yN.RowCount)))
            let width = (s + 2) / 3
            Expect.equal (List.ofSeq chunks) [ 0, width; width, width; 2 * width, s - 2 * width ] "three chunks, the last shorter by less than three"
            Expect.isLessThan (s - 2 * width) width "the last chunk is the shorter"

        testPropertyWithConfig config "forward agrees with Plain.forward" (caseOf >> checkForward)

        testPropertyWithConfig config "sensitivity agrees with Plain.sensitivity" (caseOf >> checkSensitivity)

        testPropertyWithConfig config "adjoint agrees with Plain.adjoint under every strategy" (caseOf >> checkAdjoint)

        testPropertyWithConfig config "the Jacobian's products agree with Plain" (caseOf >> checkJacobian)

        testCase "the Jacobian's products refuse a cotangent or an output of the wrong shape and a non-finite cotangent, naming the argument" (fun () ->
            let c = convCaseOf 3
            let jac = Solve.linearise c.Net c.P c.Y0
            let s, n = c.Y0.RowCount, c.Y0.ColumnCount
            let refused (name: string) (f: unit -> unit) =
                let e = Expect.throwsC f id
                match e with
                | :? ArgumentException as a -> Expect.equal a.ParamName name $"the argument named by: {a.Message}"
                | other -> failtest $"expected an ArgumentException, got {other.GetType().Name}"
            let poisoned = zeros s n
            poisoned[0, 0] <- Double.NaN
            refused "yBarN" (fun () -> Solve.vjpInputInto jac (zeros (s + 1) n) (zeros s n))
            refused "yBarN" (fun () -> Solve.vjpInputInto jac poisoned (zeros s n))
            refused "yBar0" (fun () -> Solve.vjpInputInto jac (zeros s n) (zeros s (n + 1)))
            refused "yBarN" (fun () -> Solve.vjpInto jac poisoned (Parameters.zeros c.Net))
            refused "dYN" (fun () -> Solve.jvpInto jac c.DTheta (zeros (s + 1) n)))

        testCase "a recorded tape gives the same adjoint twice" (fun () ->
            let c = caseOf 7
            for strategy in strategies c.Net do
                let tape = Solve.record strategy c.Net c.P c.Y0
                let g1, y1 = Solve.backward tape c.YBar
                let g2, y2 = Solve.backward tape c.YBar
                Expect.equal ((Parameters.toVector g1).AsArray()) ((Parameters.toVector g2).AsArray()) $"%A{strategy}: ∂L/∂θ"
                Expect.equal (storage y1) (storage y2) $"%A{strategy}: ∂L/∂Y_0")

        testCase "a tape of Solve.withTape gives record's adjoint, reuses its states and is refused once released" (fun () ->
            for seed in 7 .. 14 do
                let c = caseOf seed
                for strategy in strategies c.Net do
                    let expected = Solve.backward (Solve.record strategy c.Net c.P c.Y0) c.YBar
                    for call in 1 .. 2 do
                        let g, y = Solve.withTape strategy c.Net c.P c.Y0 (fun tape -> Solve.backward tape c.YBar)
                        Expect.equal ((Parameters.toVector g).AsArray()) ((Parameters.toVector (fst expected)).AsArray()) $"seed {seed}, %A{strategy}, call {call}: ∂L/∂θ"
                        Expect.equal (storage y) (storage (snd expected)) $"seed {seed}, %A{strategy}, call {call}: ∂L/∂Y_0"
                    let escaped = Solve.withTape strategy c.Net c.P c.Y0 id
                    Expect.throwsT<InvalidOperationException> (fun () -> Solve.backward escaped c.YBar |> ignore) $"seed {seed}, %A{strategy}: backward on a released tape"
                    Expect.throwsT<InvalidOperationException> (fun () -> Solve.backwardInput escaped c.YBar |> ignore) $"seed {seed}, %A{strategy}: backwardInput on a released tape"
            // A nested tape on the same thread has a store of its own: the outer tape's states stay.
            let c = caseOf 9
            let inner, outer =
                Solve.withTape StoreAll c.Net c.P c.Y0 (fun tape ->
                    let inner = Solve.withTape StoreAll c.Net c.P c.Y0 (fun t -> Solve.backward t c.YBar)
                    inner, Solve.backward tape c.YBar)
            Expect.equal (storage (snd outer)) (storage (snd inner)) "nested tapes: ∂L/∂Y_0")

        testCase "tapes of rows of a batch read them in place: the adjoints of record and reversalTape on a copy of the rows, bit for bit" (fun () ->
            for seed in 15 .. 26 do
                let c = caseOf seed
                let s = c.Y0.RowCount
                let first = s / 3
                let rows = max 1 (s - first - s / 5)
                let copy (m: Matrix<float>) = m.SubMatrix(first, rows, 0, m.ColumnCount)
                let yBar = copy c.YBar
                let expectSame what (g: Parameters) (expected: Parameters) =
                    Expect.equal ((Parameters.toVector g).AsArray()) ((Parameters.toVector expected).AsArray()) $"seed {seed}: {what}"
                for strategy in strategies c.Net do
                    let expected = Solve.backward (Solve.record strategy c.Net c.P (copy c.Y0)) yBar
                    for call in 1 .. 2 do
                        let g = Solve.withTapeOfRows strategy c.Net c.P c.Y0 first rows (fun tape -> Solve.backwardParameters tape yBar)
                        expectSame $"%A{strategy}, call {call}: backwardParameters on a tape of rows {first}…" g (fst expected)
                let net = c.Net
                if Scheme.isInvertible (Network.scheme net) then
                    let final = Solve.trajectory net c.P c.Y0 |> Array.last
                    let expected = Solve.backward (Solve.reversalTape net c.P { Y = copy final.Y; Z = final.Z |> Option.map copy }) yBar
                    let g, y = Solve.withReversalTapeOfRows net c.P final first rows (fun tape -> Solve.backward tape yBar)
                    expectSame "withReversalTapeOfRows: ∂L/∂θ" g (fst expected)
                    Expect.equal (storage y) (storage (snd expected)) $"seed {seed}: withReversalTapeOfRows: ∂L/∂Y_0"
                Expect.throwsT<ArgumentException> (fun () -> Solve.withTapeOfRows StoreAll net c.P c.Y0 first (s - first + 1) ignore) $"seed {seed}: rows beyond Y_0"
                let poisoned = c.Y0.Clone()
                poisoned[first + rows - 1, 0] <- nan
                Expect.throwsT<ArgumentException> (fun () -> Solve.withTapeOfRows StoreAll net c.P poisoned first rows ignore) $"seed {seed}: NaN in the rows"
                if first > 0 then
                    poisoned[first + rows - 1, 0] <- c.Y0[first + rows - 1, 0]
                    poisoned[first - 1, 0] <- nan
                    let g = Solve.withTapeOfRows StoreAll net c.P poisoned first rows (fun tape -> Solve.backwardParameters tape yBar)
                    expectSame "a NaN outside the rows is not read" g (fst (Solve.backward (Solve.record StoreAll net c.P (copy c.Y0)) yBar)))

        testCase "the Jacobians of Solve.withJacobiansFrom give linearise's products and are refused once released" (fun () ->
            let products (jac: Jacobian) (c: Case) =
                let jv = zeros c.Y0.RowCount c.Y0.ColumnCount
                Solve.jvpInto jac c.DTheta jv
                let g = Parameters.zeros c.Net
                Solve.vjpInto jac c.YBar g
                Array.append (storage jv) ((Parameters.toVector g).AsArray())
            let store = JacobianStore()
            for seed in 1 .. 12 do
                let c, other = (if seed % 2 = 0 then convCaseOf seed else caseOf seed), convCaseOf (seed + 100)
                let expected = products (Solve.linearise c.Net c.P c.Y0) c
                for call in 1 .. 2 do
                    // Two Jacobians of one call, of different networks, rent their activations side by side.
                    let got, gotOther =
                        Solve.withJacobiansFrom store (fun linearise ->
                            let jac, jacOther = linearise c.Net c.P c.Y0, linearise other.Net other.P other.Y0
                            products jac c, products jacOther other)
                    Expect.equal got expected $"seed {seed}, call {call}: J δθ and Jᵀ Ȳ_N, bit for bit"
                    Expect.equal gotOther (products (Solve.linearise other.Net other.P other.Y0) other) $"seed {seed}, call {call}: the second Jacobian's"
                let escaped = Solve.withJacobiansFrom store (fun linearise -> linearise c.Net c.P c.Y0)
                Expect.throwsT<InvalidOperationException> (fun () -> Solve.jvpInto escaped c.DTheta (zeros c.Y0.RowCount c.Y0.ColumnCount)) $"seed {seed}: jvpInto on a released Jacobian"
                Expect.throwsT<InvalidOperationException> (fun () -> Solve.vjpInto escaped c.YBar (Parameters.zeros c.Net)) $"seed {seed}: vjpInto on a released Jacobian"
                let linearise = Solve.withJacobiansFrom store id
                Expect.throwsT<InvalidOperationException> (fun () -> linearise c.Net c.P c.Y0 |> ignore) $"seed {seed}: the linearise after its function returned")

        testCase "repeated StoreAll gradients of one shape allocate no states" (fun () ->
            // 100 examples make one block, which runs on the calling thread: its allocations are
            // the thread's. The states of 512 layers take 512·104·3·8 bytes = 1.2 MiB.
            let net = Network.resnet { Network.defaults with width = 3; depth = 512; finalTime = 5.0 }
            let model = { Network = net; Parameters = Parameters.random 1 0.5 net; Classifier = Classifier.random 2 0.5 Softmax 3 2 }
            let y0 = ofStorage 100 3 (Parameters.gaussians (Random 3) 300)
            let labels = Classifier.labelMatrix Softmax 2 (Array.init 100 (fun i -> i % 2))
            let bytes () =
                let before = GC.GetAllocatedBytesForCurrentThread()
                GC.KeepAlive(Model.gradient StoreAll model y0 labels)
                GC.GetAllocatedBytesForCurrentThread() - before
            let first = bytes ()
            let again = List.min [ for _ in 1..3 -> bytes () ]
            let states = 8L * 512L * 104L * 3L
            Expect.isGreaterThan first states $"the first gradient records its states: {first} bytes"
            Expect.isLessThan again (first - states) $"bytes of a repeated gradient: {again}, the first {first}, the states {states}")

        testCase "the direct convolution kernels agree with the tap-by-tap products" (fun () -> for seed in 1 .. 40 do checkDirectConvolution seed)

        testCase "tanhInto is within 4 ulp of Math.Tanh, with and without σ', keeps the sign of zero and NaN" checkTanh
        testCase "the thin products Y K, V Kᵀ and Xᵀ V agree with MathNet's in every block, and on rows in place bit for bit" checkThinProducts

        testCase "tanhInto's derivative is 1/cosh² to 1e-14 relative, also where tanh rounds to ±1" (fun () ->
            let xs = tanhArguments |> Array.filter (fun x -> abs x < 300.0)
            let _, d = tanhOf xs
            Array.iteri (fun i x ->
                let c = Math.Cosh x
                let expected = 1.0 / (c * c)
                Expect.isTrue (abs (d[i] - expected) <= 1e-14 * expected) $"σ'({x:R}) = {d[i]:R}, 1/cosh² gives {expected:R}") xs)

        // Alone, so that the process's allocations are the calls' (a block's work runs on whichever
        // thread takes it, so the calling thread's count varies with the load).
        testSequenced
        <| testCase "a later call of Solve.withJacobiansFrom on one store allocates no activations" (fun () ->
            // 300 images of 6×16×17 through 3 Verlet layers keep 2·3·300·1,632·8 bytes = 23.5 MB.
            let net = Network.create Verlet Tanh (Conv3x3(6, 16, 17)) 3 1.5 false
            let p = Parameters.random 3 0.4 net
            let y0 = ofStorage 300 (Network.width net) (Parameters.gaussians (Random 4) (300 * Network.width net))
            let fresh = JacobianStore()
            let bytes () =
                let before = GC.GetTotalAllocatedBytes true
                Solve.withJacobiansFrom fresh (fun linearise -> GC.KeepAlive(linearise net p y0))
                GC.GetTotalAllocatedBytes true - before
            let first = bytes ()
            let again = List.min [ for _ in 1 .. 3 -> bytes () ]
            let activations = 8L * 2L * 3L * 300L * int64 (Network.width net)
            Expect.isGreaterThan first activations $"the first call allocates the activations: {first} bytes"
            Expect.isLessThan again (first - activations) $"bytes of a later call: {again}, the first {first}, the activations {activations}")

        testSequenced
        <| testList "with the kernels on 256-bit vectors (no AVX-512)" [
            testPropertyWithConfig config "forward, sensitivity, adjoint and the Jacobian's products agree with Plain" (fun (seed: int) ->
                let c = caseOf seed
                on256 (fun () -> checkAll c))
            testPropertyWithConfig { config with maxTest = 40 } "convolution: forward, sensitivity, adjoint and the Jacobian's products agree with Plain" (fun (seed: int) ->
                let c = convCaseOf seed
                on256 (fun () -> checkAll c))
            testCase "tanhInto is within 4 ulp of Math.Tanh" (fun () -> on256 checkTanh)
            testCase "the thin products agree with MathNet's in every block, and on rows in place bit for bit" (fun () -> on256 checkThinProducts)
            testCase "the direct convolution kernels agree with the tap-by-tap products" (fun () -> on256 (fun () -> for seed in 1 .. 40 do checkDirectConvolution seed)) ]
    ]
