using System.Text.Json.Nodes;
using TfSyncBN.NotebookRunner;

namespace TfSyncBN.Tooling.Tests;

/// <summary>
/// Every notebook under notebooks/ runs cell by cell through the notebook runner (C# in .NET Interactive's C# kernel,
/// loading TfSyncBN from the local package feed artifacts/packages as a user would; F# with dotnet fsi), and the
/// committed outputs are the ones the runner produces, compared by <see cref="OutputComparison"/> (regenerate them with
/// <c>dotnet run --project tools/TfSyncBN.NotebookRunner -c Release -- --pack --write</c>).
/// The tests leave nothing behind: the package they pack is removed from the feed afterwards, and the kernel restores
/// it into a package folder of their own (the machine's NuGet cache serves the other packages read-only, as a fallback
/// folder), which is deleted afterwards; the tests assert that the machine's NuGet cache did not receive it.
/// </summary>
[TestClass]
public sealed class NotebookTests
{
    private static IReadOnlyList<string> Notebooks() => Directory.GetFiles(Path.Combine(Repo.Root, "notebooks"), "*.ipynb").Order(StringComparer.Ordinal).ToArray();

    private static string Feed => Path.Combine(Repo.Root, "artifacts", "packages");

    /// <summary>The version packed for this test run.</summary>
    private static string version = "";

    /// <summary>The package folder the kernel restores into (NUGET_PACKAGES of the runner process).</summary>
    private static Repo.TempDirectory? packages;

    /// <summary>The runner's environment: its own package folder, with the machine's NuGet cache as a read-only fallback.</summary>
    private static Dictionary<string, string> RunnerEnvironment() => new()
    {
        ["NUGET_PACKAGES"] = packages!.Path,
        ["NUGET_FALLBACK_PACKAGES"] = Repo.GlobalPackagesFolder,
    };

    /// <summary>Packs this build of TfSyncBN into the local feed under a new version, which <c>*-*</c> then picks.</summary>
    [ClassInitialize]
    public static void PackIntoLocalFeed(TestContext _)
    {
        version = Runner.LocalPackageVersion();
        packages = new Repo.TempDirectory();
        var (code, output) = Repo.Dotnet(Repo.Root, TimeSpan.FromSeconds(120), null,
            "pack", "src/TfSyncBN", "-c", Repo.Configuration, "--no-build", "-o", Feed, $"-p:PackageVersion={version}");
        Assert.AreEqual(0, code, output);
    }

    /// <summary>Removes what the tests added: the packed package (and its symbols) and the runner's package folder.</summary>
    [ClassCleanup]
    public static void RemovePackedPackage()
    {
        foreach (var extension in new[] { ".nupkg", ".snupkg" })
            File.Delete(Path.Combine(Feed, $"TfSyncBN.{version}{extension}"));
        packages?.Dispose();
        Assert.IsFalse(Directory.GetFiles(Feed, $"TfSyncBN.{version}.*").Any(), $"TfSyncBN {version} is still in {Feed}");
        Assert.IsFalse(packages is not null && Directory.Exists(packages.Path), $"{packages?.Path} was not deleted");
        Assert.IsFalse(Directory.Exists(Path.Combine(Repo.GlobalPackagesFolder, "tfsyncbn", version)), $"TfSyncBN {version} was left in the machine's NuGet cache");
    }

    /// <summary>The kernel restored this run's package into the runner's own package folder, and the machine's NuGet cache holds no copy.</summary>
    private static void AssertRestoredOutsideTheNuGetCache()
    {
        Assert.IsTrue(Directory.Exists(Path.Combine(packages!.Path, "tfsyncbn", version)), $"TfSyncBN {version} was not restored into the runner's package folder");
        Assert.IsFalse(Directory.Exists(Path.Combine(Repo.GlobalPackagesFolder, "tfsyncbn", version)), $"TfSyncBN {version} was left in the machine's NuGet cache");
    }

    /// <summary>
    /// The runner as its own process: this test process has TfSyncBN on its load path (it references src/ for the API
    /// check), which would make the kernel bind the notebooks to that copy instead of the restored package.
    /// </summary>
    private static (int ExitCode, string Output) RunCli(TimeSpan timeout, params string[] args)
    {
        string runner = Path.Combine(Repo.Root, "tools", "TfSyncBN.NotebookRunner", "bin", Repo.Configuration, "net10.0", "TfSyncBN.NotebookRunner.dll");
        Assert.IsTrue(File.Exists(runner), $"{runner} was not built");
        return Repo.Dotnet(Repo.Root, timeout, RunnerEnvironment(), [runner, .. args]);
    }

