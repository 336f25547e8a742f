using System.Reflection;

namespace TfSyncBN.Tooling.Tests;

/// <summary>
/// The public API of every library under src/ is pinned in api/&lt;Assembly&gt;.txt. A change to the surface fails
/// here until the file is regenerated (and so shows up in review):
/// <c>UPDATE_API=1 dotnet test tests/TfSyncBN.Tooling.Tests -c Release --filter ApiSurface</c>.
/// </summary>
[TestClass]
public sealed class ApiSurfaceTests
{
    internal const string UpdateCommand = "UPDATE_API=1 dotnet test tests/TfSyncBN.Tooling.Tests -c Release --filter ApiSurface";

    [TestMethod]
    public void ApiSurfaceMatchesTheCommittedFiles()
    {
        bool update = Environment.GetEnvironmentVariable("UPDATE_API") is "1" or "true";
        var failures = new List<string>();
        var expectedFiles = new HashSet<string>(StringComparer.Ordinal);
        foreach (var project in Repo.SourceProjects())
        {
            string name = Path.GetFileNameWithoutExtension(project);
            string dll = Path.Combine(AppContext.BaseDirectory, name + ".dll");
            Assert.IsTrue(File.Exists(dll), $"{dll} is missing: every src project must be referenced (the glob in TfSyncBN.Tooling.Tests.csproj) and build.");
            string actual = PublicApi.Describe(Assembly.LoadFrom(dll));
            string file = Path.Combine(Repo.Root, "api", name + ".txt");
            expectedFiles.Add(Path.GetFileName(file));
            string? committed = File.Exists(file) ? File.ReadAllText(file).ReplaceLineEndings("\n") : null;
            if (committed == actual) continue;
            if (update)
            {
                Directory.CreateDirectory(Path.GetDirectoryName(file)!);
                File.WriteAllText(file, actual);
                continue;
            }
            failures.Add($"api/{name}.txt {(committed is null ? "does not exist" : "differs from the public API")}:\n{Diff(committed ?? "", actual)}");
        }
        foreach (var stale in Directory.Exists(Path.Combine(Repo.Root, "api")) ? Directory.GetFiles(Path.Combine(Repo.Root, "api"), "*.txt") : [])
            if (!expectedFiles.Contains(Path.GetFileName(stale)))
            {
                if (update) File.Delete(stale);
                else failures.Add($"api/{Path.GetFileName(stale)} belongs to no project under src/.");
            }
        if (failures.Count > 0)
            Assert.Fail(string.Join("\n\n", failures) + $"\n\nIf the change is intended, regenerate the files and commit them:\n  {UpdateCommand}");
    }

    [TestMethod]
    public void DescribeListsSignaturesWithDefaultsAndNullability()
    {
        string api = PublicApi.Describe(typeof(TfSyncBN.Keras.Sequential).Assembly);
        var lines = api.Split('\n');
        // The pinned text names real signatures: a constructor with its optional parameters, a nullable return and a static factory.
        StringAssert.Contains(api, "sealed class TfSyncBN.Keras.Sequential : TfSyncBN.Keras.Model");
        CollectionAssert.Contains(lines, "  ctor(System.Collections.Generic.IReadOnlyList<TfSyncBN.Keras.Layer>? layers = null, System.Collections.Generic.IReadOnlyList<int>? inputShape = null, string? name = null)");
        CollectionAssert.Contains(lines, "  static method TfSyncBN.Keras.L2 L2(float l2 = 0.01f)");
        CollectionAssert.Contains(lines, "  static method float GetFloat(this System.Collections.Generic.IReadOnlyDictionary<string, object?> config, string key)");
        Assert.IsFalse(api.Contains("Display.", StringComparison.Ordinal), "internal display types must not be listed");
        Assert.AreEqual(api, PublicApi.Describe(typeof(TfSyncBN.Keras.Sequential).Assembly), "the description must be stable");
    }

    /// <summary>A line diff: lines only in the committed file with '-', lines only in the current surface with '+'.</summary>
    internal static string Diff(string expected, string actual)
    {
        var e = Qualified(expected);
        var a = Qualified(actual);
        var lines = e.Except(a).Select(l => "- " + l).Concat(a.Except(e).Select(l => "+ " + l)).ToList();
        return string.Join("\n", lines.Take(200)) + (lines.Count > 200 ? $"\n... and {lines.Count - 200} more lines" : "");
    }

    /// <summary>Each member line prefixed with its type's line, so a diff line says where the member belongs.</summary>
    private static List<string> Qualified(string text)
    {
        var result = new List<string>();
        string owner = "";
        foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            if (!line.StartsWith(' ')) owner = line;
            result.Add(line.StartsWith(' ') ? owner + " ::" + line[1..] : line);
        }
        return result;
    }
}
