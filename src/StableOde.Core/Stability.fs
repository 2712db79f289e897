/// Stability analysis (SPEC §6, paper §3): the spectra of the layers, the amplification of
/// perturbations by one step (Lemma 1 for forward Euler), the extreme singular values of
/// ∂Y_N/∂Y_0 by power and inverse iteration, and the Verlet Hamiltonian.
namespace StableOde.Core

open System
open System.Numerics
open MathNet.Numerics.LinearAlgebra
open StableOde.Core.Kernels

/// The stability of one layer.
type LayerStability =
    { /// j, from 0.
      Layer: int
      /// Eigenvalues of the layer's operator K(θ_j) (for an antisymmetric ResNet A(K_j)); for a
      /// scheme with a kick that reads Z (Verlet, verlet4), of the Hamiltonian block [[0, K_j], [−K_jᵀ, 0]]. Empty when the width is too
      /// large for a dense eigendecomposition.
      Eigenvalues: Complex[]
      /// The largest spectral radius, over the examples, of the step's amplification matrix
      /// linearised at the example's state: max_i |1 + hλ_i(J_j)| with J_j = diag(σ'(·)) K_jᵀ for
      /// forward Euler (Lemma 1); otherwise the same for the layer's amplification matrix of
      /// (y, z), the product of its stages' Jacobians. NaN when the width is too large for a dense eigendecomposition.
      Amplification: float
      /// Amplification ≤ 1 (up to round-off): perturbations do not grow through this layer.
      Stable: bool }

/// Extreme singular values of ∂Y_N/∂Y_0 over a batch.
type JacobianSpectrum =
    { /// σ_max: ≫ 1 means exploding gradients.
      Largest: float
      /// σ_min: ≪ 1 means vanishing gradients.
      Smallest: float
      /// Solves spent: n sensitivity solves for the exact per-example Jacobians, or the
      /// sensitivity–adjoint pairs of the power and inverse iterations.
      Iterations: int
      /// True when exact, or when both iterations met their tolerance within their limits.
      Converged: bool }

/// Everything `Stability.report` finds about a network.
type StabilityReport =
    { Propagator: Propagator
      StepSize: float
      /// The condition `Stable` tests, in words.
      Condition: string
      Layers: LayerStability[]
      Jacobian: JacobianSpectrum }

