/// Checkpoints of multilevel training (runs that survive a kill): a model file of the best model
/// so far that also records where the run stands, so that it can be continued.
namespace StableOde.Core

open System
open System.Diagnostics
open System.IO
open System.Text
open System.Text.Json

/// Where a multilevel run stands: the best model so far and the levels finished.
type Checkpoint =
    { /// The best model so far (what the file holds as a model, for `predict` and friends).
      Best: Model
      /// The levels finished, in order of depth; a run continued after them ends where the
      /// uninterrupted run ends (see `Training.multilevelRun`).
      Levels: LevelResult list
      /// The settings that recreate the run's options and data, as the caller wrote them (the
      /// command line's arguments). The seed among them is the whole random state: every level
      /// draws its random choices from the seed and its depth alone.
      Run: string list }

/// The words for how training stopped, the same in every output (SPEC §9: "status").
module StatusWord =

    /// The status word: completed, lineSearchFailed, diverged or cancelled. A level that ran all its
    /// iterations (or met a tolerance) completed.
    let name (status: OptimisationStatus) : string =
        match status with
        | Converged | MaxIterations -> "completed"
        | LineSearchFailed -> "lineSearchFailed"
        | Diverged -> "diverged"
        | Cancelled -> "cancelled"

    /// The status a word names (`name`'s inverse, with MaxIterations for completed).
    let parse (word: string) : OptimisationStatus option =
        match word with
        | "completed" -> Some MaxIterations
        | "lineSearchFailed" -> Some LineSearchFailed
        | "diverged" -> Some Diverged
        | "cancelled" -> Some Cancelled
        | _ -> None

