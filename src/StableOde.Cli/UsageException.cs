namespace StableOde.Cli;

/// <summary>A mistake on the command line: an unknown command or option, a missing or malformed value.</summary>
public sealed class UsageException : Exception
{
    /// <summary>A usage error with a one-line message.</summary>
    /// <param name="message">What is wrong, in one line.</param>
    public UsageException(string message)
        : base(message)
    {
    }
}
