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

    /// <summary>Runs a command that must succeed: exit code 0, nothing on standard error; returns standard output.</summary>
    public static string Succeed(params string[] args)
    {
        var (code, output, error) = Run(args);
        Assert.True(code == 0, $"exit code {code}: {error}");
        Assert.Equal(string.Empty, error);
        return output;
    }

    /// <summary>Runs a command that must fail: exit code 1, nothing on standard output, one line on standard error; returns that line.</summary>
    public static string Fail(params string[] args)
    {
        var (code, output, error) = Run(args);
        Assert.Equal(1, code);
        Assert.Equal(string.Empty, output);
        Assert.EndsWith("\n", error, StringComparison.Ordinal);
        Assert.Single(error.TrimEnd('\n').Split('\n'));
        Assert.StartsWith("stableode: ", error, StringComparison.Ordinal);
        return error.TrimEnd('\n');
    }
}
