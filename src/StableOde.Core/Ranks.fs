/// Data-parallel training (SPEC §11): R processes (ranks), each holding a fixed shard of the
/// examples and all parameters. The objective and its derivatives are means over examples. The
/// examples fall into fixed parts (contiguous runs of global indices, as many as the data set's
/// size alone decides); a shard is a run of whole parts, every sum over a batch is formed part by
/// part, and the parts' sums are gathered and added in part order. The order of every addition is
/// therefore the same for every R — one process included — and so are the bits of every iterate.
/// The numerics see only this small value; the messages (MPI) belong to the caller.
namespace StableOde.Core

/// This process's place among the ranks and how their vectors meet.
type Ranks =
    { /// This process's rank r, 0 … Size − 1.
      Rank: int
      /// The number of ranks R.
      Size: int
      /// The vectors every rank passes at the same point of the same program (all of one length),
      /// concatenated in rank order — the same on every rank (an allgather). Every rank calls it
      /// the same number of times.
      Gather: float[] -> float[] }

/// Where one rank's shard lies among all the examples of a data set.
type Shard =
    { /// The global index of the shard's first example.
      Offset: int
      /// The examples of the shard.
      Count: int
      /// The examples of all shards.
      Total: int }

/// How this rank's rows of a batch (or of a curvature subsample) fall into the fixed parts: its
/// matrices hold the batch's examples of its parts part by part, each part's in batch order.
type Layout =
    { /// The most parts a rank holds: every rank's share of a reduction has this many slots.
      Slots: int
      /// (first row, rows) of each of this rank's parts in its matrices, in part order; 0 rows
      /// for a part of which the batch has no example.
      Rows: struct (int * int)[] }

