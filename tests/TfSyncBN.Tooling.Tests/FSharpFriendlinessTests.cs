using System.Reflection;

namespace TfSyncBN.Tooling.Tests;

/// <summary>
/// The public API of every library under src/ stays usable from F# without backticks or struct tuples: no member or
/// parameter named after an F# keyword, no ValueTuple in a signature, no ref/out parameters (record Deconstruct
/// methods aside). Deliberate exceptions are listed with their reason.
/// </summary>
[TestClass]
public sealed class FSharpFriendlinessTests
{
    /// <summary>F# keywords and reserved words that are legal C# identifiers.</summary>
    private static readonly HashSet<string> Keywords =
    [
        "type", "to", "member", "val", "done", "base", "module", "namespace", "fixed", "default", "params", "constraint",
        "function", "match", "with", "end", "begin", "global", "select", "include", "process", "pure", "sig", "component",
        "parallel", "atomic", "checked", "const", "constructor", "eager", "event", "external", "functor", "method", "mixin",
        "object", "protected", "tailcall", "trait", "virtual", "volatile", "downto", "elif", "exception", "inherit",
        "inline", "lazy", "let", "mutable", "of", "open", "rec", "then", "upcast", "downcast", "use", "yield", "assert",
        "asr", "land", "lor", "lsl", "lsr", "lxor", "mod", "sig", "fun", "done", "begin", "abstract", "and", "elif",
    ];

    /// <summary>Known exceptions: "Type.Member(parameter)" and why they stay.</summary>
    private static readonly Dictionary<string, string> Allowed = new(StringComparer.Ordinal)
    {
        // The PyTorch facade keeps PyTorch's parameter name; F# passes it positionally.
        ["TfSyncBN.Compat.Torch.SyncBatchNorm.ConvertSyncBatchNorm(module)"] = "PyTorch's name for the argument",
    };

    [TestMethod]
    public void PublicApiHasNoFSharpKeywordNamesTuplesOrByRefParameters()
    {
        var problems = new List<string>();
        foreach (var project in Repo.SourceProjects())
        {
            var assembly = Assembly.LoadFrom(Path.Combine(AppContext.BaseDirectory, Path.GetFileNameWithoutExtension(project) + ".dll"));
            foreach (var type in assembly.GetExportedTypes())
            {
                const BindingFlags flags = BindingFlags.Public | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;
                foreach (var member in type.GetMembers(flags))
                {
                    string where = $"{type.FullName}.{member.Name}";
                    if (Keywords.Contains(member.Name)) problems.Add($"{where}: member named after the F# keyword '{member.Name}'");
                    if (member is not MethodBase method) continue;
                    if (method is MethodInfo mi && IsTuple(mi.ReturnType)) problems.Add($"{where}: returns a tuple {mi.ReturnType.Name}");
                    foreach (var p in method.GetParameters())
                    {
                        string key = $"{where}({p.Name})";
                        if (Allowed.ContainsKey(key)) continue;
                        if (p.Name is { } n && Keywords.Contains(n)) problems.Add($"{key}: parameter named after an F# keyword");
                        if (IsTuple(p.ParameterType)) problems.Add($"{key}: tuple parameter");
                        if (p.ParameterType.IsByRef && method.Name != "Deconstruct") problems.Add($"{key}: ref/out/in parameter");
                    }
                }
            }
        }
        Assert.AreEqual(0, problems.Count, "F#-unfriendly public API:\n" + string.Join("\n", problems));
    }

    private static bool IsTuple(Type t)
    {
        var type = t.IsByRef ? t.GetElementType()! : t;
        return type.IsGenericType && type.GetGenericTypeDefinition().FullName!.StartsWith("System.ValueTuple`", StringComparison.Ordinal)
            || type.IsGenericType && type.GetGenericArguments().Any(IsTuple);
    }
}
