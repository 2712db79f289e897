/// The model file of SPEC §9 ("stableode-model/1"), the gradient document of the `gradient`
/// command, and a file writer that never leaves a half-written file behind.
namespace StableOde.Core

open System
open System.Globalization
open System.IO
open System.Text
open System.Text.Json
open MathNet.Numerics.LinearAlgebra
open StableOde.Core.Kernels

/// Replacing a file in one step: afterwards it holds all of the new content or, on failure,
/// exactly what it held before.
module AtomicFile =

    /// Writes `path` through `writeTo`: the content goes to a temporary file in the same
    /// directory, is flushed to disk, and then replaces `path` by one rename. When anything
    /// fails the temporary file is removed, `path` is left as it was, and the exception propagates;
    /// a file-system error names `path`, never the temporary file.
    let write (path: string) (writeTo: Stream -> unit) : unit =
        if String.IsNullOrWhiteSpace path then invalidArg (nameof path) "the path must not be empty"
        if isNull (box writeTo) then invalidArg (nameof writeTo) "the writer must not be null"
        let full = Path.GetFullPath path
        let temp = Path.Combine(Path.GetDirectoryName full, "." + Path.GetFileName full + "." + Guid.NewGuid().ToString("N") + ".tmp")
        try
            using (new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None)) (fun stream ->
                writeTo stream
                stream.Flush true)
            File.Move(temp, full, true)
        with e ->
            if File.Exists temp then File.Delete temp
            let named () = e.Message.Replace(temp, path)
            match e with
            | :? UnauthorizedAccessException when e.Message.Contains temp -> raise (UnauthorizedAccessException(named (), e))
            | :? DirectoryNotFoundException when e.Message.Contains temp -> raise (DirectoryNotFoundException(named (), e))
            | :? IOException when e.Message.Contains temp -> raise (IOException(named (), e))
            | _ -> reraise ()

    /// Writes `text` to `path` as UTF-8 (no byte-order mark), atomically as `write`.
    let writeAllText (path: string) (text: string) : unit =
        if isNull text then invalidArg (nameof text) "the text must not be null"
        let bytes = UTF8Encoding(false).GetBytes text
        write path (fun stream -> stream.Write(bytes, 0, bytes.Length))