/// Parts, shards and the reductions of data-parallel training.
module Ranks =

    /// One process: rank 0 of 1, whose gather of one vector is that vector (the array itself,
    /// which every reduction here only reads).
    let single = { Rank = 0; Size = 1; Gather = id }

    /// Checks rank and size; throws ArgumentException naming the problem.
    let validate (ranks: Ranks) =
        if ranks.Size < 1 then invalidArg "ranks" $"the number of ranks must be at least 1, got {ranks.Size}"
        if ranks.Rank < 0 || ranks.Rank >= ranks.Size then invalidArg "ranks" $"the rank must be in 0…{ranks.Size - 1}, got {ranks.Rank}"
        if obj.ReferenceEquals(ranks.Gather, null) then invalidArg "ranks" "the gather must not be null"

    /// Examples a part holds at least (unless the data set has fewer).
    [<Literal>]
    let PartRows = 128

    /// Parts at most (so a rank's share of a reduction is at most 64 vectors).
    [<Literal>]
    let MaxParts = 64

    /// The parts of a data set of `total` examples: one per `PartRows` examples, 1 … `MaxParts`.
    let partCount (total: int) = max 1 (min MaxParts (total / PartRows))

    /// The first index and the length of item i of `count` items cut into `pieces` contiguous
    /// runs in order, whose lengths differ by at most one.
    let private run (pieces: int) (count: int) (i: int) =
        let q, extra = count / pieces, count % pieces
        i * q + min i extra, q + (if i < extra then 1 else 0)

    /// The part of the example with global index i among `total`.
    let partOf (total: int) (i: int) =
        let parts = partCount total
        let q, extra = total / parts, total % parts
        let big = extra * (q + 1)
        if i < big then i / (q + 1) else extra + (i - big) / q

    /// The first part and the number of parts of rank r among `size` ranks for `total` examples.
    let private partsOfRank (size: int) (rank: int) (total: int) = run size (partCount total) rank

    /// The first global index and the number of examples of rank r's shard of `total` examples:
    /// whole parts, contiguous in rank order.
    let shardRange (size: int) (rank: int) (total: int) : int * int =
        let parts = partCount total
        let first, count = partsOfRank size rank total
        let start = fst (run parts total first)
        let finish = if count = 0 then start else let s, l = run parts total (first + count - 1) in s + l
        start, finish - start

    /// Rank `rank`'s shard of a training set among `size` ranks, whole parts (the data set itself
    /// for one rank); throws when the data set has fewer parts than ranks.
    let shard (rank: int) (size: int) (d: Dataset) : Dataset =
        validate { single with Rank = rank; Size = size }
        let total = Dataset.count d
        let parts = partCount total
        if parts < size then
            invalidArg "dataset" $"{total} examples form {parts} parts (one per {PartRows} examples, at most {MaxParts}), too few for {size} ranks: every rank needs a part"
        if size = 1 then d
        else
            let offset, count = shardRange size rank total
            Dataset.select (Array.init count (fun i -> offset + i)) d

    /// Rank `rank`'s shard of a validation set among `size` ranks: contiguous runs in rank order
    /// whose sizes differ by at most one, since a validation set's only sums are the exact counts
    /// of its accuracy (the data set itself for one rank); throws when some rank would hold none.
    let validationShard (rank: int) (size: int) (d: Dataset) : Dataset =
        validate { single with Rank = rank; Size = size }
        let total = Dataset.count d
        if total < size then invalidArg "dataset" $"{total} validation examples are too few for {size} ranks: every rank needs one"
        if size = 1 then d
        else
            let offset, count = run size total rank
            Dataset.select (Array.init count (fun i -> offset + i)) d

    /// Where this rank's shard of `count` examples lies among every rank's (one reduction).
    let locate (ranks: Ranks) (count: int) : Shard =
        let counts = ranks.Gather [| float count |] |> Array.map int
        { Offset = Array.sum counts[.. ranks.Rank - 1]; Count = count; Total = Array.sum counts }

    /// This rank's rows of the examples with the given global indices (a batch, in its order):
    /// the rows of its shard that hold them, grouped by part in part order, each part's in the
    /// order of `indices`; and their layout.
    let arrange (ranks: Ranks) (shard: Shard) (indices: int[]) : int[] * Layout =
        let first, parts = partsOfRank ranks.Size ranks.Rank shard.Total
        let slots = snd (partsOfRank ranks.Size 0 shard.Total)
        let byPart =
            indices
            |> Array.filter (fun i -> i >= shard.Offset && i < shard.Offset + shard.Count)
            |> Array.groupBy (partOf shard.Total)
            |> Map.ofArray
        let members = Array.init parts (fun k -> byPart |> Map.tryFind (first + k) |> Option.defaultValue [||])
        let starts = Array.scan (fun r (m: int[]) -> r + m.Length) 0 members
        Array.concat members |> Array.map (fun i -> i - shard.Offset),
        { Slots = slots; Rows = Array.init parts (fun k -> struct (starts[k], members[k].Length)) }

    /// At most one worker a core for the parts of a reduction.
    let private onePerCore = System.Threading.Tasks.ParallelOptions(MaxDegreeOfParallelism = System.Environment.ProcessorCount)

    /// The layout of a batch of `rows` examples in one part, for one process.
    let whole (rows: int) : Layout = { Slots = 1; Rows = [| struct (0, rows) |] }

    /// The mean over a batch of all ranks of a quantity that `partMean k r0 rows` gives as the mean
    /// over rows r0 … r0+rows−1 of this rank's matrices (its k-th part, called only when rows > 0,
    /// the parts on all cores; the arrays it returns are read once every part has run, so no two
    /// parts may return the same one): every part's mean times its examples, gathered, added in
    /// part order, over all the examples; one reduction. One process adds its parts' weighted
    /// means straight into the sum, in the same order and with the same roundings as the gathered
    /// slots of several (so the same bits), without a message of `Slots` × (length + 1) entries
    /// (23 MB a curvature product of an image classifier).
    let mean (ranks: Ranks) (layout: Layout) (length: int) (partMean: int -> int -> int -> float[]) : float[] =
        let width = length + 1
        let means = Array.zeroCreate<float[]> layout.Rows.Length
        let part k =
            let struct (r0, rows) = layout.Rows[k]
            if rows > 0 then
                let x = partMean k r0 rows
                if x.Length <> length then invalidArg (nameof partMean) $"expected {length} entries from a part, got {x.Length}"
                means[k] <- x
        if layout.Rows.Length = 1 then part 0
        else System.Threading.Tasks.Parallel.For(0, layout.Rows.Length, onePerCore, part) |> ignore
        // dst[at …] += part k's mean times its examples, and its examples, for every part that has
        // some; into a zeroed slot that is the weighted mean itself (0 + a = a, up to the sign of 0,
        // which no sum below sees: each starts at +0).
        let addParts (slotOf: int -> int) (dst: float[]) =
            for k in 0 .. means.Length - 1 do
                if not (isNull means[k]) then
                    let struct (_, rows) = layout.Rows[k]
                    let x, w, at = means[k], float rows, slotOf k * width
                    for i in 0 .. length - 1 do
                        dst[at + i] <- dst[at + i] + w * x[i]
                    dst[at + length] <- dst[at + length] + w
        let total = Array.zeroCreate width
        if ranks.Size = 1 then addParts (fun _ -> 0) total
        else
            let local = Array.zeroCreate (layout.Slots * width)
            addParts id local
            let gathered = ranks.Gather local
            for b in 0 .. gathered.Length / width - 1 do
                for i in 0 .. width - 1 do
                    total[i] <- total[i] + gathered[b * width + i]
        Array.init length (fun i -> total[i] / total[length])

    /// Whether the flag is set on any rank (one reduction).
    let any (ranks: Ranks) (flag: bool) : bool =
        ranks.Gather [| (if flag then 1.0 else 0.0) |] |> Array.exists (fun f -> f > 0.0)

    /// Every rank's integer vector summed entry by entry (one reduction; exact).
    let sumCounts (ranks: Ranks) (counts: int[]) : int[] =
        let gathered = ranks.Gather(Array.map float counts)
        Array.init counts.Length (fun i -> Seq.sum (seq { for r in 0 .. ranks.Size - 1 -> int gathered[r * counts.Length + i] }))
