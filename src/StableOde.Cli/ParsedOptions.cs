using System.Globalization;
using Microsoft.FSharp.Core;

namespace StableOde.Cli;

/// <summary>
/// The options given to one command, parsed against the options it declares: <c>--name value</c>
/// and <c>--flag</c>. Unknown, repeated or positional arguments, a missing value and a missing
/// required option are <see cref="UsageException"/>s, as are malformed numbers when read.
/// </summary>
public sealed class ParsedOptions
{
    private readonly string command;
    private readonly IReadOnlyDictionary<string, Option> declared;
    private readonly Dictionary<string, string?> given;

    private ParsedOptions(string command, IReadOnlyDictionary<string, Option> declared, Dictionary<string, string?> given)
    {
        this.command = command;
        this.declared = declared;
        this.given = given;
    }

    /// <summary>Parses the arguments that follow a command's name.</summary>
    /// <param name="command">The command's name, for error messages.</param>
    /// <param name="options">The options the command declares.</param>
    /// <param name="args">The arguments.</param>
    /// <returns>The parsed options.</returns>
    /// <exception cref="UsageException">The arguments do not fit the declared options.</exception>
    public static ParsedOptions Parse(string command, IReadOnlyList<Option> options, IReadOnlyList<string> args)
    {
        ArgumentNullException.ThrowIfNull(command);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(args);
        var declared = options.ToDictionary(o => o.Name, StringComparer.Ordinal);
        var given = new Dictionary<string, string?>(StringComparer.Ordinal);
        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            if (!arg.StartsWith("--", StringComparison.Ordinal) || arg.Length == 2)
            {
                throw new UsageException($"unexpected argument '{arg}' for '{command}'; options are written --name value");
            }

            var name = arg[2..];
            if (!declared.TryGetValue(name, out var option))
            {
                throw new UsageException($"unknown option '{arg}' for '{command}'; run 'stableode {command} --help'");
            }

            if (given.ContainsKey(name))
            {
                throw new UsageException($"option '{arg}' is given twice");
            }

            if (option.IsFlag)
            {
                given[name] = null;
                continue;
            }

            if (i + 1 >= args.Count || args[i + 1].StartsWith("--", StringComparison.Ordinal))
            {
                throw new UsageException($"option '{arg}' needs a value ({option.ValueName})");
            }

            given[name] = args[++i];
        }

        var missing = options.FirstOrDefault(o => o.Required && !given.ContainsKey(o.Name));
        if (missing is not null)
        {
            throw new UsageException($"'{command}' needs --{missing.Name} {missing.ValueName}");
        }

