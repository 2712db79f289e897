// The thin products of `Kernels` on the classifier's shapes: Y K (the scores), Xᵀ V (the loss
// gradient's share of W) and V Kᵀ (∂L/∂Y), for Y of s random rows × 4,704 features (6 channels
// of 28×28) and 10 classes, on the whole batch and on parts of 129 and 781 rows read in place
// (the parts of 8,000 and of 50,000 examples in one process, `Ranks.arrange`), one thread; GFLOP/s
// of three runs each.
// Build first (dotnet build src/StableOde.Core -c Release), then
//   dotnet fsi bench/thin-products.fsx [s]
#load "ImageBench.fsx"

open System
open System.Diagnostics
open StableOde.Core
open ImageBench

let s = argOr 0 8000
let n, m = 6 * 28 * 28, 10
let rng = Random 1
let y = Array.init (s * n) (fun _ -> rng.NextDouble() - 0.5)
let k = Array.init (n * m) (fun _ -> rng.NextDouble() - 0.5)
let v = Array.init (s * m) (fun _ -> rng.NextDouble() - 0.5)
let g = Array.zeroCreate (n * m)
let z = Array.zeroCreate (s * m)
let dY = Array.zeroCreate (s * n)

/// Prints the GFLOP/s (2 s n m flops a call) of three runs of f.
let rate (name: string) (f: unit -> unit) =
    let runs =
        [ for _ in 1 .. 3 ->
              let clock = Stopwatch.StartNew()
              f ()
              2.0 * float s * float n * float m / clock.Elapsed.TotalSeconds / 1e9 ]
    printfn "%-36s %s GFLOP/s" name (runs |> List.map (sprintf "%5.1f") |> String.concat " ")

/// f on the parts of `rows` rows of the batch.
let parts (rows: int) (f: int -> int -> unit) () =
    for r0 in 0 .. rows .. s - 1 do f r0 (min rows (s - r0))

printfn "s = %d, n = %d, m = %d, load %s" s n m (IO.File.ReadAllText("/proc/loadavg").Trim())
rate "Y K" (fun () -> Kernels.mulAdd false 1.0 s n m y k z)
for rows in [ 129; 781 ] do
    rate $"Y K on parts of {rows}" (parts rows (fun r0 len -> Kernels.mulAddRows false 1.0 s r0 len n m y k z))
rate "Xᵀ V" (fun () -> Kernels.transposeMulAdd false 1.0 s n m y v g)
for rows in [ 129; 781 ] do
    rate $"Xᵀ V on parts of {rows}" (parts rows (fun r0 len -> Kernels.transposeMulAddRows true 1.0 s r0 len n m y v g))
rate "V Kᵀ" (fun () -> Kernels.mulTransposeAdd false 1.0 s n m v k dY)
