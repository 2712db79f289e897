namespace StableOde.Cli;

/// <summary>One option a command accepts: <c>--name value</c>, or <c>--name</c> alone for a flag.</summary>
/// <param name="Name">The name without the leading dashes.</param>
/// <param name="Description">One line for the help text.</param>
/// <param name="ValueName">The placeholder of the value in the help text (such as FILE); null for a flag.</param>
/// <param name="Required">True when the command cannot run without it.</param>
public sealed record Option(string Name, string Description, string? ValueName = null, bool Required = false)
{
    /// <summary>True for a flag, which takes no value.</summary>
    public bool IsFlag => ValueName is null;
}
