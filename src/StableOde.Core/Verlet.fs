/// The Hamiltonian Verlet network (Eq. 4.15, 4.17): the step, its linearisation, its transpose
/// and its exact inverse.
///
/// Z_{j+½} = Z_{j−½} − h σ(Y_j K_j + c_j),  Y_{j+1} = Y_j + h σ(Z_{j+½} K_jᵀ + b_j),  Z_{−½} = 0,
/// with K_j ∈ R^{n×m}, c_j ∈ R^m, b_j ∈ R^n.
module StableOde.Core.Verlet

open StableOde.Core.Kernels
open StableOde.Core.Layer

/// One step: (Y_j, Z_{j−½}) ↦ (Y_{j+1}, Z_{j+½}).
let step (ctx: Context) (w: Weights) (y: float[]) (z: float[]) : struct (float[] * float[]) =
    let z' = Array.copy z
    axpy (-ctx.H) (value ctx Direct w.K w.c y) z'
    let y' = Array.copy y
    axpy ctx.H (value ctx Transposed w.K w.b z') y'
    struct (y', z')

/// δZ_{j+½} = δZ_{j−½} − h σ'(e_j) ⊙ (δY_j K_j + Y_j δK_j + δc_j), e_j = Y_j K_j + c_j;
/// δY_{j+1} = δY_j + h σ'(a_j) ⊙ (δZ_{j+½} K_jᵀ + Z_{j+½} δK_jᵀ + δb_j), a_j = Z_{j+½} K_jᵀ + b_j.
let sensitivity (ctx: Context) (w: Weights) (y: float[]) (z: float[]) (dw: Weights) (dy: float[]) (dz: float[]) : struct (float[] * float[]) =
    let e = preActivation ctx Direct w.K w.c y
    let z' = Array.copy z
    axpy (-ctx.H) (activate ctx.Net.Activation e) z'
    let dz' = Array.copy dz
    axpy (-ctx.H) (Layer.sensitivity ctx Direct w.K e y dy dw.K dw.c) dz'
    let a = preActivation ctx Transposed w.K w.b z'
    let dy' = Array.copy dy
    axpy ctx.H (Layer.sensitivity ctx Transposed w.K a z' dz' dw.K dw.b) dy'
    struct (dy', dz')

/// Z̄_{j−½} = Z̄_{j+½} + (h σ'(a_j) ⊙ Ȳ_{j+1}) K_j;  Ȳ_j = Ȳ_{j+1} − (h σ'(e_j) ⊙ Z̄_{j−½}) K_jᵀ;
/// the gradients of K_j, b_j and c_j are added to g. Needs Y_j and Z_{j+½}.
let adjoint (ctx: Context) (w: Weights) (y: float[]) (z': float[]) (yBar': float[]) (zBar': float[]) (g: Weights) : struct (float[] * float[]) =
    let a = preActivation ctx Transposed w.K w.b z'
    let zBar = Layer.adjoint ctx Transposed w.K a z' ctx.H yBar' g.K g.b
    axpy 1.0 zBar' zBar
    let e = preActivation ctx Direct w.K w.c y
    let yBar = Layer.adjoint ctx Direct w.K e y (-ctx.H) zBar g.K g.c
    axpy 1.0 yBar' yBar
    struct (yBar, zBar)

/// The exact inverse of `step`: Y_j = Y_{j+1} − h σ(Z_{j+½} K_jᵀ + b_j);  Z_{j−½} = Z_{j+½} + h σ(Y_j K_j + c_j).
let reverse (ctx: Context) (w: Weights) (y': float[]) (z': float[]) : struct (float[] * float[]) =
    let y = Array.copy y'
    axpy (-ctx.H) (value ctx Transposed w.K w.b z') y
    let z = Array.copy z'
    axpy ctx.H (value ctx Direct w.K w.c y) z
    struct (y, z)