    [TestMethod]
    [Timeout(500_000, CooperativeCancellation = true)]
    public void EveryNotebookRunsAndCarriesTheRunnerOutputs()
    {
        var notebooks = Notebooks();
        var kernels = notebooks.Select(p => Notebook.Load(p).KernelName).ToHashSet();
        Assert.IsTrue(kernels.Contains(".net-csharp") && kernels.Contains(".net-fsharp"), $"expected a C# and an F# notebook, found: {string.Join(", ", kernels)}");
        using var temp = new Repo.TempDirectory();
        foreach (var path in notebooks)
        {
            string produced = Path.Combine(temp.Path, Path.GetFileName(path));
            var (code, output) = RunCli(TimeSpan.FromSeconds(240), "--out", produced, path);
            Assert.AreEqual(0, code, output);
            var result = Notebook.Load(produced);
            // The committed outputs are the runner's: same kinds, same text and HTML with timings masked, numbers equal
            // up to float32 and display rounding (OutputComparison says why).
            var committed = Notebook.Load(path);
            var all = new List<CellOutput>();
            foreach (var cell in committed.CodeCells())
            {
                var outputs = result.Outputs(cell.Index);
                all.AddRange(outputs);
                var difference = OutputComparison.CellDifference(committed.Outputs(cell.Index), outputs, Repo.Root);
                Assert.IsNull(difference,
                    $"{Path.GetFileName(path)} cell {cell.Index}: the committed outputs are not those the runner produces ({difference}); run the runner with --pack --write.");
            }
            // The training run's history renders as an SVG loss curve through TfSyncBN's own formatting.
            Assert.IsTrue(all.Any(o => o.Html is { } h && h.Contains("<svg", StringComparison.Ordinal) && h.Contains("data-key=\"loss\"", StringComparison.Ordinal)),
                $"{Path.GetFileName(path)} draws no loss curve");
            // Tensors render through TfSyncBN's tensor table, in the C# kernel as in the F# runner.
            Assert.IsTrue(all.Any(o => o.Html is { } h && h.StartsWith("<table class=\"tfsyncbn-tensor\">", StringComparison.Ordinal)),
                $"{Path.GetFileName(path)} shows no tensor through TfSyncBN's formatter");
        }
        AssertRestoredOutsideTheNuGetCache();
    }

    [TestMethod]
    [Timeout(400_000, CooperativeCancellation = true)]
    public void CSharpCellsRunInTheKernelFromThePackageAndErrorsNameTheirCell()
    {
        using var dir = new Repo.TempDirectory();
        // The kernel restores TfSyncBN from the local feed and formats values with TfSyncBN's own HTML formatter.
        string produced = Path.Combine(dir.Path, "out.ipynb");
        var (code, output) = RunCli(TimeSpan.FromSeconds(180), "--out", produced, Write(dir, ".net-csharp", $"#i \"nuget: {Feed}\"\n#r \"nuget: TfSyncBN, *-*\"",
            "using TfSyncBN.Tensors;\nvar t = Tensor.FromArray([1f, 2f, 3f, 4f], [2, 2]);\nConsole.WriteLine(t.Size);\nConsole.WriteLine(typeof(Tensor).Assembly.Location);",
            "display(t.Sum());\nt"));
        Assert.AreEqual(0, code, output);
        var ok = Notebook.Load(produced);
        Assert.AreEqual(0, ok.Outputs(0).Count, "the package restore shows no output");
        var lines = ok.Outputs(1).Single().Text.ReplaceLineEndings("\n").Split('\n');
        Assert.AreEqual("4", lines[0]);
        StringAssert.Contains(lines[1].Replace('\\', '/'), "/tfsyncbn/0.1.0-local.", "TfSyncBN must come from the restored package");
        var shown = ok.Outputs(2);
        Assert.AreEqual(2, shown.Count);
        Assert.AreEqual("display_data", shown[0].Kind);
        StringAssert.Contains(shown[0].Html, "<caption>Tensor () float32</caption>");
        StringAssert.Contains(shown[0].Html, "<td>10</td>");
        Assert.AreEqual("execute_result", shown[1].Kind);
        StringAssert.StartsWith(shown[1].Html, "<table class=\"tfsyncbn-tensor\"><caption>Tensor (2, 2) float32</caption>");
        StringAssert.StartsWith(lines[1], Path.Combine(packages!.Path, "tfsyncbn", version), "TfSyncBN must come from this run's package, in the runner's package folder");
        AssertRestoredOutsideTheNuGetCache();

        (code, output) = RunCli(TimeSpan.FromSeconds(120), Write(dir, ".net-csharp", "var x = 1;", "var y = x + undefinedName;"));
        Assert.AreEqual(1, code, output);
        StringAssert.Contains(output, "cell 1: compile error");
        StringAssert.Contains(output, "CS0103");

        (code, output) = RunCli(TimeSpan.FromSeconds(120), Write(dir, ".net-csharp", "throw new InvalidOperationException(\"boom\");"));
        Assert.AreEqual(1, code, output);
        StringAssert.Contains(output, "cell 0: runtime error");
        StringAssert.Contains(output, "boom");

        (code, output) = RunCli(TimeSpan.FromSeconds(180), Write(dir, ".net-csharp", $"#i \"nuget: {Feed}\"\n#r \"nuget: TfSyncBN.NoSuchPackage, 9.9.9\""));
        Assert.AreEqual(1, code, output);
        StringAssert.Contains(output, "cell 0:");
        StringAssert.Contains(output, "TfSyncBN.NoSuchPackage");
    }

