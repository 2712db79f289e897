/// The paper's experiments (§6, SPEC §8), each with every setting it uses in one place: the data
/// and its split, the network of each propagator, T, the widths, α's, levels, iterations and
/// hypothesis. `stableode train`, `stableode reproduce`, the examples and the C# facade read them.
namespace StableOde.Core

/// One of the two-dimensional experiments of §6.1–6.3.
type Experiment =
    { /// The name on the command line: ellipses, swissroll or peaks.
      Name: string
      /// The name in prose: ellipses, swiss roll or peaks.
      Title: string
      /// The seeded training and validation sets (SPEC §7).
      Data: int -> Split
      /// The final time T.
      FinalTime: float
      /// Block coordinate descent and multilevel options: α_θ, batches, iterations a level, … The
      /// hypothesis is None: logistic regression for two classes, softmax otherwise.
      Options: TrainingOptions
      /// The depths of the multilevel schedule, doubling.
      Levels: int list
      /// The propagators the paper trains, in the order of its tables.
      Propagators: Propagator list
      /// The network's width n for a propagator (the input features are repeated up to it, §8).
      Width: Propagator -> int
      /// The width m of the Verlet momentum for a network of width n.
      MomentumWidth: int -> int
      /// The paper's best validation accuracy for a propagator, as the report quotes it.
      PaperAccuracy: Propagator -> string }

/// The image experiment of §6.4 (MNIST, Fashion-MNIST; Table 1, Figure 7).
type ImageExperiment =
    { /// The network's channels c (the image is repeated into every channel).
      Channels: int
      /// The final time T.
      FinalTime: float
      /// The depths of the multilevel schedule.
      Levels: int list
      /// The propagators of Table 1.
      Propagators: Propagator list
      /// The training options for a propagator and images of channels × height × width.
      Options: Propagator -> int -> int -> int -> TrainingOptions
      /// The training and validation images of a set of the given size: 50,000 and 10,000 of
      /// 60,000 or more (§6.4), otherwise 80 % and 20 %.
      SplitCounts: int -> int * int }

/// The experiments and the networks they train.
module Experiments =

    /// The paper's schedule of §6.1–6.3: 4, 8, …, 1024 layers.
    let private twoDimensionalLevels = [ for k in 2 .. 10 -> 1 <<< k ]

    let private threePropagators = [ ResNet; AntisymmetricResNet; Verlet ]

    /// §6.1: concentric ellipses, width 2 for every network, T = 20, α_θ = 1e-3.
    let ellipses =
        { Name = "ellipses"
          Title = "ellipses"
          Data = Datasets.ellipses
          FinalTime = 20.0
          Options = TrainingOptions.ellipses
          Levels = twoDimensionalLevels
          Propagators = threePropagators
          Width = fun _ -> 2
          MomentumWidth = id
          PaperAccuracy = fun _ -> "100 %" }

    /// §6.2: the swiss roll, width 4 (Verlet and verlet4 2: the features are not repeated), T = 20, α_θ = 5e-3.
    let swissRoll =
        { ellipses with
            Name = "swissroll"
            Title = "swiss roll"
            Data = Datasets.swissRoll
            Options = TrainingOptions.swissRoll
            Width = (function Verlet | Verlet4 -> 2 | _ -> 4)
            PaperAccuracy = (function AntisymmetricResNet -> "not stated" | _ -> "100 %") }

    /// §6.3: peaks, width 8 (Verlet and verlet4 2 with a momentum of width `Datasets.peaksMomentumWidth`), T = 5, α_θ = 5e-6.
    let peaks =
        { ellipses with
            Name = "peaks"
            Title = "peaks"
            Data = Datasets.peaks
            FinalTime = 5.0
            Options = TrainingOptions.peaks
            Width = (function Verlet | Verlet4 -> 2 | _ -> 8)
            MomentumWidth = Datasets.peaksMomentumWidth
            PaperAccuracy = (function Verlet -> "99.1 %" | _ -> "≈ 98.8 %") }

    /// The two-dimensional experiments in the paper's order.
    let all = [ ellipses; swissRoll; peaks ]

    /// The experiment of a command-line name (ellipses, swissroll, peaks), if there is one.
    let tryFind (name: string) : Experiment option = all |> List.tryFind (fun e -> e.Name = name)

    /// §6.4: six channels of 3×3 convolutions, T = 6, levels 4, 8, 16, `TrainingOptions.images`.
    let images =
        { Channels = 6
          FinalTime = 6.0
          Levels = [ 4; 8; 16 ]
          Propagators = threePropagators
          Options = TrainingOptions.images
          SplitCounts = fun count -> if count >= 60_000 then 50_000, 10_000 else count - count / 5, count / 5 }

    /// The network of an experiment's first level for a propagator: tanh, γ = 0, `depth` layers
    /// over the experiment's T, its width and momentum width.
    let network (e: Experiment) (propagator: Propagator) (depth: int) : Network =
        let n = e.Width propagator
        let square = { Network.defaults with width = n; depth = depth; finalTime = e.FinalTime }
        let withMomentum = { square with auxWidth = Some(e.MomentumWidth n) }
        match propagator with
        | ResNet -> Network.resnet square
        | AntisymmetricResNet -> Network.antisymmetric square
        | Leapfrog -> Network.leapfrog square
        | Verlet -> Network.verlet withMomentum
        | Verlet4 -> Network.verlet4 withMomentum
        | Custom scheme -> Network.custom scheme withMomentum

    /// The convolutional network of the image experiment for a propagator and images of
    /// height × width pixels: tanh, γ = 0, `depth` layers over its T, its channels.
    let imageNetwork (propagator: Propagator) (height: int) (width: int) (depth: int) : Network =
        let conv = Conv3x3(images.Channels, height, width)
        let op =
            match propagator with
            | AntisymmetricResNet -> Antisymmetric(conv, 0.0)
            | _ -> conv
        Network.create propagator Tanh op depth images.FinalTime false
