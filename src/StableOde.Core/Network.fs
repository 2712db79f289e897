/// A network: which propagator, which operator, how deep, and its parameters θ (SPEC §1).
namespace StableOde.Core

open System
open MathNet.Numerics.LinearAlgebra
open StableOde.Core.Kernels

/// A network's architecture: everything but its parameters.
type Network =
    { /// The time-stepping scheme.
      Propagator: Propagator
      /// σ.
      Activation: Activation
      /// The operator K(θ) of every layer; a kick that reads Z uses its transpose.
      Operator: Operator
      /// N, the number of layers (time steps).
      Depth: int
      /// T, the final time; h = T / N.
      FinalTime: float
      /// Length of each b_j: the feature width, 1 for a bias tied across features, or the
      /// number of channels for a convolution (one bias per channel).
      BiasWidth: int
      /// Length of each c_j (when a stage names bias c, else 0), tied or per channel as for `BiasWidth`.
      AuxBiasWidth: int }

/// The settings of the dense constructors `Network.resnet`, `antisymmetric`, `leapfrog`, `verlet`,
/// `verlet4` and `custom`: start from `Network.defaults` and change what differs, as in
/// `Network.verlet { Network.defaults with width = 2; depth = 8; finalTime = 5.0 }`.
type NetworkSettings =
    { /// n, the width of the features Y.
      width: int
      /// m, the width of Z for the schemes whose K_j is n×m (Verlet, verlet4, custom); None: m = n.
      /// ResNet, the antisymmetric ResNet and leapfrog are square and refuse any other m.
      auxWidth: int option
      /// N, the number of layers (time steps).
      depth: int
      /// T, the final time; h = T / N.
      finalTime: float
      /// σ.
      activation: Activation
      /// γ ≥ 0 of the antisymmetric ResNet's A(K) = ½(K − Kᵀ − γI) (Eq. 4.12); the other
      /// propagators refuse any γ but 0.
      gamma: float
      /// Whether each b_j (and c_j) is one scalar shared by all features (the paper's bias).
      tiedBias: bool }

/// The parameters θ = (K_j, b_j, c_j), j = 0…N−1.
type Parameters =
    { /// The operator parameters of each layer, each of shape `Operator.parameterShape`.
      K: Matrix<float>[]
      /// The bias b_j of each layer, added by the kicks that name b.
      b: Vector<float>[]
      /// The bias c_j of each layer, added by the kicks that name c; empty when none does.
      c: Vector<float>[] }

