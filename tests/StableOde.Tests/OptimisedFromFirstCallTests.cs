using System.Diagnostics;
using System.Reflection;
using System.Text.RegularExpressions;

namespace StableOde.Tests;

/// <summary>
/// The kernels run fully optimised from their first call whatever the host's tiered compilation:
/// the build step tools/OptimiseFromFirstCall marks every method of the kernel modules
/// AggressiveOptimization, and the runtime then compiles them straight to optimised code.
/// </summary>
public sealed partial class OptimisedFromFirstCallTests
{
    /// <summary>The modules marked [&lt;OptimisedFromFirstCall&gt;] (compiled class names).</summary>
    private static readonly string[] Modules =
        ["Kernels", "OperatorModule", "Fused", "FusedConv", "Engine", "Solve"];

    /// <summary>The modules, for the theory.</summary>
    public static TheoryData<string> ModuleNames => [.. Modules];

    [Theory]
    [MemberData(nameof(ModuleNames))]
    public void EveryMethodOfAKernelModuleCarriesAggressiveOptimization(string module)
    {
        var type = typeof(StableOde.Core.Network).Assembly.GetType("StableOde.Core." + module, throwOnError: true)!;
        Assert.Contains(type.CustomAttributes, a => a.AttributeType.Name == "OptimisedFromFirstCallAttribute");
        var methods = MethodsOf(type).ToList();
        Assert.NotEmpty(methods);
        var unmarked = methods
            .Where(m => !m.MethodImplementationFlags.HasFlag(MethodImplAttributes.AggressiveOptimization))
            .Select(m => $"{m.DeclaringType!.FullName}.{m.Name}");
        Assert.Empty(unmarked);
    }

    [Fact]
    public async Task UnderDefaultTieringTheKernelsAreCompiledOptimisedAtTheirFirstCall()
    {
        using var folder = new TempFolder();
        var summary = folder.File("jit.txt");
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var argument in new[]
                 {
                     typeof(StableOde.Cli.Program).Assembly.Location, "bench", "--propagator", "verlet", "--width", "2",
                     "--samples", "16", "--layers", "4", "--mode", "gradient", "--repeat", "1", "--json",
                 })
        {
            start.ArgumentList.Add(argument);
        }

        start.Environment.Remove("DOTNET_TieredCompilation");
        start.Environment.Remove("DOTNET_TC_QuickJit");
        start.Environment["DOTNET_JitStdOutFile"] = summary;
        start.Environment["DOTNET_JitDisasmSummary"] = "1";
        using (var process = Process.Start(start)!)
        {
            var output = process.StandardOutput.ReadToEndAsync();
            var error = process.StandardError.ReadToEndAsync();
            await process.WaitForExitAsync();
            await output;
            Assert.True(process.ExitCode == 0, await error);
        }

        var kernels = File.ReadLines(summary)
            .Select(line => CompiledMethod().Match(line))
            .Where(m => m.Success && Modules.Contains(m.Groups["module"].Value) && m.Groups["method"].Value != ".cctor")
            .ToList();
        Assert.Contains(kernels, m => m.Groups["method"].Value == "verletStep");
        Assert.Contains(kernels, m => m.Groups["method"].Value == "verletAdjoint");
        var unoptimised = kernels.Where(m => m.Groups["tier"].Value != "FullOpts").Select(m => m.Value);
        Assert.Empty(unoptimised);
    }

    /// <summary>Every method with a body of the type and of its nested types (closures), static constructors aside.</summary>
    private static IEnumerable<MethodBase> MethodsOf(Type type)
    {
        const BindingFlags all = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static | BindingFlags.Instance | BindingFlags.DeclaredOnly;
        var own = type.GetMethods(all).Cast<MethodBase>().Concat(type.GetConstructors(all).Where(c => !c.IsStatic));
        return own.Where(m => !m.IsAbstract).Concat(type.GetNestedTypes(BindingFlags.Public | BindingFlags.NonPublic).SelectMany(MethodsOf));
    }

    /// <summary>A line of DOTNET_JitDisasmSummary: "JIT compiled StableOde.Core.Module[+Closure]:method(…) [tier, …]".</summary>
    [GeneratedRegex(@"JIT compiled StableOde\.Core\.(?<module>\w+)(\+[^:]*)?:(?<method>[^(]+)\(.*\[(?<tier>[^,\]]+)")]
    private static partial Regex CompiledMethod();
}
