/// Fused kernels for 3×3 convolution layers (ResNet and Verlet) on one block of examples
/// (AVX-512). A block's arrays hold one pixel of one channel per column of `S` examples, which
/// for an MNIST-sized batch is tens of megabytes; these kernels instead walk the block in chunks
/// of `ChunkRows` examples. Each chunk is packed into zero-bordered images ([channel][row][column]
/// [example], (H+2)×(W+2) pixels a channel), so every tap is a branch-free load and the chunk's
/// working set stays in the L2 cache. For one output pixel the kernel accumulates the 9 taps ×
/// all input channels of `Group` output channels × 16 examples in registers (in a method of its
/// own), then adds the bias,
/// evaluates σ (and σ') and applies the update in the same pass. The parameter gradient is a
/// blocked reduction: for each input channel and tap row, 3 taps × 6 output channels are summed
/// lane-wise in registers over the chunk's pixels, added to lane accumulators once per chunk and
/// reduced once per layer.
///
/// The sums are those of `Operator`'s convolution in another order: equal to round-off.
[<OptimisedFromFirstCall>]
module StableOde.Core.FusedConv

open System.Runtime.CompilerServices
open System.Runtime.InteropServices
open System.Runtime.Intrinsics

/// Examples per chunk: two Vector512 of eight.
[<Literal>]
let ChunkRows = 16

/// Output channels one pass of the kernel accumulates at once.
[<Literal>]
let Group = 6

/// Whether the fused convolution kernels run on this machine (512-bit vectors).
let available = Vector512.IsHardwareAccelerated

/// Per-block buffers of the fused convolution kernels for c channels of H×W pixels.
type Scratch =
    { /// Channels, image height and width.
      C: int
      H: int
      W: int
      /// Channels rounded up to whole groups of `Group`: the channel count of the packed buffers.
      Padded: int
      /// Four packed, zero-bordered chunks (Padded·(H+2)·(W+2)·ChunkRows entries each): the
      /// state a product reads, its partner state, and the two adjoint intermediates.
      X: float[]
      Z: float[]
      P: float[]
      Q: float[]
      /// The layer's weights packed for the kernel, [group][input channel][tap][Group].
      KDirect: float[]
      /// The transpose's weights, K'[i][o][8 − tap] = K[o][i][tap], packed like `KDirect`.
      KTransposed: float[]
      /// The sums of the current output pixel, `Group` channels × `ChunkRows` examples.
      Sums: float[]
      /// Lane sums (8 each) of ∂/∂θ in θ's entry order (9·i + tap)·c + o.
      GK: float[]
      /// Lane sums of the gradient of the bias added to Y's side (b), one per bias entry.
      GB: float[]
      /// Lane sums of the gradient of the bias added to Z's side (Verlet's c), one per entry.
      GC: float[] }

/// Scratch for a c-channel H×W convolution with biases of the given lengths.
let scratch (c: int) (h: int) (w: int) (biasWidth: int) (auxBiasWidth: int) : Scratch =
    let padded = (c + Group - 1) / Group * Group
    let chunk () = Array.zeroCreate (padded * (h + 2) * (w + 2) * ChunkRows)
    { C = c; H = h; W = w; Padded = padded
      X = chunk (); Z = chunk (); P = chunk (); Q = chunk ()
      KDirect = Array.zeroCreate (padded * c * 9); KTransposed = Array.zeroCreate (padded * c * 9)
      Sums = Array.zeroCreate (Group * ChunkRows)
      GK = Array.zeroCreate (c * c * 9 * 8); GB = Array.zeroCreate (biasWidth * 8); GC = Array.zeroCreate (auxBiasWidth * 8) }

/// Each thread's scratch of its last call, reused while the sizes stay the same: a solve's blocks
/// run on the thread pool, and every kernel call prepares, uses and reduces its scratch on one
/// thread, so a few megabytes per thread replace a set per block and per solve.
let private perThread = new System.Threading.ThreadLocal<Scratch option ref>(fun () -> ref None)

