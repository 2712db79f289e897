/// The data CSV of SPEC §9: one example per line, features first and the integer class label
/// last, comma-separated in the invariant culture, with an optional header line.
namespace StableOde.Core

open System
open System.Globalization
open System.IO
open System.Text
open MathNet.Numerics.LinearAlgebra
open StableOde.Core.Kernels

/// Reading and writing labelled examples as CSV.
module DataFile =

    /// The largest class label a data file may hold.
    [<Literal>]
    let MaxLabel = 65535

    let private fail (src: string) (line: int) (column: int) (problem: string) : 'a =
        raise (InvalidDataException $"{src} line {line}, column {column}: {problem}")

    let private tryNumber (cell: string) : float voption =
        match Double.TryParse(cell.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture) with
        | true, v -> ValueSome v
        | _ -> ValueNone

    let private quote (cell: string) =
        let t = cell.Trim()
        "\"" + (if t.Length > 40 then t.Substring(0, 37) + "..." else t) + "\""

    let private feature src line column (cell: string) =
        if String.IsNullOrWhiteSpace cell then fail src line column "empty cell where a number is expected"
        match tryNumber cell with
        | ValueSome v when Double.IsFinite v -> v
        | ValueSome _ -> fail src line column $"{quote cell} is not a finite number"
        | ValueNone -> fail src line column $"{quote cell} is not a number"

    let private label src line column (cell: string) =
        match tryNumber cell with
        | ValueSome v when v >= 0.0 && v <= float MaxLabel && v = Math.Floor v -> int v
        | _ -> fail src line column $"{quote cell} is not a class label (an integer from 0 to {MaxLabel})"

    /// The example lines of CSV text: blank lines skipped, the header (if any) dropped, every
    /// line split into cells, all with the same number of columns. The first other line is a
    /// header when none of its cells is a number; a first line with some numeric and some
    /// non-numeric cells is an error naming its first non-numeric cell (SPEC §9).
    let private exampleLines (src: string) (text: string) : struct (int * string[])[] * int =
        if isNull text then invalidArg (nameof text) "the text must not be null"
        let lines = text.TrimStart('\uFEFF').Split('\n')
        let examples = ResizeArray<struct (int * string[])>()
        let mutable columns = 0
        let mutable columnsLine = 0
        for index in 0 .. lines.Length - 1 do
            let line = lines[index].TrimEnd('\r')
            if not (String.IsNullOrWhiteSpace line) then
                let number = index + 1
                let cells = line.Split(',')
                let first = columns = 0
                if first then
                    columns <- cells.Length
                    columnsLine <- number
                let isHeader =
                    first
                    && (let numeric = cells |> Array.map (fun c -> (tryNumber c).IsSome)
                        match Array.tryFindIndex not numeric with
                        | Some column when Array.exists id numeric ->
                            fail src number (column + 1) $"{quote cells[column]} is not a number (a header line has no numeric cell)"
                        | Some _ -> true
                        | None -> false)
                if not isHeader then
                    if cells.Length <> columns then
                        let plural = if columns = 1 then "" else "s"
                        fail src number (min cells.Length columns + 1) $"expected {columns} column{plural} like line {columnsLine}, got {cells.Length}"
                    examples.Add(struct (number, cells))
        if examples.Count = 0 then raise (InvalidDataException $"{src}: no examples (the file is empty or holds only a header)")
        examples.ToArray(), columns

    /// The features of the example lines: `width` cells of each line from the first, as an s×width matrix.
    let private features (src: string) (examples: struct (int * string[])[]) (width: int) : Matrix<float> =
        let s = examples.Length
        let values = Array.zeroCreate (s * width)
        examples
        |> Array.iteri (fun i (struct (number, cells)) ->
            for j in 0 .. width - 1 do
                values[j * s + i] <- feature src number (j + 1) cells[j])
        ofStorage s width values

    /// The labelled examples of the example lines: features, then the label in the last column.
    let private labelled (src: string) (examples: struct (int * string[])[]) (columns: int) : Dataset =
        if columns < 2 then
            let struct (number, _) = examples[0]
            fail src number 2 "expected at least one feature and a label, got 1 column"
        let x = features src examples (columns - 1)
        let labelArray = examples |> Array.map (fun (struct (number, cells)) -> label src number columns cells[columns - 1])
        let data: Dataset = { Features = x; Labels = labelArray; Classes = max 2 (Array.max labelArray + 1) }
        Dataset.validate data
        data

    /// Parses CSV text. `source` names the text (a file name) in error messages.
    ///
    /// Blank lines are ignored. The first other line is a header when none of its cells is a
    /// number. Every line has the same number of columns (at least two): finite features, then a
    /// label in 0…MaxLabel (written as an integer, "3" or "3.0"). The number of classes is the
    /// largest label + 1, at least 2. Anything else throws InvalidDataException naming the
    /// source, line and column; a text without examples throws InvalidDataException naming the source.
    let parse (source: string) (text: string) : Dataset =
        let src = if String.IsNullOrEmpty source then "data" else source
        let examples, columns = exampleLines src text
        labelled src examples columns

    /// The features of CSV text for a network of input width `width` (SPEC §9): every column when
    /// the text has exactly `width` columns (a file without labels), otherwise the columns before
    /// the label column of `parse` (whose labels are checked and dropped).
    let parseFeatures (width: int) (source: string) (text: string) : Matrix<float> =
        if width < 1 then invalidArg (nameof width) $"the input width must be at least 1, got {width}"
        let src = if String.IsNullOrEmpty source then "data" else source
        let examples, columns = exampleLines src text
        if columns = width then features src examples width else (labelled src examples columns).Features

    /// Reads a CSV file; error messages name the file.
    let read (path: string) : Dataset =
        if String.IsNullOrWhiteSpace path then invalidArg (nameof path) "the path must not be empty"
        parse (Path.GetFileName path) (File.ReadAllText path)

    /// Reads the features of a CSV file for a network of input width `width` (see `parseFeatures`).
    let readFeatures (width: int) (path: string) : Matrix<float> =
        if String.IsNullOrWhiteSpace path then invalidArg (nameof path) "the path must not be empty"
        parseFeatures width (Path.GetFileName path) (File.ReadAllText path)

    /// The data set as CSV: a header "x1,…,xn,label", then one example a line, numbers as the
    /// shortest text that reads back to the same double.
    let toCsv (data: Dataset) : string =
        Dataset.validate data
        let n = data.Features.ColumnCount
        let sb = StringBuilder()
        for j in 1 .. n do
            sb.Append('x').Append(j.ToString(CultureInfo.InvariantCulture)).Append(',') |> ignore
        sb.Append("label\n") |> ignore
        for i in 0 .. data.Labels.Length - 1 do
            for j in 0 .. n - 1 do
                sb.Append(data.Features[i, j].ToString("R", CultureInfo.InvariantCulture)).Append(',') |> ignore
            sb.Append(data.Labels[i].ToString(CultureInfo.InvariantCulture)).Append('\n') |> ignore
        sb.ToString()

    /// Writes a data set as CSV atomically (see `AtomicFile`).
    let write (path: string) (data: Dataset) : unit = AtomicFile.writeAllText path (toCsv data)
