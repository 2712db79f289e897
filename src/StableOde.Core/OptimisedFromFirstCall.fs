namespace StableOde.Core

open System

/// Marks a module whose functions the runtime compiles fully optimised at their first call
/// (MethodImplOptions.AggressiveOptimization): the kernels must not start at tier 0 in a host
/// whose tiered compilation is on, nor training's loops, whose tier-0 code would keep every
/// local (such as a batch's states) alive until it is overwritten; and the library cannot set
/// the host's runtime options. The
/// F# compiler does not emit that flag, so the build step tools/OptimiseFromFirstCall sets it on
/// every method of a marked module and of its closures after compilation (StableOde.Core.fsproj).
[<Sealed; AttributeUsage(AttributeTargets.Class, AllowMultiple = false)>]
type internal OptimisedFromFirstCallAttribute() =
    inherit Attribute()
