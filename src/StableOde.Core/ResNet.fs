/// Forward Euler, the ResNet of Eq. 2.1 and (with A(K) = ½(K − Kᵀ − γI)) the antisymmetric
/// ResNet of Eq. 4.12: the step, its linearisation, its transpose.
module StableOde.Core.ResNet

open StableOde.Core.Kernels
open StableOde.Core.Layer

/// Y_{j+1} = Y_j + h σ(Y_j K_j + b_j)   (Eq. 2.1; Eq. 4.12 with K_j ← A(K_j)).
let step (ctx: Context) (w: Weights) (y: float[]) : float[] =
    let y' = Array.copy y
    axpy ctx.H (value ctx Direct w.K w.b y) y'
    y'

/// δY_{j+1} = δY_j + h σ'(a_j) ⊙ (δY_j K_j + Y_j δK_j + δb_j), a_j = Y_j K_j + b_j.
let sensitivity (ctx: Context) (w: Weights) (y: float[]) (dw: Weights) (dy: float[]) : float[] =
    let a = preActivation ctx Direct w.K w.b y
    let dy' = Array.copy dy
    axpy ctx.H (Layer.sensitivity ctx Direct w.K a y dy dw.K dw.b) dy'
    dy'

/// Ȳ_j = Ȳ_{j+1} + (h σ'(a_j) ⊙ Ȳ_{j+1}) K_jᵀ, and the gradients of K_j and b_j added to g.
let adjoint (ctx: Context) (w: Weights) (y: float[]) (yBar': float[]) (g: Weights) : float[] =
    let a = preActivation ctx Direct w.K w.b y
    let yBar = Layer.adjoint ctx Direct w.K a y ctx.H yBar' g.K g.b
    axpy 1.0 yBar' yBar
    yBar