/// The calling thread's scratch for a c-channel H×W convolution with biases of the given
/// lengths (`scratch`, kept for the thread's next call of the same sizes).
let scratchFor (c: int) (h: int) (w: int) (biasWidth: int) (auxBiasWidth: int) : Scratch =
    let cell = perThread.Value
    match cell.Value with
    | Some sc when sc.C = c && sc.H = h && sc.W = w && sc.GB.Length = biasWidth * 8 && sc.GC.Length = auxBiasWidth * 8 -> sc
    | _ ->
        let sc = scratch c h w biasWidth auxBiasWidth
        cell.Value <- Some sc
        sc

// Unchecked element access: every index below lies inside its array by construction (packed
// chunks are allocated for `Padded` channels with a one-pixel border, block columns hold S rows,
// a multiple of 8, and the upper half of a chunk is touched only when it holds examples).
let inline private elem (a: float[]) (i: int) : byref<float> = &Unsafe.Add(&MemoryMarshal.GetArrayDataReference a, i)
let inline private load (a: float[]) (i: int) = Vector512.LoadUnsafe(&elem a i)
let inline private store (v: Vector512<float>) (a: float[]) (i: int) = v.StoreUnsafe(&elem a i)
let inline private splat (x: float) = Vector512.Create x
let inline private fma (a: Vector512<float>) (b: Vector512<float>) (c: Vector512<float>) = Vector512.FusedMultiplyAdd(a, b, c)

/// Packs θ (c × 9c, entry (o, 9i + tap)) for the kernel: K itself into `KDirect` and its
/// transpose into `KTransposed`; the entries of padding channels stay zero.
let prepare (sc: Scratch) (theta: float[]) =
    let c = sc.C
    for oc in 0 .. c - 1 do
        for ic in 0 .. c - 1 do
            for t in 0 .. 8 do
                let at = (((oc / Group) * c + ic) * 9 + t) * Group + oc % Group
                sc.KDirect[at] <- theta[(9 * ic + t) * c + oc]
                sc.KTransposed[at] <- theta[(9 * oc + 8 - t) * c + ic]

/// The index of pixel (r, q) of channel ch in a packed chunk (r, q from −1 to H, W: the border).
let inline private packedAt (sc: Scratch) (ch: int) (r: int) (q: int) =
    ((ch * (sc.H + 2) + r + 1) * (sc.W + 2) + q + 1) * ChunkRows

/// Copies rows r0 … r0 + 15 (r0 … r0 + 7 when not `full`; the upper half is then zero) of a
/// block array with `rows` rows per column into a packed chunk.
let pack (sc: Scratch) (rows: int) (r0: int) (full: bool) (src: float[]) (dst: float[]) =
    let hw = sc.H * sc.W
    for ch in 0 .. sc.C - 1 do
        for r in 0 .. sc.H - 1 do
            for q in 0 .. sc.W - 1 do
                let from = (ch * hw + r * sc.W + q) * rows + r0
                let at = packedAt sc ch r q
                store (load src from) dst at
                store (if full then load src (from + 8) else Vector512<float>.Zero) dst (at + 8)

