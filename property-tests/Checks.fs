/// What the properties share: named accuracies, inner products and distances over parameters and
/// batches, bitwise comparison, FsCheck configurations, and the Taylor test (SPEC §2).
module StableOde.PropertyTests.Checks

open System
open MathNet.Numerics.LinearAlgebra
open Expecto
open StableOde.Core

/// Named accuracies for `Expect.floatClose`: |a − b| ≤ absolute + relative · max(|a|, |b|).
module Accuracy =

    /// ⟨J v, w⟩ against ⟨v, Jᵀ w⟩ (SPEC §2), relative to ‖J v‖‖w‖ (the Cauchy–Schwarz bound of
    /// both sides) where the inner product itself may cancel.
    let dotProduct = { absolute = 0.0; relative = 1e-10 }

    /// Adjoint strategies against each other (SPEC §2: "agree to round-off").
    let strategies = { absolute = 0.0; relative = 1e-10 }

    /// Reversal after 1,024 steps against the true initial state.
    let reconstruction = { absolute = 0.0; relative = 1e-9 }

    /// Two computations of the same quantity in a different order of floating-point operations.
    let roundOff = { absolute = 0.0; relative = 1e-12 }

    /// An observed convergence order against its expected value (1 for |f(x + tv) − f(x)|).
    let order = { absolute = 0.1; relative = 0.0 }

    /// Iterative estimates (power and inverse iteration) against a direct decomposition.
    let iterative = { absolute = 0.0; relative = 1e-6 }

    /// An accuracy whose relative tolerance also applies to a given scale, for quantities that
    /// may cancel (or vanish exactly) while their parts are of that scale.
    let relativeTo (scale: float) (accuracy: Accuracy) =
        { accuracy with absolute = accuracy.absolute + accuracy.relative * scale }

/// The seed of every property's random cases: fixed, so that a run is reproducible; set the
/// environment variable STABLEODE_PROPERTY_SEED to another number to draw other cases, or to
/// "random" for a fresh seed per run.
let seed =
    match Environment.GetEnvironmentVariable "STABLEODE_PROPERTY_SEED" with
    | null | "" -> Some(20261127UL, 1UL, None)
    | "random" -> None
    | text ->
        match UInt64.TryParse text with
        | true, value -> Some(value, 1UL, None)
        | _ -> failwith $"STABLEODE_PROPERTY_SEED must be a number or \"random\", got \"{text}\""

/// FsCheck settings: `maxTest` random cases per property, drawn from `seed`.
let config (maxTest: int) = { FsCheckConfig.defaultConfig with maxTest = maxTest; replay = seed }

/// A dense s×n matrix of N(0, scale²) entries from a generator seeded with `seed`.
let gaussianMatrix (seed: int) (scale: float) (rows: int) (cols: int) : Matrix<float> =
    let values = Parameters.gaussians (Random seed) (rows * cols) |> Array.map (fun g -> scale * g)
    Matrix<float>.Build.Dense(rows, cols, values)

/// A dense vector of N(0, scale²) entries from a generator seeded with `seed`.
let gaussianVector (seed: int) (scale: float) (count: int) : Vector<float> =
    Vector<float>.Build.Dense(Parameters.gaussians (Random seed) count |> Array.map (fun g -> scale * g))

/// ⟨A, B⟩_F.
let inner (a: Matrix<float>) (b: Matrix<float>) = a.PointwiseMultiply(b).Enumerate() |> Seq.sum

/// Parameters with the same weights in every layer (constant in time).
let constantParameters (depth: int) (k: Matrix<float>) (b: Vector<float>) (c: Vector<float> option) : Parameters =
    { K = Array.init depth (fun _ -> k.Clone())
      b = Array.init depth (fun _ -> b.Clone())
      c =
        match c with
        | Some c -> Array.init depth (fun _ -> c.Clone())
        | None -> Array.empty }

/// Every entry of a parameter set, then of the matrices, as one array (for comparisons).
let flatten (p: Parameters) (matrices: Matrix<float> list) : float[] =
    Array.concat (Parameters.toVector(p).ToArray() :: (matrices |> List.map (fun m -> m.ToColumnMajorArray())))

/// The bit patterns of an array's entries.
let bits (values: float[]) = values |> Array.map BitConverter.DoubleToInt64Bits

/// Euclidean norm of an array.
let norm (values: float[]) = sqrt (Array.sumBy (fun v -> v * v) values)

/// Expects ‖actual − expected‖ ≤ accuracy.absolute + accuracy.relative · max(‖actual‖, ‖expected‖).
let expectNormClose (accuracy: Accuracy) (actual: float[]) (expected: float[]) (message: string) =
    Expect.equal actual.Length expected.Length $"{message}: lengths"
    let distance = norm (Array.map2 (-) actual expected)
    let bound = accuracy.absolute + accuracy.relative * max (norm actual) (norm expected)
    if not (distance <= bound) then
        failtestf "%s: ‖actual − expected‖ = %g exceeds %g (absolute %g, relative %g; ‖expected‖ = %g)"
            message distance bound accuracy.absolute accuracy.relative (norm expected)