/// Reading and writing models as JSON ("stableode-model/1", SPEC §9).
///
/// Layout of a layer's parameters θ_j in "K": a dense operator's n×n (Verlet: n×m) matrix as
/// nested row-major arrays; a 3×3 convolution as [out][in][3][3], where K[o][i][a][b] is entry
/// (o, 9i + 3a + b) of θ_j. An antisymmetric or negative-semidefinite parametrisation stores the
/// parameters of its base operator. Numbers are written as the shortest text that reads back to
/// the same double, so a write followed by a read is bit-exact.
module ModelFile =

    /// The value of the "format" field.
    [<Literal>]
    let Format = "stableode-model/1"

    // ---- writing ------------------------------------------------------------------------

    /// A finite number as the shortest invariant-culture text that reads back to the same
    /// double; JSON `null` for NaN and infinities.
    let formatNumber (x: float) : string =
        if Double.IsFinite x then x.ToString("R", CultureInfo.InvariantCulture) else "null"

    let private join (parts: seq<string>) = "[" + String.Join(",", parts) + "]"

    let private quote (s: string) = "\"" + JsonEncodedText.Encode(s).ToString() + "\""

    /// A vector as one JSON array.
    let vectorJson (v: Vector<float>) : string = join (Seq.map formatNumber v)

    let private rowJson (m: Matrix<float>) (i: int) = join (Seq.init m.ColumnCount (fun j -> formatNumber m[i, j]))

    /// A matrix as nested row-major JSON arrays.
    let matrixJson (m: Matrix<float>) : string = join (Seq.init m.RowCount (rowJson m))

    let private baseOperator (op: Operator) =
        match op with
        | Antisymmetric(b, _)
        | NegativeSemidefinite b -> b
        | b -> b

    /// One layer's parameter matrix θ_j (or its gradient) in the layout of "K": nested row-major
    /// arrays for a dense operator, [out][in][3][3] for a convolution.
    let weightsJson (op: Operator) (theta: Matrix<float>) : string =
        match baseOperator op with
        | Conv3x3(c, _, _) ->
            let taps o i a = join (Seq.init 3 (fun b -> formatNumber theta[o, 9 * i + 3 * a + b]))
            join (Seq.init c (fun o -> join (Seq.init c (fun i -> join (Seq.init 3 (taps o i))))))
        | _ -> matrixJson theta

    /// A JSON object with one member a line; the values are JSON text.
    let private objectText (indent: string) (members: (string * string) list) =
        let inner = indent + "  "
        "{\n" + String.Join(",\n", members |> List.map (fun (name, value) -> inner + quote name + ": " + value)) + "\n" + indent + "}"

    /// A JSON array with one element a line; the elements are JSON text.
    let private linesArray (indent: string) (items: string[]) =
        if items.Length = 0 then "[]"
        else
            let inner = indent + "  "
            "[\n" + String.Join(",\n", items |> Array.map (fun s -> inner + s)) + "\n" + indent + "]"

    let private matrixLines (indent: string) (m: Matrix<float>) = linesArray indent (Array.init m.RowCount (rowJson m))

    /// One stage as the JSON object of SPEC §9.
    let private stageJson (stage: Stage) =
        let members =
            [ yield "\"stage\": " + quote (Scheme.kindName stage.Kind)
              yield "\"target\": " + quote (Scheme.variableName stage.Target)
              yield "\"source\": " + quote (Scheme.variableName stage.Source)
              match stage.Bias with
              | Some b -> yield "\"bias\": " + quote (Scheme.biasName b)
              | None -> ()
              yield "\"a\": " + formatNumber stage.A
              match stage.AFirst with
              | Some f -> yield "\"aFirst\": " + formatNumber f
              | None -> () ]
        "{" + String.Join(", ", members) + "}"

    /// A stage list as the JSON array of SPEC §9 ("scheme"), one stage a line.
    let schemeToJson (scheme: Scheme) : string =
        linesArray "" (scheme.Stages |> List.map stageJson |> List.toArray)

    /// The model as "stableode-model/1" JSON. Throws ArgumentException for an invalid model.
    let toJson (model: Model) : string =
        Model.validate model
        let net = model.Network
        let op = net.Operator
        let scheme = Network.scheme net
        let operatorJson =
            match baseOperator op with
            | Conv3x3(c, h, w) ->
                objectText "  " [ "kind", quote "conv3x3"; "channels", string c; "height", string h; "width", string w ]
            | _ -> objectText "  " [ "kind", quote "dense" ]
        let cl = model.Classifier
        let classifierJson =
            objectText "  " [ "hypothesis", quote (Classifier.hypothesisName cl.Hypothesis)
                              "W", matrixLines "    " cl.W
                              "mu", vectorJson cl.mu ]
        let members =
            [ yield "format", quote Format
              yield "propagator", quote (Network.propagatorName net.Propagator)
              match net.Propagator with
              | Custom s -> yield "scheme", linesArray "  " (s.Stages |> List.map stageJson |> List.toArray)
              | _ -> ()
              yield "activation", quote (Activation.name net.Activation)
              yield "finalTime", formatNumber net.FinalTime
              yield "layers", string net.Depth
              match op with
              | Antisymmetric(_, gamma) -> yield "gamma", formatNumber gamma
              | _ -> ()
              yield "width", string (Network.width net)
              if Scheme.usesZ scheme then yield "auxWidth", string (Network.auxWidth net)
              match op with
              | NegativeSemidefinite _ -> yield "parametrisation", quote "negativeSemidefinite"
              | Antisymmetric _ when net.Propagator <> AntisymmetricResNet -> yield "parametrisation", quote "antisymmetric"
              | _ -> ()
              yield "operator", operatorJson
              yield "K", linesArray "  " (Array.map (weightsJson op) model.Parameters.K)
              yield "b", linesArray "  " (Array.map vectorJson model.Parameters.b)
              if Scheme.usesC scheme then yield "c", linesArray "  " (Array.map vectorJson model.Parameters.c)
              yield "classifier", classifierJson ]
        objectText "" members + "\n"

    /// The document the `gradient` command prints (SPEC §9): "loss", "YN", and the gradient of
    /// the loss with respect to every parameter and the input — "gradK" (laid out as "K"),
    /// "gradB", "gradC" (when a stage names c), "gradW", "gradMu", "gradY0" — each shaped like what it
    /// differentiates. Non-finite numbers are written as null.
    let gradientToJson (model: Model) (gradient: ModelGradient) : string =
        let op = model.Network.Operator
        let g = gradient.GradTheta
        let members =
            [ yield "loss", formatNumber gradient.Loss
              yield "YN", matrixLines "  " gradient.YN
              yield "gradK", linesArray "  " (Array.map (weightsJson op) g.K)
              yield "gradB", linesArray "  " (Array.map vectorJson g.b)
              if Network.usesC model.Network then yield "gradC", linesArray "  " (Array.map vectorJson g.c)
              yield "gradW", matrixLines "  " gradient.GradW
              yield "gradMu", vectorJson gradient.GradMu
              yield "gradY0", matrixLines "  " gradient.GradY0 ]
        objectText "" members + "\n"

    // ---- reading ------------------------------------------------------------------------

    let private fail (src: string) (path: string) (problem: string) : 'a =
        raise (InvalidDataException $"{src}: field \"{path}\" {problem}")

    /// A short description of a JSON value for error messages.
    let private show (e: JsonElement) =
        match e.ValueKind with
        | JsonValueKind.Object -> "an object"
        | JsonValueKind.Array -> $"an array of {e.GetArrayLength()} entries"
        | _ ->
            let raw = e.GetRawText()
            if raw.Length > 40 then raw.Substring(0, 37) + "..." else raw

    let private child (path: string) (name: string) = if path = "" then name else path + "." + name

    let private item (path: string) (i: int) = $"{path}[{i}]"

    let private tryField (e: JsonElement) (name: string) : JsonElement option =
        match e.TryGetProperty(name: string) with
        | true, v -> Some v
        | _ -> None

    let private required src (e: JsonElement) (path: string) (name: string) =
        match tryField e name with
        | Some v -> v
        | None -> fail src (child path name) "is missing"

    let private jsonObject src path (e: JsonElement) =
        if e.ValueKind <> JsonValueKind.Object then fail src path $"must be an object, got {show e}"
        e

    let private jsonArray src path (e: JsonElement) : JsonElement[] =
        if e.ValueKind <> JsonValueKind.Array then fail src path $"must be an array, got {show e}"
        [| for x in e.EnumerateArray() -> x |]

    let private text src path (e: JsonElement) : string =
        if e.ValueKind <> JsonValueKind.String then fail src path $"must be a string, got {show e}"
        e.GetString()

    let private tryNumber (e: JsonElement) : float voption =
        if e.ValueKind <> JsonValueKind.Number then ValueNone
        else
            match e.TryGetDouble() with
            | true, v when Double.IsFinite v -> ValueSome v
            | _ -> ValueNone

    let private number src path (e: JsonElement) : float =
        match tryNumber e with
        | ValueSome v -> v
        | ValueNone -> fail src path $"must be a finite number, got {show e}"

    let private positiveInteger src path (e: JsonElement) : int =
        match tryNumber e with
        | ValueSome v when v >= 1.0 && v <= float Int32.MaxValue && v = Math.Floor v -> int v
        | _ -> fail src path $"must be a positive integer, got {show e}"

    /// A rows×cols matrix from nested row-major arrays.
    let private matrix src path (rows: int) (cols: int) (e: JsonElement) : Matrix<float> =
        let entries = jsonArray src path e
        if entries.Length <> rows then fail src path $"must have {rows} rows, got {entries.Length}"
        let m = zeros rows cols
        entries
        |> Array.iteri (fun i row ->
            let rowPath = item path i
            let values = jsonArray src rowPath row
            if values.Length <> cols then fail src rowPath $"must have {cols} entries, got {values.Length}"
            values |> Array.iteri (fun j x -> m[i, j] <- number src (item rowPath j) x))
        m

    /// A convolution's c × 9c parameter matrix from [out][in][3][3]: K[o][i][a][b] ↔ (o, 9i + 3a + b).
    let private kernel src path (c: int) (e: JsonElement) : Matrix<float> =
        let theta = zeros c (9 * c)
        let outputs = jsonArray src path e
        if outputs.Length <> c then fail src path $"must have {c} output channels, got {outputs.Length}"
        outputs
        |> Array.iteri (fun o oe ->
            let outPath = item path o
            let inputs = jsonArray src outPath oe
            if inputs.Length <> c then fail src outPath $"must have {c} input channels, got {inputs.Length}"
            inputs
            |> Array.iteri (fun i ie ->
                let taps = matrix src (item outPath i) 3 3 ie
                for a in 0 .. 2 do
                    for b in 0 .. 2 do
                        theta[o, 9 * i + 3 * a + b] <- taps[a, b]))
        theta

    let private vector src path (e: JsonElement) : float[] =
        jsonArray src path e |> Array.mapi (fun i x -> number src (item path i) x)

    /// One bias per layer, all of the same length, which must divide the width it is added to.
    let private biases src (name: string) (depth: int) (target: int) (e: JsonElement) : Vector<float>[] =
        let entries = jsonArray src name e
        if entries.Length <> depth then fail src name $"must have {depth} entries (one per layer), got {entries.Length}"
        let values = entries |> Array.mapi (fun j x -> vector src (item name j) x)
        let length = values[0].Length
        if length < 1 || target % length <> 0 then
            fail src (item name 0) $"has length {length}; a bias has one entry per feature ({target}), one per channel, or 1 when tied"
        values
        |> Array.iteri (fun j v ->
            if v.Length <> length then fail src (item name j) $"must have length {length} like \"{name}[0]\", got {v.Length}")
        Array.map vofStorage values

    /// The columns of a negative-semidefinite dense base operator B (K = −B Bᵀ), read off "K[0]".
    let private baseColumns src (k: JsonElement[]) =
        let rows = jsonArray src "K[0]" k[0]
        if rows.Length = 0 then fail src "K[0]" "must not be empty"
        let cols = (jsonArray src "K[0][0]" rows[0]).Length
        if cols = 0 then fail src "K[0][0]" "must not be empty"
        cols

    let private stripParameter (e: ArgumentException) =
        if isNull e.ParamName then e.Message else e.Message.Replace($" (Parameter '{e.ParamName}')", "")

    /// A stage list from its JSON array (SPEC §9); errors name the stage and field
    /// (`scheme[i].target`).
    let private stages src path (e: JsonElement) : Scheme =
        let entries = jsonArray src path e
        if entries.Length = 0 then fail src path "must list at least one stage"
        let stage i (se: JsonElement) =
            let at = item path i
            let o = jsonObject src at se
            let get name = required src o at name
            let word name (parse: string -> 'a option) (expected: string) =
                let t = text src (child at name) (get name)
                match parse t with
                | Some v -> v
                | None -> fail src (child at name) $"must be {expected}, got \"{t}\""
            let kind = word "stage" Scheme.tryParseKind "\"kick\" or \"drift\""
            let variable name = word name Scheme.tryParseVariable "\"Y\" or \"Z\""
            let target, source = variable "target", variable "source"
            let bias =
                match kind, tryField o "bias" with
                | Kick, _ -> Some(word "bias" Scheme.tryParseBias "\"b\" or \"c\"")
                | Drift, None -> None
                | Drift, Some _ -> fail src (child at "bias") "must be absent: a drift adds no bias"
            { Kind = kind; Target = target; Source = source; Bias = bias
              A = number src (child at "a") (get "a")
              AFirst = tryField o "aFirst" |> Option.map (number src (child at "aFirst")) }
        Scheme.ofStages (entries |> Array.mapi stage |> Array.toList)

    let private options = JsonDocumentOptions(CommentHandling = JsonCommentHandling.Skip, MaxDepth = 64)

    let private parse (src: string) (root: JsonElement) : Model =
        if root.ValueKind <> JsonValueKind.Object then
            raise (InvalidDataException $"{src}: a model file holds one JSON object, got {show root}")
        let field name = required src root "" name
        let format = text src "format" (field "format")
        if format <> Format then fail src "format" $"must be \"{Format}\", got \"{format}\""
        let propagatorName = text src "propagator" (field "propagator")
        let propagator =
            match Network.tryParsePropagator propagatorName with
            | Some p -> p
            | None when propagatorName.Trim().ToLowerInvariant() = "custom" -> Custom(stages src "scheme" (field "scheme"))
            | None ->
                fail src "propagator" $"must be \"resnet\", \"antisymmetric\", \"leapfrog\", \"verlet\", \"verlet4\" or \"custom\", got \"{propagatorName}\""
        let scheme = Scheme.ofPropagator propagator
        let activationName = text src "activation" (field "activation")
        let activation =
            match Activation.tryParse activationName with
            | Some a -> a
            | None -> fail src "activation" $"must be \"tanh\", \"relu\" or \"identity\", got \"{activationName}\""
        let finalTime = number src "finalTime" (field "finalTime")
        if finalTime <= 0.0 then fail src "finalTime" $"must be positive, got {formatNumber finalTime}"
        let depth = positiveInteger src "layers" (field "layers")
        let width = positiveInteger src "width" (field "width")
        let operatorElement = jsonObject src "operator" (field "operator")
        let kind = text src "operator.kind" (required src operatorElement "operator" "kind")
        let k = jsonArray src "K" (field "K")
        if k.Length <> depth then fail src "layers" $"({depth}) does not match the {k.Length} entries of \"K\""
        let parametrisation = tryField root "parametrisation" |> Option.map (text src "parametrisation")
        let gamma () =
            match tryField root "gamma" with
            | None -> 0.0
            | Some e ->
                let g = number src "gamma" e
                if g < 0.0 then fail src "gamma" $"must be ≥ 0, got {formatNumber g}"
                g
        let wrap =
            match propagator, parametrisation with
            | AntisymmetricResNet, (None | Some "antisymmetric") -> fun b -> Antisymmetric(b, gamma ())
            | AntisymmetricResNet, Some p ->
                fail src "parametrisation" $"must be \"antisymmetric\" or absent for the antisymmetric propagator, got \"{p}\""
            | _, None -> id
            | _, Some "antisymmetric" -> fun b -> Antisymmetric(b, gamma ())
            | _, Some "negativeSemidefinite" -> NegativeSemidefinite
            | _, Some p -> fail src "parametrisation" $"must be \"antisymmetric\" or \"negativeSemidefinite\", got \"{p}\""
        let auxWidth = if Scheme.usesZ scheme && propagator <> Leapfrog then Some(positiveInteger src "auxWidth" (field "auxWidth")) else None
        let baseOp =
            match kind with
            | "dense" ->
                let cols =
                    match auxWidth, parametrisation with
                    | _, Some "negativeSemidefinite" -> baseColumns src k
                    | Some m, None -> m
                    | _ -> width
                Dense(width, cols)
            | "conv3x3" ->
                let dimension name = positiveInteger src ("operator." + name) (required src operatorElement "operator" name)
                let c, h, w = dimension "channels", dimension "height", dimension "width"
                let features = int64 c * int64 h * int64 w
                if features <> int64 width && width <> c then
                    fail src "width" $"({width}) is neither the convolution's channels ({c}) nor channels × height × width = {c}×{h}×{w} = {features}"
                Conv3x3(c, h, w)
            | other -> fail src "operator.kind" $"must be \"dense\" or \"conv3x3\", got \"{other}\""
        let op = wrap baseOp
        match auxWidth, baseOp with
        | Some m, Conv3x3(c, _, _) when m <> Operator.outWidth op && m <> c ->
            fail src "auxWidth" $"({m}) is neither the convolution's channels ({c}) nor its output width {Operator.outWidth op}"
        | Some m, Dense _ when m <> Operator.outWidth op ->
            fail src "auxWidth" $"({m}) does not match the operator's output width {Operator.outWidth op}"
        | _ -> ()
        let rows, cols = Operator.parameterShape op
        let weights =
            k
            |> Array.mapi (fun j e ->
                match baseOp with
                | Conv3x3(c, _, _) -> kernel src (item "K" j) c e
                | _ -> matrix src (item "K" j) rows cols e)
        let withC = Scheme.usesC scheme
        let b = biases src "b" depth (Operator.inWidth op) (field "b")
        let c = if withC then biases src "c" depth (Operator.outWidth op) (field "c") else [||]
        let classifierElement = jsonObject src "classifier" (field "classifier")
        let classifierField name = required src classifierElement "classifier" name
        let hypothesisName = text src "classifier.hypothesis" (classifierField "hypothesis")
        let hypothesis =
            match Classifier.tryParseHypothesis hypothesisName with
            | Some h -> h
            | None -> fail src "classifier.hypothesis" $"must be \"softmax\", \"logistic\" or \"leastsquares\", got \"{hypothesisName}\""
        let wElement = classifierField "W"
        let wRows = jsonArray src "classifier.W" wElement
        if wRows.Length <> width then fail src "classifier.W" $"must have {width} rows (the network's width), got {wRows.Length}"
        let classes = (jsonArray src "classifier.W[0]" wRows[0]).Length
        if hypothesis = Logistic && classes <> 1 then
            fail src "classifier.W" $"must have 1 column for logistic regression, got {classes}"
        if hypothesis <> Logistic && classes < 2 then
            fail src "classifier.W" $"must have at least 2 columns (one per class), got {classes}"
        let w = matrix src "classifier.W" width classes wElement
        let mu = vector src "classifier.mu" (classifierField "mu")
        if mu.Length <> classes then
            fail src "classifier.mu" $"must have {classes} entries (the columns of \"classifier.W\"), got {mu.Length}"
        let net: Network =
            { Propagator = propagator
              Activation = activation
              Operator = op
              Depth = depth
              FinalTime = finalTime
              BiasWidth = b[0].Count
              AuxBiasWidth = (if withC then c[0].Count else 0) }
        let model: Model =
            { Network = net
              Parameters = { K = weights; b = b; c = c }
              Classifier = { Hypothesis = hypothesis; W = w; mu = vofStorage mu } }
        try
            Model.validate model
        with :? ArgumentException as e ->
            raise (InvalidDataException($"{src}: {stripParameter e}", e))
        model

    /// Parses JSON text and reads its root element with `read`; a syntax error throws
    /// InvalidDataException naming the source, the line and the byte.
    let private parseWith (read: string -> JsonElement -> 'a) (fallback: string) (source: string) (text: string) : 'a =
        if isNull text then invalidArg (nameof text) "the text must not be null"
        let src = if String.IsNullOrEmpty source then fallback else source
        let document =
            try
                JsonDocument.Parse(text, options)
            with :? JsonException as e ->
                let line = if e.LineNumber.HasValue then e.LineNumber.Value + 1L else 1L
                let position = if e.BytePositionInLine.HasValue then e.BytePositionInLine.Value + 1L else 1L
                let cut = e.Message.IndexOf(" LineNumber:", StringComparison.Ordinal)
                let reason = (if cut >= 0 then e.Message.Substring(0, cut) else e.Message).Trim()
                raise (InvalidDataException($"{src}: invalid JSON at line {line}, byte {position}: {reason}", e))
        use d = document
        read src d.RootElement

    /// Reads a model from "stableode-model/1" JSON text. `source` names the text (a file name)
    /// in error messages. Unknown fields and comments are ignored. Malformed JSON, a missing field, a wrong
    /// shape, an inconsistent size or a non-finite number throws InvalidDataException naming
    /// the source and the field (or the line and byte of a JSON syntax error).
    let ofJson (source: string) (text: string) : Model = parseWith parse "model" source text

    /// Reads a stage list (SPEC §1b) from JSON text: an array of stages as in a model's
    /// "scheme", or an object holding such a "scheme". Errors (InvalidDataException) name the
    /// source, the stage and the field.
    let schemeOfJson (source: string) (text: string) : Scheme =
        let read src (root: JsonElement) =
            if root.ValueKind = JsonValueKind.Object then stages src "scheme" (required src root "" "scheme")
            else stages src "scheme" root
        parseWith read "scheme" source text

    /// Reads a file with a text reader that names its source; error messages name the file.
    let private readFile (ofText: string -> string -> 'a) (path: string) : 'a =
        if String.IsNullOrWhiteSpace path then invalidArg (nameof path) "the path must not be empty"
        ofText (Path.GetFileName path) (File.ReadAllText path)

    /// Reads a stage list from a file (see `schemeOfJson`); error messages name the file.
    let readScheme (path: string) : Scheme = readFile schemeOfJson path

    /// Reads a model file; error messages name the file.
    let read (path: string) : Model = readFile ofJson path

    /// Writes a model file atomically (see `AtomicFile`).
    let write (path: string) (model: Model) : unit = AtomicFile.writeAllText path (toJson model)