/// Writing and reading checkpoints, and multilevel training that writes them.
module Checkpoint =

    /// The value of the checkpoint's "format" field.
    [<Literal>]
    let Format = "stableode-checkpoint/1"

    /// How often, at least, a running level rewrites the checkpoint with its best model so far.
    let interval = TimeSpan.FromMinutes 5.0

    let private number (json: Utf8JsonWriter) (name: string) (x: float) =
        if Double.IsFinite x then json.WriteNumber(name, x) else json.WriteNull(name)

    /// The checkpoint as JSON: the "stableode-model/1" document of the best model with one more
    /// field, "checkpoint" (format, run, and every finished level with its history, best and
    /// final models), which model readers ignore. Numbers read back bit-exact.
    let toJson (c: Checkpoint) : string =
        use buffer = new MemoryStream()
        using (new Utf8JsonWriter(buffer, JsonWriterOptions(Indented = false))) (fun json ->
            json.WriteStartObject()
            use model = JsonDocument.Parse(ModelFile.toJson c.Best)
            for property in model.RootElement.EnumerateObject() do
                property.WriteTo json
            json.WriteStartObject "checkpoint"
            json.WriteString("format", Format)
            json.WriteStartArray "run"
            for argument in c.Run do
                json.WriteStringValue argument
            json.WriteEndArray()
            json.WriteStartArray "levels"
            for level in c.Levels do
                json.WriteStartObject()
                json.WriteNumber("depth", level.Depth)
                json.WriteString("status", StatusWord.name level.Status)
                number json "initialValidationAccuracy" level.InitialValidationAccuracy
                number json "bestValidationAccuracy" level.BestValidationAccuracy
                json.WriteNumber("bestIteration", level.BestIteration)
                number json "trainingAccuracy" level.TrainingAccuracy
                number json "seconds" level.Seconds
                json.WriteStartArray "history"
                for i in level.History do
                    json.WriteStartObject()
                    json.WriteNumber("iteration", i.Iteration)
                    number json "objective" i.Objective
                    number json "trainingAccuracy" i.TrainingAccuracy
                    number json "validationAccuracy" i.ValidationAccuracy
                    json.WriteNumber("classificationPcgIterations", i.ClassificationPcgIterations)
                    json.WriteNumber("propagationPcgIterations", i.PropagationPcgIterations)
                    number json "stepLength" i.StepLength
                    number json "damping" i.Damping
                    number json "seconds" i.Seconds
                    json.WriteEndObject()
                json.WriteEndArray()
                json.WritePropertyName "best"
                json.WriteRawValue(ModelFile.toJson level.Best)
                json.WritePropertyName "final"
                json.WriteRawValue(ModelFile.toJson level.Final)
                json.WriteEndObject()
            json.WriteEndArray()
            json.WriteEndObject()
            json.WriteEndObject())
        Encoding.UTF8.GetString(buffer.ToArray()) + "\n"

    /// Reads a checkpoint from JSON text; `source` names it in errors. A model file without a
    /// "checkpoint" field, another format or a malformed field throws InvalidDataException naming
    /// the source and the field.
    let ofJson (source: string) (text: string) : Checkpoint =
        let src = if String.IsNullOrEmpty source then "checkpoint" else source
        let best = ModelFile.ofJson src text
        let fail (field: string) (problem: string) : 'a = raise (InvalidDataException $"{src}: checkpoint field \"{field}\" {problem}")
        use document = JsonDocument.Parse(text, JsonDocumentOptions(CommentHandling = JsonCommentHandling.Skip))
        let root = document.RootElement
        let checkpoint =
            match root.TryGetProperty "checkpoint" with
            | true, c when c.ValueKind = JsonValueKind.Object -> c
            | _ -> raise (InvalidDataException $"{src}: a model file but not a checkpoint (no \"checkpoint\" field); train --resume needs the --model-out file of a run")
        let field (e: JsonElement) (name: string) =
            match e.TryGetProperty name with
            | true, v -> v
            | _ -> fail name "is missing"
        let float (e: JsonElement) (name: string) =
            let v = field e name
            match v.ValueKind with
            | JsonValueKind.Null -> nan
            | JsonValueKind.Number -> v.GetDouble()
            | _ -> fail name "is not a number"
        let int (e: JsonElement) (name: string) =
            match (field e name).TryGetInt32() with
            | true, v -> v
            | _ -> fail name "is not an integer"
        let array (e: JsonElement) (name: string) =
            let v = field e name
            if v.ValueKind <> JsonValueKind.Array then fail name "is not an array"
            [ for x in v.EnumerateArray() -> x ]
        if (field checkpoint "format").ValueKind <> JsonValueKind.String || (field checkpoint "format").GetString() <> Format then
            fail "format" $"is not \"{Format}\""
        let run =
            array checkpoint "run"
            |> List.map (fun a -> if a.ValueKind = JsonValueKind.String then a.GetString() else fail "run" "holds a non-string")
        let level (l: JsonElement) : LevelResult =
            let word = field l "status"
            let status =
                match (if word.ValueKind = JsonValueKind.String then StatusWord.parse (word.GetString()) else None) with
                | Some s -> s
                | None -> fail "status" $"is {word.GetRawText()}, not \"completed\", \"lineSearchFailed\", \"diverged\" or \"cancelled\""
            let history =
                array l "history"
                |> List.map (fun i ->
                    { Iteration = int i "iteration"
                      Objective = float i "objective"
                      TrainingAccuracy = float i "trainingAccuracy"
                      ValidationAccuracy = float i "validationAccuracy"
                      ClassificationPcgIterations = int i "classificationPcgIterations"
                      PropagationPcgIterations = int i "propagationPcgIterations"
                      StepLength = float i "stepLength"
                      Damping = float i "damping"
                      Seconds = float i "seconds" })
            let depth = int l "depth"
            let model name =
                let m = ModelFile.ofJson $"{src} (level {depth}, {name})" ((field l name).GetRawText())
                if m.Network.Depth <> depth then fail name $"has {m.Network.Depth} layers at the level of {depth}"
                m
            { Depth = depth
              Status = status
              History = history
              InitialValidationAccuracy = float l "initialValidationAccuracy"
              BestValidationAccuracy = float l "bestValidationAccuracy"
              BestIteration = int l "bestIteration"
              TrainingAccuracy = float l "trainingAccuracy"
              Seconds = float l "seconds"
              Best = model "best"
              Final = model "final" }
        let levels = array checkpoint "levels" |> List.map level
        levels
        |> List.pairwise
        |> List.iter (fun (a, b) -> if b.Depth <> 2 * a.Depth then fail "levels" $"go from {a.Depth} to {b.Depth} layers, not doubling")
        { Best = best; Levels = levels; Run = run }

    /// Reads a checkpoint file; errors name the file.
    let read (path: string) : Checkpoint =
        if String.IsNullOrWhiteSpace path then invalidArg (nameof path) "the path must not be empty"
        ofJson (Path.GetFileName path) (File.ReadAllText path)

    /// Writes a checkpoint atomically (see `AtomicFile`): a kill at any moment leaves the previous
    /// checkpoint or this one, never a part.
    let write (path: string) (c: Checkpoint) : unit = AtomicFile.writeAllText path (toJson c)

    /// `Training.multilevelRun` that keeps a checkpoint at `path`: written before the first
    /// level (the start's best model), after every level, and during a level whenever `every` has
    /// passed since the last write (then with the level's best model so far, if better). The
    /// checkpoint's levels are the finished ones: a cancelled level is left out, so a continued run
    /// trains it again from its start. The progress callback of `control` is still called. With
    /// several ranks, rank 0 alone writes.
    let multilevel (path: string) (run: string list) (every: TimeSpan) (options: TrainingOptions) (control: TrainingControl) (start: MultilevelStart) (split: Split) : TrainingResult =
        if String.IsNullOrWhiteSpace path then invalidArg (nameof path) "the path must not be empty"
        if every <= TimeSpan.Zero then invalidArg (nameof every) $"the interval must be positive, got {every}"
        if start = After [] then invalidArg (nameof start) "a run continued after its finished levels needs at least one level"
        let finished (levels: LevelResult list) = levels |> List.filter (fun l -> l.Status <> Cancelled)
        let bestOf (levels: LevelResult list) =
            levels |> List.fold (fun (b: LevelResult option) l -> match b with Some b when b.BestValidationAccuracy >= l.BestValidationAccuracy -> Some b | _ -> Some l) None
        let levels0, best0 =
            match start with
            | From model -> [], (Double.NegativeInfinity, model)
            | After trained ->
                let b = (bestOf trained).Value
                finished trained, (b.BestValidationAccuracy, b.Best)
        let levels = ref levels0
        let best = ref best0
        let consider (accuracy: float) (model: Model) =
            if accuracy > fst best.Value then best.Value <- (accuracy, model)
        let clock = Stopwatch.StartNew()
        let save () =
            if control.Ranks.Rank = 0 then write path { Best = snd best.Value; Levels = levels.Value; Run = run }
            clock.Restart()
        save ()
        let progress (p: TrainingProgress) =
            if clock.Elapsed >= every then
                consider p.BestValidationAccuracy p.Best
                save ()
            control.Progress |> Option.iter (fun report -> report p)
        let onLevel (all: LevelResult list) =
            let b = (bestOf all).Value
            levels.Value <- finished all
            consider b.BestValidationAccuracy b.Best
            save ()
        Training.multilevelRun options { control with Progress = Some progress } onLevel start split
