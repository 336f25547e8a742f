using System.Text.Json.Nodes;
using Microsoft.DotNet.Interactive.Documents;

namespace TfSyncBN.NotebookRunner;

/// <summary>One output of a code cell, as Jupyter stores it.</summary>
/// <param name="Kind"><c>stream</c> (console text), <c>display_data</c> (a <c>display(...)</c> call) or <c>execute_result</c> (the cell's value).</param>
/// <param name="Text">The console text, or the value's text/plain form.</param>
/// <param name="Html">The value's text/html form, when its type has a formatter; null otherwise.</param>
public sealed record CellOutput(string Kind, string Text, string? Html = null);

/// <summary>A code cell: its index among all cells, language (<c>csharp</c> or <c>fsharp</c>) and source.</summary>
public sealed record CodeCell(int Index, string Language, string Source);

/// <summary>
/// An nbformat 4 notebook of .NET Interactive (kernelspec <c>.net-csharp</c> or <c>.net-fsharp</c>). Cells are read and the
/// notebook is written with .NET Interactive's own reader and writer (<c>Microsoft.DotNet.Interactive.Documents</c>);
/// <see cref="Outputs"/> reads the stored outputs from the JSON.
/// </summary>
public sealed class Notebook
{
    private readonly JsonObject root;
    private readonly InteractiveDocument document;

    private Notebook(JsonObject root)
    {
        this.root = root;
        var kernels = new KernelInfoCollection
        {
            new KernelInfo("csharp", languageName: "C#", aliases: ["c#", "C#"]),
            new KernelInfo("fsharp", languageName: "F#", aliases: ["f#", "F#"]),
        };
        kernels.DefaultKernelName = Language(KernelName) ?? "csharp";
        document = Microsoft.DotNet.Interactive.Documents.Jupyter.Notebook.Parse(root.ToJsonString(), kernels);
        int count = (root["cells"] as JsonArray)?.Count ?? 0;
        if (document.Elements.Count != count)
            throw new InvalidDataException($"The notebook has {count} cells, but .NET Interactive reads {document.Elements.Count}.");
    }

    private static string? Language(string? kernelspec) => kernelspec switch
    {
        ".net-csharp" => "csharp",
        ".net-fsharp" => "fsharp",
        _ => null,
    };

    public static Notebook Load(string path) =>
        new(JsonNode.Parse(File.ReadAllText(path)) as JsonObject ?? throw new InvalidDataException($"{path} is not a JSON object."));

    /// <summary>The kernelspec name: <c>.net-csharp</c>, <c>.net-fsharp</c>, ...</summary>
    public string? KernelName => root["metadata"]?["kernelspec"]?["name"]?.GetValue<string>();

    /// <summary>
    /// The code cells, each with its language, as .NET Interactive reads the notebook
    /// (<c>Microsoft.DotNet.Interactive.Documents</c>): the cell's kernel name from its <c>polyglot_notebook</c> or
    /// <c>dotnet_interactive</c> metadata, else the kernelspec's language.
    /// </summary>
    public IReadOnlyList<CodeCell> CodeCells()
    {
        string fallback = Language(KernelName)
            ?? throw new InvalidDataException($"Unsupported kernelspec '{KernelName}': expected .net-csharp or .net-fsharp.");
        var all = root["cells"] as JsonArray ?? [];
        var cells = new List<CodeCell>();
        for (int i = 0; i < all.Count; i++)
        {
            if (all[i]!["cell_type"]?.GetValue<string>() != "code") continue;
            var element = document.Elements[i];
            string language = element.KernelName is { Length: > 0 } k && k != "markdown" ? k : fallback;
            cells.Add(new CodeCell(i, language, element.Contents));
        }
        return cells;
    }

    /// <summary>
    /// The stored outputs of cell <paramref name="index"/>, in order, as the runner produces them: a stream's text, or a
    /// display's <c>text/plain</c> and <c>text/html</c>.
    /// </summary>
    public IReadOnlyList<CellOutput> Outputs(int index) =>
        (root["cells"]![index]!["outputs"] as JsonArray ?? []).Select(o =>
        {
            string kind = o!["output_type"]!.GetValue<string>();
            if (kind == "stream") return new CellOutput(kind, SourceText(o["text"]));
            var html = o["data"]?["text/html"];
            return new CellOutput(kind, SourceText(o["data"]?["text/plain"]), html is null ? null : SourceText(html));
        }).ToArray();

    /// <summary>Replaces the outputs and execution counts of the code cells (numbered 1, 2, ... in order).</summary>
    public void SetOutputs(IReadOnlyDictionary<int, IReadOnlyList<CellOutput>> outputs)
    {
        var all = (JsonArray)root["cells"]!;
        int count = 0;
        for (int i = 0; i < all.Count; i++)
        {
            if (all[i]!["cell_type"]?.GetValue<string>() != "code") continue;
            var element = document.Elements[i];
            int n = ++count;
            element.ExecutionOrder = n;
            element.Outputs.Clear();
            foreach (var o in outputs.TryGetValue(i, out var list) ? list : [])
            {
                if (o.Kind == "stream")
                {
                    element.Outputs.Add(new TextElement(o.Text, "stdout"));
                    continue;
                }
                var data = new Dictionary<string, object>();
                if (o.Html is not null) data["text/html"] = o.Html;
                if (o.Html is null || o.Text.Length > 0) data["text/plain"] = o.Text;
                if (o.Kind == "execute_result")
                {
                    var result = new ReturnValueElement { ExecutionOrder = n };
                    foreach (var (mime, value) in data) result.Data[mime] = value;
                    element.Outputs.Add(result);
                }
                else
                {
                    element.Outputs.Add(new DisplayElement(data));
                }
            }
        }
    }

    /// <summary>Writes the notebook with .NET Interactive's Jupyter writer, ending in a newline as Jupyter does.</summary>
    public void Save(string path) =>
        File.WriteAllText(path, Microsoft.DotNet.Interactive.Documents.Jupyter.Notebook.ToJupyterJson(document).ReplaceLineEndings("\n") + "\n");

    private static string SourceText(JsonNode? source) => source switch
    {
        JsonArray lines => string.Concat(lines.Select(l => l!.GetValue<string>())),
        JsonValue v => v.GetValue<string>(),
        _ => "",
    };
}
