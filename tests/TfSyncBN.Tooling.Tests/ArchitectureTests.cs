using System.Text.RegularExpressions;

namespace TfSyncBN.Tooling.Tests;

/// <summary>
/// The dependency rules of the library's source (README, Layout): the tensor core in src/TfSyncBN/Tensors/ does not
/// depend on the distribution runtime (it declares the small interfaces it needs, and Distribute implements them).
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
