using System.Globalization;
using StableOde.Cli;

namespace StableOde.Tests;

/// <summary>Runs the command line in-process and captures what it prints.</summary>
internal static class CliRunner
{
    /// <summary>Runs <c>stableode</c> with the arguments: exit code, standard output, standard error.</summary>
    public static (int Code, string Out, string Error) Run(params string[] args)
    {
        using var stdout = new StringWriter(CultureInfo.InvariantCulture);
        using var stderr = new StringWriter(CultureInfo.InvariantCulture);
        var code = Program.Run(args, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }
}
