/// Fused kernels for 3×3 convolution layers (ResNet and Verlet) on one block of examples, on
/// 512-bit vectors (AVX-512) or 256-bit ones. A block's arrays hold one pixel of one channel per
/// column of `S` examples, which for an MNIST-sized batch is tens of megabytes; these kernels
/// instead walk the block in chunks of two vectors of examples (16 on Vector512, 8 on
/// Vector256). Each chunk is packed into zero-bordered images ([channel][row][column][example],
/// (H+2)×(W+2) pixels a channel), so every tap is a branch-free load and the chunk's working set
/// stays in the L2 cache. For one output pixel the kernel accumulates the 9 taps × all input
/// channels of `Group` output channels × the chunk's examples in twelve vector registers (in a
/// method of its own, its offsets native ints); on Vector512, whose 32 registers hold 24
/// accumulators, two neighbouring pixels at once. After a row of output pixels, the bias and σ
/// (and σ') of the whole row run in a loop of their own (another method), and then the update:
/// the row's activations are independent, so the processor overlaps them, where one pixel's six
/// outputs between two convolutions kept it waiting on each σ's division and polynomial (on a
/// Zen 3 the layer's time outside the FMA loop went from 1.5× the loop's to 1.2×). The
/// parameter gradient is a blocked reduction: for each input channel and tap row,
/// 3 taps × 3 output channels are summed lane-wise in nine registers over the chunk's pixels,
/// added to lane accumulators once per chunk and reduced once per layer.
///
/// Every kernel is written once, generic in the witness `w` of `Kernels.Simd` (`Vec512()` or
/// `Vec256()`), and compiled for both widths; `Kernels.useVector512` picks one at run time.
/// The sums are those of `Operator`'s convolution in another order: equal to round-off.
[<OptimisedFromFirstCall>]
module StableOde.Core.FusedConv

open StableOde.Core.Kernels

/// Examples per chunk at most: two Vector512 of eight (on Vector256, two of four: 8).
[<Literal>]
let ChunkRows = 16

/// Output channels one pass of the kernel accumulates at once.
[<Literal>]
let Group = 6

/// The distance between two lane accumulators (one Vector512, whatever the width in use).
[<Literal>]
let private Stride = 8

/// The witnesses of the two widths.
let private V8 = Vec512()
let private V4 = Vec256()

/// Whether the fused convolution kernels run on this machine (512-bit or 256-bit vectors).
let available = Fused.available

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
      /// A direction δθ of the weights (sensitivity), packed like `KDirect` and `KTransposed`.
      DDirect: float[]
      DTransposed: float[]
      /// The sums of the current row of output pixels, [column][`Group` channels][a chunk of
      /// examples]: the epilogue runs over a whole row once its sums are in.
      Sums: float[]
      /// The linearised sums of the current row of output pixels (sensitivity), laid out like `Sums`.
      DSums: float[]
      /// σ' of the current row's pre-activations, laid out like `Sums` (which then holds σ).
      Slopes: float[]
      /// Lane sums (`Stride` each) of ∂/∂θ in θ's entry order (9·i + tap)·c + o.
      GK: float[]
      /// Lane sums of the gradient of the bias added to Y's side (b), one per bias entry.
      GB: float[]
      /// Lane sums of the gradient of the bias added to Z's side (Verlet's c), one per entry.
      GC: float[]
      /// Per feature f (channel-major, C·H·W of them): the entry of b (`IndexB`) or of c
      /// (`IndexC`, empty without c) added to it, so that no kernel divides per output.
      IndexB: int[]
      IndexC: int[]
      /// The lanes of a vector (8 or 4) the packed chunks were laid out for: their borders are zero
      /// only for that width (a chunk of the other width puts examples where they are).
      Lanes: int }

/// The bias entry of every feature of a side of n features with a bias of `length` entries
/// (tied over groups of n / length consecutive features); empty for no bias.
let private biasEntries (n: int) (length: int) =
    if length = 0 then Array.empty else Array.init n (fun f -> f / (n / length))

/// Scratch for a c-channel H×W convolution with biases of the given lengths.
let scratch (c: int) (h: int) (w: int) (biasWidth: int) (auxBiasWidth: int) : Scratch =
    let padded = (c + Group - 1) / Group * Group
    let chunk () = Array.zeroCreate (padded * (h + 2) * (w + 2) * ChunkRows)
    { C = c; H = h; W = w; Padded = padded
      X = chunk (); Z = chunk (); P = chunk (); Q = chunk ()
      KDirect = Array.zeroCreate (padded * c * 9); KTransposed = Array.zeroCreate (padded * c * 9)
      DDirect = Array.zeroCreate (padded * c * 9); DTransposed = Array.zeroCreate (padded * c * 9)
      Sums = Array.zeroCreate (w * Group * ChunkRows); DSums = Array.zeroCreate (w * Group * ChunkRows)
      Slopes = Array.zeroCreate (w * Group * ChunkRows)
      GK = Array.zeroCreate (c * c * 9 * Stride); GB = Array.zeroCreate (biasWidth * Stride); GC = Array.zeroCreate (auxBiasWidth * Stride)
      IndexB = biasEntries (c * h * w) biasWidth; IndexC = biasEntries (c * h * w) auxBiasWidth
      Lanes = if useVector512 then 8 else 4 }

/// Each thread's scratch of its last call, reused while the sizes stay the same: a solve's blocks
/// run on the thread pool, and every kernel call prepares, uses and reduces its scratch on one
/// thread, so a few megabytes per thread replace a set per block and per solve.
let private perThread = new System.Threading.ThreadLocal<Scratch option ref>(fun () -> ref None)

/// The calling thread's scratch for a c-channel H×W convolution with biases of the given
/// lengths (`scratch`, kept for the thread's next call of the same sizes and vector width).
let scratchFor (c: int) (h: int) (w: int) (biasWidth: int) (auxBiasWidth: int) : Scratch =
    let cell = perThread.Value
    match cell.Value with
    | Some sc when sc.C = c && sc.H = h && sc.W = w && sc.GB.Length = biasWidth * Stride && sc.GC.Length = auxBiasWidth * Stride
                   && sc.Lanes = (if useVector512 then 8 else 4) -> sc
    | _ ->
        let sc = scratch c h w biasWidth auxBiasWidth
        cell.Value <- Some sc
        sc

// Every index below lies inside its array by construction (packed chunks are allocated for
// `Padded` channels with a one-pixel border and `ChunkRows` examples, block columns hold S rows,
// a multiple of 8, and the upper half of a chunk is touched only when it holds examples), so the
// kernels load and store through `Simd` without bounds checks.

/// Packs θ (c × 9c, entry (o, 9i + tap)) for the kernel: K itself into `direct` and its
/// transpose into `transposed`; the entries of padding channels stay zero.
let private packWeights (c: int) (theta: float[]) (direct: float[]) (transposed: float[]) =
    for oc in 0 .. c - 1 do
        for ic in 0 .. c - 1 do
            for t in 0 .. 8 do
                let at = (((oc / Group) * c + ic) * 9 + t) * Group + oc % Group
                direct[at] <- theta[(9 * ic + t) * c + oc]
                transposed[at] <- theta[(9 * oc + 8 - t) * c + ic]

