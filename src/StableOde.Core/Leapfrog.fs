/// The Hamiltonian leapfrog network (Eq. 4.13, 4.16): the step, its linearisation, its
/// transpose and its exact inverse.
///
/// Y_1 = Y_0 + ½h² σ(Y_0 K_0 + b_0),  Y_{j+1} = 2Y_j − Y_{j−1} + h² σ(Y_j K_j + b_j)  (j ≥ 1),
/// computed in the equivalent one-step form with the velocity Z_{j+½} = (Y_{j+1} − Y_j)/h:
/// Z_{j+½} = Z_{j−½} + ω_j h σ(Y_j K_j + b_j),  Y_{j+1} = Y_j + h Z_{j+½},
/// with Z_{−½} = 0, ω_0 = ½ and ω_j = 1 for j ≥ 1 (the starting half step ẏ(0) = 0).
module StableOde.Core.Leapfrog

open StableOde.Core.Kernels
open StableOde.Core.Layer

let private omega (j: int) = if j = 0 then 0.5 else 1.0

/// One step: (Y_j, Z_{j−½}) ↦ (Y_{j+1}, Z_{j+½}).
let step (ctx: Context) (j: int) (w: Weights) (y: float[]) (z: float[]) : struct (float[] * float[]) =
    let z' = Array.copy z
    axpy (omega j * ctx.H) (value ctx Direct w.K w.b y) z'
    let y' = Array.copy y
    axpy ctx.H z' y'
    struct (y', z')

/// δZ_{j+½} = δZ_{j−½} + ω_j h σ'(a_j) ⊙ (δY_j K_j + Y_j δK_j + δb_j);  δY_{j+1} = δY_j + h δZ_{j+½}.
let sensitivity (ctx: Context) (j: int) (w: Weights) (y: float[]) (dw: Weights) (dy: float[]) (dz: float[]) : struct (float[] * float[]) =
    let a = preActivation ctx Direct w.K w.b y
    let dz' = Array.copy dz
    axpy (omega j * ctx.H) (Layer.sensitivity ctx Direct w.K a y dy dw.K dw.b) dz'
    let dy' = Array.copy dy
    axpy ctx.H dz' dy'
    struct (dy', dz')

/// Z̄_{j−½} = Z̄_{j+½} + h Ȳ_{j+1};  Ȳ_j = Ȳ_{j+1} + (ω_j h σ'(a_j) ⊙ Z̄_{j−½}) K_jᵀ;
/// the gradients of K_j and b_j are added to g.
let adjoint (ctx: Context) (j: int) (w: Weights) (y: float[]) (yBar': float[]) (zBar': float[]) (g: Weights) : struct (float[] * float[]) =
    let zBar = Array.copy zBar'
    axpy ctx.H yBar' zBar
    let a = preActivation ctx Direct w.K w.b y
    let yBar = Layer.adjoint ctx Direct w.K a y (omega j * ctx.H) zBar g.K g.b
    axpy 1.0 yBar' yBar
    struct (yBar, zBar)

/// The exact inverse of `step`: Y_j = Y_{j+1} − h Z_{j+½};  Z_{j−½} = Z_{j+½} − ω_j h σ(Y_j K_j + b_j)
/// (equivalently Y_{j−1} = 2Y_j − Y_{j+1} + h² σ(Y_j K_j + b_j)).
let reverse (ctx: Context) (j: int) (w: Weights) (y': float[]) (z': float[]) : struct (float[] * float[]) =
    let y = Array.copy y'
    axpy (-ctx.H) z' y
    let z = Array.copy z'
    axpy (-(omega j) * ctx.H) (value ctx Direct w.K w.b y) z
    struct (y, z)
