/// Image data (SPEC §7, paper §6.4): the IDX files of MNIST and Fashion-MNIST, gzip or raw, read
/// with every header field checked; images become rows of features, column = row·W + col.
namespace StableOde.Core

open System
open System.IO
open System.IO.Compression
open MathNet.Numerics.LinearAlgebra

/// An IDX array of unsigned bytes: its dimensions and its data in row-major order.
type IdxArray =
    { Dimensions: int[]
      Data: byte[] }

/// Labelled images: one image a row of the data set (pixel row·Width + col), 10 classes.
type ImageSet =
    { /// The images as features scaled to [0, 1], and their labels.
      Data: Dataset
      /// The image height in pixels.
      Height: int
      /// The image width in pixels.
      Width: int }

/// Reading IDX files and turning them into data sets.
module Idx =

    let private fail (source: string) (message: string) : 'a = raise (InvalidDataException $"{source}: {message}")

    let private gzipMagic (bytes: byte[]) = bytes.Length >= 2 && bytes[0] = 0x1fuy && bytes[1] = 0x8buy

    /// Decompresses gzip data, checking the trailer's length field (the uncompressed size modulo
    /// 2³²), because a truncated stream otherwise decompresses silently to a prefix.
    let private gunzip (source: string) (bytes: byte[]) =
        let data =
            try
                use input = new GZipStream(new MemoryStream(bytes), CompressionMode.Decompress)
                use output = new MemoryStream()
                input.CopyTo output
                output.ToArray()
            with
            | :? InvalidDataException as e -> fail source $"corrupt gzip data ({e.Message})"
            | :? EndOfStreamException -> fail source "truncated gzip data"
        let n = bytes.Length
        let size = uint32 bytes[n - 4] ||| (uint32 bytes[n - 3] <<< 8) ||| (uint32 bytes[n - 2] <<< 16) ||| (uint32 bytes[n - 1] <<< 24)
        if n < 18 || size <> uint32 data.Length then fail source "truncated gzip data"
        data

    /// The magic number of an IDX file of unsigned bytes with `rank` dimensions (0x0801 labels, 0x0803 images).
    let private magicOf (rank: int) = 0x0800 + rank

    let private parseWith (expected: (string * int) option) (source: string) (bytes: byte[]) : IdxArray =
        if isNull bytes then invalidArg (nameof bytes) "bytes must not be null"
        let raw = if gzipMagic bytes then gunzip source bytes else bytes
        if raw.Length < 4 then fail source $"too short for an IDX header ({raw.Length} bytes)"
        let magic = (int raw[0] <<< 24) ||| (int raw[1] <<< 16) ||| (int raw[2] <<< 8) ||| int raw[3]
        match expected with
        | Some (kind, rank) when magic <> magicOf rank ->
            let dimensions = if rank = 1 then "1 dimension" else $"{rank} dimensions"
            fail source $"expected an IDX {kind} file (magic number 0x{magicOf rank:x8}: unsigned bytes, {dimensions}), got magic number 0x{magic:x8}"
        | _ -> ()
        if raw[0] <> 0uy || raw[1] <> 0uy then fail source $"not an IDX file (magic number {raw[0]:x2}{raw[1]:x2}{raw[2]:x2}{raw[3]:x2})"
        if raw[2] <> 0x08uy then fail source $"element type 0x{raw[2]:x2} is not unsigned bytes (0x08)"
        let rank = int raw[3]
        if rank < 1 then fail source "an IDX array needs at least one dimension"
        if raw.Length < 4 + 4 * rank then fail source $"truncated header: {rank} dimensions need {4 + 4 * rank} bytes, the file has {raw.Length}"
        let dims =
            Array.init rank (fun i ->
                let d = (int raw[4 + 4 * i] <<< 24) ||| (int raw[5 + 4 * i] <<< 16) ||| (int raw[6 + 4 * i] <<< 8) ||| int raw[7 + 4 * i]
                if d < 0 then fail source $"dimension {i} is negative"
                d)
        let count = dims |> Array.fold (fun acc d -> acc * int64 d) 1L
        let offset = 4 + 4 * rank
        let available = int64 (raw.Length - offset)
        if available < count then fail source $"truncated: the header promises {count} values ({String.Join('×', dims)}), the file holds {available}"
        if available > count then fail source $"{available - count} bytes after the {count} values the header promises"
        { Dimensions = dims; Data = Array.sub raw offset (int count) }

    /// Parses the bytes of an IDX file (gzip-compressed or raw). Only unsigned-byte arrays (type
    /// 0x08) are accepted, as MNIST and Fashion-MNIST use; anything else, a truncated file or
    /// trailing bytes are errors naming `source`.
    let parse (source: string) (bytes: byte[]) : IdxArray = parseWith None source bytes

    /// Parses the bytes of an IDX file that must hold a `kind` ("image", "label") array of `rank`
    /// dimensions: any other magic number is an error that names the kind, the magic number
    /// expected and the one found, before any dimension is read.
    let parseExpecting (kind: string) (rank: int) (source: string) (bytes: byte[]) : IdxArray =
        parseWith (Some(kind, rank)) source bytes

    let private readWith (parser: string -> byte[] -> IdxArray) (path: string) : IdxArray =
        if not (File.Exists path) then raise (FileNotFoundException($"{path}: no such file", path))
        parser (Path.GetFileName path) (File.ReadAllBytes path)

    /// Reads an IDX file (gzip or raw).
    let read (path: string) : IdxArray = readWith parse path

    /// The images of a 3-dimensional IDX array (count × height × width) as rows of features
    /// scaled to [0, 1], feature index row·W + col (SPEC §0).
    let images (source: string) (a: IdxArray) : Matrix<float> =
        if a.Dimensions.Length <> 3 then fail source $"images need 3 dimensions (count × height × width), got {a.Dimensions.Length}"
        let count, pixels = a.Dimensions[0], a.Dimensions[1] * a.Dimensions[2]
        if count = 0 || pixels = 0 then fail source "holds no images"
        let x = Array.zeroCreate (count * pixels)
        for i in 0 .. count - 1 do
            for p in 0 .. pixels - 1 do
                x[p * count + i] <- float a.Data[i * pixels + p] / 255.0
        Kernels.ofStorage count pixels x

    /// The labels of a 1-dimensional IDX array, each checked to be below `classes`.
    let labels (source: string) (classes: int) (a: IdxArray) : int[] =
        if a.Dimensions.Length <> 1 then fail source $"labels need 1 dimension, got {a.Dimensions.Length}"
        a.Data
        |> Array.mapi (fun i b ->
            if int b >= classes then fail source $"label {b} of example {i} is outside 0…{classes - 1}"
            int b)

    /// The labelled images of an image file and a label file of the same length (10 classes).
    let imageSet (imagesPath: string) (labelsPath: string) : ImageSet =
        let source = Path.GetFileName imagesPath
        let a = readWith (parseExpecting "image" 3) imagesPath
        let x = images source a
        let y = labels (Path.GetFileName labelsPath) 10 (readWith (parseExpecting "label" 1) labelsPath)
        if y.Length <> x.RowCount then
            raise (InvalidDataException $"{Path.GetFileName labelsPath}: {y.Length} labels for the {x.RowCount} images of {source}")
        { Data = { Features = x; Labels = y; Classes = 10 }; Height = a.Dimensions[1]; Width = a.Dimensions[2] }

    /// A data set of 10 classes from an image file and a label file of the same length.
    let dataset (imagesPath: string) (labelsPath: string) : Dataset = (imageSet imagesPath labelsPath).Data

    /// The image and label files of an MNIST-style folder: the training pair
    /// (train-images-idx3-ubyte, train-labels-idx1-ubyte) if present, else the test pair (t10k-…),
    /// each raw or with a .gz suffix.
    let findPair (directory: string) : string * string =
        if not (Directory.Exists directory) then raise (DirectoryNotFoundException $"{directory}: no such folder")
        let find (stem: string) =
            [ stem; stem + ".gz" ] |> List.map (fun f -> Path.Combine(directory, f)) |> List.tryFind File.Exists
        let pair prefix = find $"{prefix}-images-idx3-ubyte", find $"{prefix}-labels-idx1-ubyte"
        match pair "train", pair "t10k" with
        | (Some i, Some l), _ -> i, l
        | _, (Some i, Some l) -> i, l
        | _ -> raise (FileNotFoundException $"{directory}: no train-images-idx3-ubyte/train-labels-idx1-ubyte or t10k-… pair (raw or .gz)")
