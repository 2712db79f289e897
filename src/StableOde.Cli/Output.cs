using System.Runtime.InteropServices;
using System.Text.Encodings.Web;
using System.Text.Json;
using Spectre.Console;

namespace StableOde.Cli;

/// <summary>What every command's output shares: its JSON objects, its plain-text tables and the scope in which Ctrl-C or SIGTERM stops work instead of the process.</summary>
internal static class Output
{
    /// <summary>One JSON object written by <paramref name="write"/>, followed by a newline.</summary>
    /// <param name="write">Writes the object (start and end included).</param>
    /// <param name="indented">Indented with <c>\n</c> line ends (the default), or on one line.</param>
    /// <returns>The text.</returns>
    public static string Json(Action<Utf8JsonWriter> write, bool indented = true)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = indented, NewLine = "\n", Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            write(json);
        }

        return System.Text.Encoding.UTF8.GetString(buffer.ToArray()) + "\n";
    }

    /// <summary>A finite number exactly (shortest round-trip form), or null for NaN and infinities.</summary>
    /// <param name="json">The writer.</param>
    /// <param name="name">The property's name.</param>
    /// <param name="value">The number.</param>
    public static void Number(Utf8JsonWriter json, string name, double value)
    {
        if (double.IsFinite(value))
        {
            json.WriteNumber(name, value);
        }
        else
        {
            json.WriteNull(name);
        }
    }

    /// <summary>A console that writes plain text (no colours, no terminal codes, 160 columns) to <paramref name="writer"/>, for tables.</summary>
    /// <param name="writer">Where the text goes.</param>
    /// <returns>The console.</returns>
    public static IAnsiConsole Plain(TextWriter writer)
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = AnsiSupport.No,
            ColorSystem = ColorSystemSupport.NoColors,
            Interactive = InteractionSupport.No,
            Out = new AnsiConsoleOutput(writer),
        });
        console.Profile.Width = 160;
        return console;
    }

    /// <summary>A console on standard error for live progress.</summary>
    /// <returns>The console.</returns>
    public static IAnsiConsole Progress() => AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });

    /// <summary>Runs <paramref name="work"/> with a token that Ctrl-C and SIGTERM cancel: while it runs, either asks the work to stop instead of ending the process (SIGTERM is what <c>kill</c>, <c>timeout</c> and service managers send).</summary>
    /// <typeparam name="T">What the work returns.</typeparam>
    /// <param name="work">The work, given the token.</param>
    /// <returns>What the work returned.</returns>
    public static T Interruptible<T>(Func<CancellationToken, T> work)
    {
        using var cancel = new CancellationTokenSource();
        ConsoleCancelEventHandler onCancel = (_, e) =>
        {
            e.Cancel = true;
            cancel.Cancel();
        };
        Console.CancelKeyPress += onCancel;
        using var onTerminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context =>
        {
            context.Cancel = true;
            cancel.Cancel();
        });
        try
        {
            return work(cancel.Token);
        }
        finally
        {
            Console.CancelKeyPress -= onCancel;
        }
    }
}