/// Packs θ for the kernels (into `KDirect` and `KTransposed`).
let prepare (sc: Scratch) (theta: float[]) = packWeights sc.C theta sc.KDirect sc.KTransposed

/// Packs a direction δθ for the sensitivity kernels (into `DDirect` and `DTransposed`).
let prepareDirection (sc: Scratch) (dTheta: float[]) = packWeights sc.C dTheta sc.DDirect sc.DTransposed

/// The index of pixel (r, q) of channel ch in a packed chunk of `chunk` examples a pixel (r, q
/// from −1 to H, W: the border).
let inline private packedAt (sc: Scratch) (chunk: int) (ch: int) (r: int) (q: int) =
    ((ch * (sc.H + 2) + r + 1) * (sc.W + 2) + q + 1) * chunk

/// Runs `entry f from at` for every feature f of a chunk of rows r0 … r0 + 2·lanes − 1 of a
/// block array with `rows` rows per column: from is the chunk's offset in the block array, at
/// its offset in a packed chunk.
let inline private overChunk (w: ^W) (sc: Scratch) (rows: int) (r0: int) ([<InlineIfLambda>] entry: int -> int -> int -> unit) =
    let chunk = 2 * Simd.lanes w
    let c, h, wd = sc.C, sc.H, sc.W
    let mutable f = 0
    let mutable from = r0
    for ch in 0 .. c - 1 do
        for r in 0 .. h - 1 do
            let mutable at = packedAt sc chunk ch r 0
            for _ in 0 .. wd - 1 do
                entry f from at
                f <- f + 1
                from <- from + rows
                at <- at + chunk

/// Copies the chunk of rows r0 … r0 + 2·lanes − 1 (its lower half only when not `full`; the
/// upper half is then zero) of a block array with `rows` rows per column into a packed chunk.
let inline private pack (w: ^W) (sc: Scratch) (rows: int) (r0: int) (full: bool) (src: float[]) (dst: float[]) =
    let half = Simd.lanes w
    let zero: ^V = Simd.splat w 0.0
    overChunk w sc rows r0 (fun _ from at ->
        Simd.store w (Simd.load w src from: ^V) dst at
        Simd.store w (if full then Simd.load w src (from + half) else zero) dst (at + half))

/// The native-int offsets the FMA loops start from for output pixel (r, q) of group g: struct
/// (rowStep, plane, xc, kb) — the distance between two rows and two channels of a packed chunk,
/// the pixel's first tap in it and the group's first weight. Each runs by a constant, so no int
/// index is recomputed and sign-extended per load (the JIT's loop body went from 44 instructions a
/// tap to 31, for 12 FMAs).
let inline private pixelOffsets (sc: Scratch) (chunk: int) (g: int) (r: int) (q: int) =
    let nchunk = nativeint chunk
    let rowStep = nativeint (sc.W + 2) * nchunk
    struct (rowStep, nativeint (sc.H + 2) * rowStep, (nativeint r * nativeint (sc.W + 2) + nativeint q) * nchunk, nativeint (g * sc.C * 9 * Group))

/// Writes one output pixel's sums (channel k of the group: halves lo_k and hi_k) to column q of a
/// row of sums `out`, channel k at (q·Group + k)·2·lanes, lower half first, or adds them to it
/// when `accumulate`.
let inline private putPixel (w: ^W) (accumulate: bool) (out: float[]) (q: int) (lo0: ^V) (lo1: ^V) (lo2: ^V) (lo3: ^V) (lo4: ^V) (lo5: ^V) (hi0: ^V) (hi1: ^V) (hi2: ^V) (hi3: ^V) (hi4: ^V) (hi5: ^V) =
    let half = Simd.lanes w
    let chunk = 2 * half
    let o0 = q * Group * chunk
    let inline put (at: int) (v: ^V) = Simd.store w (if accumulate then v + Simd.load w out (o0 + at) else v) out (o0 + at)
    put 0 lo0
    put half hi0
    put chunk lo1
    put (chunk + half) hi1
    put (2 * chunk) lo2
    put (2 * chunk + half) hi2
    put (3 * chunk) lo3
    put (3 * chunk + half) hi3
    put (4 * chunk) lo4
    put (4 * chunk + half) hi4
    put (5 * chunk) lo5
    put (5 * chunk + half) hi5

/// The sums of one output pixel (r, q) for the output channels of group g: 9 taps × every input
/// channel of a packed chunk, 6 channels × two vectors of examples in twelve registers, written
/// to column q of a row of sums `out` (channel g·Group + k at (q·Group + k)·2·lanes, lower half
/// first), or added to it when `accumulate`.
let inline private convolvePixelWith (w: ^W) (sc: Scratch) (accumulate: bool) (out: float[]) (k: float[]) (src: float[]) (g: int) (r: int) (q: int) =
    let c = sc.C
    let half = Simd.lanes w
    let nhalf = nativeint half
    let nchunk = nativeint (2 * half)
    let struct (rowStep, plane, xc0, kb0) = pixelOffsets sc (2 * half) g r q
    let mutable xc = xc0
    let mutable kb = kb0
    let zero: ^V = Simd.splat w 0.0
    let mutable a0 = zero
    let mutable a1 = zero
    let mutable a2 = zero
    let mutable a3 = zero
    let mutable a4 = zero
    let mutable a5 = zero
    let mutable b0 = zero
    let mutable b1 = zero
    let mutable b2 = zero
    let mutable b3 = zero
    let mutable b4 = zero
    let mutable b5 = zero
    for _ in 0 .. c - 1 do
        let mutable row = xc
        for _ in 0 .. 2 do
            let mutable at = row
            for _ in 0 .. 2 do
                let x0: ^V = Simd.loadAt w src at
                let x1: ^V = Simd.loadAt w src (at + nhalf)
                let k0: ^V = Simd.splatAt w k kb
                a0 <- Simd.fma w x0 k0 a0
                b0 <- Simd.fma w x1 k0 b0
                let k1: ^V = Simd.splatAt w k (kb + 1n)
                a1 <- Simd.fma w x0 k1 a1
                b1 <- Simd.fma w x1 k1 b1
                let k2: ^V = Simd.splatAt w k (kb + 2n)
                a2 <- Simd.fma w x0 k2 a2
                b2 <- Simd.fma w x1 k2 b2
                let k3: ^V = Simd.splatAt w k (kb + 3n)
                a3 <- Simd.fma w x0 k3 a3
                b3 <- Simd.fma w x1 k3 b3
                let k4: ^V = Simd.splatAt w k (kb + 4n)
                a4 <- Simd.fma w x0 k4 a4
                b4 <- Simd.fma w x1 k4 b4
                let k5: ^V = Simd.splatAt w k (kb + 5n)
                a5 <- Simd.fma w x0 k5 a5
                b5 <- Simd.fma w x1 k5 b5
                at <- at + nchunk
                kb <- kb + nativeint Group
            row <- row + rowStep
        xc <- xc + plane
    putPixel w accumulate out q a0 a1 a2 a3 a4 a5 b0 b1 b2 b3 b4 b5

