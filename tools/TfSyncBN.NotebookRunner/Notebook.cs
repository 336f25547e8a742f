using System.Text.Json;
using System.Text.Json.Nodes;

namespace TfSyncBN.NotebookRunner;

/// <summary>One output of a code cell, as Jupyter stores it.</summary>
/// <param name="Kind"><c>stream</c> (console text), <c>display_data</c> (a <c>display(...)</c> call) or <c>execute_result</c> (the cell's value).</param>
/// <param name="Text">The console text, or the value's text/plain form.</param>
/// <param name="Html">The value's text/html form, when its type has a formatter; null otherwise.</param>
public sealed record CellOutput(string Kind, string Text, string? Html = null);

/// <summary>A code cell: its index among all cells, language (<c>csharp</c> or <c>fsharp</c>) and source.</summary>
public sealed record CodeCell(int Index, string Language, string Source);

/// <summary>An nbformat 4 notebook of .NET Interactive (kernelspec <c>.net-csharp</c> or <c>.net-fsharp</c>).</summary>
public sealed class Notebook
{
    private readonly JsonObject root;

    private Notebook(JsonObject root) => this.root = root;

    public static Notebook Load(string path) =>
        new(JsonNode.Parse(File.ReadAllText(path)) as JsonObject ?? throw new InvalidDataException($"{path} is not a JSON object."));

    /// <summary>The kernelspec name: <c>.net-csharp</c>, <c>.net-fsharp</c>, ...</summary>
    public string? KernelName => root["metadata"]?["kernelspec"]?["name"]?.GetValue<string>();

    /// <summary>
    /// The code cells, each with its language: the cell's <c>dotnet_interactive.language</c> or
    /// <c>polyglot_notebook.kernelName</c>, else the kernelspec's.
    /// </summary>
    public IReadOnlyList<CodeCell> CodeCells()
    {
        string fallback = KernelName switch
        {
            ".net-csharp" => "csharp",
            ".net-fsharp" => "fsharp",
            var k => throw new InvalidDataException($"Unsupported kernelspec '{k}': expected .net-csharp or .net-fsharp."),
        };
        var cells = new List<CodeCell>();
        var all = root["cells"] as JsonArray ?? [];
        for (int i = 0; i < all.Count; i++)
        {
            var cell = all[i]!;
            if (cell["cell_type"]?.GetValue<string>() != "code") continue;
            string language = cell["metadata"]?["dotnet_interactive"]?["language"]?.GetValue<string>()
                ?? cell["metadata"]?["polyglot_notebook"]?["kernelName"]?.GetValue<string>()
                ?? fallback;
            cells.Add(new CodeCell(i, language, SourceText(cell["source"])));
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
            var cell = all[i]!.AsObject();
            if (cell["cell_type"]?.GetValue<string>() != "code") continue;
            int n = ++count;
            cell["execution_count"] = n;
            var array = new JsonArray();
            foreach (var o in outputs.TryGetValue(i, out var list) ? list : [])
            {
                if (o.Kind == "stream")
                {
                    array.Add(new JsonObject { ["name"] = "stdout", ["output_type"] = "stream", ["text"] = Lines(o.Text) });
                    continue;
                }
                var data = new JsonObject();
                if (o.Html is not null) data["text/html"] = Lines(o.Html);
                if (o.Html is null || o.Text.Length > 0) data["text/plain"] = Lines(o.Text);
                var output = new JsonObject { ["data"] = data };
                if (o.Kind == "execute_result") output["execution_count"] = n;
                output["metadata"] = new JsonObject();
                output["output_type"] = o.Kind;
                array.Add(output);
            }
            cell["outputs"] = array;
        }
    }

    /// <summary>Writes the notebook as Jupyter does: one-space indentation, a final newline.</summary>
    public void Save(string path)
    {
        var options = new JsonSerializerOptions { WriteIndented = true, IndentSize = 1, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
        File.WriteAllText(path, root.ToJsonString(options).ReplaceLineEndings("\n") + "\n");
    }

    private static string SourceText(JsonNode? source) => source switch
    {
        JsonArray lines => string.Concat(lines.Select(l => l!.GetValue<string>())),
        JsonValue v => v.GetValue<string>(),
        _ => "",
    };

    /// <summary>Text as Jupyter's list of lines, each but the last ending in \n.</summary>
    private static JsonArray Lines(string text)
    {
        var array = new JsonArray();
        var parts = text.ReplaceLineEndings("\n").Split('\n');
        for (int i = 0; i < parts.Length; i++)
            if (i + 1 < parts.Length) array.Add(parts[i] + "\n");
            else if (parts[i].Length > 0) array.Add(parts[i]);
        return array;
    }
}
