/// Schemes as stage lists (SPEC §1b): every propagator is a short list of kicks and drifts that
/// each layer j applies, in order, to the state (Y, Z). The list is the one place a scheme's
/// mathematics lives; the forward step, its linearisation, its transpose, its inverse and the
/// layer Jacobian all follow from it.
namespace StableOde.Core

open System

/// A state variable of a scheme.
[<RequireQualifiedAccess>]
type Variable =
    /// Y ∈ R^{s×n}: the features and the output.
    | Y
    /// Z ∈ R^{s×m}: the second variable, 0 at the start; it exists when a stage names it.
    | Z

/// The bias a kick adds.
[<RequireQualifiedAccess>]
type BiasName =
    /// b_j (length n, tied, or one per channel).
    | B
    /// c_j (length m, tied, or one per channel).
    | C

/// What a stage computes.
type StageKind =
    /// T ← T + a·h·σ(S·K̂_j + β_j), with K̂_j = K_j when S = Y and K_jᵀ when S = Z.
    | Kick
    /// T ← T + a·h·S.
    | Drift

/// One stage of a scheme.
type Stage =
    { /// Kick or drift.
      Kind: StageKind
      /// T, the variable the stage updates.
      Target: Variable
      /// S, the variable the stage reads.
      Source: Variable
      /// β, the bias of a kick; None for a drift.
      Bias: BiasName option
      /// The coefficient a of every layer (but the first when `AFirst` is given).
      A: float
      /// The coefficient of layer 0, when it differs from `A`.
      AFirst: float option }

/// A scheme: the stages each layer applies, in order.
type Scheme =
    { /// The stages, in the order they are applied.
      Stages: Stage list }

/// The time-stepping scheme of a network (SPEC §1, §1b). Each case is a stage list of `Scheme`.
type Propagator =
    /// Forward Euler (Eq. 2.1): Y_{j+1} = Y_j + h σ(Y_j K_j + b_j).
    | ResNet
    /// Forward Euler on the antisymmetric operator A(K) = ½(K − Kᵀ − γI) (Eq. 4.12).
    | AntisymmetricResNet
    /// Hamiltonian leapfrog (Eq. 4.13, 4.16): Y_{j+1} = 2Y_j − Y_{j−1} + h² σ(Y_j K_j + b_j).
    | Leapfrog
    /// Hamiltonian Verlet (Eq. 4.15, 4.17) in the two variables Y and Z.
    | Verlet
    /// The fourth-order Forest–Ruth splitting of the Verlet ODE (SPEC §1b).
    | Verlet4
    /// A user's stage list.
    | Custom of Scheme