/// The sums of the two output pixels (r, q) and (r, q + 1) for the output channels of group g,
/// as by `convolvePixelWith` for each (the same sums in the same order), in 24 registers: 6
/// channels × two vectors of examples × two pixels. Every broadcast weight feeds four FMAs
/// instead of two, so a tap is 4 loads and 6 broadcasts for 24 FMAs (2 and 6 for 12 in one
/// pixel's loop), which the 32 registers of AVX-512 hold with the four inputs and a weight.
let inline private convolvePairWith (w: ^W) (sc: Scratch) (accumulate: bool) (out: float[]) (k: float[]) (src: float[]) (g: int) (r: int) (q: int) =
    let c = sc.C
    let half = Simd.lanes w
    let nhalf = nativeint half
    let nchunk = nativeint (2 * half)
    let struct (rowStep, plane, xc0, kb0) = pixelOffsets sc (2 * half) g r q
    let mutable xc = xc0
    let mutable kb = kb0
    let zero: ^V = Simd.splat w 0.0
    let mutable a0 = zero
    let mutable a1 = zero
    let mutable a2 = zero
    let mutable a3 = zero
    let mutable a4 = zero
    let mutable a5 = zero
    let mutable b0 = zero
    let mutable b1 = zero
    let mutable b2 = zero
    let mutable b3 = zero
    let mutable b4 = zero
    let mutable b5 = zero
    let mutable c0 = zero
    let mutable c1 = zero
    let mutable c2 = zero
    let mutable c3 = zero
    let mutable c4 = zero
    let mutable c5 = zero
    let mutable d0 = zero
    let mutable d1 = zero
    let mutable d2 = zero
    let mutable d3 = zero
    let mutable d4 = zero
    let mutable d5 = zero
    for _ in 0 .. c - 1 do
        let mutable row = xc
        for _ in 0 .. 2 do
            let mutable at = row
            for _ in 0 .. 2 do
                let x0: ^V = Simd.loadAt w src at
                let x1: ^V = Simd.loadAt w src (at + nhalf)
                let x2: ^V = Simd.loadAt w src (at + nchunk)
                let x3: ^V = Simd.loadAt w src (at + nchunk + nhalf)
                let k0: ^V = Simd.splatAt w k kb
                a0 <- Simd.fma w x0 k0 a0
                b0 <- Simd.fma w x1 k0 b0
                c0 <- Simd.fma w x2 k0 c0
                d0 <- Simd.fma w x3 k0 d0
                let k1: ^V = Simd.splatAt w k (kb + 1n)
                a1 <- Simd.fma w x0 k1 a1
                b1 <- Simd.fma w x1 k1 b1
                c1 <- Simd.fma w x2 k1 c1
                d1 <- Simd.fma w x3 k1 d1
                let k2: ^V = Simd.splatAt w k (kb + 2n)
                a2 <- Simd.fma w x0 k2 a2
                b2 <- Simd.fma w x1 k2 b2
                c2 <- Simd.fma w x2 k2 c2
                d2 <- Simd.fma w x3 k2 d2
                let k3: ^V = Simd.splatAt w k (kb + 3n)
                a3 <- Simd.fma w x0 k3 a3
                b3 <- Simd.fma w x1 k3 b3
                c3 <- Simd.fma w x2 k3 c3
                d3 <- Simd.fma w x3 k3 d3
                let k4: ^V = Simd.splatAt w k (kb + 4n)
                a4 <- Simd.fma w x0 k4 a4
                b4 <- Simd.fma w x1 k4 b4
                c4 <- Simd.fma w x2 k4 c4
                d4 <- Simd.fma w x3 k4 d4
                let k5: ^V = Simd.splatAt w k (kb + 5n)
                a5 <- Simd.fma w x0 k5 a5
                b5 <- Simd.fma w x1 k5 b5
                c5 <- Simd.fma w x2 k5 c5
                d5 <- Simd.fma w x3 k5 d5
                at <- at + nchunk
                kb <- kb + nativeint Group
            row <- row + rowStep
        xc <- xc + plane
    putPixel w accumulate out q a0 a1 a2 a3 a4 a5 b0 b1 b2 b3 b4 b5
    putPixel w accumulate out (q + 1) c0 c1 c2 c3 c4 c5 d0 d1 d2 d3 d4 d5

// One method for each width (and for Vector512's pairs of pixels), so that the JIT keeps the
// accumulators in registers whatever the epilogue inlined around the call.
let private convolvePixel8 sc accumulate out k src g r q = convolvePixelWith V8 sc accumulate out k src g r q
let private convolvePair8 sc accumulate out k src g r q = convolvePairWith V8 sc accumulate out k src g r q
let private convolvePixel4 sc accumulate out k src g r q = convolvePixelWith V4 sc accumulate out k src g r q

/// Output pixels of a row that one call of `convolvePixel` forms from q on: two on Vector512
/// (`convolvePairWith`; one at the end of an odd row), one on Vector256, whose 16 registers
/// hold only one pixel's twelve accumulators.
let inline private pixelStep (w: ^W) = if Simd.lanes w = 8 then 2 else 1

/// The sums of the `pixelStep` output pixels of row r from q on (fewer at the row's end) for the
/// output channels of group g, on the width of the witness (`convolvePixelWith`).
let inline private convolvePixel (w: ^W) (sc: Scratch) (accumulate: bool) (out: float[]) (k: float[]) (src: float[]) (g: int) (r: int) (q: int) =
    if Simd.lanes w = 8 then
        if q + 1 < sc.W then convolvePair8 sc accumulate out k src g r q else convolvePixel8 sc accumulate out k src g r q
    else convolvePixel4 sc accumulate out k src g r q

/// Runs `output f pk at` for every output of row r of group g, channel by channel: f = o·H·W +
/// r·W + q is the output's feature, pk its offset in a packed chunk, at the offset of its sums in
/// `Sums`.
let inline private overRow (w: ^W) (sc: Scratch) (g: int) (r: int) ([<InlineIfLambda>] output: int -> int -> int -> unit) =
    let chunk = 2 * Simd.lanes w
    let hw = sc.H * sc.W
    let plane = (sc.H + 2) * (sc.W + 2) * chunk
    let mutable f0 = g * Group * hw + r * sc.W
    let mutable pk0 = packedAt sc chunk (g * Group) r 0
    let mutable at0 = 0
    for _ in g * Group .. min sc.C (g * Group + Group) - 1 do
        let mutable f = f0
        let mutable pk = pk0
        let mutable at = at0
        for _ in 0 .. sc.W - 1 do
            output f pk at
            f <- f + 1
            pk <- pk + chunk
            at <- at + Group * chunk
        f0 <- f0 + hw
        pk0 <- pk0 + plane
        at0 <- at0 + chunk