    [TestMethod]
    [Timeout(60_000, CooperativeCancellation = true)]
    public async Task FSharpCellsRunInFsiAndErrorsNameTheirCell()
    {
        using var dir = new Repo.TempDirectory();
        var ok = await Run(dir, ".net-fsharp", "#r \"nuget: TfSyncBN\"\nopen TfSyncBN.Tensors", "let t = Tensor.Ones [ 3 ]\nprintfn \"size %d\" t.Size", "display t");
        Assert.IsTrue(ok.Succeeded, ok.Error);
        Assert.AreEqual("size 3", ok.Outputs[1].Single().Text.Trim());
        StringAssert.Contains(ok.Outputs[2].Single().Html, "<caption>Tensor (3,) float32</caption>");

        var compile = await Run(dir, ".net-fsharp", "let a = 1", "let b = a + \"text\"");
        Assert.IsFalse(compile.Succeeded);
        StringAssert.Contains(compile.Error, "cell 1:");

        var runtime = await Run(dir, ".net-fsharp", "printfn \"before\"", "if System.DateTime.Now.Year > 0 then failwith \"boom\"");
        Assert.IsFalse(runtime.Succeeded);
        StringAssert.Contains(runtime.Error, "cell 1:");
        StringAssert.Contains(runtime.Error, "boom");
    }

    /// <summary>Writes a notebook of one markdown cell (index 0 is code when none) and the given code cells, and runs it.</summary>
    private static Task<NotebookResult> Run(Repo.TempDirectory dir, string kernel, params string[] cells) =>
        Runner.RunAsync(Write(dir, kernel, cells), write: false, timeout: TimeSpan.FromSeconds(120));

    /// <summary>Writes a notebook of the given code cells; returns its path.</summary>
    private static string Write(Repo.TempDirectory dir, string kernel, params string[] cells)
    {
        var nb = new JsonObject
        {
            ["cells"] = new JsonArray(cells.Select(c => (JsonNode)new JsonObject
            {
                ["cell_type"] = "code", ["metadata"] = new JsonObject(), ["outputs"] = new JsonArray(), ["source"] = c,
            }).ToArray()),
            ["metadata"] = new JsonObject { ["kernelspec"] = new JsonObject { ["name"] = kernel } },
            ["nbformat"] = 4,
            ["nbformat_minor"] = 5,
        };
        string path = Path.Combine(dir.Path, Guid.NewGuid().ToString("N") + ".ipynb");
        File.WriteAllText(path, nb.ToJsonString());
        return path;
    }
}

/// <summary>
/// The F# example script runs with dotnet fsi against the built library and learns: one epoch over the 8,000 training
/// images of the shipped subset (63 steps, about 10-20 s on 2 cores) reaches ~82% on the first 1,000 test images
/// (seeded, so the same every run); the floor of 70% is seven times chance and leaves room for the script's model or
/// schedule to change a little, but not to break: with Keras' default momentum 0.99 the same run reaches 31-37%.
/// </summary>
[TestClass]
public sealed class FSharpExampleTests
{
    private const double MinAccuracy = 0.70;

    [TestMethod]
    [Timeout(90_000, CooperativeCancellation = true)]
    public void FashionMnistScriptTrainsOnTheSubset()
    {
        if (Repo.Configuration != "Release") Assert.Inconclusive("The script references the Release build of src/TfSyncBN.");
        var (code, output) = Repo.Dotnet(Repo.Root, TimeSpan.FromSeconds(80), null,
            "fsi", "--quiet", "examples/FSharp/FashionMnist.fsx", "--epochs", "1", "--max-train", "8000", "--max-test", "1000",
            "--min-accuracy", MinAccuracy.ToString(System.Globalization.CultureInfo.InvariantCulture));
        StringAssert.Contains(output, "8000 training images, 1000 test images");
        StringAssert.Contains(output, "Total params: 422,314");
        StringAssert.Contains(output, "Adam lr 0.001 with cosine decay to 0");
        StringAssert.Matches(output, new System.Text.RegularExpressions.Regex(@"Loss per epoch: \d+\.\d{4}\n"));
        var accuracy = System.Text.RegularExpressions.Regex.Match(output, @"Test accuracy (\d+\.\d+)% \(loss");
        Assert.IsTrue(accuracy.Success, output);
        double value = double.Parse(accuracy.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) / 100;
        Assert.IsTrue(value >= MinAccuracy, $"test accuracy {value:P2} < {MinAccuracy:P0}:\n{output}");
        // The script's own check agrees: exit code 0 only when the accuracy reaches --min-accuracy.
        Assert.AreEqual(0, code, output);
    }
}