/// The sums of one output pixel (r, q) for the output channels of group g: 9 taps × every input
/// channel of a packed chunk, 6 channels × 16 examples in registers, written to `sc.Sums`
/// (channel g·Group + k at 16·k, lower half first). A method of its own, so that the JIT keeps
/// its twelve accumulators in registers whatever the epilogue inlined around it.
let private convolvePixel (sc: Scratch) (k: float[]) (src: float[]) (g: int) (r: int) (q: int) =
    let c, h = sc.C, sc.H
    let pw = sc.W + 2
    let mutable a0 = Vector512<float>.Zero
    let mutable a1 = Vector512<float>.Zero
    let mutable a2 = Vector512<float>.Zero
    let mutable a3 = Vector512<float>.Zero
    let mutable a4 = Vector512<float>.Zero
    let mutable a5 = Vector512<float>.Zero
    let mutable b0 = Vector512<float>.Zero
    let mutable b1 = Vector512<float>.Zero
    let mutable b2 = Vector512<float>.Zero
    let mutable b3 = Vector512<float>.Zero
    let mutable b4 = Vector512<float>.Zero
    let mutable b5 = Vector512<float>.Zero
    for ic in 0 .. c - 1 do
        for u in 0 .. 2 do
            let row = ((ic * (h + 2) + r + u) * pw + q) * ChunkRows
            let kr = ((g * c + ic) * 9 + 3 * u) * Group
            for v in 0 .. 2 do
                let at = row + v * ChunkRows
                let x0 = load src at
                let x1 = load src (at + 8)
                let kb = kr + v * Group
                let k0 = splat (elem k kb)
                a0 <- fma x0 k0 a0
                b0 <- fma x1 k0 b0
                let k1 = splat (elem k (kb + 1))
                a1 <- fma x0 k1 a1
                b1 <- fma x1 k1 b1
                let k2 = splat (elem k (kb + 2))
                a2 <- fma x0 k2 a2
                b2 <- fma x1 k2 b2
                let k3 = splat (elem k (kb + 3))
                a3 <- fma x0 k3 a3
                b3 <- fma x1 k3 b3
                let k4 = splat (elem k (kb + 4))
                a4 <- fma x0 k4 a4
                b4 <- fma x1 k4 b4
                let k5 = splat (elem k (kb + 5))
                a5 <- fma x0 k5 a5
                b5 <- fma x1 k5 b5
    let out = sc.Sums
    store a0 out 0
    store b0 out 8
    store a1 out 16
    store b1 out 24
    store a2 out 32
    store b2 out 40
    store a3 out 48
    store b3 out 56
    store a4 out 64
    store b4 out 72
    store a5 out 80
    store b5 out 88

/// The convolution of a packed chunk with packed weights k, one output pixel at a time: for each
/// output channel o and pixel p = r·W + q, `epilogue o p lo hi` receives the sums of the chunk's
/// two halves (examples 0–7 and 8–15).
let inline private convolve (sc: Scratch) (k: float[]) (src: float[]) ([<InlineIfLambda>] epilogue: int -> int -> Vector512<float> -> Vector512<float> -> unit) =
    let c, w = sc.C, sc.W
    for g in 0 .. sc.Padded / Group - 1 do
        for r in 0 .. sc.H - 1 do
            for q in 0 .. w - 1 do
                convolvePixel sc k src g r q
                let p = r * w + q
                for o in g * Group .. min c (g * Group + Group) - 1 do
                    let at = (o - g * Group) * ChunkRows
                    epilogue o p (load sc.Sums at) (load sc.Sums (at + 8))