/// Runs `pixel g r q` for every group of output channels and every `pixelStep`-th output pixel
/// (r, q) (the call forms the sums of the pixels from q on: `convolvePixel`), and after each row
/// of pixels, when `activated`, `activate g r`, and then `epilogue f pk at` for each output of
/// the row (`overRow`).
let inline private overPixels (w: ^W) (sc: Scratch) (activated: bool) ([<InlineIfLambda>] pixel: int -> int -> int -> unit) ([<InlineIfLambda>] activate: int -> int -> unit) ([<InlineIfLambda>] epilogue: int -> int -> int -> unit) =
    for g in 0 .. sc.Padded / Group - 1 do
        for r in 0 .. sc.H - 1 do
            for q in 0 .. pixelStep w .. sc.W - 1 do
                pixel g r q
            if activated then activate g r
            overRow w sc g r epilogue

/// Sums ← σ(Sums + β) at `at` for output feature f (β its entry of `bias` by `entries`), and,
/// when `slopes`, Slopes ← σ' of the same pre-activation.
let inline private activateAt (w: ^W) ([<InlineIfLambda>] activate: ^V -> struct (^V * ^V)) (sc: Scratch) (slopes: bool) (bias: float[]) (entries: int[]) (f: int) (at: int) =
    let half = Simd.lanes w
    let bv: ^V = Simd.splat w bias[entries[f]]
    let struct (tlo, dlo) = activate (Simd.load w sc.Sums at + bv)
    let struct (thi, dhi) = activate (Simd.load w sc.Sums (at + half) + bv)
    Simd.store w tlo sc.Sums at
    Simd.store w thi sc.Sums (at + half)
    if slopes then
        Simd.store w dlo sc.Slopes at
        Simd.store w dhi sc.Slopes (at + half)

/// `activateAt` for every output of row r of group g.
let inline private activateRowWith (w: ^W) ([<InlineIfLambda>] activate: ^V -> struct (^V * ^V)) (sc: Scratch) (slopes: bool) (bias: float[]) (entries: int[]) (g: int) (r: int) =
    overRow w sc g r (fun f _ at -> activateAt w activate sc slopes bias entries f at)

// One method for each width, apart from the convolution: a row's activations are independent of
// each other, and in a small loop of their own the JIT keeps σ's constants out of the way of the
// processor, which then overlaps them. tanh without `slopes` is a loop of its own too, so that
// the JIT drops σ' from it.
let private activateRow8 (act: Activation) sc slopes bias entries g r =
    match act with
    | Tanh when slopes -> activateRowWith V8 (tanhWithDerivative V8) sc true bias entries g r
    | Tanh -> activateRowWith V8 (tanhWithDerivative V8) sc false bias entries g r
    | Relu -> activateRowWith V8 (Fused.reluWithDerivative V8) sc slopes bias entries g r
    | Identity -> activateRowWith V8 (Fused.identityWithDerivative V8) sc slopes bias entries g r
let private activateRow4 (act: Activation) sc slopes bias entries g r =
    match act with
    | Tanh when slopes -> activateRowWith V4 (tanhWithDerivative V4) sc true bias entries g r
    | Tanh -> activateRowWith V4 (tanhWithDerivative V4) sc false bias entries g r
    | Relu -> activateRowWith V4 (Fused.reluWithDerivative V4) sc slopes bias entries g r
    | Identity -> activateRowWith V4 (Fused.identityWithDerivative V4) sc slopes bias entries g r

/// `activateRowWith` σ = act on the width of the witness.
let inline private activateRow (w: ^W) (act: Activation) (sc: Scratch) (slopes: bool) (bias: float[]) (entries: int[]) (g: int) (r: int) =
    if Simd.lanes w = 8 then activateRow8 act sc slopes bias entries g r else activateRow4 act sc slopes bias entries g r

/// The sums `pixel g r q` writes into `Sums` for every output pixel, one output pixel at a time:
/// for each output, `epilogue f pk lo hi` receives its feature f, its offset pk in a packed
/// chunk and the sums of the chunk's two halves.
let inline private overSums (w: ^W) (sc: Scratch) ([<InlineIfLambda>] pixel: int -> int -> int -> unit) ([<InlineIfLambda>] epilogue: int -> int -> ^V -> ^V -> unit) =
    let half = Simd.lanes w
    overPixels w sc false pixel (fun _ _ -> ()) (fun f pk at -> epilogue f pk (Simd.load w sc.Sums at) (Simd.load w sc.Sums (at + half)))

/// The convolution of a packed chunk with packed weights k (`overSums`).
let inline private convolve (w: ^W) (sc: Scratch) (k: float[]) (src: float[]) ([<InlineIfLambda>] epilogue: int -> int -> ^V -> ^V -> unit) =
    overSums w sc (fun g r q -> convolvePixel w sc false sc.Sums k src g r q) epilogue

/// `convolve` followed by the bias and σ: `epilogue f pk tlo thi dlo dhi` receives σ(a) of the
/// chunk's two halves, a = the sums + β (β the entry of `bias` of f, by `entries`), and, when
/// `slopes`, σ'(a) (else dlo and dhi are not meaningful).
let inline private convolveActivated (w: ^W) (act: Activation) (sc: Scratch) (slopes: bool) (k: float[]) (src: float[]) (bias: float[]) (entries: int[]) ([<InlineIfLambda>] epilogue: int -> int -> ^V -> ^V -> ^V -> ^V -> unit) =
    let half = Simd.lanes w
    overPixels w sc true
        (fun g r q -> convolvePixel w sc false sc.Sums k src g r q)
        (fun g r -> activateRow w act sc slopes bias entries g r)
        (fun f pk at -> epilogue f pk (Simd.load w sc.Sums at) (Simd.load w sc.Sums (at + half)) (Simd.load w sc.Slopes at) (Simd.load w sc.Slopes (at + half)))

/// The convolution of a packed chunk `src` with k, activated as by `convolveActivated` with σ',
/// and its linearisation in the direction of the packed chunk `dSrc` and the packed weights dk
/// (`src` dk + `dSrc` k): `epilogue f pk tlo thi dlo dhi slo shi` receives σ(a), σ'(a) and the
/// linearised sums of the chunk's two halves.
let inline private convolveLinearised (w: ^W) (act: Activation) (sc: Scratch) (k: float[]) (src: float[]) (dk: float[]) (dSrc: float[]) (bias: float[]) (entries: int[]) ([<InlineIfLambda>] epilogue: int -> int -> ^V -> ^V -> ^V -> ^V -> ^V -> ^V -> unit) =
    let half = Simd.lanes w
    overPixels w sc true
        (fun g r q ->
            convolvePixel w sc false sc.Sums k src g r q
            convolvePixel w sc false sc.DSums k dSrc g r q
            convolvePixel w sc true sc.DSums dk src g r q)
        (fun g r -> activateRow w act sc true bias entries g r)
        (fun f pk at ->
            epilogue f pk (Simd.load w sc.Sums at) (Simd.load w sc.Sums (at + half)) (Simd.load w sc.Slopes at) (Simd.load w sc.Slopes (at + half))
                (Simd.load w sc.DSums at) (Simd.load w sc.DSums (at + half)))