/// Construction, queries and validation of schemes.
[<RequireQualifiedAccess>]
module Scheme =

    /// A kick T ← T + a·h·σ(S·K̂_j + β_j).
    let kick (target: Variable) (source: Variable) (bias: BiasName) (a: float) : Stage =
        { Kind = Kick; Target = target; Source = source; Bias = Some bias; A = a; AFirst = None }

    /// A drift T ← T + a·h·S.
    let drift (target: Variable) (source: Variable) (a: float) : Stage =
        { Kind = Drift; Target = target; Source = source; Bias = None; A = a; AFirst = None }

    /// The same stage with coefficient `aFirst` in layer 0.
    let withFirst (aFirst: float) (stage: Stage) : Stage = { stage with AFirst = Some aFirst }

    /// A scheme of the given stages.
    let ofStages (stages: Stage list) : Scheme = { Stages = stages }

    /// The coefficient a stage applies in layer j.
    let coefficient (j: int) (stage: Stage) =
        match stage.AFirst with
        | Some first when j = 0 -> first
        | _ -> stage.A

    /// ResNet and antisymmetric ResNet (Eq. 2.1, 4.12): kick Y ← Y (bias b, a = 1), that is
    /// Y_{j+1} = Y_j + h σ(Y_j K_j + b_j).
    let resnet = ofStages [ kick Variable.Y Variable.Y BiasName.B 1.0 ]

    /// Leapfrog (Eq. 4.16 with Z_{j+½} = (Y_{j+1} − Y_j)/h): kick Z ← Y (bias b, a = 1,
    /// aFirst = ½), drift Y ← Z (a = 1), that is Z_{j+½} = Z_{j−½} + ω_j h σ(Y_j K_j + b_j),
    /// Y_{j+1} = Y_j + h Z_{j+½} (ω_0 = ½, else 1), which is Y_1 = Y_0 + ½h² σ(Y_0 K_0 + b_0),
    /// Y_{j+1} = 2Y_j − Y_{j−1} + h² σ(Y_j K_j + b_j).
    let leapfrog =
        ofStages [ kick Variable.Z Variable.Y BiasName.B 1.0 |> withFirst 0.5; drift Variable.Y Variable.Z 1.0 ]

    /// The paper's Verlet (Eq. 4.17): kick Z ← Y (bias c, a = −1), kick Y ← Z (bias b, a = 1),
    /// that is Z_{j+½} = Z_{j−½} − h σ(Y_j K_j + c_j), Y_{j+1} = Y_j + h σ(Z_{j+½} K_jᵀ + b_j).
    let verlet = ofStages [ kick Variable.Z Variable.Y BiasName.C -1.0; kick Variable.Y Variable.Z BiasName.B 1.0 ]

    /// The symmetric Verlet (SPEC §1b, second order): kick Z ← Y (bias c, a = −½), kick Y ← Z
    /// (bias b, a = 1), kick Z ← Y (bias c, a = −½), that is Z_{j+½} = Z_j − ½h σ(Y_j K_j + c_j),
    /// Y_{j+1} = Y_j + h σ(Z_{j+½} K_jᵀ + b_j), Z_{j+1} = Z_{j+½} − ½h σ(Y_{j+1} K_j + c_j). Not a
    /// propagator of its own: networks take it as `Custom symmetricVerlet`.
    let symmetricVerlet =
        ofStages [ kick Variable.Z Variable.Y BiasName.C -0.5; kick Variable.Y Variable.Z BiasName.B 1.0; kick Variable.Z Variable.Y BiasName.C -0.5 ]

    /// θ = 1/(2 − 2^{1/3}), the Forest–Ruth coefficient.
    let forestRuthTheta = 1.0 / (2.0 - Math.Pow(2.0, 1.0 / 3.0))

    /// verlet4 (SPEC §1b, Forest–Ruth, fourth order) for ẏ = σ(z Kᵀ + b), ż = −σ(y K + c):
    /// Y ← Z (b, θ/2); Z ← Y (c, −θ); Y ← Z (b, (1−θ)/2); Z ← Y (c, −(1−2θ)); Y ← Z (b, (1−θ)/2);
    /// Z ← Y (c, −θ); Y ← Z (b, θ/2), θ = 1/(2 − 2^{1/3}).
    let verlet4 =
        let t = forestRuthTheta
        let y a = kick Variable.Y Variable.Z BiasName.B a
        let z a = kick Variable.Z Variable.Y BiasName.C a
        ofStages [ y (t / 2.0); z (-t); y ((1.0 - t) / 2.0); z (-(1.0 - 2.0 * t)); y ((1.0 - t) / 2.0); z (-t); y (t / 2.0) ]

    /// The stage list of a propagator.
    let ofPropagator (p: Propagator) : Scheme =
        match p with
        | ResNet | AntisymmetricResNet -> resnet
        | Leapfrog -> leapfrog
        | Verlet -> verlet
        | Verlet4 -> verlet4
        | Custom scheme -> scheme

    /// Whether a stage names Z (so that the state carries it).
    let usesZ (scheme: Scheme) =
        scheme.Stages |> List.exists (fun s -> s.Target = Variable.Z || s.Source = Variable.Z)

    /// Whether a kick adds the bias c (so that the parameters carry c_j).
    let usesC (scheme: Scheme) =
        scheme.Stages |> List.exists (fun s -> s.Bias = Some BiasName.C)

    /// Whether every stage is a kick of the Hamiltonian system ẏ = σ(z Kᵀ + b), ż = −σ(y K + c)
    /// (Z ← Y with bias c, Y ← Z with bias b): Verlet, verlet4 and their relatives, for which
    /// the Hamiltonian H(y, z) of `Stability.hamiltonian` is defined.
    let isHamiltonian (scheme: Scheme) =
        scheme.Stages
        |> List.forall (fun s ->
            s.Kind = Kick
            && ((s.Target = Variable.Z && s.Source = Variable.Y && s.Bias = Some BiasName.C)
                || (s.Target = Variable.Y && s.Source = Variable.Z && s.Bias = Some BiasName.B)))

    /// The index of the first stage that reads its own target, if any.
    let firstSelfReading (scheme: Scheme) =
        scheme.Stages |> List.tryFindIndex (fun s -> s.Source = s.Target)

    /// Whether the scheme is exactly invertible: every stage's source differs from its target, so
    /// each stage is a shear that the same stage with −a undoes.
    let isInvertible (scheme: Scheme) = (firstSelfReading scheme).IsNone

    /// Throws the error of reversal asked of a scheme that is not invertible.
    let requireInvertible (argument: string) (scheme: Scheme) =
        match firstSelfReading scheme with
        | Some i ->
            invalidArg argument $"reversal needs an invertible scheme, but stage {i} reads its own target (forward Euler's Y ← Y kick has no closed-form inverse)"
        | None -> ()

    /// The name of a variable as model files spell it.
    let variableName (v: Variable) =
        match v with
        | Variable.Y -> "Y"
        | Variable.Z -> "Z"

    /// The name of a bias as model files spell it.
    let biasName (b: BiasName) =
        match b with
        | BiasName.B -> "b"
        | BiasName.C -> "c"

    /// The name of a stage kind as model files spell it.
    let kindName (k: StageKind) =
        match k with
        | Kick -> "kick"
        | Drift -> "drift"

    /// Parses a variable name ("Y" or "Z").
    let tryParseVariable (text: string) =
        match (if isNull text then "" else text.Trim()) with
        | "Y" | "y" -> Some Variable.Y
        | "Z" | "z" -> Some Variable.Z
        | _ -> None

    /// Parses a bias name ("b" or "c").
    let tryParseBias (text: string) =
        match (if isNull text then "" else text.Trim()) with
        | "b" | "B" -> Some BiasName.B
        | "c" | "C" -> Some BiasName.C
        | _ -> None

    /// Parses a stage kind ("kick" or "drift").
    let tryParseKind (text: string) =
        match (if isNull text then "" else text.Trim().ToLowerInvariant()) with
        | "kick" -> Some Kick
        | "drift" -> Some Drift
        | _ -> None

    /// Checks a scheme for features of width n and Z of width m; throws ArgumentException naming
    /// the stage and the field (`scheme[i].field`) that does not fit.
    let validate (n: int) (m: int) (scheme: Scheme) =
        if isNull (box scheme) || List.isEmpty scheme.Stages then invalidArg "scheme" "a scheme needs at least one stage"
        let width v = if v = Variable.Y then n else m
        scheme.Stages
        |> List.iteri (fun i s ->
            let fail field (message: string) = invalidArg $"scheme[{i}].{field}" $"stage {i}: {message}"
            if not (Double.IsFinite s.A) then fail "a" $"the coefficient a must be finite, got {s.A}"
            match s.AFirst with
            | Some f when not (Double.IsFinite f) -> fail "aFirst" $"the coefficient aFirst must be finite, got {f}"
            | _ -> ()
            let name = variableName s.Target
            match s.Kind with
            | Drift ->
                if s.Bias.IsSome then fail "bias" "a drift adds no bias"
                if s.Source = s.Target then fail "source" $"a drift must read another variable than its target {name}"
                if width s.Source <> width s.Target then
                    fail "source" $"a drift between different widths ({variableName s.Source} has {width s.Source}, {name} has {width s.Target})"
            | Kick ->
                let produced = if s.Source = Variable.Y then m else n
                if produced <> width s.Target then
                    fail "target" $"a kick from {variableName s.Source} produces width {produced}, but its target {name} has width {width s.Target}"
                match s.Bias with
                | None -> fail "bias" "a kick needs a bias, b or c"
                | Some b ->
                    let biasWidth = if b = BiasName.B then n else m
                    if biasWidth <> width s.Target then
                        fail "bias" $"bias {biasName b} has width {biasWidth}, not the width {width s.Target} of the target {name}")
