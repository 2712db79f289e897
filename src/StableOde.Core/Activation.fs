/// The element-wise activation σ and what the propagators and the Hamiltonian need of it (SPEC §0, §6).
namespace StableOde.Core

open System
open System.Numerics.Tensors

/// The activation function σ, applied element-wise.
type Activation =
    /// σ(x) = tanh x.
    | Tanh
    /// σ(x) = max(0, x); σ'(0) is taken as 0.
    | Relu
    /// σ(x) = x.
    | Identity

/// σ, σ' and the antiderivative S (S' = σ) on arrays.
module Activation =

    /// The name used in model files and on the command line.
    let name (a: Activation) =
        match a with
        | Tanh -> "tanh"
        | Relu -> "relu"
        | Identity -> "identity"

    /// Parses "tanh", "relu" or "identity" (case-insensitive).
    let tryParse (text: string) : Activation option =
        match (if isNull text then "" else text.Trim().ToLowerInvariant()) with
        | "tanh" -> Some Tanh
        | "relu" -> Some Relu
        | "identity" -> Some Identity
        | _ -> None

    /// dst ← σ(x).
    let applyInto (a: Activation) (x: ReadOnlySpan<float>) (dst: Span<float>) =
        match a with
        | Tanh -> TensorPrimitives.Tanh(x, dst)
        | Relu -> TensorPrimitives.Max(x, 0.0, dst)
        | Identity -> x.CopyTo dst

    /// dst ← σ'(x).
    let derivativeInto (a: Activation) (x: ReadOnlySpan<float>) (dst: Span<float>) =
        match a with
        | Tanh ->
            TensorPrimitives.Tanh(x, dst)
            for i in 0 .. dst.Length - 1 do
                dst[i] <- 1.0 - dst[i] * dst[i]
        | Relu ->
            for i in 0 .. x.Length - 1 do
                dst[i] <- if x[i] > 0.0 then 1.0 else 0.0
        | Identity -> dst.Fill 1.0

    /// σ(x) for one number.
    let value (a: Activation) (x: float) =
        match a with
        | Tanh -> Math.Tanh x
        | Relu -> Math.Max(x, 0.0)
        | Identity -> x

    /// σ'(x) for one number.
    let derivative (a: Activation) (x: float) =
        match a with
        | Tanh ->
            let t = Math.Tanh x
            1.0 - t * t
        | Relu -> if x > 0.0 then 1.0 else 0.0
        | Identity -> 1.0

    /// The antiderivative S with S' = σ and S(0) = 0: log cosh x, ½max(0,x)², ½x² (SPEC §6).
    let antiderivative (a: Activation) (x: float) =
        match a with
        | Tanh ->
            let ax = abs x
            ax + Math.Log(1.0 + Math.Exp(-2.0 * ax)) - Math.Log 2.0
        | Relu ->
            let p = Math.Max(x, 0.0)
            0.5 * p * p
        | Identity -> 0.5 * x * x

    /// u ← σ(a) and, when d is not null, d ← σ'(a), over the first `count` entries: the fast
    /// vectorised path the solves use (tanh accurate to a few ulp).
    let evaluateInto (act: Activation) (count: int) (a: float[]) (u: float[]) (d: float[]) =
        match act with
        | Tanh -> Kernels.tanhInto count a u d
        | Relu ->
            TensorPrimitives.Max(ReadOnlySpan(a, 0, count), 0.0, Span(u, 0, count))
            if not (isNull d) then
                for i in 0 .. count - 1 do
                    d[i] <- if a[i] > 0.0 then 1.0 else 0.0
        | Identity ->
            Array.blit a 0 u 0 count
            if not (isNull d) then Span(d, 0, count).Fill 1.0

    /// d ← σ'(a) from the activation u = σ(a) alone, over the first `count` entries: 1 − u² for
    /// tanh, 1 where u > 0 for relu (σ'(0) = 0, as `derivative`), 1 for the identity.
    let derivativeOfValueInto (act: Activation) (count: int) (u: float[]) (d: float[]) =
        match act with
        | Tanh ->
            let dst = Span(d, 0, count)
            TensorPrimitives.Negate(ReadOnlySpan(u, 0, count), dst)
            TensorPrimitives.MultiplyAdd(Span<float>.op_Implicit dst, ReadOnlySpan(u, 0, count), 1.0, dst)
        | Relu ->
            for i in 0 .. count - 1 do
                d[i] <- if u[i] > 0.0 then 1.0 else 0.0
        | Identity -> Span(d, 0, count).Fill 1.0
