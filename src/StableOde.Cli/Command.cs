namespace StableOde.Cli;

/// <summary>
/// One command of the <c>stableode</c> command line. A new command is a subclass registered in
/// <see cref="Program.Commands"/>; the dispatcher parses its options, handles <c>--help</c> and
/// turns a user's mistake into one line on standard error.
/// </summary>
public abstract class Command
{
    /// <summary>The name typed after <c>stableode</c>.</summary>
    public abstract string Name { get; }

    /// <summary>One line for the list of commands.</summary>
    public abstract string Summary { get; }

    /// <summary>A few lines for the command's own help, after its usage line.</summary>
    public virtual string Details => Summary;

    /// <summary>The options the command accepts (<c>--help</c> is implied).</summary>
    public abstract IReadOnlyList<Option> Options { get; }

    /// <summary>Runs the command.</summary>
    /// <param name="options">The parsed options.</param>
    /// <param name="stdout">Where the result goes.</param>
    /// <param name="stderr">Where progress and warnings go.</param>
    /// <returns>The exit code: 0 on success.</returns>
    public abstract int Execute(ParsedOptions options, TextWriter stdout, TextWriter stderr);

    /// <summary>The usage line, such as <c>stableode gradient --model FILE --data FILE</c>.</summary>
    public string Usage => string.Join(' ', new[] { "stableode", Name }.Concat(Options.Select(o =>
    {
        var text = o.IsFlag ? $"--{o.Name}" : $"--{o.Name} {o.ValueName}";
        return o.Required ? text : $"[{text}]";
    })));

    /// <summary>The command's help text.</summary>
    public string Help
    {
        get
        {
            var lines = new List<string> { $"Usage: {Usage}", string.Empty, Details, string.Empty, "Options:" };
            var all = Options.Append(new Option("help", "Show this help."));
            var labels = all.Select(o => (Label: o.IsFlag ? $"--{o.Name}" : $"--{o.Name} {o.ValueName}", Option: o)).ToList();
            var column = labels.Max(l => l.Label.Length) + 3;
            lines.AddRange(labels.Select(l => "  " + l.Label.PadRight(column) + (l.Option.Required ? "(required) " : string.Empty) + l.Option.Description));
            return string.Join('\n', lines) + "\n";
        }
    }
}