/// Construction and validation of networks.
module Network =

    /// h = T / N.
    let stepSize (net: Network) = net.FinalTime / float net.Depth

    /// n, the width of the features Y.
    let width (net: Network) = Operator.inWidth net.Operator

    /// m, the width of Z (the operator's output width).
    let auxWidth (net: Network) = Operator.outWidth net.Operator

    /// The network's stage list (SPEC §1b).
    let scheme (net: Network) = Scheme.ofPropagator net.Propagator

    /// Whether the network's parameters carry c_j (a stage names bias c).
    let usesC (net: Network) = Scheme.usesC (scheme net)

    /// The name used in model files and on the command line.
    let propagatorName (p: Propagator) =
        match p with
        | ResNet -> "resnet"
        | AntisymmetricResNet -> "antisymmetric"
        | Leapfrog -> "leapfrog"
        | Verlet -> "verlet"
        | Verlet4 -> "verlet4"
        | Custom _ -> "custom"

    /// Parses the name of a built-in propagator (case-insensitive); "custom" needs its stage list.
    let tryParsePropagator (text: string) : Propagator option =
        match (if isNull text then "" else text.Trim().ToLowerInvariant()) with
        | "resnet" -> Some ResNet
        | "antisymmetric" -> Some AntisymmetricResNet
        | "leapfrog" -> Some Leapfrog
        | "verlet" -> Some Verlet
        | "verlet4" -> Some Verlet4
        | _ -> None

    /// Checks a network; throws ArgumentException naming the problem.
    let validate (net: Network) =
        Operator.validate net.Operator
        if net.Depth < 1 then invalidArg "depth" $"depth (number of layers) must be at least 1, got {net.Depth}"
        if not (Double.IsFinite net.FinalTime) || net.FinalTime <= 0.0 then
            invalidArg "finalTime" $"final time must be finite and positive, got {net.FinalTime}"
        let square = Operator.inWidth net.Operator = Operator.outWidth net.Operator
        match net.Propagator, net.Operator with
        | AntisymmetricResNet, Antisymmetric _ -> ()
        | AntisymmetricResNet, _ -> invalidArg "operator" "the antisymmetric ResNet needs the antisymmetric operator"
        | (ResNet | Leapfrog), _ when not square -> invalidArg "operator" "ResNet and leapfrog need a square operator"
        | _ -> ()
        Scheme.validate (width net) (auxWidth net) (scheme net)
        let checkBias name (len: int) (target: int) =
            if len < 1 || target % len <> 0 then
                invalidArg name $"bias length {len} must divide the width {target} it is added to"
        checkBias "biasWidth" net.BiasWidth (width net)
        if usesC net then checkBias "auxBiasWidth" net.AuxBiasWidth (auxWidth net)
        elif net.AuxBiasWidth <> 0 then invalidArg "auxBiasWidth" "only a scheme whose stages name bias c has c"

    let private make propagator activation op depth finalTime biasWidth auxBiasWidth =
        let net =
            { Propagator = propagator; Activation = activation; Operator = op; Depth = depth
              FinalTime = finalTime; BiasWidth = biasWidth; AuxBiasWidth = auxBiasWidth }
        validate net
        net

    /// The natural bias length for an operator's width: one per channel for a convolution,
    /// one per feature otherwise, or 1 when tied (the paper's scalar bias).
    let private biasLength (tied: bool) (op: Operator) (w: int) =
        if tied then 1
        else
            match op with
            | Conv3x3(c, _, _)
            | Antisymmetric(Conv3x3(c, _, _), _)
            | NegativeSemidefinite(Conv3x3(c, _, _)) -> c
            | _ -> w

    /// A network of any propagator on any operator; `tiedBias` ties each b_j (and c_j) to one scalar.
    let create (propagator: Propagator) (activation: Activation) (op: Operator) (depth: int) (finalTime: float) (tiedBias: bool) =
        Operator.validate op
        let bw = biasLength tiedBias op (Operator.inWidth op)
        let cw = if Scheme.usesC (Scheme.ofPropagator propagator) then biasLength tiedBias op (Operator.outWidth op) else 0
        make propagator activation op depth finalTime bw cw

    /// The settings a dense network starts from: n = 2, m = n, N = 4 (the first level of the
    /// paper's schedules), T = 1, tanh, γ = 0, one bias entry per feature.
    let defaults =
        { width = 2; auxWidth = None; depth = 4; finalTime = 1.0; activation = Tanh; gamma = 0.0; tiedBias = false }

    /// m of the settings: `auxWidth`, or n when it is None.
    let private auxWidthOf (s: NetworkSettings) = defaultArg s.auxWidth s.width

    /// Refuses an m other than n for a square propagator, naming the field.
    let private requireSquare (name: string) (s: NetworkSettings) =
        if auxWidthOf s <> s.width then invalidArg "auxWidth" $"{name} is square: auxWidth must be None or the width {s.width}, got {auxWidthOf s}"

    /// A dense network of a propagator whose K_j is n×m from the settings (γ = 0 only).
    let private dense (propagator: Propagator) (s: NetworkSettings) =
        if s.gamma <> 0.0 then invalidArg "gamma" $"only the antisymmetric ResNet has γ; {propagatorName propagator} needs gamma = 0, got {s.gamma}"
        create propagator s.activation (Dense(s.width, auxWidthOf s)) s.depth s.finalTime s.tiedBias

    /// ResNet (Eq. 2.1) with dense n×n layers.
    let resnet (s: NetworkSettings) =
        requireSquare "ResNet" s
        dense ResNet s

    /// Antisymmetric ResNet (Eq. 4.12) with dense layers and the settings' γ ≥ 0.
    let antisymmetric (s: NetworkSettings) =
        requireSquare "the antisymmetric ResNet" s
        create AntisymmetricResNet s.activation (Antisymmetric(Dense(s.width, s.width), s.gamma)) s.depth s.finalTime s.tiedBias

    /// Hamiltonian leapfrog (Eq. 4.16) with free dense n×n layers.
    let leapfrog (s: NetworkSettings) =
        requireSquare "leapfrog" s
        dense Leapfrog s

    /// Hamiltonian Verlet (Eq. 4.17) with K_j ∈ R^{n×m}.
    let verlet (s: NetworkSettings) = dense Verlet s

    /// The fourth-order verlet4 (SPEC §1b) with K_j ∈ R^{n×m}.
    let verlet4 (s: NetworkSettings) = dense Verlet4 s

    /// A user's stage list with dense K_j ∈ R^{n×m}.
    let custom (scheme: Scheme) (s: NetworkSettings) = dense (Custom scheme) s

    /// The same network with another depth (multilevel training keeps T and changes N).
    let withDepth (depth: int) (net: Network) = make net.Propagator net.Activation net.Operator depth net.FinalTime net.BiasWidth net.AuxBiasWidth

