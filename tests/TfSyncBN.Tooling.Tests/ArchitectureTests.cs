using System.Reflection;
using System.Reflection.Emit;
using System.Text.RegularExpressions;

namespace TfSyncBN.Tooling.Tests;

/// <summary>
/// The dependency rules of the library's source (README, Layout): the tensor core in src/TfSyncBN/Tensors/ does not
/// depend on the distribution runtime (it declares the small interfaces it needs, and Distribute implements them),
/// and no code outside it reads or writes raw tensor storage: everything else goes through tensor ops or the explicit
/// sync points <c>ToArray</c>/<c>CopyTo</c>, so that a tensor can live on another device.
/// </summary>
[TestClass]
public sealed class ArchitectureTests
{
    private static readonly string TensorsDir = Path.Combine(Repo.Root, "src", "TfSyncBN", "Tensors");

    /// <summary>A use of the Distribute namespace: <c>TfSyncBN.Distribute</c>, or a type qualified as <c>Distribute.X</c>.</summary>
    private static readonly Regex DistributeUse = new(@"TfSyncBN\.Distribute|(?<![\w.])Distribute\.[A-Z]", RegexOptions.Compiled);

    [TestMethod]
    public void TensorsDoNotUseTheDistributeNamespace()
    {
        var files = Directory.GetFiles(TensorsDir, "*.cs", SearchOption.AllDirectories);
        Assert.IsTrue(files.Length > 10, $"expected the tensor core's sources under {TensorsDir}");
        var offenders = Offenders(files, DistributeUse);
        Assert.AreEqual(0, offenders.Count, "src/TfSyncBN/Tensors/ must not use TfSyncBN.Distribute (declare an interface in Tensors and implement it in Distribute):\n" + string.Join("\n", offenders));
    }

    [TestMethod]
    public void TheDistributeRuleRecognizesItsUses()
    {
        // Negative controls for the pattern itself: each of these lines must count as a use, and these must not.
        foreach (var use in new[] { "using TfSyncBN.Distribute;", "if (Distribute.Strategy.Current is { } s)", "/// <see cref=\"Distribute.ReplicaFailedException\"/>" })
            Assert.IsTrue(DistributeUse.IsMatch(use), use);
        foreach (var other in new[] { "bool IsDistributed { get; }", "// the distribution runtime", "CurrentDistributedReplica" })
            Assert.IsFalse(DistributeUse.IsMatch(other), other);
    }

    /// <summary>The members of <c>Tensor</c> that expose its storage, for use inside the tensor core only.</summary>
    private static readonly HashSet<string> RawStorageMembers = ["get_Data", "AsSpan", "get_HostArray", "get_Storage"];

    [TestMethod]
    public void NoCodeOutsideTheTensorCoreTouchesRawTensorStorage()
    {
        var offenders = new List<string>();
        foreach (var project in Repo.SourceProjects())
        {
            var assembly = Assembly.LoadFrom(Path.Combine(AppContext.BaseDirectory, Path.GetFileNameWithoutExtension(project) + ".dll"));
            offenders.AddRange(RawStorageUses(assembly, insideTensors: false));
        }
        Assert.AreEqual(0, offenders.Count,
            "Code outside TfSyncBN.Tensors must not use Tensor.Data, AsSpan(), HostArray or Storage: use a tensor op, or ToArray/CopyTo at an explicit sync point:\n" +
            string.Join("\n", offenders));
    }

    [TestMethod]
    public void TheRawStorageScanFindsTheTensorCoresOwnUses()
    {
        // Negative control for the IL scan: inside the tensor core the kernels read Data and AsSpan all the time.
        var assembly = Assembly.LoadFrom(Path.Combine(AppContext.BaseDirectory, "TfSyncBN.dll"));
        var uses = RawStorageUses(assembly, insideTensors: true);
        Assert.IsTrue(uses.Count > 50, $"only {uses.Count} uses found");
        Assert.IsTrue(uses.Any(u => u.StartsWith("TfSyncBN.Tensors.TrainingOps.SgdUpdate: ", StringComparison.Ordinal) && u.EndsWith("get_Data", StringComparison.Ordinal)), string.Join("\n", uses.Take(20)));
        Assert.IsTrue(uses.Any(u => u.Contains("<>c", StringComparison.Ordinal)), "uses inside lambdas (closure classes) are seen too");
    }

