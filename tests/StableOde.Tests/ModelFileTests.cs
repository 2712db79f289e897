using System.Text.Json.Nodes;

namespace StableOde.Tests;

/// <summary>Malformed model files: each is rejected with a message naming the file and the field (or position).</summary>
public sealed class ModelFileTests
{
    private const string Marker = "\"@@\"";

    /// <summary>A valid model file of a fixture, edited by <paramref name="edit"/>; a field set to "@@" is then replaced by <paramref name="raw"/>.</summary>
    private static string Edited(string kind, Action<JsonObject> edit, string raw = "")
    {
        var json = JsonNode.Parse(Fixtures.Model(kind).ToJson())!.AsObject();
        edit(json);
        return json.ToJsonString().Replace(Marker, raw, StringComparison.Ordinal);
    }

    private static string Message(string text)
    {
        var error = Assert.Throws<InvalidDataException>(() => Model.FromJson(text, "model.json"));
        Assert.StartsWith("model.json: ", error.Message, StringComparison.Ordinal);
        return error.Message;
    }

    public static TheoryData<string, string> Cases() => new()
    {
        { "missing format", "field \"format\" is missing" },
        { "wrong format", "field \"format\" must be \"stableode-model/1\", got \"stableode-model/2\"" },
        { "unknown propagator", "field \"propagator\" must be \"resnet\", \"antisymmetric\", \"leapfrog\", \"verlet\", \"verlet4\" or \"custom\", got \"euler\"" },
        { "unknown activation", "field \"activation\" must be \"tanh\", \"relu\" or \"identity\", got \"sigmoid\"" },
        { "layers differ from K", "field \"layers\" (4) does not match the 3 entries of \"K\"" },
        { "layers zero", "field \"layers\" must be a positive integer, got 0" },
        { "negative final time", "field \"finalTime\" must be positive, got -1" },
        { "final time as text", "field \"finalTime\" must be a finite number, got \"1.5\"" },
        { "K with an extra row", "field \"K[1]\" must have 2 rows, got 3" },
        { "K with a short row", "field \"K[0][1]\" must have 2 entries, got 1" },
        { "K not an array", "field \"K[2]\" must be an array, got 7" },
        { "infinite number", "field \"K[0][0][0]\" must be a finite number, got 1e400" },
        { "b with too few layers", "field \"b\" must have 3 entries (one per layer), got 2" },
        { "ragged b", "field \"b[2]\" must have length 2 like \"b[0]\", got 1" },
        { "b of a length that does not divide the width", "field \"b[0]\" has length 3" },
        { "missing classifier", "field \"classifier\" is missing" },
        { "unknown hypothesis", "field \"classifier.hypothesis\" must be \"softmax\", \"logistic\" or \"leastsquares\", got \"svm\"" },
        { "W with too many rows", "field \"classifier.W\" must have 2 rows (the network's width), got 3" },
        { "mu of the wrong length", "field \"classifier.mu\" must have 3 entries (the columns of \"classifier.W\"), got 2" },
        { "logistic W with two columns", "field \"classifier.W\" must have 1 column for logistic regression, got 3" },
        { "unknown operator", "field \"operator.kind\" must be \"dense\" or \"conv3x3\", got \"conv5x5\"" },
        { "missing operator", "field \"operator\" is missing" },
        { "negative gamma", "field \"gamma\" must be ≥ 0, got -0.5" },
        { "unknown parametrisation", "field \"parametrisation\" must be \"antisymmetric\" or \"negativeSemidefinite\", got \"orthogonal\"" },
        { "verlet without auxWidth", "field \"auxWidth\" is missing" },
        { "verlet without c", "field \"c\" is missing" },
        { "verlet K of the wrong width", "field \"K[0][0]\" must have 3 entries, got 2" },
        { "conv width inconsistent", "field \"width\" (13) is neither the convolution's channels (2) nor channels × height × width = 2×3×2 = 12" },
        { "conv K with too few input channels", "field \"K[1][0]\" must have 2 input channels, got 1" },
        { "conv taps not 3x3", "field \"K[0][1][1]\" must have 3 rows, got 2" },
        { "not an object", "a model file holds one JSON object, got an array of 2 entries" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void MalformedFieldsAreNamed(string name, string expected)
    {
        var text = name switch
        {
            "missing format" => Edited("resnet", j => j.Remove("format")),
            "wrong format" => Edited("resnet", j => j["format"] = "stableode-model/2"),
            "unknown propagator" => Edited("resnet", j => j["propagator"] = "euler"),
            "unknown activation" => Edited("resnet", j => j["activation"] = "sigmoid"),
            "layers differ from K" => Edited("resnet", j => j["layers"] = 4),
            "layers zero" => Edited("resnet", j => j["layers"] = 0),
            "negative final time" => Edited("resnet", j => j["finalTime"] = -1.0),
            "final time as text" => Edited("resnet", j => j["finalTime"] = "1.5"),
            "K with an extra row" => Edited("resnet", j => j["K"]![1]!.AsArray().Add(new JsonArray(0.5, 0.5))),
            "K with a short row" => Edited("resnet", j => j["K"]![0]![1]!.AsArray().RemoveAt(0)),
            "K not an array" => Edited("resnet", j => j["K"]![2] = 7),
            "infinite number" => Edited("resnet", j => j["K"]![0]![0]![0] = "@@", "1e400"),
            "b with too few layers" => Edited("resnet", j => j["b"]!.AsArray().RemoveAt(2)),
            "ragged b" => Edited("resnet", j => j["b"]![2]!.AsArray().RemoveAt(1)),
            "b of a length that does not divide the width" => Edited("resnet", j => j["b"] = new JsonArray(new JsonArray(1, 2, 3), new JsonArray(1, 2, 3), new JsonArray(1, 2, 3))),
            "missing classifier" => Edited("resnet", j => j.Remove("classifier")),
            "unknown hypothesis" => Edited("resnet", j => j["classifier"]!["hypothesis"] = "svm"),
            "W with too many rows" => Edited("resnet", j => j["classifier"]!["W"]!.AsArray().Add(new JsonArray(1, 2, 3))),
            "mu of the wrong length" => Edited("resnet", j => j["classifier"]!["mu"]!.AsArray().RemoveAt(0)),
            "logistic W with two columns" => Edited("resnet", j => j["classifier"]!["hypothesis"] = "logistic"),
            "unknown operator" => Edited("resnet", j => j["operator"]!["kind"] = "conv5x5"),
            "missing operator" => Edited("resnet", j => j.Remove("operator")),
            "negative gamma" => Edited("antisymmetric", j => j["gamma"] = -0.5),
            "unknown parametrisation" => Edited("leapfrog", j => j["parametrisation"] = "orthogonal"),
            "verlet without auxWidth" => Edited("verlet", j => j.Remove("auxWidth")),
            "verlet without c" => Edited("verlet", j => j.Remove("c")),
            "verlet K of the wrong width" => Edited("verlet", j => j["K"]![0]![0]!.AsArray().RemoveAt(0)),
            "conv width inconsistent" => Edited("conv", j => j["width"] = 13),
            "conv K with too few input channels" => Edited("conv", j => j["K"]![1]![0]!.AsArray().RemoveAt(1)),
            "conv taps not 3x3" => Edited("conv", j => j["K"]![0]![1]![1]!.AsArray().RemoveAt(2)),
            "not an object" => "[1, 2]",
            _ => throw new ArgumentOutOfRangeException(nameof(name), name, "no such case"),
        };

        Assert.StartsWith("model.json: " + expected, Message(text), StringComparison.Ordinal);
    }

    [Fact]
    public void TruncatedJsonNamesTheFileAndPosition()
    {
        var json = Fixtures.Model("resnet").ToJson();

        var message = Message(json[..(json.Length / 2)]);

        Assert.Matches(@"^model\.json: invalid JSON at line \d+, byte \d+: ", message);
    }

    [Fact]
    public void NaNLiteralIsInvalidJsonAtItsPosition()
    {
        var text = "{\n  \"format\": \"stableode-model/1\",\n  \"finalTime\": NaN\n}";

        Assert.Equal("model.json: invalid JSON at line 3, byte 16: 'N' is an invalid start of a value.", Message(text));
    }

    [Fact]
    public void EmptyTextIsInvalidJson()
    {
        Assert.StartsWith("model.json: invalid JSON at line 1, byte 1:", Message(string.Empty), StringComparison.Ordinal);
    }

    [Fact]
    public void LoadNamesTheFile()
    {
        using var folder = new TempFolder();
        var path = folder.Write("broken.json", "{\"format\": \"stableode-model/1\", ");

        var error = Assert.Throws<InvalidDataException>(() => Model.Load(path));

        Assert.StartsWith("broken.json: invalid JSON at line 1", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void UnknownFieldsAndCommentsAreIgnored()
    {
        var model = Fixtures.Model("verlet");
        var json = JsonNode.Parse(model.ToJson())!.AsObject();
        json["comment"] = "trained on Tuesday";
        json["history"] = new JsonArray(1, 2, 3);
        json["classifier"]!["note"] = new JsonObject { ["x"] = 1 };
        var text = "// a model\n" + json.ToJsonString();

        var loaded = Model.FromJson(text, "model.json");

        Assert.Equal(model.ToJson(), loaded.ToJson());
    }

    [Fact]
    public void TiedAndPerChannelBiasesAreInferredFromTheArrays()
    {
        var tied = Edited("resnet", j => j["b"] = new JsonArray(new JsonArray(0.5), new JsonArray(-0.5), new JsonArray(0.25)));
        var perChannel = Fixtures.Model("conv").ToJson();

        Assert.Equal(1, Model.FromJson(tied, "model.json").Network.BiasWidth);
        Assert.Equal(2, Model.FromJson(perChannel, "model.json").Network.BiasWidth);
        Assert.Equal(1, Model.FromJson(Fixtures.Model("verlet-tied").ToJson(), "model.json").Network.AuxBiasWidth);
    }

    [Fact]
    public void NegativeSemidefiniteParametrisationIsKept()
    {
        var json = JsonNode.Parse(Fixtures.Model("leapfrog-nsd").ToJson())!.AsObject();

        var loaded = Model.FromJson(json.ToJsonString(), "model.json");

        Assert.Equal("negativeSemidefinite", (string?)json["parametrisation"]);
        Assert.True(loaded.Network.IsNegativeSemidefinite);
        Assert.Equal(Propagator.Leapfrog, loaded.Network.Propagator);
    }
}
