using System.Text.Json.Nodes;
using TfSyncBN.NotebookRunner;

namespace TfSyncBN.Tooling.Tests;

/// <summary>
/// Every notebook under notebooks/ runs cell by cell through the notebook runner (C# with Roslyn scripting, F# with
/// dotnet fsi), and the committed outputs are the ones the runner produces (regenerate them with
/// <c>dotnet run --project tools/TfSyncBN.NotebookRunner -c Release -- --write</c>).
/// </summary>
[TestClass]
public sealed class NotebookTests
{
    private static IReadOnlyList<string> Notebooks() => Directory.GetFiles(Path.Combine(Repo.Root, "notebooks"), "*.ipynb").Order(StringComparer.Ordinal).ToArray();

    [TestMethod]
    [Timeout(120_000, CooperativeCancellation = true)]
    public async Task EveryNotebookRunsAndCarriesTheRunnerOutputs()
    {
        var notebooks = Notebooks();
        var kernels = notebooks.Select(p => Notebook.Load(p).KernelName).ToHashSet();
        Assert.IsTrue(kernels.Contains(".net-csharp") && kernels.Contains(".net-fsharp"), $"expected a C# and an F# notebook, found: {string.Join(", ", kernels)}");
        foreach (var path in notebooks)
        {
            var result = await Runner.RunAsync(path, write: false, timeout: TimeSpan.FromSeconds(90));
            Assert.IsTrue(result.Succeeded, result.Error);
            var committed = Notebook.Load(path);
            foreach (var cell in committed.CodeCells())
            {
                var produced = result.Outputs[cell.Index].Select(o => o.Kind).ToArray();
                CollectionAssert.AreEqual(produced, committed.OutputKinds(cell.Index).ToArray(),
                    $"{Path.GetFileName(path)} cell {cell.Index}: the committed outputs are not those the runner produces; run the runner with --write.");
            }
            // The training run's history renders as an SVG loss curve through TfSyncBN's own formatting.
            Assert.IsTrue(result.Outputs.Values.SelectMany(o => o).Any(o => o.Html is { } h && h.Contains("<svg", StringComparison.Ordinal) && h.Contains("data-key=\"loss\"", StringComparison.Ordinal)),
                $"{Path.GetFileName(path)} draws no loss curve");
        }
    }

    [TestMethod]
    [Timeout(60_000, CooperativeCancellation = true)]
    public async Task CSharpCellsShareStateAndErrorsNameTheirCell()
    {
        using var dir = new Repo.TempDirectory();
        var ok = await Run(dir, ".net-csharp", "#r \"nuget: TfSyncBN, 0.1.0\"", "using TfSyncBN.Tensors;\nvar t = Tensor.FromArray([1f, 2f, 3f, 4f], [2, 2]);\nConsole.WriteLine(t.Size);", "display(t.Sum());\nt");
        Assert.IsTrue(ok.Succeeded, ok.Error);
        Assert.AreEqual("4\n", ok.Outputs[1].Single().Text.ReplaceLineEndings("\n"));
        Assert.AreEqual("display_data", ok.Outputs[2][0].Kind);
        StringAssert.StartsWith(ok.Outputs[2][0].Text, "Tensor[] [10]");
        Assert.AreEqual("execute_result", ok.Outputs[2][1].Kind);
        StringAssert.Contains(ok.Outputs[2][1].Html, "<caption>Tensor (2, 2) float32</caption>");

        var compile = await Run(dir, ".net-csharp", "var x = 1;", "var y = x + undefinedName;");
        Assert.IsFalse(compile.Succeeded);
        StringAssert.Contains(compile.Error, "cell 1: compile error");
        StringAssert.Contains(compile.Error, "CS0103");

        var runtime = await Run(dir, ".net-csharp", "throw new InvalidOperationException(\"boom\");");
        Assert.IsFalse(runtime.Succeeded);
        StringAssert.Contains(runtime.Error, "cell 0: runtime error");
        StringAssert.Contains(runtime.Error, "boom");

        var package = await Run(dir, ".net-csharp", "#r \"nuget: Newtonsoft.Json\"");
        Assert.IsFalse(package.Succeeded);
        StringAssert.Contains(package.Error, "only TfSyncBN packages");
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
    private static Task<NotebookResult> Run(Repo.TempDirectory dir, string kernel, params string[] cells)
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
        return Runner.RunAsync(path, write: false, timeout: TimeSpan.FromSeconds(45));
    }
}

/// <summary>The F# example script runs with dotnet fsi against the built library (a short run: 256 images, 1 epoch).</summary>
[TestClass]
public sealed class FSharpExampleTests
{
    [TestMethod]
    [Timeout(90_000, CooperativeCancellation = true)]
    public void FashionMnistScriptTrainsOnTheSubset()
    {
        if (Repo.Configuration != "Release") Assert.Inconclusive("The script references the Release build of src/TfSyncBN.");
        var (code, output) = Repo.Dotnet(Repo.Root, TimeSpan.FromSeconds(80), null,
            "fsi", "--quiet", "examples/FSharp/FashionMnist.fsx", "--epochs", "1", "--max-train", "256", "--max-test", "256", "--min-accuracy", "0");
        Assert.AreEqual(0, code, output);
        StringAssert.Contains(output, "256 training images, 256 test images");
        StringAssert.Contains(output, "Total params: 422,314");
        StringAssert.Matches(output, new System.Text.RegularExpressions.Regex(@"Loss per epoch: \d+\.\d{4}\n"));
    }
}