/// Algebra, validation and initialisation of parameters.
module Parameters =

    /// Checks entry j of the per-layer list `name`; the message is formatted only on failure, so
    /// that validating a deep network allocates nothing.
    let private checkFinite (name: string) (j: int) (values: float[]) =
        if not (allFinite values) then invalidArg $"{name}[{j}]" $"{name}[{j}] contains NaN or infinity"

    /// The entries of a matrix: its storage when dense (no copy), else a copy.
    let private entries (m: Matrix<float>) =
        match m with
        | :? MathNet.Numerics.LinearAlgebra.Double.DenseMatrix as d -> d.Values
        | _ -> m.ToColumnMajorArray()

    /// The entries of a vector: its storage when dense (no copy), else a copy.
    let private ventries (v: Vector<float>) =
        match v with
        | :? MathNet.Numerics.LinearAlgebra.Double.DenseVector as d -> d.Values
        | _ -> v.ToArray()

    /// Checks shapes and finiteness of θ against a network; throws ArgumentException naming the entry.
    let validate (net: Network) (p: Parameters) =
        if isNull (box p) || isNull p.K || isNull p.b || isNull p.c then invalidArg "parameters" "parameters must not be null"
        let rows, cols = Operator.parameterShape net.Operator
        if p.K.Length <> net.Depth then invalidArg "K" $"expected {net.Depth} entries in K (one per layer), got {p.K.Length}"
        if p.b.Length <> net.Depth then invalidArg "b" $"expected {net.Depth} entries in b (one per layer), got {p.b.Length}"
        let cCount = if Network.usesC net then net.Depth else 0
        if p.c.Length <> cCount then invalidArg "c" $"expected {cCount} entries in c, got {p.c.Length}"
        for j in 0 .. net.Depth - 1 do
            let k = p.K[j]
            if isNull k || k.RowCount <> rows || k.ColumnCount <> cols then
                invalidArg "K" $"K[{j}] must be {rows}×{cols}"
            checkFinite "K" j (entries k)
            if isNull p.b[j] || p.b[j].Count <> net.BiasWidth then invalidArg "b" $"b[{j}] must have length {net.BiasWidth}"
            checkFinite "b" j (ventries p.b[j])
            if cCount > 0 then
                if isNull p.c[j] || p.c[j].Count <> net.AuxBiasWidth then invalidArg "c" $"c[{j}] must have length {net.AuxBiasWidth}"
                checkFinite "c" j (ventries p.c[j])

    /// θ = 0.
    let zeros (net: Network) : Parameters =
        let rows, cols = Operator.parameterShape net.Operator
        { K = Array.init net.Depth (fun _ -> zeros rows cols)
          b = Array.init net.Depth (fun _ -> vzeros net.BiasWidth)
          c = Array.init (if Network.usesC net then net.Depth else 0) (fun _ -> vzeros net.AuxBiasWidth) }

    /// Standard normal numbers from a seeded generator (Box–Muller).
    let gaussians (rng: Random) (count: int) : float[] =
        Array.init count (fun _ ->
            let u1 = 1.0 - rng.NextDouble()
            let u2 = rng.NextDouble()
            sqrt (-2.0 * log u1) * cos (2.0 * Math.PI * u2))

    /// θ with every entry drawn from N(0, scale²) by a generator seeded with `seed`.
    let random (seed: int) (scale: float) (net: Network) : Parameters =
        let rng = Random seed
        let rows, cols = Operator.parameterShape net.Operator
        let draw n = Array.map (fun g -> scale * g) (gaussians rng n)
        { K = Array.init net.Depth (fun _ -> ofStorage rows cols (draw (rows * cols)))
          b = Array.init net.Depth (fun _ -> vofStorage (draw net.BiasWidth))
          c = Array.init (if Network.usesC net then net.Depth else 0) (fun _ -> vofStorage (draw net.AuxBiasWidth)) }

    /// Applies f entry by entry to two parameter sets of the same shape.
    let map2 (fK: Matrix<float> -> Matrix<float> -> Matrix<float>) (fv: Vector<float> -> Vector<float> -> Vector<float>) (p: Parameters) (q: Parameters) =
        { K = Array.map2 fK p.K q.K; b = Array.map2 fv p.b q.b; c = Array.map2 fv p.c q.c }

    /// p + α q.
    let addScaled (p: Parameters) (alpha: float) (q: Parameters) : Parameters =
        map2 (fun a b -> a + alpha * b) (fun a b -> a + alpha * b) p q

    /// α p.
    let scale (alpha: float) (p: Parameters) : Parameters =
        { K = Array.map (fun k -> alpha * k) p.K; b = Array.map (fun v -> alpha * v) p.b; c = Array.map (fun v -> alpha * v) p.c }

    /// ⟨p, q⟩ over all entries.
    let dot (p: Parameters) (q: Parameters) : float =
        let mutable acc = 0.0
        for j in 0 .. p.K.Length - 1 do
            acc <- acc + dot (storage p.K[j]) (storage q.K[j]) + p.b[j].DotProduct q.b[j]
        for j in 0 .. p.c.Length - 1 do
            acc <- acc + p.c[j].DotProduct q.c[j]
        acc

    /// The number of scalar parameters.
    let count (net: Network) =
        let rows, cols = Operator.parameterShape net.Operator
        net.Depth * (rows * cols + net.BiasWidth + net.AuxBiasWidth)

    /// θ as one flat vector: for each layer, K_j (column-major), b_j, then c_j.
    let toVector (p: Parameters) : Vector<float> =
        let parts =
            [| for j in 0 .. p.K.Length - 1 do
                 yield p.K[j].ToColumnMajorArray()
                 yield p.b[j].ToArray()
                 if p.c.Length > 0 then yield p.c[j].ToArray() |]
        vofStorage (Array.concat parts)

    /// The inverse of `toVector` for a network's shapes.
    let ofVector (net: Network) (v: Vector<float>) : Parameters =
        if v.Count <> count net then invalidArg (nameof v) $"expected {count net} parameters, got {v.Count}"
        let rows, cols = Operator.parameterShape net.Operator
        let a = v.ToArray()
        let mutable at = 0
        let take n =
            let part = Array.sub a at n
            at <- at + n
            part
        let K = Array.zeroCreate net.Depth
        let b = Array.zeroCreate net.Depth
        let c = Array.zeroCreate (if Network.usesC net then net.Depth else 0)
        for j in 0 .. net.Depth - 1 do
            K[j] <- ofStorage rows cols (take (rows * cols))
            b[j] <- vofStorage (take net.BiasWidth)
            if c.Length > 0 then c[j] <- vofStorage (take net.AuxBiasWidth)
        { K = K; b = b; c = c }