/// GK ← GK + ∂⟨X K(θ), V⟩/∂θ lane-wise, for packed chunks x and v: entry (9·i + tap)·c + o
/// gains Σ_pixels x[i, pixel + tap] v[o, pixel] over both halves of the chunk. For each input
/// channel, tap row and group of `Group` output channels, the 3 taps × 6 outputs are summed in
/// registers over the chunk's pixels (9 loads feed 18 FMAs). Padding channels of v are zero and
/// their entries are not kept.
let gradient (sc: Scratch) (x: float[]) (v: float[]) =
    let c, h, w = sc.C, sc.H, sc.W
    let pw = w + 2
    let plane = (h + 2) * pw * ChunkRows
    for ic in 0 .. c - 1 do
        for u in 0 .. 2 do
            for og in 0 .. Group .. c - 1 do
                let mutable s00 = Vector512<float>.Zero
                let mutable s01 = Vector512<float>.Zero
                let mutable s02 = Vector512<float>.Zero
                let mutable s03 = Vector512<float>.Zero
                let mutable s04 = Vector512<float>.Zero
                let mutable s05 = Vector512<float>.Zero
                let mutable s10 = Vector512<float>.Zero
                let mutable s11 = Vector512<float>.Zero
                let mutable s12 = Vector512<float>.Zero
                let mutable s13 = Vector512<float>.Zero
                let mutable s14 = Vector512<float>.Zero
                let mutable s15 = Vector512<float>.Zero
                let mutable s20 = Vector512<float>.Zero
                let mutable s21 = Vector512<float>.Zero
                let mutable s22 = Vector512<float>.Zero
                let mutable s23 = Vector512<float>.Zero
                let mutable s24 = Vector512<float>.Zero
                let mutable s25 = Vector512<float>.Zero
                for r in 0 .. h - 1 do
                    let vrow = ((og * (h + 2) + r + 1) * pw + 1) * ChunkRows
                    let xrow = ((ic * (h + 2) + r + u) * pw) * ChunkRows
                    for e in 0 .. 2 * w - 1 do
                        // e runs over the row's pixels and, within each, its two halves.
                        let off = (e >>> 1) * ChunkRows + (e &&& 1) * 8
                        let vat = vrow + off
                        let xat = xrow + off
                        let x0 = load x xat
                        let x1 = load x (xat + ChunkRows)
                        let x2 = load x (xat + 2 * ChunkRows)
                        let v0 = load v vat
                        s00 <- fma x0 v0 s00
                        s10 <- fma x1 v0 s10
                        s20 <- fma x2 v0 s20
                        let v1 = load v (vat + plane)
                        s01 <- fma x0 v1 s01
                        s11 <- fma x1 v1 s11
                        s21 <- fma x2 v1 s21
                        let v2 = load v (vat + 2 * plane)
                        s02 <- fma x0 v2 s02
                        s12 <- fma x1 v2 s12
                        s22 <- fma x2 v2 s22
                        let v3 = load v (vat + 3 * plane)
                        s03 <- fma x0 v3 s03
                        s13 <- fma x1 v3 s13
                        s23 <- fma x2 v3 s23
                        let v4 = load v (vat + 4 * plane)
                        s04 <- fma x0 v4 s04
                        s14 <- fma x1 v4 s14
                        s24 <- fma x2 v4 s24
                        let v5 = load v (vat + 5 * plane)
                        s05 <- fma x0 v5 s05
                        s15 <- fma x1 v5 s15
                        s25 <- fma x2 v5 s25
                let put (tapV: int) (o: int) (s: Vector512<float>) =
                    if og + o < c then
                        let at = ((9 * ic + 3 * u + tapV) * c + og + o) * 8
                        store (load sc.GK at + s) sc.GK at
                put 0 0 s00
                put 0 1 s01
                put 0 2 s02
                put 0 3 s03
                put 0 4 s04
                put 0 5 s05
                put 1 0 s10
                put 1 1 s11
                put 1 2 s12
                put 1 3 s13
                put 1 4 s14
                put 1 5 s15
                put 2 0 s20
                put 2 1 s21
                put 2 2 s22
                put 2 3 s23
                put 2 4 s24
                put 2 5 s25

/// Adds the lane sums of the accumulators into the layer's gradients (gK shaped like θ, gb and
/// gc like the biases; gc may be empty) and clears them.
let reduce (sc: Scratch) (gK: float[]) (gb: float[]) (gc: float[]) =
    for e in 0 .. gK.Length - 1 do
        gK[e] <- gK[e] + Vector512.Sum(load sc.GK (e * 8))
    for e in 0 .. gb.Length - 1 do
        gb[e] <- gb[e] + Vector512.Sum(load sc.GB (e * 8))
    for e in 0 .. gc.Length - 1 do
        gc[e] <- gc[e] + Vector512.Sum(load sc.GC (e * 8))
    System.Array.Clear sc.GK
    System.Array.Clear sc.GB
    System.Array.Clear sc.GC

