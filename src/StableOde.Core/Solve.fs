/// The solves of SPEC §2, written once for every propagator: the forward scan, the sensitivity
/// fold (forward substitution of Eq. 4.22) and the adjoint fold-back (back substitution) under
/// the three adjoint strategies. They run the in-place steps of `Engine` on row blocks of the
/// batch, all cores at once.
namespace StableOde.Core

open MathNet.Numerics.LinearAlgebra
open StableOde.Core.Kernels
open StableOde.Core.Layer

/// The state of a propagator after j steps: Y_j and, when a stage names Z, Z_j (Z_{j−½} in the
/// paper's notation for leapfrog and Verlet).
type State =
    { /// Y_j ∈ R^{s×n}.
      Y: Matrix<float>
      /// Z_j (s×m): Verlet's second variable, leapfrog's velocity; None when no stage names Z.
      Z: Matrix<float> option }

/// How the adjoint solve obtains the forward states it needs, from last to first.
type AdjointStrategy =
    /// Keep every state of the forward pass: memory ∝ N, no recomputation. The default.
    | StoreAll
    /// Keep every `interval`-th state and recompute the states between two checkpoints
    /// segment by segment: memory ∝ N/interval + interval (√N is optimal), one extra forward pass.
    | Checkpoints of interval: int
    /// Rebuild each state from the next by the scheme's exact inverse: memory independent of N.
    /// Invertible schemes only (`Scheme.isInvertible`: leapfrog, Verlet, verlet4, …; forward
    /// Euler's Y ← Y kick has no explicit inverse). Not for networks whose
    /// backward dynamics amplify round-off strongly (large h‖K‖): measure the reconstruction
    /// drift with `Solve.reconstruct` first.
    | Reversal

/// The uses for which a thread keeps a store of arrays (`TapeStore`), each in a slot of its own
/// since one use runs inside another: the states the tapes record into, the states of an
/// adjoint solve (which runs on a tape on loan from the first slot), and the seeds
/// Ȳ_N = ∂L/∂Y_N that the data term's gradient hands to an adjoint solve.
type internal StoreSlot =
    | Tapes = 0
    | Adjoints = 1
    | Seeds = 2

/// Arrays of doubles kept from one use to the next by the thread that uses them (`StoreSlot`),
/// so that repeated gradients of one shape allocate no states. Arrays are rented (`Rent`) and
/// then given back all at once (`Replace`); what is not given back is let go, so a store holds
/// the arrays of its last use only.
type internal TapeStore() =
    let free = System.Collections.Generic.Dictionary<int, System.Collections.Generic.Stack<float[]>>()

    /// The calling thread's stores between uses, one a `StoreSlot` (`Kept`), or None; null
    /// until the thread's first use.
    [<System.ThreadStatic; DefaultValue>]
    static val mutable private slots: Kept<TapeStore> option[]

    /// The bytes of the arrays the store holds.
    member val Bytes = 0L with get, set

    /// An array of `length` doubles (contents undefined): one of the store's, or a new one.
    member _.Rent(length: int) : float[] =
        match free.TryGetValue length with
        | true, stack when stack.Count > 0 -> stack.Pop()
        | _ -> System.GC.AllocateUninitializedArray<float> length

    /// Lets go of every array the store still holds and holds the given ones instead.
    member store.Replace(arrays: float[] seq) =
        free.Clear()
        store.Bytes <- 0L
        for a in arrays do
            match free.TryGetValue a.Length with
            | true, stack -> stack.Push a
            | _ ->
                let stack = System.Collections.Generic.Stack<float[]>()
                stack.Push a
                free[a.Length] <- stack
            store.Bytes <- store.Bytes + 8L * int64 a.Length

    /// The calling thread's slots.
    static member private Slots =
        if isNull TapeStore.slots then TapeStore.slots <- Array.create 3 None
        TapeStore.slots

    /// Takes the calling thread's store of a slot out of it (a new store when it has none or a
    /// collection reclaimed it), so that a nested use of the slot on the same thread gets a
    /// store of its own.
    static member Take(slot: StoreSlot) : TapeStore =
        let slots = TapeStore.Slots
        let kept = slots[int slot]
        slots[int slot] <- None
        kept |> Option.bind (fun k -> k.TryGet()) |> Option.defaultWith TapeStore

    /// Puts a store back into the calling thread's slot (`Kept`: strongly up to 64 MiB, weakly
    /// above).
    static member Return(slot: StoreSlot, store: TapeStore) =
        TapeStore.Slots[int slot] <- Some(Kept<TapeStore>.Of(store.Bytes, store))

    /// Runs `f` on what `build` makes from the calling thread's store of `slot`, then puts the
    /// store back holding the arrays `release` names, for the slot's next use.
    static member Lend(slot: StoreSlot, build: TapeStore -> 'a, f: 'a -> 'r, release: 'a -> float[] seq) : 'r =
        let store = TapeStore.Take slot
        let lent = build store
        try f lent
        finally
            store.Replace(release lent)
            TapeStore.Return(slot, store)

/// What a forward pass kept for the adjoint, block by block. Not safe for concurrent use.
type Tape =
    internal
        { Strategy: AdjointStrategy
          Net: Network
          S: int
          Parameters: Parameters
          Blocks: Engine.Block[]
          /// Per block: all states (StoreAll), every interval-th (Checkpoints), or none (Reversal).
          Kept: struct (float[] * float[])[][]
          /// Per block: the final state (Y_N, Z_{N−½}).
          Final: struct (float[] * float[])[]
          /// Set when the tape of `Solve.withTape` has given its states back to the store: its
          /// adjoints then refuse to run.
          mutable Released: bool }

    /// The output Y_N.
    member t.YN: Matrix<float> =
        let n = Operator.inWidth t.Net.Operator
        let y = Array.zeroCreate (t.S * n)
        t.Blocks |> Array.iteri (fun i b -> let struct (yb, _) = t.Final[i] in Engine.insert b t.S n yb y)
        ofStorage t.S n y