/// Expects every input snapshot to be bit-identical before and after the calls, and each call
/// to return bit-identical results when repeated.
let expectPureCalls (inputs: unit -> float[]) (calls: (string * (unit -> float[])) list) =
    let before = bits (inputs ())
    for name, call in calls do
        let first = call ()
        Expect.equal (bits (inputs ())) before $"{name} changed its inputs"
        Expect.equal (bits (call ())) (bits first) $"{name} is not bit-identical when repeated"

/// The Taylor test (SPEC §2) of a function f along a direction: `slope` claims f'(0). Returns
/// None when it passes, else what failed with the table of E₀ and E₁.
/// With t = 2^−k, E₀(t) = |f(t) − f(0)| and E₁(t) = |f(t) − f(0) − t·slope|. Round-off is
/// measured, not assumed: for t = 2^−30 … 2^−40 the second-order term is negligible while x + t v
/// still differs from x, so E₁ there is the noise of evaluating f; values below 100 × that noise
/// are at round-off (an order computed from them could be off by more than 0.015) and ignored.
/// Above it, E₁ must fall as t² (observed order ≥ 1.9) over `halvings` consecutive halvings and
/// at the last halving before round-off, where a wrong slope would leave E₁ ∝ t; E₀ must fall
/// only as t (order 1 ± 0.1) over its last `halvings` halvings before round-off.
let taylor (halvings: int) (f: float -> float) (slope: float) : string option =
    let f0 = f 0.0
    let sweep =
        [| for k in 0 .. 40 do
               let t = Math.Pow(2.0, float -k)
               let ft = f t
               yield t, abs (ft - f0), abs (ft - f0 - t * slope) |]
    let noise = sweep[30..] |> Array.map (fun (_, _, e1) -> e1) |> Array.max
    let floor = 100.0 * noise
    let e0 = sweep |> Array.map (fun (_, e, _) -> e)
    let e1 = sweep |> Array.map (fun (_, _, e) -> e)
    let order (e: float[]) i = Math.Log2(e[i] / e[i + 1])
    let above (e: float[]) i = e[i] > floor && e[i + 1] > floor
    let halvingsAbove (e: float[]) = [ 0 .. sweep.Length - 2 ] |> List.filter (above e)
    let table () =
        sweep
        |> Array.map (fun (t, e0, e1) -> $"t = {t:g3}: E0 = {e0:e3}, E1 = {e1:e3}")
        |> String.concat "\n"
    let secondOrder i = above e1 i && order e1 i >= 1.9
    let failure =
        if not (List.exists (fun i -> List.forall secondOrder [ i .. i + halvings - 1 ]) [ 0 .. sweep.Length - 1 - halvings ]) then
            Some $"E1 does not fall as t² (order ≥ 1.9) over {halvings} consecutive halvings above round-off ({floor:g3})"
        else
            let last = List.last (halvingsAbove e1)
            if not (order e1 last >= 1.9) then
                Some $"order of E1 at the last halving above round-off ({last}) is {order e1 last:f3} < 1.9"
            else
                let firstOrder = halvingsAbove e0 |> List.rev |> List.truncate halvings
                if firstOrder.Length < halvings then Some $"E0 is at round-off ({floor:g3})"
                else
                    firstOrder
                    |> List.tryFind (fun i -> abs (order e0 i - 1.0) > Accuracy.order.absolute)
                    |> Option.map (fun i -> $"order of E0 at halving {i} is {order e0 i:f3}, not 1 ± {Accuracy.order.absolute}")
    failure |> Option.map (fun reason -> $"{reason}\n{table ()}")

/// The Taylor test of a function of x along two random directions v₁, v₂ (`along` gives f and
/// its claimed slope for each): it must pass along one of them. A wrong gradient fails along every
/// direction (its error e·v vanishes only on a hyperplane), but a correct one can fail along an
/// unlucky direction: where the loss is not convex the t² coefficient ½vᵀ∇²f v can nearly vanish,
/// so E₁ falls as t³ until the remainder changes sign just above round-off, leaving too few
/// halvings of its t² regime (observed for about 1 direction in 10⁴).
let expectTaylor (halvings: int) (along: int -> (float -> float) * float) =
    let check i = along i ||> taylor halvings
    match check 0 with
    | None -> ()
    | Some first ->
        match check 1 with
        | None -> ()
        | Some second -> failtestf "Taylor test fails along two random directions:\n%s\n\n%s" first second