/// σ and σ' on eight lanes.
type private Sigma = Vector512<float> -> struct (Vector512<float> * Vector512<float>)

/// The bias entry of feature f on a side of width `width` with a bias of length `length` (tied
/// over groups of width / length consecutive features).
let inline private biasIndex (width: int) (length: int) (f: int) = f / (width / length)

/// Loads the two halves of a block array at `at` (the upper half is zero when not `full`).
let inline private loadPair (full: bool) (a: float[]) (at: int) =
    struct (load a at, (if full then load a (at + 8) else Vector512<float>.Zero))

/// Stores the two halves of a pair at `at` (the upper half only when `full`).
let inline private storePair (full: bool) (lo: Vector512<float>) (hi: Vector512<float>) (a: float[]) (at: int) =
    store lo a at
    if full then store hi a (at + 8)

/// Adds a pair to the lane accumulator of bias entry e.
let inline private accumulate (acc: float[]) (e: int) (lo: Vector512<float>) (hi: Vector512<float>) =
    store (load acc (e * 8) + lo + hi) acc (e * 8)

/// Runs `chunk r0 full` over the block's rows in chunks of `ChunkRows` (rows is a multiple of 8).
let inline private chunks (rows: int) ([<InlineIfLambda>] chunk: int -> bool -> unit) =
    for r0 in 0 .. ChunkRows .. rows - 1 do
        chunk r0 (r0 + ChunkRows <= rows)

// ---- forward Euler (ResNet): Y ← Y + h σ(Y K + 1bᵀ) -------------------------------------

let inline private resnetStepWith ([<InlineIfLambda>] activate: Sigma) (sc: Scratch) (rows: int) (h: float) (b: float[]) (y: float[]) =
    let n = sc.C * sc.H * sc.W
    let hv = splat h
    chunks rows (fun r0 full ->
        pack sc rows r0 full y sc.X
        convolve sc sc.KDirect sc.X (fun o p lo hi ->
            let f = o * sc.H * sc.W + p
            let bias = splat b[biasIndex n b.Length f]
            let at = f * rows + r0
            let struct (ylo, yhi) = loadPair full y at
            let struct (tlo, _) = activate (lo + bias)
            let struct (thi, _) = activate (hi + bias)
            storePair full (fma hv tlo ylo) (fma hv thi yhi) y at))

/// Y ← Y + h σ(Y K + 1bᵀ) for the convolution whose weights `prepare` packed.
let resnetStep (act: Activation) (sc: Scratch) (rows: int) (h: float) (b: float[]) (y: float[]) =
    match act with
    | Tanh -> resnetStepWith (Kernels.tanhWithDerivative (Kernels.Vec512())) sc rows h b y
    | Relu -> resnetStepWith (Fused.reluWithDerivative (Kernels.Vec512())) sc rows h b y
    | Identity -> resnetStepWith (Fused.identityWithDerivative (Kernels.Vec512())) sc rows h b y

let inline private resnetAdjointWith ([<InlineIfLambda>] activate: Sigma) (sc: Scratch) (rows: int) (h: float) (b: float[]) (y: float[]) (yBar: float[]) =
    let n = sc.C * sc.H * sc.W
    let hv = splat h
    chunks rows (fun r0 full ->
        pack sc rows r0 full y sc.X
        convolve sc sc.KDirect sc.X (fun o p lo hi ->
            let f = o * sc.H * sc.W + p
            let e = biasIndex n b.Length f
            let bias = splat b[e]
            let struct (blo, bhi) = loadPair full yBar (f * rows + r0)
            let struct (_, dlo) = activate (lo + bias)
            let struct (_, dhi) = activate (hi + bias)
            let wlo, whi = hv * dlo * blo, hv * dhi * bhi
            let at = packedAt sc o (p / sc.W) (p % sc.W)
            store wlo sc.P at
            store whi sc.P (at + 8)
            accumulate sc.GB e wlo whi)
        convolve sc sc.KTransposed sc.P (fun i p lo hi ->
            let at = (i * sc.H * sc.W + p) * rows + r0
            let struct (blo, bhi) = loadPair full yBar at
            storePair full (blo + lo) (bhi + hi) yBar at)
        gradient sc sc.X sc.P)

