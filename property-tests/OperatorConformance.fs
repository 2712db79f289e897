/// The conformance suite of the linear operators K(θ) (SPEC §1), written once and run for
/// every kind: apply against apply-transpose and derivative against derivative-transpose
/// (dot-product tests), the derivative against a central difference, apply against the
/// definition, inputs never mutated and repeated calls bit-identical.
module StableOde.PropertyTests.OperatorConformance

open MathNet.Numerics.LinearAlgebra
open Expecto
open FsCheck
open FsCheck.FSharp
open StableOde.Core
open StableOde.PropertyTests.Checks
open StableOde.PropertyTests.Generators

/// The explicit matrix K(θ) ∈ R^{in×out} from SPEC §1, written independently of `Operator`:
/// the convolution entry by entry from (Y K)[o, r, q] = Σ_i Σ_{u,v} K[o][i][u+1][v+1] Y[i, r+u, q+v].
let rec definition (op: Operator) (theta: Matrix<float>) : Matrix<float> =
    match op with
    | Dense _ -> theta.Clone()
    | Conv3x3(c, h, w) ->
        let k = Matrix<float>.Build.Dense(c * h * w, c * h * w)
        for o in 0 .. c - 1 do
            for i in 0 .. c - 1 do
                for u in -1 .. 1 do
                    for v in -1 .. 1 do
                        for r in 0 .. h - 1 do
                            for q in 0 .. w - 1 do
                                if r + u >= 0 && r + u < h && q + v >= 0 && q + v < w then
                                    let input = i * h * w + (r + u) * w + (q + v)
                                    let output = o * h * w + r * w + q
                                    k[input, output] <- k[input, output] + theta[o, 9 * i + 3 * (u + 1) + (v + 1)]
        k
    | Antisymmetric(b, g) ->
        let k = definition b theta
        0.5 * (k - k.Transpose() - g * Matrix<float>.Build.DenseIdentity k.RowCount)
    | NegativeSemidefinite b ->
        let k = definition b theta
        -(k * k.Transpose())

/// The conformance tests of an operator kind, over the cases a generator draws.
let suite (name: string) (maxTest: int) (cases: Gen<OperatorCase>) =
    let property title (check: OperatorCase -> unit) =
        testPropertyWithConfig (config maxTest) title (Prop.forAll (Arb.fromGen cases) check)
    testList name [
        property "apply and applyTranspose are transposes: ⟨Y K, V⟩ = ⟨Y, V Kᵀ⟩" (fun c ->
            let yk = Operator.apply c.Operator c.Theta c.Y
            let lhs = inner yk c.V
            let rhs = inner c.Y (Operator.applyTranspose c.Operator c.Theta c.V)
            let scale = yk.FrobeniusNorm() * c.V.FrobeniusNorm()
            Expect.floatClose (Accuracy.relativeTo scale Accuracy.dotProduct) lhs rhs "⟨Y K, V⟩ against ⟨Y, V Kᵀ⟩")

        property "derivative and derivativeTranspose are transposes: ⟨Y K'[δθ], V⟩ = ⟨δθ, ∂⟨Y K, V⟩/∂θ⟩" (fun c ->
            let ykd = Operator.derivative c.Operator c.Theta c.Y c.DTheta
            let lhs = inner ykd c.V
            let rhs = inner c.DTheta (Operator.derivativeTranspose c.Operator c.Theta c.Y c.V)
            let scale = ykd.FrobeniusNorm() * c.V.FrobeniusNorm()
            Expect.floatClose (Accuracy.relativeTo scale Accuracy.dotProduct) lhs rhs "⟨Y K'(θ)[δθ], V⟩ against ⟨δθ, ∂⟨Y K(θ), V⟩/∂θ⟩")

        property "derivative equals the central difference (exact: every K(θ) has degree ≤ 2 in θ)" (fun c ->
            let plus = Operator.apply c.Operator (c.Theta + c.DTheta) c.Y
            let minus = Operator.apply c.Operator (c.Theta - c.DTheta) c.Y
            let difference = 0.5 * (plus - minus)
            let derivative = Operator.derivative c.Operator c.Theta c.Y c.DTheta
            let scale = max (plus.FrobeniusNorm()) (minus.FrobeniusNorm())
            expectNormClose (Accuracy.relativeTo scale Accuracy.roundOff) (derivative.ToColumnMajorArray()) (difference.ToColumnMajorArray()) "Y K'(θ)[δθ] against ½(Y K(θ+δθ) − Y K(θ−δθ))")

        property "apply and matrix agree with the definition of SPEC §1" (fun c ->
            let k = definition c.Operator c.Theta
            expectNormClose Accuracy.roundOff ((Operator.matrix c.Operator c.Theta).ToColumnMajorArray()) (k.ToColumnMajorArray()) "Operator.matrix against the definition"
            expectNormClose Accuracy.roundOff ((Operator.apply c.Operator c.Theta c.Y).ToColumnMajorArray()) ((c.Y * k).ToColumnMajorArray()) "Y K(θ) against Y times the defined matrix"
            expectNormClose Accuracy.roundOff ((Operator.applyTranspose c.Operator c.Theta c.V).ToColumnMajorArray()) ((c.V * k.Transpose()).ToColumnMajorArray()) "V K(θ)ᵀ against V times the defined matrix transposed")

        property "inputs are never mutated and repeated calls are bit-identical" (fun c ->
            let inputs () = Array.concat [ for m in [ c.Theta; c.DTheta; c.Y; c.V ] -> m.ToColumnMajorArray() ]
            expectPureCalls inputs [
                "apply", fun () -> (Operator.apply c.Operator c.Theta c.Y).ToColumnMajorArray()
                "applyTranspose", fun () -> (Operator.applyTranspose c.Operator c.Theta c.V).ToColumnMajorArray()
                "derivative", fun () -> (Operator.derivative c.Operator c.Theta c.Y c.DTheta).ToColumnMajorArray()
                "derivativeTranspose", fun () -> (Operator.derivativeTranspose c.Operator c.Theta c.Y c.V).ToColumnMajorArray()
                "matrix", fun () -> (Operator.matrix c.Operator c.Theta).ToColumnMajorArray() ])
    ]

/// Every operator kind of SPEC §1 through the suite.
let tests =
    testList "operator conformance" [
        suite "Dense n×m" 200 (operatorCase rectangular)
        suite "Conv3x3" 120 (operatorCase convolution)
        suite "Antisymmetric(Dense, γ)" 200 (operatorCase (antisymmetric dense))
        suite "Antisymmetric(Conv3x3, γ)" 120 (operatorCase (antisymmetric convolution))
        suite "NegativeSemidefinite(Dense)" 200 (operatorCase (negativeSemidefinite rectangular))
        suite "NegativeSemidefinite(Conv3x3)" 120 (operatorCase (negativeSemidefinite convolution))
    ]