/// GK ← GK + ∂⟨X K(θ), V⟩/∂θ lane-wise, for packed chunks x and v: entry (9·i + tap)·c + o
/// gains Σ_pixels x[i, pixel + tap] v[o, pixel] over both halves of the chunk. For each input
/// channel, tap row and three output channels, the 3 taps × 3 outputs are summed in nine
/// registers over the chunk's pixels (6 loads feed 9 FMAs). Padding channels of v are zero and
/// their entries are not kept.
let inline private gradientWith (w: ^W) (sc: Scratch) (x: float[]) (v: float[]) =
    let c, h, wd = sc.C, sc.H, sc.W
    let half = Simd.lanes w
    let chunk = 2 * half
    let pw = wd + 2
    let nhalf, nchunk = nativeint half, nativeint chunk
    let nplane = nativeint ((h + 2) * pw * chunk)
    let zero: ^V = Simd.splat w 0.0
    for ic in 0 .. c - 1 do
        for u in 0 .. 2 do
            for og in 0 .. 3 .. c - 1 do
                let mutable s00 = zero
                let mutable s01 = zero
                let mutable s02 = zero
                let mutable s10 = zero
                let mutable s11 = zero
                let mutable s12 = zero
                let mutable s20 = zero
                let mutable s21 = zero
                let mutable s22 = zero
                for r in 0 .. h - 1 do
                    // Native-int offsets running over the row's pixels and, within each, its two
                    // halves (as in `convolvePixelWith`).
                    let mutable vat = nativeint (((og * (h + 2) + r + 1) * pw + 1) * chunk)
                    let mutable xat = nativeint (((ic * (h + 2) + r + u) * pw) * chunk)
                    for _ in 0 .. 2 * wd - 1 do
                        let x0: ^V = Simd.loadAt w x xat
                        let x1: ^V = Simd.loadAt w x (xat + nchunk)
                        let x2: ^V = Simd.loadAt w x (xat + 2n * nchunk)
                        let v0: ^V = Simd.loadAt w v vat
                        s00 <- Simd.fma w x0 v0 s00
                        s10 <- Simd.fma w x1 v0 s10
                        s20 <- Simd.fma w x2 v0 s20
                        let v1: ^V = Simd.loadAt w v (vat + nplane)
                        s01 <- Simd.fma w x0 v1 s01
                        s11 <- Simd.fma w x1 v1 s11
                        s21 <- Simd.fma w x2 v1 s21
                        let v2: ^V = Simd.loadAt w v (vat + 2n * nplane)
                        s02 <- Simd.fma w x0 v2 s02
                        s12 <- Simd.fma w x1 v2 s12
                        s22 <- Simd.fma w x2 v2 s22
                        vat <- vat + nhalf
                        xat <- xat + nhalf
                let inline put (tapV: int) (o: int) (s: ^V) =
                    if og + o < c then
                        let at = ((9 * ic + 3 * u + tapV) * c + og + o) * Stride
                        Simd.store w (Simd.load w sc.GK at + s) sc.GK at
                put 0 0 s00
                put 0 1 s01
                put 0 2 s02
                put 1 0 s10
                put 1 1 s11
                put 1 2 s12
                put 2 0 s20
                put 2 1 s21
                put 2 2 s22

let private gradient8 sc x v = gradientWith V8 sc x v
let private gradient4 sc x v = gradientWith V4 sc x v

/// `gradientWith` on the width of the witness.
let inline private gradient (w: ^W) (sc: Scratch) (x: float[]) (v: float[]) =
    if Simd.lanes w = 8 then gradient8 sc x v else gradient4 sc x v

let inline private reduceWith (w: ^W) (sc: Scratch) (gK: float[]) (gb: float[]) (gc: float[]) =
    let inline lanes (a: float[]) (e: int) : float = Simd.sum w (Simd.load w a (e * Stride): ^V)
    for e in 0 .. gK.Length - 1 do
        gK[e] <- gK[e] + lanes sc.GK e
    for e in 0 .. gb.Length - 1 do
        gb[e] <- gb[e] + lanes sc.GB e
    for e in 0 .. gc.Length - 1 do
        gc[e] <- gc[e] + lanes sc.GC e
    System.Array.Clear sc.GK
    System.Array.Clear sc.GB
    System.Array.Clear sc.GC

/// Adds the lane sums of the accumulators into the layer's gradients (gK shaped like θ, gb and
/// gc like the biases; gc may be empty) and clears them.
let reduce (sc: Scratch) (gK: float[]) (gb: float[]) (gc: float[]) =
    if useVector512 then reduceWith V8 sc gK gb gc else reduceWith V4 sc gK gb gc

/// The bias entry of every feature for a bias of the scratch's sides (b or c).
let private entriesOf (sc: Scratch) (bias: float[]) =
    if bias.Length * Stride = sc.GB.Length then sc.IndexB
    elif bias.Length * Stride = sc.GC.Length then sc.IndexC
    else invalidArg (nameof bias) $"a bias of length {bias.Length} is neither b ({sc.GB.Length / Stride}) nor c ({sc.GC.Length / Stride}) of the scratch"

/// Loads the two halves of a chunk of a block array at `at` (the upper half is zero when not `full`).
let inline private loadPair (w: ^W) (full: bool) (a: float[]) (at: int) : struct (^V * ^V) =
    struct (Simd.load w a at, (if full then Simd.load w a (at + Simd.lanes w) else Simd.splat w 0.0))

/// Stores the two halves of a pair at `at` (the upper half only when `full`).
let inline private storePair (w: ^W) (full: bool) (lo: ^V) (hi: ^V) (a: float[]) (at: int) =
    Simd.store w lo a at
    if full then Simd.store w hi a (at + Simd.lanes w)

/// Stores the two halves of a pair at offset pk of a packed chunk.
let inline private storePacked (w: ^W) (pk: int) (lo: ^V) (hi: ^V) (a: float[]) =
    Simd.store w lo a pk
    Simd.store w hi a (pk + Simd.lanes w)

/// Adds a pair to the lane accumulator of bias entry e.
let inline private accumulate (w: ^W) (acc: float[]) (e: int) (lo: ^V) (hi: ^V) =
    Simd.store w (Simd.load w acc (e * Stride) + lo + hi) acc (e * Stride)

/// Runs `chunk r0 full` over the block's rows in chunks of two vectors of examples (rows is a
/// multiple of 8, so only a Vector512 chunk can be half full).
let inline private chunks (w: ^W) (rows: int) ([<InlineIfLambda>] chunk: int -> bool -> unit) =
    let size = 2 * Simd.lanes w
    for r0 in 0 .. size .. rows - 1 do
        chunk r0 (r0 + size <= rows)