/// The Jacobian J = ∂Y_N/∂θ of a network at (θ, Y_0) as its linearisation, recorded once by
/// `Solve.linearise`: for every row block, layer and kick, the activation u = σ(a) (from which
/// σ'(a) follows, and the state the next stage reads by adding it), so that the Jacobian products
/// `Solve.jvpInto` and `Solve.vjpInto` apply the linearised layers without evaluating an
/// activation or applying an operator to a state. Its workspaces are allocated once and serve
/// every product, so it is not safe for concurrent use.
type Jacobian =
    internal
        { Net: Network
          S: int
          Parameters: Parameters
          /// The row blocks; the blocks of one group share their workspaces.
          Blocks: Engine.Block[]
          /// The blocks' indices in groups of consecutive blocks, at most one group a core: a
          /// group runs its blocks one after another.
          Groups: int[][]
          /// Per block, layer and stage: the activation u = σ(a) of a kick; empty for a drift.
          Activations: float[][][][]
          /// Per block: Y_0 and the final state (Y_N, Z_N).
          Start: float[][]
          Final: struct (float[] * float[])[]
          /// Per block (shared within its group): the working state (Y, Z) and the (δY, δZ) of a
          /// Jacobian–vector product or the (Ȳ, Z̄) of its transpose.
          Work: struct (float[] * float[] * float[] * float[])[]
          /// Per block: the parameter gradients of every layer, summed over blocks in block order.
          Gradients: Weights[][]
          /// Set when the Jacobian of `Solve.withJacobian` has given its activations back to the
          /// store: its products then refuse to run.
          mutable Released: bool }

    /// The output Y_N at the linearisation point.
    member j.YN: Matrix<float> =
        let n = Operator.inWidth j.Net.Operator
        let y = Array.zeroCreate (j.S * n)
        j.Blocks |> Array.iteri (fun i b -> let struct (yb, _) = j.Final[i] in Engine.insert b j.S n yb y)
        ofStorage j.S n y

/// The activations of the Jacobians that one caller records step after step, such as the
/// Gauss–Newton steps of a training level (`Solve.withJacobiansFrom`): a step's Jacobians rent
/// them and give them back when the step is done, so that the next step's Jacobians of the same
/// shapes allocate none, and the steps hold one step's activations between them rather than one
/// a step until a collection reclaims them. It holds them until it is let go. Not safe for
/// concurrent use.
[<Sealed>]
type JacobianStore() =
    member val internal Arrays = TapeStore()

