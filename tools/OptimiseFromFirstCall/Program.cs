// usage: OptimiseFromFirstCall ASSEMBLY
//
// Sets MethodImplAttributes.AggressiveOptimization (0x0200) on every method of each type that
// carries StableOde.Core.OptimisedFromFirstCallAttribute, and of the types nested in it (the
// closures and the `$cont` methods the F# compiler splits from a function), except static
// constructors and methods without a body. The runtime then compiles them fully optimised at
// their first call instead of starting them at tier 0, whatever the host's tiering settings.
// The F# compiler keeps only some MethodImplOptions flags and drops this one, hence a step on the
// compiled assembly: the flags are a 2-byte column of the MethodDef table, patched in place.
// The file is rewritten (through a temporary file) only when a flag changes.
using System.Reflection;
using System.Reflection.Metadata;
using System.Reflection.Metadata.Ecma335;
using System.Reflection.PortableExecutable;

const string AttributeNamespace = "StableOde.Core";
const string AttributeName = "OptimisedFromFirstCallAttribute";

if (args.Length != 1)
{
    Console.Error.WriteLine("usage: OptimiseFromFirstCall ASSEMBLY");
    return 1;
}

var path = args[0];
var bytes = File.ReadAllBytes(path);
var changed = 0;
var marked = 0;
using (var pe = new PEReader(new MemoryStream(bytes)))
{
    var md = pe.GetMetadataReader();
    var table = pe.PEHeaders.MetadataStartOffset + md.GetTableMetadataOffset(TableIndex.MethodDef);
    var rowSize = md.GetTableRowSize(TableIndex.MethodDef);

    bool IsMarker(CustomAttribute attribute)
    {
        if (attribute.Constructor.Kind != HandleKind.MethodDefinition)
        {
            return false;
        }

        var definition = md.GetTypeDefinition(md.GetMethodDefinition((MethodDefinitionHandle)attribute.Constructor).GetDeclaringType());
        return md.StringComparer.Equals(definition.Name, AttributeName) && md.StringComparer.Equals(definition.Namespace, AttributeNamespace);
    }

    void Optimise(TypeDefinitionHandle handle)
    {
        var type = md.GetTypeDefinition(handle);
        foreach (var methodHandle in type.GetMethods())
        {
            var method = md.GetMethodDefinition(methodHandle);
            if (method.RelativeVirtualAddress == 0 || md.StringComparer.Equals(method.Name, ".cctor"))
            {
                continue;
            }

            var at = table + (MetadataTokens.GetRowNumber(methodHandle) - 1) * rowSize + 4;
            var flags = (ushort)(bytes[at] | (bytes[at + 1] << 8));
            var optimised = (ushort)(flags | (ushort)MethodImplAttributes.AggressiveOptimization);
            if (optimised != flags)
            {
                bytes[at] = (byte)optimised;
                bytes[at + 1] = (byte)(optimised >> 8);
                changed++;
            }
        }

        foreach (var nested in type.GetNestedTypes())
        {
            Optimise(nested);
        }
    }

    foreach (var handle in md.TypeDefinitions)
    {
        if (md.GetTypeDefinition(handle).GetCustomAttributes().Any(a => IsMarker(md.GetCustomAttribute(a))))
        {
            marked++;
            Optimise(handle);
        }
    }
}

if (changed > 0)
{
    var temporary = path + ".optimising";
    File.WriteAllBytes(temporary, bytes);
    File.Move(temporary, path, overwrite: true);
}

Console.WriteLine($"OptimiseFromFirstCall: {marked} marked types, {changed} methods newly marked AggressiveOptimization in {Path.GetFileName(path)}");
return 0;