// ---- forward Euler (ResNet): Y ← Y + h σ(Y K + 1bᵀ) -------------------------------------

let inline private resnetStepWith (w: ^W) (act: Activation) (sc: Scratch) (rows: int) (h: float) (b: float[]) (y: float[]) =
    let eb = entriesOf sc b
    let hv: ^V = Simd.splat w h
    chunks w rows (fun r0 full ->
        pack w sc rows r0 full y sc.X
        convolveActivated w act sc false sc.KDirect sc.X b eb (fun f _ tlo thi _ _ ->
            let at = f * rows + r0
            let struct (ylo, yhi) = loadPair w full y at
            storePair w full (Simd.fma w hv tlo ylo) (Simd.fma w hv thi yhi) y at))

/// Y ← Y + h σ(Y K + 1bᵀ) for the convolution whose weights `prepare` packed.
let resnetStep (act: Activation) (sc: Scratch) (rows: int) (h: float) (b: float[]) (y: float[]) =
    if useVector512 then resnetStepWith V8 act sc rows h b y
    else resnetStepWith V4 act sc rows h b y

let inline private resnetAdjointWith (w: ^W) (act: Activation) (sc: Scratch) (withTheta: bool) (rows: int) (h: float) (b: float[]) (y: float[]) (yBar: float[]) =
    let eb = entriesOf sc b
    let hv: ^V = Simd.splat w h
    chunks w rows (fun r0 full ->
        pack w sc rows r0 full y sc.X
        convolveActivated w act sc true sc.KDirect sc.X b eb (fun f pk _ _ dlo dhi ->
            let struct (blo, bhi) = loadPair w full yBar (f * rows + r0)
            let wlo, whi = hv * dlo * blo, hv * dhi * bhi
            storePacked w pk wlo whi sc.P
            if withTheta then accumulate w sc.GB eb[f] wlo whi)
        convolve w sc sc.KTransposed sc.P (fun f _ lo hi ->
            let at = f * rows + r0
            let struct (blo, bhi) = loadPair w full yBar at
            storePair w full (blo + lo) (bhi + hi) yBar at)
        if withTheta then gradient w sc sc.X sc.P)

/// The adjoint of `resnetStep` at Y_j: with w = h σ'(a) ⊙ Ȳ, a = Y_j K + 1bᵀ: Ȳ ← Ȳ + w Kᵀ,
/// and, when `withTheta`, ∂⟨Y_j K, w⟩/∂θ and colsum w accumulated in the scratch (without it the
/// input adjoint alone: one convolution of the two).
let resnetAdjoint (act: Activation) (sc: Scratch) (withTheta: bool) (rows: int) (h: float) (b: float[]) (y: float[]) (yBar: float[]) =
    if useVector512 then resnetAdjointWith V8 act sc withTheta rows h b y yBar
    else resnetAdjointWith V4 act sc withTheta rows h b y yBar

// ---- Verlet, K square: Z ← Z − h σ(Y K + 1cᵀ), Y ← Y + h σ(Z Kᵀ + 1bᵀ) -------------------

let inline private verletStepWith (w: ^W) (act: Activation) (sc: Scratch) (rows: int) (h: float) (b: float[]) (c: float[]) (y: float[]) (z: float[]) =
    let eb, ec = entriesOf sc b, entriesOf sc c
    let hv: ^V = Simd.splat w h
    chunks w rows (fun r0 full ->
        pack w sc rows r0 full y sc.X
        convolveActivated w act sc false sc.KDirect sc.X c ec (fun f pk tlo thi _ _ ->
            let at = f * rows + r0
            let struct (zlo, zhi) = loadPair w full z at
            let zlo, zhi = Simd.fma w -hv tlo zlo, Simd.fma w -hv thi zhi
            storePair w full zlo zhi z at
            storePacked w pk zlo zhi sc.Z)
        convolveActivated w act sc false sc.KTransposed sc.Z b eb (fun f _ tlo thi _ _ ->
            let at = f * rows + r0
            let struct (ylo, yhi) = loadPair w full y at
            storePair w full (Simd.fma w hv tlo ylo) (Simd.fma w hv thi yhi) y at))

/// One Verlet step: (Y_j, Z_{j−½}) ← (Y_{j+1}, Z_{j+½}), for the convolution `prepare` packed.
let verletStep (act: Activation) (sc: Scratch) (rows: int) (h: float) (b: float[]) (c: float[]) (y: float[]) (z: float[]) =
    if useVector512 then verletStepWith V8 act sc rows h b c y z
    else verletStepWith V4 act sc rows h b c y z

let inline private verletAdjointWith (w: ^W) (act: Activation) (sc: Scratch) (withTheta: bool) (reversing: bool) (rows: int) (h: float) (b: float[]) (c: float[]) (y: float[]) (z: float[]) (yBar: float[]) (zBar: float[]) =
    let eb, ec = entriesOf sc b, entriesOf sc c
    let hv: ^V = Simd.splat w h
    chunks w rows (fun r0 full ->
        // w = h σ'(a) ⊙ Ȳ with a = Z_{j+½} Kᵀ + 1bᵀ (and Y_j = Y_{j+1} − h σ(a) when reversing).
        pack w sc rows r0 full z sc.Z
        convolveActivated w act sc true sc.KTransposed sc.Z b eb (fun f pk tlo thi dlo dhi ->
            let at = f * rows + r0
            if reversing then
                let struct (ylo, yhi) = loadPair w full y at
                storePair w full (Simd.fma w -hv tlo ylo) (Simd.fma w -hv thi yhi) y at
            let struct (blo, bhi) = loadPair w full yBar at
            let wlo, whi = hv * dlo * blo, hv * dhi * bhi
            storePacked w pk wlo whi sc.P
            if withTheta then accumulate w sc.GB eb[f] wlo whi)
        // Z̄ ← Z̄ + w K, and ∂⟨w K, Z_{j+½}⟩/∂θ.
        convolve w sc sc.KDirect sc.P (fun f _ lo hi ->
            let at = f * rows + r0
            let struct (zlo, zhi) = loadPair w full zBar at
            storePair w full (zlo + lo) (zhi + hi) zBar at)
        if withTheta then gradient w sc sc.P sc.Z
        // v = −h σ'(e) ⊙ Z̄ with e = Y_j K + 1cᵀ (and Z_{j−½} = Z_{j+½} + h σ(e) when reversing).
        pack w sc rows r0 full y sc.X
        convolveActivated w act sc true sc.KDirect sc.X c ec (fun f pk tlo thi dlo dhi ->
            let at = f * rows + r0
            if reversing then
                let struct (zlo, zhi) = loadPair w full z at
                storePair w full (Simd.fma w hv tlo zlo) (Simd.fma w hv thi zhi) z at
            let struct (blo, bhi) = loadPair w full zBar at
            let vlo, vhi = -hv * dlo * blo, -hv * dhi * bhi
            storePacked w pk vlo vhi sc.Q
            if withTheta then accumulate w sc.GC ec[f] vlo vhi)
        // Ȳ ← Ȳ + v Kᵀ, and ∂⟨Y_j K, v⟩/∂θ.
        convolve w sc sc.KTransposed sc.Q (fun f _ lo hi ->
            let at = f * rows + r0
            let struct (ylo, yhi) = loadPair w full yBar at
            storePair w full (ylo + lo) (yhi + hi) yBar at)
        if withTheta then gradient w sc sc.X sc.Q)