/// Forward, sensitivity and adjoint solves.
[<OptimisedFromFirstCall>]
module Solve =

    /// The storage of layer j's parameters (no copy). Taken layer by layer as the solves go, so
    /// that nothing but the gradient they return grows with the depth.
    let private layer (p: Parameters) (j: int) : Weights =
        { K = storage p.K[j]
          b = vstorage p.b[j]
          c = if p.c.Length > 0 then vstorage p.c[j] else Array.empty }

    /// Checks the rows first … first+rows−1 of an input Y_0 of the network: its width, the rows
    /// its own and finite.
    let private checkInputRows (net: Network) (y0: Matrix<float>) (first: int) (rows: int) =
        Network.validate net
        if isNull y0 then invalidArg "y0" "the input Y_0 must not be null"
        let n = Operator.inWidth net.Operator
        if y0.ColumnCount <> n then invalidArg "y0" $"Y_0 must have {n} columns (the network's width), got {y0.ColumnCount}"
        if first < 0 || rows < 0 || first + rows > y0.RowCount then
            invalidArg "rows" $"rows {first} … {first + rows - 1} are not rows of the {y0.RowCount} of Y_0"
        if not (rowsFinite y0.RowCount first rows (columnMajor y0)) then invalidArg "y0" "Y_0 contains NaN or infinity"

    /// The rows of a matrix that may be null (0 for null, which the checks then refuse).
    let private allRows (m: Matrix<float>) = if isNull m then 0 else m.RowCount

    let private checkInput (net: Network) (y0: Matrix<float>) = checkInputRows net y0 0 (allRows y0)

    let private prepare (net: Network) (p: Parameters) (y0: Matrix<float>) =
        checkInput net y0
        Parameters.validate net p
        Engine.blocks net y0.RowCount

    /// A block's initial state (its rows of Y_0, and Z_{−½} = 0).
    let private initial (net: Network) (b: Engine.Block) (s: int) (y0: float[]) : struct (float[] * float[]) =
        let y = Engine.extract b s (Operator.inWidth net.Operator) y0
        let z = if Engine.hasZ net then Array.zeroCreate (b.Ctx.S * Network.auxWidth net) else null
        struct (y, z)

    let private copyState (struct (y: float[], z: float[])) =
        struct (Array.copy y, (if isNull z then null else Array.copy z))

    /// Zero gradients for `count` layers.
    let private layerGradients (net: Network) (count: int) : Weights[] =
        let rows, cols = Operator.parameterShape net.Operator
        let auxWidth = if Network.usesC net then net.AuxBiasWidth else 0
        Array.init count (fun _ ->
            { K = Array.zeroCreate (rows * cols); b = Array.zeroCreate net.BiasWidth; c = Array.zeroCreate auxWidth })

    /// Layers per segment of the adjoint solve: blocks run a segment in parallel, then their
    /// gradients for it are summed in block order, so the gradient buffers do not grow with N.
    [<Literal>]
    let private SegmentLength = 64

    let private advance (b: Engine.Block) (p: Parameters) (j: int) (struct (y, z)) = Engine.step b j (layer p j) y z

    /// The most examples a chunk holds when a large batch is propagated chunk by chunk: by
    /// `forward` (at most `chunkRows` of them), and by the robustness attacks, whose tapes hold
    /// the states of a chunk; the blocks of `Objective.blockRows` are at most this long. The
    /// examples are independent, so a forward result does not depend on the chunks.
    [<Literal>]
    let ChunkRows = 4096

    /// The most bytes of one state of a chunk of `forward` and `forwardEach`: 16 MiB, 445 images
    /// of 6×28×28 (the narrow states of two-dimensional data take `ChunkRows` examples). The
    /// collector keeps a freed array above 32 MiB (a region of its own) resident for several
    /// collections, so that chunks of a few thousand images, arrays of 154 MB, raised the
    /// resident memory of a forward pass of 50,000 images far above what it held.
    [<Literal>]
    let ChunkBytes = 16777216

    /// Examples per chunk of `forward` for a network of width n: `ChunkBytes` of a state, at
    /// most `ChunkRows`.
    let chunkRows (n: int) = max 1 (min ChunkRows (ChunkBytes / (8 * n)))

    /// The forward pass chunk by chunk: the s examples are cut into as few chunks of at most
    /// `chunkRows` as hold them, of equal length (the last shorter by less than their number),
    /// so that a batch a little over one chunk is not propagated as a full chunk and a sliver.
    /// The blocks and states of one chunk serve every chunk: a block reads its rows of Y_0 in
    /// place, and writes its rows of Y_N into `whole` (s×n) when given, else into a rows×n
    /// column-major array, which `f first rows result` receives and the next chunk overwrites.
    let private chunked (net: Network) (p: Parameters) (y0: Matrix<float>) (whole: float[]) (f: int -> int -> float[] -> unit) =
        let s, n = y0.RowCount, Operator.inWidth net.Operator
        let src = columnMajor y0
        let most = chunkRows n
        let count = max 1 ((s + most - 1) / most)
        let width = max 1 ((s + count - 1) / count)
        let blocks = Engine.blocks net width
        let states = blocks |> Array.map (fun b ->
            struct (Array.zeroCreate (b.Ctx.S * n), (if Engine.hasZ net then Array.zeroCreate (b.Ctx.S * Network.auxWidth net) else null)))
        let full = if isNull whole then Array.zeroCreate (width * n) else whole
        for first in 0 .. width .. s - 1 do
            let rows = min width (s - first)
            let result = if rows = width || not (isNull whole) then full else Array.zeroCreate (rows * n)
            let chunk = blocks |> Array.filter (fun b -> b.Start < rows) |> Array.map (fun b -> { b with Rows = min b.Rows (rows - b.Start) })
            Engine.parallelFor chunk (fun i b ->
                let inBatch = { b with Start = first + b.Start }
                let struct (y, z) as state = states[i]
                Engine.extractInto inBatch s n src y
                if not (isNull z) then System.Array.Clear z
                for j in 0 .. net.Depth - 1 do
                    advance b p j state
                if isNull whole then Engine.insert b rows n y result else Engine.insert inBatch s n y whole)
            f first rows result

    /// Y_N of the batch Y_0 (s×n) written into the s×n matrix `yN`, which the pass allocates
    /// nowhere else: a caller that propagates batches of one size again and again (the line
    /// search of training) keeps one Y_N.
    let forwardInto (net: Network) (p: Parameters) (y0: Matrix<float>) (yN: Matrix<float>) =
        checkInput net y0
        Parameters.validate net p
        if isNull yN || yN.RowCount <> y0.RowCount || yN.ColumnCount <> Operator.inWidth net.Operator then
            invalidArg (nameof yN) $"Y_N must be {y0.RowCount}×{Operator.inWidth net.Operator}"
        chunked net p y0 (storage yN) (fun _ _ _ -> ())

    /// Y_N: the network's output for the batch Y_0 (s×n).
    let forward (net: Network) (p: Parameters) (y0: Matrix<float>) : Matrix<float> =
        Network.validate net
        if isNull y0 then invalidArg (nameof y0) "the input Y_0 must not be null"
        let yN = zeros y0.RowCount (Operator.inWidth net.Operator)
        forwardInto net p y0 yN
        yN

    /// The forward pass of Y_0 chunk by chunk, for what needs only each chunk's rows of Y_N (an
    /// accuracy): `f first yN` receives the Y_N of rows first … first + rows − 1, a matrix that
    /// serves only inside `f` (the next chunk overwrites it). Y_N of the whole batch is never held.
    let forwardEach (net: Network) (p: Parameters) (y0: Matrix<float>) (f: int -> Matrix<float> -> unit) =
        checkInput net y0
        Parameters.validate net p
        let n = Operator.inWidth net.Operator
        chunked net p y0 null (fun first rows result -> f first (ofStorage rows n result))

    /// Every state (Y_j, Z_{j−½}), j = 0…N.
    let trajectory (net: Network) (p: Parameters) (y0: Matrix<float>) : State[] =
        let blocks = prepare net p y0
        let s, n, m = y0.RowCount, Operator.inWidth net.Operator, Network.auxWidth net
        let src = columnMajor y0
        let ys = Array.init (net.Depth + 1) (fun _ -> Array.zeroCreate (s * n))
        let zs = if Engine.hasZ net then Array.init (net.Depth + 1) (fun _ -> Array.zeroCreate (s * m)) else null
        Engine.parallelFor blocks (fun _ b ->
            let state = initial net b s src
            let keep j =
                let struct (y, z) = state
                Engine.insert b s n y ys[j]
                if not (isNull z) then Engine.insert b s m z zs[j]
            keep 0
            for j in 0 .. net.Depth - 1 do
                advance b p j state
                keep (j + 1))
        Array.init (net.Depth + 1) (fun j ->
            { Y = ofStorage s n ys[j]; Z = (if isNull zs then None else Some(ofStorage s m zs[j])) })

    /// Sensitivity (Jacobian–vector product): δY_N for a direction (δθ, δY_0), by running the
    /// linearised recursion forward (forward substitution of Eq. 4.22). δZ_{−½} = 0.
    let sensitivity (net: Network) (p: Parameters) (y0: Matrix<float>) (dTheta: Parameters) (dY0: Matrix<float>) : Matrix<float> =
        let blocks = prepare net p y0
        Parameters.validate net dTheta
        if isNull dY0 || dY0.RowCount <> y0.RowCount || dY0.ColumnCount <> y0.ColumnCount then
            invalidArg "dY0" $"δY_0 must be shaped like Y_0 ({y0.RowCount}×{y0.ColumnCount})"
        if not (allFinite (columnMajor dY0)) then invalidArg "dY0" "δY_0 contains NaN or infinity"
        let s, n = y0.RowCount, Operator.inWidth net.Operator
        let src, dsrc = columnMajor y0, columnMajor dY0
        let out = Array.zeroCreate (s * n)
        Engine.parallelFor blocks (fun _ b ->
            let struct (y, z) = initial net b s src
            let struct (dy, dz) = initial net b s dsrc
            for j in 0 .. net.Depth - 1 do
                Engine.sensitivityStep b j (layer p j) (layer dTheta j) y z dy dz
            Engine.insert b s n dy out)
        ofStorage s n out

    /// Copies a state into a kept one of its shape.
    let private keepInto (struct (y: float[], z: float[])) (struct (ky: float[], kz: float[])) =
        System.Array.Copy(y, ky, y.Length)
        if not (isNull z) then System.Array.Copy(z, kz, z.Length)

    /// The forward pass of the rows first … first+rows−1 of Y_0, read in place, keeping what
    /// `strategy` needs for the adjoint: the kept and final states rented from `store` on the
    /// calling thread before the blocks run (StoreAll's last kept state is the final one).
    let private recordInto (store: TapeStore) (strategy: AdjointStrategy) (net: Network) (p: Parameters) (y0: Matrix<float>) (first: int) (rows: int) : Tape =
        checkInputRows net y0 first rows
        Parameters.validate net p
        let blocks = Engine.blocks net rows
        let n = net.Depth
        let count =
            match strategy with
            | Checkpoints interval when interval < 1 -> invalidArg "strategy" $"checkpoint interval must be at least 1, got {interval}"
            | Checkpoints interval -> (n - 1) / interval + 1
            | Reversal ->
                Scheme.requireInvertible "strategy" (Network.scheme net)
                0
            | StoreAll -> n
        let s = y0.RowCount
        let src = columnMajor y0
        let width, m = Operator.inWidth net.Operator, (if Engine.hasZ net then Network.auxWidth net else 0)
        let rent (b: Engine.Block) = struct (store.Rent(b.Ctx.S * width), (if m = 0 then null else store.Rent(b.Ctx.S * m)))
        let kept =
            blocks |> Array.map (fun b ->
                let keep = Array.init count (fun _ -> rent b)
                if strategy = StoreAll then Array.append keep [| struct (null, null) |] else keep)
        let final = Array.map rent blocks
        Engine.parallelFor blocks (fun i b ->
            let struct (y, z) as state = final[i]
            Engine.extractInto { b with Start = first + b.Start } s width src y
            if not (isNull z) then System.Array.Clear z
            let keep = kept[i]
            for j in 0 .. n - 1 do
                match strategy with
                | StoreAll -> keepInto state keep[j]
                | Checkpoints interval when j % interval = 0 -> keepInto state keep[j / interval]
                | _ -> ()
                advance b p j state
            if strategy = StoreAll then keep[n] <- state)
        { Strategy = strategy; Net = net; S = rows; Parameters = p; Blocks = blocks; Kept = kept; Final = final; Released = false }

    /// Runs the forward pass and keeps what `strategy` needs for the adjoint.
    let record (strategy: AdjointStrategy) (net: Network) (p: Parameters) (y0: Matrix<float>) : Tape =
        recordInto (TapeStore()) strategy net p y0 0 (allRows y0)

    /// Marks a tape on loan released and names its states, which go back to the store.
    let private releaseTape (tape: Tape) : float[] seq =
        tape.Released <- true
        let arrays (struct (y: float[], z: float[])) = if isNull z then [ y ] else [ y; z ]
        seq {
            for keep in tape.Kept do
                // StoreAll's last kept state is the final one, named below.
                for j in 0 .. (if tape.Strategy = StoreAll then keep.Length - 2 else keep.Length - 1) do
                    yield! arrays keep[j]
            for state in tape.Final do
                yield! arrays state
        }

    /// Runs `f` on the tape of a forward pass of the rows first … first+rows−1 of Y_0, read in
    /// place (as `record` of those rows), whose states come from the calling thread's store of
    /// the last such tape, and returns f's result: repeated calls for one shape allocate no
    /// states (a thread keeps up to 64 MiB of them between calls, larger tapes only until a
    /// collection needs the memory). The tape belongs to this call: once f returns, its states
    /// go back to the store and `backward` or `backwardInput` on it throws.
    let withTapeOfRows (strategy: AdjointStrategy) (net: Network) (p: Parameters) (y0: Matrix<float>) (first: int) (rows: int) (f: Tape -> 'r) : 'r =
        TapeStore.Lend(StoreSlot.Tapes, (fun store -> recordInto store strategy net p y0 first rows), f, releaseTape)

    /// `withTapeOfRows` on every row of Y_0.
    let withTape (strategy: AdjointStrategy) (net: Network) (p: Parameters) (y0: Matrix<float>) (f: Tape -> 'r) : 'r =
        withTapeOfRows strategy net p y0 0 (allRows y0) f

    /// The transposed recursion run backward from Ȳ_N over a recorded forward pass: ∂L/∂θ (only
    /// with `withTheta`; without it the steps skip the parameter products) and ∂L/∂Y_0 (only
    /// with `withInput`). Its adjoint states, and the states the reversal strategy rebuilds, are
    /// rented from the calling thread's store of adjoint states (`StoreSlot.Adjoints`), so
    /// that repeated adjoint solves of one shape allocate none.
    let private sweep (withTheta: bool) (withInput: bool) (tape: Tape) (yBarN: Matrix<float>) : Parameters option * Matrix<float> option =
        if tape.Released then invalidOp "the tape was released: a tape of Solve.withTape serves only inside its function"
        let net = tape.Net
        let s, n = tape.S, Operator.inWidth net.Operator
        if isNull yBarN || yBarN.RowCount <> s || yBarN.ColumnCount <> n then
            invalidArg "yBarN" $"Ȳ_N must be {s}×{n}"
        if not (allFinite (columnMajor yBarN)) then invalidArg "yBarN" "Ȳ_N contains NaN or infinity"
        let src = columnMajor yBarN
        let p = tape.Parameters
        let blocks = tape.Blocks
        let total = if withTheta then Some(Parameters.zeros net) else None
        let span =
            match tape.Strategy with
            | Checkpoints interval -> interval
            | StoreAll | Reversal -> min SegmentLength net.Depth
        let segments = (net.Depth - 1) / span + 1
        let store = TapeStore.Take StoreSlot.Adjoints
        let rented = ResizeArray<float[]>()
        let rent (length: int) =
            let a = store.Rent length
            rented.Add a
            a
        let m = Network.auxWidth net
        let adjoints =
            blocks |> Array.map (fun b ->
                let yBar = rent (b.Ctx.S * n)
                Engine.extractZeroPaddedInto b s n src yBar
                let zBar = if Engine.hasZ net then rent (b.Ctx.S * m) else null
                if not (isNull zBar) then System.Array.Clear zBar
                struct (yBar, zBar))
        let local = blocks |> Array.map (fun _ -> if withTheta then layerGradients net span else Array.create span Engine.noGradient)
        let current =
            if tape.Strategy <> Reversal then Array.empty
            else
                tape.Final |> Array.map (fun (struct (y, z)) ->
                    let state = struct (rent y.Length, (if isNull z then null else rent z.Length))
                    keepInto (struct (y, z)) state
                    state)
        try
            for segment in segments - 1 .. -1 .. 0 do
                let first = segment * span
                let last = min net.Depth (first + span)
                Engine.parallelFor blocks (fun i b ->
                    let struct (yBar, zBar) = adjoints[i]
                    let gl = local[i]
                    match tape.Strategy with
                    | StoreAll ->
                        let states = tape.Kept[i]
                        for j in last - 1 .. -1 .. first do
                            let struct (y, z) = states[j]
                            let struct (_, z') = states[j + 1]
                            Engine.adjointStep b j (layer p j) y z z' yBar zBar gl[j - first]
                    | Checkpoints _ ->
                        let states = Array.zeroCreate (last - first + 1)
                        let kept = tape.Kept[i]
                        states[0] <- copyState kept[segment]
                        for j in first .. last - 1 do
                            let next = copyState states[j - first]
                            advance b p j next
                            states[j - first + 1] <- next
                        for j in last - 1 .. -1 .. first do
                            let struct (y, z) = states[j - first]
                            let struct (_, z') = states[j - first + 1]
                            Engine.adjointStep b j (layer p j) y z z' yBar zBar gl[j - first]
                    | Reversal ->
                        let struct (y, z) = current[i]
                        for j in last - 1 .. -1 .. first do
                            Engine.reverseAdjointStep b j (layer p j) y z yBar zBar gl[j - first])
                match total with
                | None -> ()
                | Some total ->
                    for j in first .. last - 1 do
                        for i in 0 .. blocks.Length - 1 do
                            let part = local[i][j - first]
                            let g = layer total j
                            axpy 1.0 part.K g.K
                            axpy 1.0 part.b g.b
                            axpy 1.0 part.c g.c
                            System.Array.Clear part.K
                            System.Array.Clear part.b
                            System.Array.Clear part.c
            let input =
                if not withInput then None
                else
                    let out = Array.zeroCreate (s * n)
                    blocks |> Array.iteri (fun i b -> let struct (yBar, _) = adjoints[i] in Engine.insert b s n yBar out)
                    Some(ofStorage s n out)
            total, input
        finally
            store.Replace rented
            TapeStore.Return(StoreSlot.Adjoints, store)

    /// Adjoint (transpose product) from a recorded forward pass: given Ȳ_N = ∂L/∂Y_N, returns
    /// (∂L/∂θ, ∂L/∂Y_0) by running the transposed recursion backward (back substitution).
    let backward (tape: Tape) (yBarN: Matrix<float>) : Parameters * Matrix<float> =
        let total, gY0 = sweep true true tape yBarN
        Option.get total, Option.get gY0

    /// The parameter gradient alone: ∂L/∂θ for Ȳ_N = ∂L/∂Y_N, `backward`'s first result to the
    /// last bit, without assembling ∂L/∂Y_0.
    let backwardParameters (tape: Tape) (yBarN: Matrix<float>) : Parameters = Option.get (fst (sweep true false tape yBarN))

    /// The input adjoint alone: ∂L/∂Y_0 for Ȳ_N = ∂L/∂Y_N, equal to `backward`'s second result to
    /// round-off, with no parameter gradient computed (the products with ∂/∂θ are skipped where
    /// the kernels allow: the stage kernels and the fused convolution kernels skip them, the fused
    /// dense kernels discard them).
    let backwardInput (tape: Tape) (yBarN: Matrix<float>) : Matrix<float> = Option.get (snd (sweep false true tape yBarN))

    /// The bytes the Jacobian of s examples keeps (`linearise`): the activation of every kick of
    /// every layer, Y_0 and the final state, in doubles.
    let jacobianBytes (net: Network) (s: int) : int64 =
        let op = net.Operator
        let n, m = int64 (Operator.inWidth op), (if Engine.hasZ net then int64 (Network.auxWidth net) else 0L)
        let perLayer =
            (Network.scheme net).Stages
            |> List.sumBy (fun st -> if st.Kind = Kick then int64 (outputWidth op (sideOf st)) else 0L)
        8L * int64 s * (int64 net.Depth * perLayer + 2L * n + m)

    /// Runs f on every block (with its index) group by group, the groups on all cores.
    let private inGroups (jac: Jacobian) (f: int -> Engine.Block -> unit) =
        Engine.parallelRange jac.Groups.Length (fun g -> for i in jac.Groups[g] do f i jac.Blocks[i])

    /// The linearisation of `linearise`, its activations rented from `store` on the calling
    /// thread before the blocks run (every entry is written by the forward pass).
    let private lineariseInto (store: TapeStore) (net: Network) (p: Parameters) (y0: Matrix<float>) : Jacobian =
        let blocks = prepare net p y0
        let s, n, m = y0.RowCount, Operator.inWidth net.Operator, Network.auxWidth net
        let stages = List.toArray (Network.scheme net).Stages
        let op = net.Operator
        let src = columnMajor y0
        let count = min blocks.Length System.Environment.ProcessorCount
        let groups = Array.init count (fun g -> [| blocks.Length * g / count .. blocks.Length * (g + 1) / count - 1 |])
        let group = Array.zeroCreate blocks.Length
        groups |> Array.iteri (fun g members -> for i in members do group[i] <- g)
        let buffer rows width = if width = 0 then null else Array.zeroCreate (rows * width)
        let mz = if Engine.hasZ net then m else 0
        let shared =
            Array.init blocks.Length (fun i -> group[i], blocks[i].Ctx.S)
            |> Array.distinct
            |> Array.map (fun (g, rows) -> (g, rows), struct (buffer rows n, buffer rows mz, buffer rows n, buffer rows mz))
            |> dict
        let activations =
            blocks |> Array.map (fun b ->
                Array.init net.Depth (fun _ ->
                    stages |> Array.map (fun st -> if st.Kind = Kick then store.Rent(b.Ctx.S * outputWidth op (sideOf st)) else Array.empty)))
        let start = blocks |> Array.map (fun b -> Engine.extract b s n src)
        let final = Array.zeroCreate blocks.Length
        let jac =
            { Net = net
              S = s
              Parameters = p
              Blocks = blocks
              Groups = groups
              Activations = activations
              Start = start
              Final = final
              Work = blocks |> Array.mapi (fun i b -> shared[(group[i], b.Ctx.S)])
              Gradients = blocks |> Array.map (fun _ -> layerGradients net net.Depth)
              Released = false }
        inGroups jac (fun i b ->
            let state = struct (Array.copy start[i], (if mz = 0 then null else Array.zeroCreate (b.Ctx.S * m)))
            let struct (y, z) = state
            let kept = activations[i]
            for j in 0 .. net.Depth - 1 do
                Engine.lineariseStep b j (layer p j) y z kept[j]
            final[i] <- state)
        jac

    /// Records the Jacobian ∂Y_N/∂θ of the network at (θ, Y_0) by one forward pass, stage by
    /// stage: every kick's activation, block by block. The blocks of a group of consecutive
    /// blocks (one group a core) share their workspaces, so that what the Jacobian holds besides
    /// its activations and two states is a few block-sized arrays a core.
    let linearise (net: Network) (p: Parameters) (y0: Matrix<float>) : Jacobian = lineariseInto (TapeStore()) net p y0

    /// Marks a Jacobian released, so that its products throw, and names its activations for the
    /// store that takes them back.
    let private release (jac: Jacobian) : float[] seq =
        jac.Released <- true
        seq { for block in jac.Activations do for layer in block do for u in layer do if u.Length > 0 then yield u }

    /// Runs `f` on the Jacobian of `linearise` whose activations come from the calling thread's
    /// store of the last such Jacobian or tape (`withTape`), and returns f's result: repeated
    /// calls for one shape allocate no activations. The Jacobian belongs to this call: once f
    /// returns, its activations go back to the store and its products throw.
    let withJacobian (net: Network) (p: Parameters) (y0: Matrix<float>) (f: Jacobian -> 'r) : 'r =
        TapeStore.Lend(StoreSlot.Tapes, (fun store -> lineariseInto store net p y0), f, release)

    /// Runs `f` with a `linearise` (as `linearise`, called any number of times on the calling
    /// thread) whose Jacobians rent their activations from `store`, and returns f's result. The
    /// Jacobians belong to this call: once f returns, every one of them is released (its products
    /// throw) and its activations go back to the store, which keeps them, and only them, for the
    /// Jacobians of its next call, and the linearise throws. A loop of steps each of which records
    /// its Jacobians inside one call therefore holds the activations of one step, allocated once
    /// for shapes that recur.
    let withJacobiansFrom (store: JacobianStore) (f: (Network -> Parameters -> Matrix<float> -> Jacobian) -> 'r) : 'r =
        let lent = ResizeArray<Jacobian>()
        let serving = ref true
        let rent (net: Network) (p: Parameters) (y0: Matrix<float>) =
            if not serving.Value then invalidOp "the linearise of Solve.withJacobiansFrom serves only inside its function"
            let jac = lineariseInto store.Arrays net p y0
            lent.Add jac
            jac
        try f rent
        finally
            serving.Value <- false
            store.Arrays.Replace(Seq.collect release lent)

    let private checkOutputShape (name: string) (jac: Jacobian) (x: Matrix<float>) =
        if jac.Released then invalidOp "the Jacobian was released: a Jacobian of Solve.withJacobian or Solve.withJacobiansFrom serves only inside its function"
        let n = Operator.inWidth jac.Net.Operator
        if isNull x || x.RowCount <> jac.S || x.ColumnCount <> n then invalidArg name $"{name} must be {jac.S}×{n}"

    /// Sets a working state and its companion (δ or adjoint) to a copy of (y, z) and zero.
    let private reset (y: float[]) (z: float[]) (struct (wy: float[], wz: float[], dy: float[], dz: float[])) =
        System.Array.Copy(y, wy, y.Length)
        System.Array.Clear dy
        if not (isNull wz) then
            if isNull z then System.Array.Clear wz else System.Array.Copy(z, wz, z.Length)
            System.Array.Clear dz

    /// The Jacobian–vector product δY_N = J δθ (δY_0 = 0), written into the caller's s×n matrix
    /// `dYN`, by the linearised layers alone.
    let jvpInto (jac: Jacobian) (dTheta: Parameters) (dYN: Matrix<float>) =
        Parameters.validate jac.Net dTheta
        checkOutputShape (nameof dYN) jac dYN
        let net, p, s = jac.Net, jac.Parameters, jac.S
        let n = Operator.inWidth net.Operator
        let out = storage dYN
        inGroups jac (fun i b ->
            let work = jac.Work[i]
            reset jac.Start[i] null work
            let struct (y, z, dy, dz) = work
            let kept = jac.Activations[i]
            for j in 0 .. net.Depth - 1 do
                Engine.linearisedStep b j (layer p j) (layer dTheta j) kept[j] y z dy dz
            Engine.insert b s n dy out)

    /// The transposed product gθ = Jᵀ Ȳ_N, written into the caller's parameters `gTheta` (every
    /// entry overwritten), by the transposed linearised layers alone.
    let vjpInto (jac: Jacobian) (yBarN: Matrix<float>) (gTheta: Parameters) =
        checkOutputShape (nameof yBarN) jac yBarN
        Parameters.validate jac.Net gTheta
        let src = columnMajor yBarN
        if not (allFinite src) then invalidArg (nameof yBarN) "Ȳ_N contains NaN or infinity"
        let net, p, s = jac.Net, jac.Parameters, jac.S
        let n = Operator.inWidth net.Operator
        inGroups jac (fun i b ->
            let work = jac.Work[i]
            let struct (yN, zN) = jac.Final[i]
            reset yN zN work
            let struct (y, z, yBar, zBar) = work
            for c in 0 .. n - 1 do
                System.Array.Copy(src, c * s + b.Start, yBar, c * b.Ctx.S, b.Rows)
            let g = jac.Gradients[i]
            let kept = jac.Activations[i]
            for j in net.Depth - 1 .. -1 .. 0 do
                System.Array.Clear g[j].K
                System.Array.Clear g[j].b
                System.Array.Clear g[j].c
                Engine.linearisedAdjointStep b j (layer p j) kept[j] y z yBar zBar g[j])
        for j in 0 .. net.Depth - 1 do
            let total = layer gTheta j
            System.Array.Clear total.K
            System.Array.Clear total.b
            System.Array.Clear total.c
            for i in 0 .. jac.Blocks.Length - 1 do
                let part = jac.Gradients[i][j]
                axpy 1.0 part.K total.K
                axpy 1.0 part.b total.b
                axpy 1.0 part.c total.c

    /// The input-only transposed product Ȳ_0 = (∂Y_N/∂Y_0)ᵀ Ȳ_N (Z̄_N = 0), written into the
    /// caller's s×n matrix `yBar0` (every entry overwritten), by the transposed linearised layers
    /// from their kept activations alone: no state is rebuilt and no parameter gradient formed.
    /// Equal to `backwardInput`'s result on a tape of the same (θ, Y_0) to round-off. `yBar0` may
    /// be `yBarN` itself: each block reads its rows of Ȳ_N before it writes them.
    let vjpInputInto (jac: Jacobian) (yBarN: Matrix<float>) (yBar0: Matrix<float>) =
        checkOutputShape (nameof yBarN) jac yBarN
        checkOutputShape (nameof yBar0) jac yBar0
        let src = columnMajor yBarN
        if not (allFinite src) then invalidArg (nameof yBarN) "Ȳ_N contains NaN or infinity"
        let net, p, s = jac.Net, jac.Parameters, jac.S
        let n = Operator.inWidth net.Operator
        let out = storage yBar0
        inGroups jac (fun i b ->
            let struct (_, _, yBar, zBar) = jac.Work[i]
            System.Array.Clear yBar
            if not (isNull zBar) then System.Array.Clear zBar
            for c in 0 .. n - 1 do
                System.Array.Copy(src, c * s + b.Start, yBar, c * b.Ctx.S, b.Rows)
            let kept = jac.Activations[i]
            for j in net.Depth - 1 .. -1 .. 0 do
                Engine.linearisedInputAdjointStep b j (layer p j) kept[j] yBar zBar
            Engine.insert b s n yBar out)

    /// Adjoint (transpose product): (∂L/∂θ, ∂L/∂Y_0) for Ȳ_N = ∂L/∂Y_N, under `strategy`.
    let adjoint (strategy: AdjointStrategy) (net: Network) (p: Parameters) (y0: Matrix<float>) (yBarN: Matrix<float>) =
        backward (record strategy net p y0) yBarN

    /// The checkpoint strategy with the interval ⌈√N⌉ that minimises memory.
    let sqrtCheckpoints (net: Network) = Checkpoints(max 1 (int (ceil (sqrt (float net.Depth)))))

    /// The storage of a final state (Y_N, Z_N) from which an invertible scheme runs backwards,
    /// checked on the rows first … first+rows−1: Y_N as an input, the parameters, the scheme
    /// invertible (so a stage names Z) and Z_N of the shape of Z and finite.
    let private invertibleFinalRows (net: Network) (p: Parameters) (final: State) (first: int) (rows: int) : struct (float[] * float[]) =
        checkInputRows net final.Y first rows
        Parameters.validate net p
        Scheme.requireInvertible "net" (Network.scheme net)
        let s, m = final.Y.RowCount, Network.auxWidth net
        match final.Z with
        | Some z when z.RowCount = s && z.ColumnCount = m && rowsFinite s first rows (columnMajor z) -> struct (columnMajor final.Y, columnMajor z)
        | _ -> invalidArg "final" $"the final state needs a finite Z of shape {s}×{m}"

    let private invertibleFinal (net: Network) (p: Parameters) (final: State) = invertibleFinalRows net p final 0 (allRows final.Y)

    /// Runs the exact inverse of an invertible scheme from a final state back to j = 0: how far
    /// the result lies from the true initial state measures the drift of the reversal strategy.
    let reconstruct (net: Network) (p: Parameters) (final: State) : State =
        let struct (yAll, zAll) = invertibleFinal net p final
        let s, n, m = final.Y.RowCount, Operator.inWidth net.Operator, Network.auxWidth net
        let blocks = Engine.blocks net s
        let yOut, zOut = Array.zeroCreate (s * n), Array.zeroCreate (s * m)
        Engine.parallelFor blocks (fun _ b ->
            let y = Engine.extract b s n yAll
            let z = Engine.extract b s m zAll
            for j in net.Depth - 1 .. -1 .. 0 do
                Engine.reverse b j (layer p j) y z
            Engine.insert b s n y yOut
            Engine.insert b s m z zOut)
        { Y = ofStorage s n yOut; Z = Some(ofStorage s m zOut) }

    /// The tape of the reversal strategy for the rows first … first+rows−1 of a known final
    /// state, read in place, its block states rented from `store`.
    let private reversalTapeInto (store: TapeStore) (net: Network) (p: Parameters) (final: State) (first: int) (rows: int) : Tape =
        let struct (yAll, zAll) = invertibleFinalRows net p final first rows
        let s, n, m = final.Y.RowCount, Operator.inWidth net.Operator, Network.auxWidth net
        let blocks = Engine.blocks net rows
        let finals =
            blocks |> Array.map (fun b ->
                let inBatch = { b with Start = first + b.Start }
                let y, z = store.Rent(b.Ctx.S * n), store.Rent(b.Ctx.S * m)
                Engine.extractInto inBatch s n yAll y
                Engine.extractInto inBatch s m zAll z
                struct (y, z))
        { Strategy = Reversal; Net = net; S = rows; Parameters = p; Blocks = blocks; Kept = Array.map (fun _ -> Array.empty) blocks; Final = finals; Released = false }

    /// The tape of the reversal strategy for a forward pass whose final state (Y_N, Z_N) is
    /// already known, such as a line-search trial's: what `record Reversal`
    /// of its Y_0 at θ = p returns, without running the forward pass, so that `backward` on it
    /// starts the adjoint at once. The final state must be that forward pass's at p (the rows of
    /// `forward`'s result, which do not depend on the blocks), or the adjoint differentiates another one.
    let reversalTape (net: Network) (p: Parameters) (final: State) : Tape =
        reversalTapeInto (TapeStore()) net p final 0 (allRows final.Y)

    /// Runs `f` on the tape of `reversalTape` for the rows first … first+rows−1 of a known final
    /// state, read in place, whose states come from the calling thread's store (as
    /// `withTapeOfRows`), and returns f's result; once f returns, the tape is released.
    let withReversalTapeOfRows (net: Network) (p: Parameters) (final: State) (first: int) (rows: int) (f: Tape -> 'r) : 'r =
        TapeStore.Lend(StoreSlot.Tapes, (fun store -> reversalTapeInto store net p final first rows), f, releaseTape)
