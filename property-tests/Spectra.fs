/// The spectra the paper's parametrisations guarantee (§4, Eq. 4.12 and 4.14): A(K) = ½(K − Kᵀ − γI)
/// has its eigenvalues on the line Re λ = −γ/2 (purely imaginary for γ = 0), and −CᵀC has real
/// non-positive eigenvalues, whatever the weights.
module StableOde.PropertyTests.Spectra

open System.Numerics
open Expecto
open FsCheck
open FsCheck.FSharp
open StableOde.Core
open StableOde.PropertyTests.Checks
open StableOde.PropertyTests.Generators

/// Eigenvalues of the explicit matrix of an operator case (MathNet Evd), and its spectral norm.
let spectrum (c: OperatorCase) : Complex[] * float =
    let k = Operator.matrix c.Operator c.Theta
    k.Evd().EigenValues.ToArray(), k.L2Norm()

/// The eigenvalue accuracy of a backward-stable eigensolver on a normal matrix of that norm.
let eigenvalueAccuracy (norm: float) = Accuracy.relativeTo norm Accuracy.roundOff

let private property title (cases: Gen<OperatorCase>) (check: OperatorCase -> unit) =
    testPropertyWithConfig (config 200) title (Prop.forAll (Arb.fromGen cases) check)

let private onLine (c: OperatorCase) =
    let gamma =
        match c.Operator with
        | Antisymmetric(_, g) -> g
        | _ -> invalidArg "c" "an antisymmetric operator"
    let eigenvalues, norm = spectrum c
    for l in eigenvalues do
        Expect.floatClose (eigenvalueAccuracy norm) l.Real (-0.5 * gamma) $"Re λ of {l} against −γ/2"

let private realNonPositive (c: OperatorCase) =
    let eigenvalues, norm = spectrum c
    let accuracy = eigenvalueAccuracy norm
    for l in eigenvalues do
        Expect.floatClose accuracy l.Imaginary 0.0 $"Im λ of {l}"
        if not (l.Real <= accuracy.absolute) then failtestf "eigenvalue %O of −CᵀC has a positive real part (norm %g)" l norm

/// The spectra of the antisymmetric and negative-semidefinite parametrisations.
let tests =
    testList "spectra" [
        property "Antisymmetric(Dense, 0): purely imaginary spectrum" (operatorCase (antisymmetricWith (Gen.constant 0.0) dense)) onLine
        property "Antisymmetric(Conv3x3, 0): purely imaginary spectrum" (operatorCase (antisymmetricWith (Gen.constant 0.0) convolution)) onLine
        property "Antisymmetric(Dense, γ > 0): every eigenvalue has Re λ = −γ/2" (operatorCase (antisymmetricWith positiveGamma dense)) onLine
        property "Antisymmetric(Conv3x3, γ > 0): every eigenvalue has Re λ = −γ/2" (operatorCase (antisymmetricWith positiveGamma convolution)) onLine
        property "NegativeSemidefinite(Dense): −CᵀC has real non-positive eigenvalues" (operatorCase (negativeSemidefinite rectangular)) realNonPositive
        property "NegativeSemidefinite(Conv3x3): −CᵀC has real non-positive eigenvalues" (operatorCase (negativeSemidefinite convolution)) realNonPositive
    ]