/// The adjoint of Verlet step j, optionally fused with its inverse, for the convolution
/// `prepare` packed: the same contract as `Fused.verletAdjoint`, one chunk of examples at a
/// time (z holds Z_{j+½}; without `reversing` y holds Y_j, with it (y, z) hold (Y_{j+1},
/// Z_{j+½}) and become (Y_j, Z_{j−½})). Without `withTheta` it is the input adjoint alone: the
/// two parameter-gradient reductions and the bias sums are skipped, four convolutions of six.
let verletAdjoint (act: Activation) (sc: Scratch) (withTheta: bool) (reversing: bool) (rows: int) (h: float) (b: float[]) (c: float[]) (y: float[]) (z: float[]) (yBar: float[]) (zBar: float[]) =
    if useVector512 then verletAdjointWith V8 act sc withTheta reversing rows h b c y z yBar zBar
    else verletAdjointWith V4 act sc withTheta reversing rows h b c y z yBar zBar

// ---- one kick of any scheme: T ← T + α σ(S K̂ + 1βᵀ), K̂ = K (S = Y) or Kᵀ (S = Z) ---------

/// The packed weights of a kick's side and of the other side: (K, Kᵀ) when it reads Y, else (Kᵀ, K).
let inline private sides (fromY: bool) (direct: float[]) (transposed: float[]) =
    if fromY then struct (direct, transposed) else struct (transposed, direct)

let inline private kickWith (w: ^W) (act: Activation) (sc: Scratch) (fromY: bool) (rows: int) (alpha: float) (bias: float[]) (source: float[]) (target: float[]) (kept: float[]) =
    let eb = entriesOf sc bias
    let av: ^V = Simd.splat w alpha
    let struct (k, _) = sides fromY sc.KDirect sc.KTransposed
    chunks w rows (fun r0 full ->
        pack w sc rows r0 full source sc.X
        convolveActivated w act sc false k sc.X bias eb (fun f _ ulo uhi _ _ ->
            let at = f * rows + r0
            if not (isNull kept) then storePair w full ulo uhi kept at
            let struct (tlo, thi) = loadPair w full target at
            storePair w full (Simd.fma w av ulo tlo) (Simd.fma w av uhi thi) target at))

/// A kick T ← T + α σ(S K̂ + 1βᵀ) on the rows of a block (α = a·h) for the convolution `prepare`
/// packed: `fromY` says whether S is Y (K̂ = K) or Z (K̂ = Kᵀ). Source and target may be the
/// same array.
let kick (act: Activation) (sc: Scratch) (fromY: bool) (rows: int) (alpha: float) (bias: float[]) (source: float[]) (target: float[]) =
    if useVector512 then kickWith V8 act sc fromY rows alpha bias source target null
    else kickWith V4 act sc fromY rows alpha bias source target null

/// `kick` keeping its activation: u = σ(S K̂ + 1βᵀ) is written into `kept` (of the target's
/// shape, the block's rows) as T ← T + α u, for the linearised kicks (`kickLinearised`,
/// `kickTransposed`) to read.
let kickKeeping (act: Activation) (sc: Scratch) (fromY: bool) (rows: int) (alpha: float) (bias: float[]) (source: float[]) (target: float[]) (kept: float[]) =
    if useVector512 then kickWith V8 act sc fromY rows alpha bias source target kept
    else kickWith V4 act sc fromY rows alpha bias source target kept

/// Runs `chunk k dk r0 full` over the block's chunks (`chunks`) with the chunk of the source S
/// packed into `X` and of its direction δS into `P`; k and dk are the packed weights and
/// direction of the kick's side (`sides`).
let inline private linearisedChunks (w: ^W) (sc: Scratch) (fromY: bool) (rows: int) (source: float[]) (dSource: float[]) ([<InlineIfLambda>] chunk: float[] -> float[] -> int -> bool -> unit) =
    let struct (k, _) = sides fromY sc.KDirect sc.KTransposed
    let struct (dk, _) = sides fromY sc.DDirect sc.DTransposed
    chunks w rows (fun r0 full ->
        pack w sc rows r0 full source sc.X
        pack w sc rows r0 full dSource sc.P
        chunk k dk r0 full)

let inline private kickSensitivityWith (w: ^W) (act: Activation) (sc: Scratch) (fromY: bool) (rows: int) (alpha: float) (bias: float[]) (dBias: float[]) (source: float[]) (dSource: float[]) (target: float[]) (dTarget: float[]) =
    let eb = entriesOf sc bias
    let av: ^V = Simd.splat w alpha
    linearisedChunks w sc fromY rows source dSource (fun k dk r0 full ->
        convolveLinearised w act sc k sc.X dk sc.P bias eb (fun f _ ulo uhi slo shi dlo dhi ->
            let dbv: ^V = Simd.splat w dBias[eb[f]]
            let at = f * rows + r0
            let struct (tlo, thi) = loadPair w full target at
            let struct (dtlo, dthi) = loadPair w full dTarget at
            storePair w full (Simd.fma w av (slo * (dlo + dbv)) dtlo) (Simd.fma w av (shi * (dhi + dbv)) dthi) dTarget at
            storePair w full (Simd.fma w av ulo tlo) (Simd.fma w av uhi thi) target at))

/// The linearisation of `kick` in direction (δK, δβ) run alongside it, for the weights `prepare`
/// and the direction `prepareDirection` packed: with a = S K̂ + 1βᵀ,
/// δT ← δT + α σ'(a) ⊙ (δS K̂ + S δK̂ + 1δβᵀ), then T ← T + α σ(a).
let kickSensitivity (act: Activation) (sc: Scratch) (fromY: bool) (rows: int) (alpha: float) (bias: float[]) (dBias: float[]) (source: float[]) (dSource: float[]) (target: float[]) (dTarget: float[]) =
    if useVector512 then kickSensitivityWith V8 act sc fromY rows alpha bias dBias source dSource target dTarget
    else kickSensitivityWith V4 act sc fromY rows alpha bias dBias source dSource target dTarget

