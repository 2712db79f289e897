using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using StableOde.Core;

namespace StableOde.Cli.Reproduce;

/// <summary>A table of the report: a header row and rows of cells.</summary>
internal sealed record Table(string Caption, IReadOnlyList<string> Header, IReadOnlyList<IReadOnlyList<string>> Rows);

/// <summary>One finished part of the report.</summary>
internal sealed record Section(string Title, string Text, IReadOnlyList<(string File, string Caption)> Figures, IReadOnlyList<Table> Tables, double Seconds);

/// <summary>The reproduction report: Markdown for people and JSON for programs, rewritten
/// atomically after every finished part so an interrupted run leaves a valid report.</summary>
internal sealed class Report(string directory, string settings)
{
    private readonly List<Section> _sections = [];
    private readonly List<(string What, string Why)> _skipped = [];
    private readonly JsonObject _results = new();
    private readonly DateTime _started = DateTime.UtcNow;

    /// <summary>The folder the report, figures and results go to.</summary>
    public string Directory { get; } = directory;

    /// <summary>Adds a finished part and its machine-readable results, then rewrites the files.</summary>
    public void Add(Section section, string key, JsonNode results)
    {
        _sections.Add(section);
        _results[key] = results;
        Write();
    }

    /// <summary>Records a part that did not run and why, then rewrites the files.</summary>
    public void Skip(string what, string why)
    {
        _skipped.Add((what, why));
        Write();
    }

    /// <summary>A JSON array of numbers for results.json.</summary>
    public static JsonArray Numbers(IEnumerable<double> values) => new(values.Select(v => (JsonNode)v).ToArray());

    /// <summary>Formats a number for the report (invariant culture, four significant digits).</summary>
    public static string Number(double value) => value.ToString("G4", CultureInfo.InvariantCulture);

    /// <summary>Writes report.md and results.json as they stand.</summary>
    public void Write()
    {
        var md = new StringBuilder();
        md.AppendLine("# StableOde: the paper reproduced");
        md.AppendLine();
        md.AppendLine("Haber & Ruthotto, *Stable Architectures for Deep Neural Networks*, computed by `stableode reproduce`.");
        md.AppendLine();
        md.AppendLine($"- machine: {Environment.ProcessorCount} cores, {Environment.OSVersion}, .NET {Environment.Version}");
        md.AppendLine($"- settings: {settings}");
        md.AppendLine($"- started {_started:yyyy-MM-dd HH:mm:ss} UTC; wall time so far {Number((DateTime.UtcNow - _started).TotalSeconds)} s");
        md.AppendLine();
        foreach (var s in _sections)
        {
            md.AppendLine($"## {s.Title}");
            md.AppendLine();
            md.AppendLine(s.Text);
            md.AppendLine();
            foreach (var (file, caption) in s.Figures)
            {
                md.AppendLine($"![{caption}]({file})");
                md.AppendLine();
                md.AppendLine($"*{caption}*");
                md.AppendLine();
            }
            foreach (var t in s.Tables)
            {
                md.AppendLine($"**{t.Caption}**");
                md.AppendLine();
                md.AppendLine("| " + string.Join(" | ", t.Header) + " |");
                md.AppendLine("|" + string.Concat(t.Header.Select(_ => "---|")));
                foreach (var row in t.Rows) md.AppendLine("| " + string.Join(" | ", row) + " |");
                md.AppendLine();
            }
            md.AppendLine($"Wall time: {Number(s.Seconds)} s.");
            md.AppendLine();
        }
        if (_skipped.Count > 0)
        {
            md.AppendLine("## Skipped");
            md.AppendLine();
            foreach (var (what, why) in _skipped) md.AppendLine($"- {what}: {why}");
            md.AppendLine();
        }
        AtomicFile.writeAllText(Path.Combine(Directory, "report.md"), md.ToString());

        var json = new JsonObject
        {
            ["settings"] = settings,
            ["cores"] = Environment.ProcessorCount,
            ["seconds"] = (DateTime.UtcNow - _started).TotalSeconds,
            ["results"] = _results.DeepClone(),
            ["skipped"] = new JsonArray(_skipped.Select(s => (JsonNode)new JsonObject { ["what"] = s.What, ["why"] = s.Why }).ToArray()),
        };
        AtomicFile.writeAllText(Path.Combine(Directory, "results.json"), json.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
    }
}
