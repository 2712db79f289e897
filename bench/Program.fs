/// `run …` times one case with `Bench.run` and prints one JSON object (what bench/compare.sh
/// reads); `peak` measures the machine's double-precision FMA peak (`FmaPeak.measure`) and prints
/// it as one JSON object; anything else goes to BenchmarkDotNet's switcher (e.g. `--filter '*Cases*'`).
module StableOde.Bench.Program

open System
open System.Globalization
open BenchmarkDotNet.Running
open StableOde.Core
open StableOde.Timing

let private usage =
    "usage: run --propagator resnet|antisymmetric|leapfrog|verlet --width n --samples s --layers N "
    + "[--final-time T] [--conv c,H,W] --mode forward|gradient [--repeat k] [--strategy storeall|reversal|checkpoints]"

let private parse (args: string list) : Bench.Options =
    let number (name: string) (text: string) =
        match Double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture) with
        | true, v -> v
        | _ -> failwith $"{name} needs a number, got '{text}'"
    let rec go (o: Bench.Options) args =
        match args with
        | [] -> o
        | "--propagator" :: v :: rest ->
            match Network.tryParsePropagator v with
            | Some p -> go { o with Propagator = p } rest
            | None -> failwith $"unknown propagator '{v}'"
        | "--width" :: v :: rest -> go { o with Width = int (number "--width" v) } rest
        | "--samples" :: v :: rest -> go { o with Samples = int (number "--samples" v) } rest
        | "--layers" :: v :: rest -> go { o with Layers = int (number "--layers" v) } rest
        | "--final-time" :: v :: rest -> go { o with FinalTime = number "--final-time" v } rest
        | "--repeat" :: v :: rest -> go { o with Repeat = int (number "--repeat" v) } rest
        | "--conv" :: v :: rest ->
            match v.Split ',' |> Array.map (number "--conv" >> int) with
            | [| c; h; w |] -> go { o with Conv = Some(c, h, w) } rest
            | _ -> failwith "--conv needs c,H,W"
        | "--mode" :: "forward" :: rest -> go { o with Mode = Bench.Forward } rest
        | "--mode" :: "gradient" :: rest -> go { o with Mode = Bench.Gradient } rest
        | "--strategy" :: "storeall" :: rest -> go { o with Strategy = Some StoreAll } rest
        | "--strategy" :: "reversal" :: rest -> go { o with Strategy = Some Reversal } rest
        | "--strategy" :: "checkpoints" :: rest ->
            let o = go o rest
            { o with Strategy = Some(Solve.sqrtCheckpoints (Bench.network o)) }
        | a :: _ -> failwith $"unexpected argument '{a}'"
    go Bench.Options.defaults args

[<EntryPoint>]
let main argv =
    match List.ofArray argv with
    | "run" :: rest ->
        try
            let r = Bench.run (parse rest)
            let f (x: float) = x.ToString("R", CultureInfo.InvariantCulture)
            printfn "{\"medianMs\":%s,\"minMs\":%s,\"maxMs\":%s,\"gflops\":%s,\"peakMB\":%s,\"gradientMB\":%s,\"allocatedMB\":%s}" (f r.MedianMs) (f r.MinMs) (f r.MaxMs) (f r.Gflops) (f r.PeakMB) (f r.GradientMB) (f r.AllocatedMB)
            0
        with Failure message ->
            eprintfn "%s\n%s" message usage
            1
    | [ "peak" ] ->
        let p = FmaPeak.measure ()
        printfn "{\"lanes\":%d,\"cores\":%d,\"oneCoreGflops\":%.2f,\"allCoresGflops\":%.2f}" p.Lanes p.Cores p.OneCore p.AllCores
        0
    | _ ->
        BenchmarkSwitcher.FromAssembly(typeof<Benchmarks.Cases>.Assembly).Run(argv) |> ignore
        0