/// The end of a transposed kick on the chunk at r0 once w = α σ'(a) ⊙ T̄ is packed in `P` (and,
/// with θ, the source S in `X`): S̄ ← S̄ + w K̂ᵀ (kt the packed K̂ᵀ), and, when `withTheta`,
/// ∂⟨S K̂, w⟩/∂θ accumulated: reading Y, ⟨Y K, w⟩; reading Z, ⟨Z Kᵀ, w⟩ = ⟨w K, Z⟩.
let inline private transposedKickTail (w: ^W) (sc: Scratch) (withTheta: bool) (fromY: bool) (rows: int) (r0: int) (full: bool) (kt: float[]) (sBar: float[]) =
    convolve w sc kt sc.P (fun f _ lo hi ->
        let at = f * rows + r0
        let struct (slo, shi) = loadPair w full sBar at
        storePair w full (slo + lo) (shi + hi) sBar at)
    if withTheta then
        if fromY then gradient w sc sc.X sc.P else gradient w sc sc.P sc.X

let inline private kickAdjointWith (w: ^W) (act: Activation) (sc: Scratch) (withTheta: bool) (fromY: bool) (rows: int) (alpha: float) (bias: float[]) (gBias: float[]) (source: float[]) (tBar: float[]) (sBar: float[]) =
    let eb = entriesOf sc bias
    let av: ^V = Simd.splat w alpha
    let struct (k, kt) = sides fromY sc.KDirect sc.KTransposed
    chunks w rows (fun r0 full ->
        pack w sc rows r0 full source sc.X
        convolveActivated w act sc true k sc.X bias eb (fun f pk _ _ dlo dhi ->
            let struct (blo, bhi) = loadPair w full tBar (f * rows + r0)
            let wlo, whi = av * dlo * blo, av * dhi * bhi
            storePacked w pk wlo whi sc.P
            if withTheta then accumulate w gBias eb[f] wlo whi)
        transposedKickTail w sc withTheta fromY rows r0 full kt sBar)

/// The transpose of `kick` at the source S it read, for the weights `prepare` packed: with
/// w = α σ'(S K̂ + 1βᵀ) ⊙ T̄, S̄ ← S̄ + w K̂ᵀ, and, when `withTheta`, the gradient of K and
/// colsum w (into `gBias`, the accumulator of the bias's side: `GB` for b, `GC` for c)
/// accumulated in the scratch. S̄ may be T̄'s array.
let kickAdjoint (act: Activation) (sc: Scratch) (withTheta: bool) (fromY: bool) (rows: int) (alpha: float) (bias: float[]) (gBias: float[]) (source: float[]) (tBar: float[]) (sBar: float[]) =
    if useVector512 then kickAdjointWith V8 act sc withTheta fromY rows alpha bias gBias source tBar sBar
    else kickAdjointWith V4 act sc withTheta fromY rows alpha bias gBias source tBar sBar

// ---- a kick linearised and transposed from its kept activation u = σ(S K̂ + 1βᵀ) ---------

let inline private kickLinearisedWith (w: ^W) (act: Activation) (sc: Scratch) (fromY: bool) (rows: int) (alpha: float) (dBias: float[]) (kept: float[]) (source: float[]) (dSource: float[]) (dTarget: float[]) =
    let eb = entriesOf sc dBias
    let av: ^V = Simd.splat w alpha
    linearisedChunks w sc fromY rows source dSource (fun k dk r0 full ->
        overSums w sc
            (fun g r q ->
                convolvePixel w sc false sc.Sums k sc.P g r q
                convolvePixel w sc true sc.Sums dk sc.X g r q)
            (fun f _ lo hi ->
                let dbv: ^V = Simd.splat w dBias[eb[f]]
                let at = f * rows + r0
                let struct (ulo, uhi) = loadPair w full kept at
                let slo, shi = Fused.derivativeOfValue w act ulo, Fused.derivativeOfValue w act uhi
                let struct (dtlo, dthi) = loadPair w full dTarget at
                storePair w full (Simd.fma w av (slo * (lo + dbv)) dtlo) (Simd.fma w av (shi * (hi + dbv)) dthi) dTarget at))

/// The linearised kick from its kept activation u (`kickKeeping`), for the weights `prepare`
/// and the direction `prepareDirection` packed: δT ← δT + α σ'(u) ⊙ (δS K̂ + S δK̂ + 1δβᵀ), two
/// convolutions (σ' from u: `Fused.derivativeOfValue`). The state T is left to the caller
/// (T ← T + α u). δS may be δT's array.
let kickLinearised (act: Activation) (sc: Scratch) (fromY: bool) (rows: int) (alpha: float) (dBias: float[]) (kept: float[]) (source: float[]) (dSource: float[]) (dTarget: float[]) =
    if useVector512 then kickLinearisedWith V8 act sc fromY rows alpha dBias kept source dSource dTarget
    else kickLinearisedWith V4 act sc fromY rows alpha dBias kept source dSource dTarget

let inline private kickTransposedWith (w: ^W) (act: Activation) (sc: Scratch) (withTheta: bool) (fromY: bool) (rows: int) (alpha: float) (bias: float[]) (gBias: float[]) (kept: float[]) (source: float[]) (tBar: float[]) (sBar: float[]) =
    let eb = entriesOf sc bias
    let av: ^V = Simd.splat w alpha
    let struct (_, kt) = sides fromY sc.KDirect sc.KTransposed
    chunks w rows (fun r0 full ->
        // w = α σ'(u) ⊙ T̄ packed (the upper half zero when not `full`, as T̄'s is then), and
        // with θ the source packed too.
        overChunk w sc rows r0 (fun f from pk ->
            let struct (ulo, uhi) = loadPair w full kept from
            let struct (blo, bhi) = loadPair w full tBar from
            let wlo: ^V = av * Fused.derivativeOfValue w act ulo * blo
            let whi: ^V = av * Fused.derivativeOfValue w act uhi * bhi
            storePacked w pk wlo whi sc.P
            if withTheta then
                let struct (slo, shi) = loadPair w full source from
                storePacked w pk slo shi sc.X
                accumulate w gBias eb[f] wlo whi)
        transposedKickTail w sc withTheta fromY rows r0 full kt sBar)

/// The transposed kick from its kept activation u (`kickKeeping`), for the weights `prepare`
/// packed: with w = α σ'(u) ⊙ T̄, S̄ ← S̄ + w K̂ᵀ (one convolution), and, when `withTheta`, the
/// gradient of K at the source S it read and colsum w (into `gBias`: `GB` for b, `GC` for c)
/// accumulated in the scratch, as by `kickAdjoint`. Without `withTheta` the source is not read
/// (it may be null). S̄ may be T̄'s array.
let kickTransposed (act: Activation) (sc: Scratch) (withTheta: bool) (fromY: bool) (rows: int) (alpha: float) (bias: float[]) (gBias: float[]) (kept: float[]) (source: float[]) (tBar: float[]) (sBar: float[]) =
    if useVector512 then kickTransposedWith V8 act sc withTheta fromY rows alpha bias gBias kept source tBar sBar
    else kickTransposedWith V4 act sc withTheta fromY rows alpha bias gBias kept source tBar sBar
