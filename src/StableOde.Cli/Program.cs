using Microsoft.Win32.SafeHandles;
using StableOde.Cli.Commands;

namespace StableOde.Cli;

/// <summary>
/// The <c>stableode</c> command line (SPEC §9): <c>stableode &lt;command&gt; [--option value] [--flag]</c>.
/// Exit code 0 on success; 1 on bad input, with one line <c>stableode: …</c> on standard error.
/// </summary>
public static class Program
{
    /// <summary>The commands, in the order the help lists them.</summary>
    public static IReadOnlyList<Command> Commands { get; } = [new TrainCommand(), new GradientCommand(), new PredictCommand(), new StabilityCommand(), new RobustnessCommand(), new ReproduceCommand(), new BenchCommand()];

    /// <summary>
    /// The process entry point: <see cref="Run(string[], TextWriter, TextWriter)"/> on the console; under <c>mpirun</c> with
    /// several ranks (SPEC §11) on Open MPI, with rank 0's output alone.
    /// </summary>
    /// <param name="args">The command-line arguments.</param>
    /// <returns>The exit code.</returns>
    public static int Main(string[] args) => Mpi.Launched ? RunOnRanks(args) : Run(args, Console.Out, Console.Error);

    /// <summary>Runs the command line with the given output streams (tests run it in-process).</summary>
    /// <param name="args">The arguments after the program name.</param>
    /// <param name="stdout">Standard output.</param>
    /// <param name="stderr">Standard error.</param>
    /// <returns>0 on success, 1 on bad input.</returns>
    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(stdout);
        ArgumentNullException.ThrowIfNull(stderr);
        return Run(args, stdout, stderr, stderr, null);
    }

    /// <summary>
    /// One rank of <c>mpirun -np R stableode train …</c>: rank 0 alone writes its output; a failure before training ends
    /// every rank with the one line of the lowest failed rank (<see cref="Mpi.Agree"/>); a failure during training ends
    /// every rank by MPI_Abort after the failed rank's line (from a rank other than 0, with its rank).
    /// </summary>
    private static int RunOnRanks(string[] args)
    {
        using var mpi = Mpi.Start();
        var speaks = mpi.Rank == 0;
        // File descriptors 1 and 2 as files, not System.Console's streams: mpirun gives every rank a pseudo-terminal for standard output, on
        // which the console would first write terminal codes (keypad mode) into what may be a file of JSON. For the same
        // reason no rank shows the live progress display (and mpirun passes standard error through a pipe): rank 0 writes a
        // line an iteration instead.
        using var stdout = new StreamWriter(new FileStream(new SafeFileHandle(1, ownsHandle: false), FileAccess.Write, 1)) { AutoFlush = true };
        using var stderr = new StreamWriter(new FileStream(new SafeFileHandle(2, ownsHandle: false), FileAccess.Write, 1)) { AutoFlush = true };
        try
        {
            var code = Run(args, speaks ? stdout : TextWriter.Null, speaks ? stderr : TextWriter.Null, stderr, mpi);
            if (code != 0 && mpi.Training)
            {
                mpi.Abort(code);
            }

            return code;
        }
        catch (Exception e) when (mpi.Training)
        {
            stderr.Write($"stableode: rank {mpi.Rank}: {OneLine(e)}\n");
            mpi.Abort(1);
            throw;
        }
    }

    private static int Run(string[] args, TextWriter stdout, TextWriter stderr, TextWriter errors, Mpi? mpi)
    {
        try
        {
            try
            {
                return Dispatch(args, stdout, stderr, mpi);
            }
            catch (Exception e) when (mpi is { Agreed: false })
            {
                mpi.Agree(e);
                throw;
            }
        }
        catch (Mpi.AnotherRankFailed)
        {
            return 1;
        }
        catch (Exception e) when (IsUsersMistake(e))
        {
            var rank = mpi is { Training: true, Rank: > 0 } ? $"rank {mpi.Rank}: " : string.Empty;
            errors.Write($"stableode: {rank}{OneLine(e)}\n");
            return 1;
        }
    }

    private static int Dispatch(string[] args, TextWriter stdout, TextWriter stderr, Mpi? mpi)
    {
        if (args.Length == 0)
        {
            throw new UsageException("no command given; run 'stableode --help' for the list of commands");
        }

        var name = args[0];
        if (name is "--help" or "-h" or "help")
        {
            return ShowHelp(args.Skip(1).ToArray(), stdout);
        }

        if (name == "--version")
        {
            stdout.Write($"stableode {Version}\n");
            return 0;
        }

        var command = Find(name);
        var rest = args.Skip(1).ToArray();
        if (rest.Contains("--help") || rest.Contains("-h"))
        {
            stdout.Write(command.Help);
            return 0;
        }

        if (mpi is not null && command is not TrainCommand)
        {
            throw new UsageException($"only train runs on several ranks (mpirun -np {mpi.Size}); run {command.Name} as one process");
        }

        var parsed = ParsedOptions.Parse(command.Name, command.Options, rest);
        return command is TrainCommand train ? train.Execute(parsed, stdout, stderr, mpi) : command.Execute(parsed, stdout, stderr);
    }

    /// <summary>The version of the command line (the assembly's informational version without build metadata).</summary>
    public static string Version { get; } =
        (typeof(Program).Assembly.GetCustomAttributes(typeof(System.Reflection.AssemblyInformationalVersionAttribute), false)
            .OfType<System.Reflection.AssemblyInformationalVersionAttribute>().FirstOrDefault()?.InformationalVersion ?? "unknown").Split('+')[0];

    private static Command Find(string name) =>
        Commands.FirstOrDefault(c => c.Name == name)
        ?? throw new UsageException($"unknown command '{name}'; run 'stableode --help' for the list of commands");

    private static int ShowHelp(string[] topics, TextWriter stdout)
    {
        if (topics.Length > 1)
        {
            throw new UsageException("help takes at most one command name");
        }

        if (topics.Length == 1)
        {
            stdout.Write(Find(topics[0]).Help);
            return 0;
        }

        var column = Commands.Max(c => c.Name.Length) + 3;
        var lines = new List<string>
        {
            "stableode — stable deep networks as discretised ODEs (Haber & Ruthotto)",
            string.Empty,
            "Usage: stableode <command> [--option value] [--flag]",
            string.Empty,
            "Commands:",
        };
        lines.AddRange(Commands.Select(c => "  " + c.Name.PadRight(column) + c.Summary));
        lines.Add("  " + "help".PadRight(column) + "This list, or a command's options: stableode help <command> (or stableode <command> --help, -h).");
        lines.Add(string.Empty);
        lines.Add("stableode --version prints the version.");
        lines.Add(string.Empty);
        lines.Add("Exit code 0 on success, 1 on bad input with one line on standard error.");
        stdout.Write(string.Join('\n', lines) + "\n");
        return 0;
    }

    private static bool IsUsersMistake(Exception e) =>
        e is UsageException or ArgumentException or InvalidDataException or IOException or UnauthorizedAccessException
            or OperationCanceledException;

    private static string OneLine(Exception e)
    {
        var message = e is ArgumentException { ParamName: { } name }
            ? e.Message.Replace($" (Parameter '{name}')", string.Empty, StringComparison.Ordinal)
            : e.Message;
        return string.Join(' ', message.Split(['\r', '\n'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
    }
}