    /// <summary>"Type.Method: member" for each call to a raw-storage member of <c>Tensor</c> in the method bodies of the
    /// types inside (or outside) the <c>TfSyncBN.Tensors</c> namespaces, found by decoding the IL.</summary>
    private static List<string> RawStorageUses(Assembly assembly, bool insideTensors)
    {
        const BindingFlags all = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;
        var uses = new List<string>();
        foreach (var type in assembly.GetTypes())
        {
            bool inTensors = type.Namespace is { } ns && (ns == "TfSyncBN.Tensors" || ns.StartsWith("TfSyncBN.Tensors.", StringComparison.Ordinal));
            if (inTensors != insideTensors) continue;
            foreach (var method in type.GetMethods(all).Cast<MethodBase>().Concat(type.GetConstructors(all)))
            {
                foreach (var callee in Callees(method))
                    if (callee.DeclaringType?.FullName == "TfSyncBN.Tensors.Tensor" && RawStorageMembers.Contains(callee.Name))
                        uses.Add($"{type.FullName}.{method.Name}: {callee.Name}");
            }
        }
        return uses;
    }

    private static readonly Dictionary<short, OpCode> OpCodesByValue = typeof(OpCodes).GetFields(BindingFlags.Public | BindingFlags.Static)
        .Select(f => (OpCode)f.GetValue(null)!).ToDictionary(o => o.Value);

    /// <summary>The methods that <paramref name="method"/>'s body calls, loads or constructs (call, callvirt, newobj, ldftn, ldvirtftn, ldtoken).</summary>
    private static IEnumerable<MethodBase> Callees(MethodBase method)
    {
        var il = method.GetMethodBody()?.GetILAsByteArray();
        if (il is null) yield break;
        Type[]? typeArgs = method.DeclaringType is { IsGenericType: true } t ? t.GetGenericArguments() : null;
        Type[]? methodArgs = method.IsGenericMethod ? method.GetGenericArguments() : null;
        for (int i = 0; i < il.Length;)
        {
            short value = il[i] == 0xFE ? (short)(0xFE00 | il[i + 1]) : il[i];
            i += il[i] == 0xFE ? 2 : 1;
            var op = OpCodesByValue[value];
            int size = op.OperandType switch
            {
                OperandType.InlineNone => 0,
                OperandType.ShortInlineBrTarget or OperandType.ShortInlineI or OperandType.ShortInlineVar => 1,
                OperandType.InlineVar => 2,
                OperandType.InlineI8 or OperandType.InlineR => 8,
                OperandType.InlineSwitch => 4 + 4 * BitConverter.ToInt32(il, i),
                _ => 4,
            };
            if (op.OperandType == OperandType.InlineMethod || (op.OperandType == OperandType.InlineTok && op == OpCodes.Ldtoken))
            {
                MethodBase? callee = null;
                try { callee = method.Module.ResolveMethod(BitConverter.ToInt32(il, i), typeArgs, methodArgs); }
                catch (ArgumentException) { } // an ldtoken of a type or field
                if (callee is not null) yield return callee;
            }
            i += size;
        }
    }

    /// <summary>"path:line: text" of every line of <paramref name="files"/> that matches <paramref name="pattern"/>.</summary>
    internal static List<string> Offenders(IEnumerable<string> files, Regex pattern)
    {
        var offenders = new List<string>();
        foreach (var file in files)
        {
            var lines = File.ReadAllLines(file);
            for (int i = 0; i < lines.Length; i++)
                if (pattern.IsMatch(lines[i]))
                    offenders.Add($"{Path.GetRelativePath(Repo.Root, file)}:{i + 1}: {lines[i].Trim()}");
        }
        return offenders;
    }
}