/// The adjoint of `resnetStep` at Y_j: with w = h σ'(a) ⊙ Ȳ, a = Y_j K + 1bᵀ: Ȳ ← Ȳ + w Kᵀ,
/// and ∂⟨Y_j K, w⟩/∂θ, colsum w accumulated in the scratch.
let resnetAdjoint (act: Activation) (sc: Scratch) (rows: int) (h: float) (b: float[]) (y: float[]) (yBar: float[]) =
    match act with
    | Tanh -> resnetAdjointWith (Kernels.tanhWithDerivative (Kernels.Vec512())) sc rows h b y yBar
    | Relu -> resnetAdjointWith (Fused.reluWithDerivative (Kernels.Vec512())) sc rows h b y yBar
    | Identity -> resnetAdjointWith (Fused.identityWithDerivative (Kernels.Vec512())) sc rows h b y yBar

// ---- Verlet, K square: Z ← Z − h σ(Y K + 1cᵀ), Y ← Y + h σ(Z Kᵀ + 1bᵀ) -------------------

let inline private verletStepWith ([<InlineIfLambda>] activate: Sigma) (sc: Scratch) (rows: int) (h: float) (b: float[]) (c: float[]) (y: float[]) (z: float[]) =
    let n = sc.C * sc.H * sc.W
    let hv = splat h
    chunks rows (fun r0 full ->
        pack sc rows r0 full y sc.X
        convolve sc sc.KDirect sc.X (fun o p lo hi ->
            let f = o * sc.H * sc.W + p
            let bias = splat c[biasIndex n c.Length f]
            let at = f * rows + r0
            let struct (zlo, zhi) = loadPair full z at
            let struct (tlo, _) = activate (lo + bias)
            let struct (thi, _) = activate (hi + bias)
            let zlo, zhi = fma -hv tlo zlo, fma -hv thi zhi
            storePair full zlo zhi z at
            let packed = packedAt sc o (p / sc.W) (p % sc.W)
            store zlo sc.Z packed
            store zhi sc.Z (packed + 8))
        convolve sc sc.KTransposed sc.Z (fun i p lo hi ->
            let f = i * sc.H * sc.W + p
            let bias = splat b[biasIndex n b.Length f]
            let at = f * rows + r0
            let struct (ylo, yhi) = loadPair full y at
            let struct (tlo, _) = activate (lo + bias)
            let struct (thi, _) = activate (hi + bias)
            storePair full (fma hv tlo ylo) (fma hv thi yhi) y at))

/// One Verlet step: (Y_j, Z_{j−½}) ← (Y_{j+1}, Z_{j+½}), for the convolution `prepare` packed.
let verletStep (act: Activation) (sc: Scratch) (rows: int) (h: float) (b: float[]) (c: float[]) (y: float[]) (z: float[]) =
    match act with
    | Tanh -> verletStepWith (Kernels.tanhWithDerivative (Kernels.Vec512())) sc rows h b c y z
    | Relu -> verletStepWith (Fused.reluWithDerivative (Kernels.Vec512())) sc rows h b c y z
    | Identity -> verletStepWith (Fused.identityWithDerivative (Kernels.Vec512())) sc rows h b c y z

