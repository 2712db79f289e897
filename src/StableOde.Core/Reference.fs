/// The straightforward solves: the step functions of ResNet.fs, Leapfrog.fs and Verlet.fs
/// driven literally, one allocation per operation, the whole batch at once and every state
/// kept. Slow and plain on purpose: the fast solves of `Solve` are tested against it.
module StableOde.Core.Reference

open MathNet.Numerics.LinearAlgebra
open StableOde.Core.Kernels
open StableOde.Core.Layer

let private setup (net: Network) (p: Parameters) (y0: Matrix<float>) =
    Network.validate net
    Parameters.validate net p
    let ctx = { Net = net; S = y0.RowCount; H = Network.stepSize net }
    let w =
        Array.init net.Depth (fun j ->
            { K = storage p.K[j]; b = vstorage p.b[j]; c = if p.c.Length > 0 then vstorage p.c[j] else Array.empty })
    let zWidth = if net.Propagator = Verlet then Operator.outWidth net.Operator else Operator.inWidth net.Operator
    ctx, w, zWidth

let private states (net: Network) (p: Parameters) (y0: Matrix<float>) =
    let ctx, w, zw = setup net p y0
    let all = Array.zeroCreate (net.Depth + 1)
    all[0] <- struct (y0.ToColumnMajorArray(), Array.zeroCreate (ctx.S * zw))
    for j in 0 .. net.Depth - 1 do
        let struct (y, z) = all[j]
        all[j + 1] <-
            match net.Propagator with
            | ResNet | AntisymmetricResNet -> struct (ResNet.step ctx w[j] y, z)
            | Leapfrog -> Leapfrog.step ctx j w[j] y z
            | Verlet -> Verlet.step ctx w[j] y z
    ctx, w, zw, all

/// Y_N.
let forward (net: Network) (p: Parameters) (y0: Matrix<float>) : Matrix<float> =
    let ctx, _, _, all = states net p y0
    let struct (y, _) = all[net.Depth]
    ofStorage ctx.S y0.ColumnCount y

/// δY_N for a direction (δθ, δY_0).
let sensitivity (net: Network) (p: Parameters) (y0: Matrix<float>) (dTheta: Parameters) (dY0: Matrix<float>) : Matrix<float> =
    let ctx, w, zw, all = states net p y0
    let dw = Array.init net.Depth (fun j -> { K = storage dTheta.K[j]; b = vstorage dTheta.b[j]; c = if dTheta.c.Length > 0 then vstorage dTheta.c[j] else Array.empty })
    let mutable dy = dY0.ToColumnMajorArray()
    let mutable dz = Array.zeroCreate (ctx.S * zw)
    for j in 0 .. net.Depth - 1 do
        let struct (y, z) = all[j]
        let struct (dy', dz') =
            match net.Propagator with
            | ResNet | AntisymmetricResNet -> struct (ResNet.sensitivity ctx w[j] y dw[j] dy, dz)
            | Leapfrog -> Leapfrog.sensitivity ctx j w[j] y dw[j] dy dz
            | Verlet -> Verlet.sensitivity ctx w[j] y z dw[j] dy dz
        dy <- dy'
        dz <- dz'
    ofStorage ctx.S y0.ColumnCount dy

/// (∂L/∂θ, ∂L/∂Y_0) for Ȳ_N = ∂L/∂Y_N.
let adjoint (net: Network) (p: Parameters) (y0: Matrix<float>) (yBarN: Matrix<float>) : Parameters * Matrix<float> =
    let ctx, w, zw, all = states net p y0
    let grad = Parameters.zeros net
    let g = Array.init net.Depth (fun j -> { K = storage grad.K[j]; b = vstorage grad.b[j]; c = if grad.c.Length > 0 then vstorage grad.c[j] else Array.empty })
    let mutable yBar = yBarN.ToColumnMajorArray()
    let mutable zBar = Array.zeroCreate (ctx.S * zw)
    for j in net.Depth - 1 .. -1 .. 0 do
        let struct (y, _) = all[j]
        let struct (_, z') = all[j + 1]
        let struct (yb, zb) =
            match net.Propagator with
            | ResNet | AntisymmetricResNet -> struct (ResNet.adjoint ctx w[j] y yBar g[j], zBar)
            | Leapfrog -> Leapfrog.adjoint ctx j w[j] y yBar zBar g[j]
            | Verlet -> Verlet.adjoint ctx w[j] y z' yBar zBar g[j]
        yBar <- yb
        zBar <- zb
    grad, ofStorage ctx.S y0.ColumnCount yBar