/// Spectra, Lemma 1, singular values of the input–output Jacobian, and conservation.
module Stability =

    /// The widest layer (n + m when a stage names Z) analysed with dense eigendecompositions.
    [<Literal>]
    let MaxDenseWidth = 256

    let private roundOff = 1e-10

    let private spectralRadius (m: Matrix<float>) =
        m.Evd().EigenValues |> Seq.map (fun l -> l.Magnitude) |> Seq.max

    /// The condition `LayerStability.Stable` checks for a propagator.
    let condition (p: Propagator) =
        match p with
        | ResNet | AntisymmetricResNet ->
            "Lemma 1: max_i |1 + h λ_i(J_j)| ≤ 1 with J_j = diag(σ'(Y_j K_j + b_j)) K_jᵀ at every example"
        | Leapfrog ->
            "leapfrog: the amplification matrix [[I + ωh²J_j, hI], [ωhJ_j, I]] of (y, z) has spectral radius ≤ 1 at every example"
        | Verlet ->
            "Verlet: the staggered amplification matrix of (y, z) has spectral radius ≤ 1 at every example (it is symplectic: |μ| = 1 when stable)"
        | Verlet4 | Custom _ ->
            "the layer's amplification matrix of (y, z), the product of its stages' Jacobians, has spectral radius ≤ 1 at every example"

    /// Whether a scheme's layer spectrum is that of the Hamiltonian block [[0, K], [−Kᵀ, 0]]:
    /// when a kick reads Z (Verlet-like), rather than K's own.
    let private readsZ (scheme: Scheme) =
        scheme.Stages |> List.exists (fun s -> s.Kind = Kick && s.Source = Variable.Z)

    /// The amplification matrix of layer j linearised at one example's state (y, z): the product
    /// of its stages' Jacobians, each I + α E_T J E_Sᵀ on the stacked state [y; z] (z only when
    /// a stage names Z), with J = diag(σ'(y K + β)) Kᵀ for a kick reading y, diag(σ'(z Kᵀ + β)) K
    /// for a kick reading z, and J = I for a drift. ResNet's is Lemma 1's I + h diag(σ') Kᵀ.
    let private amplification (net: Network) (j: int) (h: float) (k: Matrix<float>) (b: Vector<float>) (c: Vector<float>) (y: Vector<float>) (z: Vector<float>) =
        let act = net.Activation
        let scheme = Network.scheme net
        let n, m = k.RowCount, k.ColumnCount
        let withZ = Scheme.usesZ scheme
        let size = if withZ then n + m else n
        let offset v = if v = Variable.Y then 0 else n
        let mutable y, z = y, z
        let mutable total = Matrix<float>.Build.DenseIdentity size
        for stage in scheme.Stages do
            let alpha = Scheme.coefficient j stage * h
            let source = if stage.Source = Variable.Y then y else z
            let bias = if stage.Bias = Some BiasName.C then c else b
            let struct (jac: Matrix<float>, increment: Vector<float>) =
                match stage.Kind with
                | Drift -> struct (Matrix<float>.Build.DenseIdentity source.Count, source)
                | Kick ->
                    let a = (if stage.Source = Variable.Y then k.TransposeThisAndMultiply source else k * source) + bias
                    let d = Matrix<float>.Build.DiagonalOfDiagonalVector(a.Map(fun x -> Activation.derivative act x))
                    struct (d * (if stage.Source = Variable.Y then k.Transpose() else k), a.Map(fun x -> Activation.value act x))
            let e = Matrix<float>.Build.DenseIdentity size
            e.SetSubMatrix(offset stage.Target, offset stage.Source, e.SubMatrix(offset stage.Target, jac.RowCount, offset stage.Source, jac.ColumnCount) + alpha * jac)
            total <- e * total
            if stage.Target = Variable.Y then y <- y + alpha * increment else z <- z + alpha * increment
        total

    /// The bias of a layer expanded to a full-width vector.
    let private expand (width: int) (v: Vector<float>) =
        let g = width / v.Count
        Vector<float>.Build.Dense(width, fun f -> v[f / g])

    /// Per-layer spectra and amplification at the states the batch Y_0 passes through
    /// (at Y_0 = 0, one example, when no data is given).
    let layers (net: Network) (p: Parameters) (data: Matrix<float> option) : LayerStability[] =
        let n = Network.width net
        let m = Network.auxWidth net
        let y0 = defaultArg data (Kernels.zeros 1 n)
        let states = Solve.trajectory net p y0
        let h = Network.stepSize net
        let scheme = Network.scheme net
        let analysable = (if Scheme.usesZ scheme then n + m else n) <= MaxDenseWidth
        Array.init net.Depth (fun j ->
            if not analysable then
                { Layer = j; Eigenvalues = [||]; Amplification = nan; Stable = false }
            else
                let k = Operator.matrix net.Operator p.K[j]
                let eigenvalues =
                    if readsZ scheme then
                        let zero r c = Matrix<float>.Build.Dense(r, c)
                        (zero n n).Append(k).Stack((-k.Transpose()).Append(zero m m)).Evd().EigenValues.ToArray()
                    else k.Evd().EigenValues.ToArray()
                let b = expand n p.b[j]
                let c = if Network.usesC net then expand m p.c[j] else Vector<float>.Build.Dense 0
                let state = states[j]
                let radius =
                    Seq.init y0.RowCount (fun i ->
                        let z =
                            match state.Z with
                            | Some z -> z.Row i
                            | None -> Vector<float>.Build.Dense m
                        spectralRadius (amplification net j h k b c (state.Y.Row i) z))
                    |> Seq.max
                { Layer = j; Eigenvalues = eigenvalues; Amplification = radius; Stable = radius <= 1.0 + roundOff })

    let private frobenius (a: Matrix<float>) = a.FrobeniusNorm()

    let private inner (a: Matrix<float>) (b: Matrix<float>) = dot (storage a) (storage b)

    /// The singular values of each example's Jacobian ∂y_N/∂y_0, exactly, one vector per example
    /// (descending): the examples are independent, so ∂Y_N/∂Y_0 is block diagonal with one n×n
    /// Jacobian per example; n sensitivity solves with δY_0 = e_i in every row give column i of all
    /// of them at once, and an SVD of each gives its singular values. Cost: n sensitivity solves.
    let exampleSingularValues (net: Network) (p: Parameters) (y0: Matrix<float>) : Vector<float>[] =
        let s, n = y0.RowCount, y0.ColumnCount
        let zeroTheta = Parameters.zeros net
        let columns =
            Array.init n (fun i -> Solve.sensitivity net p y0 zeroTheta (Matrix<float>.Build.Dense(s, n, fun _ c -> if c = i then 1.0 else 0.0)))
        Array.init s (fun e -> Matrix<float>.Build.Dense(n, n, fun r c -> columns[c][e, r]).Svd(false).S)

    /// The largest and smallest singular values of ∂Y_N/∂Y_0 over the batch Y_0, exactly, from
    /// `exampleSingularValues`. Cost: n sensitivity solves.
    let jacobianSpectrumExact (net: Network) (p: Parameters) (y0: Matrix<float>) : JacobianSpectrum =
        let singular = exampleSingularValues net p y0
        let n = y0.ColumnCount
        { Largest = singular |> Array.map (fun v -> v.Maximum()) |> Array.max
          Smallest = singular |> Array.map (fun v -> v.Minimum()) |> Array.min
          Iterations = n
          Converged = true }

    /// The largest and smallest singular values of ∂Y_N/∂Y_0 over the batch Y_0 by power iteration
    /// on JᵀJ (σ_max) and inverse iteration with conjugate gradients on JᵀJ (σ_min), each product
    /// J v a sensitivity solve and Jᵀ w an adjoint solve: for widths too large for the exact method.
    /// Each iteration gains a factor (σ₂/σ₁)², so clustered singular values converge slowly;
    /// `Converged` says whether both met the relative tolerance within `maxIterations`.
    let jacobianSpectrumIterative (tolerance: float) (maxIterations: int) (net: Network) (p: Parameters) (y0: Matrix<float>) : JacobianSpectrum =
        let tape = Solve.record StoreAll net p y0
        let zeroTheta = Parameters.zeros net
        let mutable products = 0
        let mutable converged = true
        let normal (v: Matrix<float>) =
            products <- products + 1
            let jv = Solve.sensitivity net p y0 zeroTheta v
            snd (Solve.backward tape jv)
        let normalise (v: Matrix<float>) = v / frobenius v
        let start = normalise (ofStorage y0.RowCount y0.ColumnCount (Parameters.gaussians (Random 0) (y0.RowCount * y0.ColumnCount)))
        let rec power (v: Matrix<float>) (previous: float) (k: int) =
            let w = normal v
            let lambda = inner v w
            let wn = frobenius w
            if wn = 0.0 || abs (lambda - previous) <= tolerance * abs lambda then max lambda 0.0
            elif k >= maxIterations then
                converged <- false
                max lambda 0.0
            else power (w / wn) lambda (k + 1)
        let largest = power start nan 1
        let solve (rhs: Matrix<float>) =
            let x = rhs.Clone()
            x.Clear()
            let mutable x = x
            let mutable r = rhs.Clone()
            let mutable d = r.Clone()
            let mutable rr = inner r r
            let stop = (tolerance * tolerance * 1e-4) * rr
            let mutable it = 0
            while it < maxIterations && rr > stop do
                let q = normal d
                let dq = inner d q
                if dq <= 0.0 then it <- maxIterations
                else
                    let alpha = rr / dq
                    x <- x + alpha * d
                    r <- r - alpha * q
                    let rr' = inner r r
                    d <- r + (rr' / rr) * d
                    rr <- rr'
                    it <- it + 1
            if rr > stop then converged <- false
            x
        let rec inverse (v: Matrix<float>) (previous: float) (k: int) =
            let x = solve v
            let xn = frobenius x
            if xn = 0.0 || not (Double.IsFinite xn) then
                converged <- false
                previous
            else
                let v' = x / xn
                let rayleigh = inner v' (normal v')
                if abs (rayleigh - previous) <= tolerance * abs rayleigh then rayleigh
                elif k >= maxIterations then
                    converged <- false
                    rayleigh
                else inverse v' rayleigh (k + 1)
        let smallest = if largest = 0.0 then 0.0 else inverse start (inner start (normal start)) 1
        { Largest = sqrt largest; Smallest = sqrt (max smallest 0.0); Iterations = products; Converged = converged }

    /// The extreme singular values of ∂Y_N/∂Y_0: exact for widths up to `MaxDenseWidth`, else by
    /// power and inverse iteration to relative tolerance 1e-4 with at most 20 iterations each (and
    /// 20 CG iterations a solve: at most 420 sensitivity–adjoint pairs), so that a convolutional
    /// network of thousands of features is reported in seconds to a minute; `Converged` says
    /// whether the estimates met the tolerance.
    let jacobianSpectrum (net: Network) (p: Parameters) (y0: Matrix<float>) : JacobianSpectrum =
        if y0.ColumnCount <= MaxDenseWidth then jacobianSpectrumExact net p y0
        else jacobianSpectrumIterative 1e-4 20 net p y0

    /// The whole analysis at a batch Y_0 (at Y_0 = 0, one example, when no data is given).
    let report (net: Network) (p: Parameters) (data: Matrix<float> option) : StabilityReport =
        Network.validate net
        Parameters.validate net p
        let y0 = defaultArg data (Kernels.zeros 1 (Network.width net))
        { Propagator = net.Propagator
          StepSize = Network.stepSize net
          Condition = condition net.Propagator
          Layers = layers net p (Some y0)
          Jacobian = jacobianSpectrum net p y0 }

    /// Refuses a network whose scheme is not Hamiltonian.
    let private requireHamiltonian (net: Network) =
        if not (Scheme.isHamiltonian (Network.scheme net)) then
            invalidArg (nameof net) "the Hamiltonian H(y, z) is defined for schemes of kicks Z ← Y (bias c) and Y ← Z (bias b): Verlet, verlet4"

    /// The Verlet Hamiltonian H(y, z) = Σ_k S((y K + c)_k) + Σ_i S((z Kᵀ + b)_i), S' = σ, with the
    /// weights of layer j, summed over the examples of a state (Y, Z): conserved exactly by the
    /// continuous dynamics when the weights are constant in time.
    let hamiltonian (net: Network) (p: Parameters) (j: int) (state: State) : float =
        requireHamiltonian net
        let z =
            match state.Z with
            | Some z -> z
            | None -> invalidArg (nameof state) "a Verlet state needs Z"
        let s = state.Y.RowCount
        let n, m = Network.width net, Network.auxWidth net
        let e = Operator.apply net.Operator p.K[j] state.Y
        let a = Operator.applyTranspose net.Operator p.K[j] z
        Layer.addBias s m (vstorage p.c[j]) (storage e)
        Layer.addBias s n (vstorage p.b[j]) (storage a)
        let S = Activation.antiderivative net.Activation
        Array.sumBy S (storage e) + Array.sumBy S (storage a)

    /// H along a Verlet trajectory: H(Y_j, Z_{j−½}) with the weights of layer j (of layer N−1 at
    /// j = N), j = 0…N. With constant weights it stays in a band of width O(h) without drift.
    let hamiltonianAlong (net: Network) (p: Parameters) (y0: Matrix<float>) : float[] =
        let states = Solve.trajectory net p y0
        Array.init (net.Depth + 1) (fun j -> hamiltonian net p (min j (net.Depth - 1)) states[j])

    /// The right-hand side of the Hamiltonian system with the weights of layer j: (ẏ, ż) =
    /// (σ(z K_jᵀ + b_j), −σ(y K_j + c_j)).
    let private hamiltonianField (net: Network) (p: Parameters) (j: int) (y: Matrix<float>) (z: Matrix<float>) =
        let s = y.RowCount
        let n, m = Network.width net, Network.auxWidth net
        let layerMap (transposed: bool) (x: Matrix<float>) =
            let a =
                if transposed then Operator.applyTranspose net.Operator p.K[j] x
                else Operator.apply net.Operator p.K[j] x
            let width, bias = if transposed then n, p.b[j] else m, p.c[j]
            Layer.addBias s width (vstorage bias) (storage a)
            Layer.activate net.Activation (storage a) |> ofStorage s width
        layerMap true z, -(layerMap false y)

    /// H along the same Hamiltonian system integrated by explicit Euler,
    /// Y_{j+1} = Y_j + h σ(Z_j K_jᵀ + b_j), Z_{j+1} = Z_j − h σ(Y_j K_j + c_j), Z_0 = 0: the
    /// non-symplectic comparison, whose H drifts.
    let eulerHamiltonianAlong (net: Network) (p: Parameters) (y0: Matrix<float>) : float[] =
        requireHamiltonian net
        Parameters.validate net p
        let h = Network.stepSize net
        let mutable state = { Y = copy y0; Z = Some(Kernels.zeros y0.RowCount (Network.auxWidth net)) }
        Array.init (net.Depth + 1) (fun j ->
            let layer = min j (net.Depth - 1)
            let value = hamiltonian net p layer state
            if j < net.Depth then
                let dy, dz = hamiltonianField net p j state.Y state.Z.Value
                state <- { Y = state.Y + h * dy; Z = Some(state.Z.Value + h * dz) }
            value)

    /// y(T) of the Hamiltonian system ẏ = σ(z K_0ᵀ + b_0), ż = −σ(y K_0 + c_0), y(0) = Y_0,
    /// z(0) = 0, with the weights of the network's layer 0 held constant over its T, by classical
    /// RK4 in `steps` steps: a reference, independent of any stage list, against which a scheme's
    /// order of accuracy is measured.
    let hamiltonianFlowRk4 (net: Network) (p: Parameters) (y0: Matrix<float>) (steps: int) : Matrix<float> =
        requireHamiltonian net
        Parameters.validate net p
        if steps < 1 then invalidArg (nameof steps) $"RK4 needs at least 1 step, got {steps}"
        let h = net.FinalTime / float steps
        let f = hamiltonianField net p 0
        let mutable y, z = copy y0, Kernels.zeros y0.RowCount (Network.auxWidth net)
        for _ in 1 .. steps do
            let k1y, k1z = f y z
            let k2y, k2z = f (y + 0.5 * h * k1y) (z + 0.5 * h * k1z)
            let k3y, k3z = f (y + 0.5 * h * k2y) (z + 0.5 * h * k2z)
            let k4y, k4z = f (y + h * k3y) (z + h * k3z)
            y <- y + h / 6.0 * (k1y + 2.0 * k2y + 2.0 * k3y + k4y)
            z <- z + h / 6.0 * (k1z + 2.0 * k2z + 2.0 * k3z + k4z)
        y

    /// A Hamiltonian scheme as an ODE solver (SPEC §1b): for every depth N of `depths`, the
    /// network at depth N with the weights of its layer 0 in every layer, and the error
    /// ‖Y_N − y(T)‖_F against `hamiltonianFlowRk4` in `referenceSteps` steps. The observed order
    /// between N and 2N is log₂(e(N)/e(2N)).
    let constantWeightErrors (net: Network) (p: Parameters) (y0: Matrix<float>) (depths: int list) (referenceSteps: int) : float list =
        let exact = hamiltonianFlowRk4 net p y0 referenceSteps
        depths
        |> List.map (fun depth ->
            let fine = Network.withDepth depth net
            let constant = { K = Array.create depth p.K[0]; b = Array.create depth p.b[0]; c = Array.create depth p.c[0] }
            (Solve.forward fine constant y0 - exact).FrobeniusNorm())
