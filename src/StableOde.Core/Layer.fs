/// The layer map u = σ(X K(θ) + 1bᵀ) of every kick, with its linearisation and its transpose
/// (SPEC §2). A kick that reads Z uses the transposed side, u = σ(Z K(θ)ᵀ + 1bᵀ).
module StableOde.Core.Layer

open System
open System.Numerics.Tensors
open StableOde.Core.Kernels

/// Which side of the operator a layer map applies.
type Side =
    /// X K(θ).
    | Direct
    /// X K(θ)ᵀ.
    | Transposed

/// The storage of one layer's parameters θ_j = (K_j, b_j, c_j); c is empty unless a stage names it.
[<Struct>]
type Weights = { K: float[]; b: float[]; c: float[] }

/// The side of the operator a kick applies: K_j when it reads Y, K_jᵀ when it reads Z.
let sideOf (stage: Stage) =
    match stage.Source with
    | Variable.Y -> Direct
    | Variable.Z -> Transposed

/// The bias a kick adds, from a layer's weights (or their direction or gradient).
let biasOf (stage: Stage) (w: Weights) =
    match stage.Bias with
    | Some BiasName.C -> w.c
    | _ -> w.b

/// What every step of one solve shares: the network, the batch size s and h.
type Context =
    { Net: Network
      S: int
      H: float }

/// Width of X for a side of the operator.
let inputWidth (op: Operator) (side: Side) =
    match side with
    | Direct -> Operator.inWidth op
    | Transposed -> Operator.outWidth op

/// Width of u for a side of the operator.
let outputWidth (op: Operator) (side: Side) =
    match side with
    | Direct -> Operator.outWidth op
    | Transposed -> Operator.inWidth op

/// dst ← dst + 1 bᵀ with b expanded over groups of width / |b| consecutive features.
let addBias (s: int) (width: int) (b: float[]) (dst: float[]) =
    let g = width / b.Length
    for f in 0 .. width - 1 do
        let d = col dst s f
        TensorPrimitives.Add(ro d, b[f / g], d)

/// gb ← gb + α · the column sums of W grouped as in `addBias`: the transpose of `addBias`.
let addBiasTranspose (alpha: float) (s: int) (width: int) (w: float[]) (gb: float[]) =
    let g = width / gb.Length
    for f in 0 .. width - 1 do
        gb[f / g] <- gb[f / g] + alpha * TensorPrimitives.Sum(rcol w s f)

let private operatorInto (ctx: Context) side acc alpha (theta: float[]) (x: float[]) (dst: float[]) =
    match side with
    | Direct -> Operator.applyInto acc alpha ctx.Net.Operator ctx.S theta x dst
    | Transposed -> Operator.applyTransposeInto acc alpha ctx.Net.Operator ctx.S theta x dst

let private operatorTransposeInto (ctx: Context) side acc alpha (theta: float[]) (v: float[]) (dst: float[]) =
    match side with
    | Direct -> Operator.applyTransposeInto acc alpha ctx.Net.Operator ctx.S theta v dst
    | Transposed -> Operator.applyInto acc alpha ctx.Net.Operator ctx.S theta v dst

/// The pre-activation a = X K(θ) + 1bᵀ (or X K(θ)ᵀ + 1bᵀ).
let preActivation (ctx: Context) (side: Side) (theta: float[]) (b: float[]) (x: float[]) : float[] =
    let w = outputWidth ctx.Net.Operator side
    let a = Array.zeroCreate (ctx.S * w)
    operatorInto ctx side false 1.0 theta x a
    addBias ctx.S w b a
    a

/// σ(a), a new array.
let activate (act: Activation) (a: float[]) : float[] =
    let u = Array.zeroCreate a.Length
    Activation.applyInto act (ReadOnlySpan a) (Span u)
    u

/// σ'(a), a new array.
let activationDerivative (act: Activation) (a: float[]) : float[] =
    let d = Array.zeroCreate a.Length
    Activation.derivativeInto act (ReadOnlySpan a) (Span d)
    d

/// The layer map u = σ(X K(θ) + 1bᵀ).
let value (ctx: Context) (side: Side) (theta: float[]) (b: float[]) (x: float[]) : float[] =
    activate ctx.Net.Activation (preActivation ctx side theta b x)

/// Linearisation: δu = σ'(a) ⊙ (δX K + X K'(θ)[δθ] + 1δbᵀ) at the pre-activation a.
/// `dx` may be null for δX = 0.
let sensitivity (ctx: Context) (side: Side) (theta: float[]) (a: float[]) (x: float[]) (dx: float[]) (dTheta: float[]) (db: float[]) : float[] =
    let op = ctx.Net.Operator
    let w = outputWidth op side
    let du = Array.zeroCreate (ctx.S * w)
    if not (isNull dx) then operatorInto ctx side true 1.0 theta dx du
    match side with
    | Direct -> Operator.derivativeInto true 1.0 op ctx.S theta x dTheta du
    | Transposed -> Operator.transposeDerivativeInto true 1.0 op ctx.S theta x dTheta du
    addBias ctx.S w db du
    multiplyInPlace (activationDerivative ctx.Net.Activation a) du
    du

/// Transpose of the linearisation. Given ū and a scale α, with w = α σ'(a) ⊙ ū:
/// returns X̄ = w Kᵀ and adds ∂⟨X K(θ), w⟩/∂θ to gTheta and the grouped column sums of w to gb.
let adjoint (ctx: Context) (side: Side) (theta: float[]) (a: float[]) (x: float[]) (alpha: float) (uBar: float[]) (gTheta: float[]) (gb: float[]) : float[] =
    let op = ctx.Net.Operator
    let w = activationDerivative ctx.Net.Activation a
    multiplyInPlace uBar w
    let xBar = Array.zeroCreate (ctx.S * inputWidth op side)
    operatorTransposeInto ctx side false alpha theta w xBar
    match side with
    | Direct -> Operator.derivativeTransposeInto true alpha op ctx.S theta x w gTheta
    | Transposed -> Operator.derivativeTransposeInto true alpha op ctx.S theta w x gTheta
    addBiasTranspose alpha ctx.S (outputWidth op side) w gb
    xBar