let inline private verletAdjointWith ([<InlineIfLambda>] activate: Sigma) (sc: Scratch) (reversing: bool) (rows: int) (h: float) (b: float[]) (c: float[]) (y: float[]) (z: float[]) (yBar: float[]) (zBar: float[]) =
    let n = sc.C * sc.H * sc.W
    let hw = sc.H * sc.W
    let hv = splat h
    chunks rows (fun r0 full ->
        // w = h σ'(a) ⊙ Ȳ with a = Z_{j+½} Kᵀ + 1bᵀ (and Y_j = Y_{j+1} − h σ(a) when reversing).
        pack sc rows r0 full z sc.Z
        convolve sc sc.KTransposed sc.Z (fun i p lo hi ->
            let f = i * hw + p
            let e = biasIndex n b.Length f
            let bias = splat b[e]
            let at = f * rows + r0
            let struct (tlo, dlo) = activate (lo + bias)
            let struct (thi, dhi) = activate (hi + bias)
            if reversing then
                let struct (ylo, yhi) = loadPair full y at
                storePair full (fma -hv tlo ylo) (fma -hv thi yhi) y at
            let struct (blo, bhi) = loadPair full yBar at
            let wlo, whi = hv * dlo * blo, hv * dhi * bhi
            let packed = packedAt sc i (p / sc.W) (p % sc.W)
            store wlo sc.P packed
            store whi sc.P (packed + 8)
            accumulate sc.GB e wlo whi)
        // Z̄ ← Z̄ + w K, and ∂⟨w K, Z_{j+½}⟩/∂θ.
        convolve sc sc.KDirect sc.P (fun o p lo hi ->
            let at = (o * hw + p) * rows + r0
            let struct (zlo, zhi) = loadPair full zBar at
            storePair full (zlo + lo) (zhi + hi) zBar at)
        gradient sc sc.P sc.Z
        // v = −h σ'(e) ⊙ Z̄ with e = Y_j K + 1cᵀ (and Z_{j−½} = Z_{j+½} + h σ(e) when reversing).
        pack sc rows r0 full y sc.X
        convolve sc sc.KDirect sc.X (fun o p lo hi ->
            let f = o * hw + p
            let e = biasIndex n c.Length f
            let bias = splat c[e]
            let at = f * rows + r0
            let struct (tlo, dlo) = activate (lo + bias)
            let struct (thi, dhi) = activate (hi + bias)
            if reversing then
                let struct (zlo, zhi) = loadPair full z at
                storePair full (fma hv tlo zlo) (fma hv thi zhi) z at
            let struct (blo, bhi) = loadPair full zBar at
            let vlo, vhi = -hv * dlo * blo, -hv * dhi * bhi
            let packed = packedAt sc o (p / sc.W) (p % sc.W)
            store vlo sc.Q packed
            store vhi sc.Q (packed + 8)
            accumulate sc.GC e vlo vhi)
        // Ȳ ← Ȳ + v Kᵀ, and ∂⟨Y_j K, v⟩/∂θ.
        convolve sc sc.KTransposed sc.Q (fun i p lo hi ->
            let at = (i * hw + p) * rows + r0
            let struct (ylo, yhi) = loadPair full yBar at
            storePair full (ylo + lo) (yhi + hi) yBar at)
        gradient sc sc.X sc.Q)

/// The adjoint of Verlet step j, optionally fused with its inverse, for the convolution
/// `prepare` packed: the same contract as `Fused.verletAdjoint`, one chunk of examples at a
/// time (z holds Z_{j+½}; without `reversing` y holds Y_j, with it (y, z) hold (Y_{j+1},
/// Z_{j+½}) and become (Y_j, Z_{j−½})).
let verletAdjoint (act: Activation) (sc: Scratch) (reversing: bool) (rows: int) (h: float) (b: float[]) (c: float[]) (y: float[]) (z: float[]) (yBar: float[]) (zBar: float[]) =
    match act with
    | Tanh -> verletAdjointWith (Kernels.tanhWithDerivative (Kernels.Vec512())) sc reversing rows h b c y z yBar zBar
    | Relu -> verletAdjointWith (Fused.reluWithDerivative (Kernels.Vec512())) sc reversing rows h b c y z yBar zBar
    | Identity -> verletAdjointWith (Fused.identityWithDerivative (Kernels.Vec512())) sc reversing rows h b c y z yBar zBar