        return new ParsedOptions(command, declared, given);
    }

    /// <summary>True when a flag (or any option) was given.</summary>
    /// <param name="name">The option's name without dashes.</param>
    /// <returns>Whether it was given.</returns>
    public bool Has(string name)
    {
        Declared(name);
        return given.ContainsKey(name);
    }

    /// <summary>The names of the options given, in the order the command declares them.</summary>
    public IEnumerable<string> Given => declared.Keys.Where(given.ContainsKey);

    /// <summary>The options given as arguments again (<c>--name value</c>, <c>--flag</c>), in the order the command declares them, without <paramref name="except"/>.</summary>
    /// <param name="except">Names of options to leave out.</param>
    /// <returns>Arguments that <see cref="Parse"/> reads back to the same options.</returns>
    public IReadOnlyList<string> Arguments(params string[] except) =>
        Given.Where(name => !except.Contains(name))
            .SelectMany(name => given[name] is { } value ? new[] { $"--{name}", value } : [$"--{name}"])
            .ToArray();

    /// <summary>The value of an option, or null when it was not given.</summary>
    /// <param name="name">The option's name without dashes.</param>
    /// <returns>The value.</returns>
    public string? Value(string name)
    {
        Declared(name);
        return given.TryGetValue(name, out var value) ? value : null;
    }

    /// <summary>The value of a required option.</summary>
    /// <param name="name">The option's name without dashes.</param>
    /// <returns>The value.</returns>
    /// <exception cref="UsageException">The option was not given.</exception>
    public string Required(string name) =>
        Value(name) ?? throw new UsageException($"'{command}' needs --{name} {declared[name].ValueName}");

    /// <summary>An integer option, or <paramref name="fallback"/> when it was not given.</summary>
    /// <param name="name">The option's name without dashes.</param>
    /// <param name="fallback">The default.</param>
    /// <returns>The value.</returns>
    /// <exception cref="UsageException">The value is not an integer.</exception>
    public int Integer(string name, int fallback)
    {
        var text = Value(name);
        if (text is null)
        {
            return fallback;
        }

        return int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value)
            ? value
            : throw new UsageException($"--{name} expects an integer, got '{text}'");
    }

    /// <summary>A finite number option, or <paramref name="fallback"/> when it was not given.</summary>
    /// <param name="name">The option's name without dashes.</param>
    /// <param name="fallback">The default.</param>
    /// <returns>The value.</returns>
    /// <exception cref="UsageException">The value is not a finite number.</exception>
    public double Number(string name, double fallback)
    {
        var text = Value(name);
        if (text is null)
        {
            return fallback;
        }

        return double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) && double.IsFinite(value)
            ? value
            : throw new UsageException($"--{name} expects a number, got '{text}'");
    }

    /// <summary>A comma-separated list of integers (such as <c>4,8,16</c>), or <paramref name="fallback"/> when it was not given.</summary>
    /// <param name="name">The option's name without dashes.</param>
    /// <param name="fallback">The default.</param>
    /// <returns>The values.</returns>
    /// <exception cref="UsageException">An element is not an integer.</exception>
    public IReadOnlyList<int> Integers(string name, IReadOnlyList<int> fallback)
    {
        var text = Value(name);
        if (text is null)
        {
            return fallback;
        }

        return text.Split(',').Select(part =>
            int.TryParse(part.Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var value)
                ? value
                : throw new UsageException($"--{name} expects comma-separated integers, got '{text}'")).ToArray();
    }

    /// <summary>A propagator option read by the core's parser (case-insensitive: resnet, antisymmetric, leapfrog, verlet, verlet4), or <paramref name="fallback"/> when it was not given.</summary>
    /// <param name="name">The option's name without dashes.</param>
    /// <param name="fallback">The default.</param>
    /// <returns>The propagator.</returns>
    /// <exception cref="UsageException">The value names no propagator.</exception>
    public Propagator Propagator(string name, Propagator fallback) =>
        Named(name, fallback, Core.NetworkModule.tryParsePropagator, Core.NetworkModule.propagatorName, "resnet, antisymmetric, leapfrog, verlet or verlet4");

    /// <summary>An activation option read by the core's parser (case-insensitive: tanh, relu, identity), or <paramref name="fallback"/> when it was not given.</summary>
    /// <param name="name">The option's name without dashes.</param>
    /// <param name="fallback">The default.</param>
    /// <returns>The activation.</returns>
    /// <exception cref="UsageException">The value names no activation.</exception>
    public Activation Activation(string name, Activation fallback) =>
        Named(name, fallback, Core.ActivationModule.tryParse, Core.ActivationModule.name, "tanh, relu or identity");

    /// <summary>The core's propagator of the facade's (the same case-insensitive name).</summary>
    /// <param name="propagator">The facade's propagator.</param>
    /// <returns>The core's.</returns>
    public static Core.Propagator CorePropagator(Propagator propagator) => Core.NetworkModule.tryParsePropagator(propagator.ToString()).Value;

    /// <summary>An option naming one of the core's cases, read by the core's parser and turned into the facade's enum of the same name.</summary>
    private TFacade Named<TCore, TFacade>(string name, TFacade fallback, Func<string, FSharpOption<TCore>> parse, Func<TCore, string> nameOf, string expected)
        where TFacade : struct, Enum
    {
        var text = Value(name);
        if (text is null)
        {
            return fallback;
        }

        var parsed = parse(text);
        return parsed is null
            ? throw new UsageException($"--{name} expects {expected}, got '{text}'")
            : Enum.Parse<TFacade>(nameOf(parsed.Value), ignoreCase: true);
    }

    private void Declared(string name)
    {
        if (!declared.ContainsKey(name))
        {
            throw new InvalidOperationException($"'{command}' does not declare the option --{name}.");
        }
    }
}
