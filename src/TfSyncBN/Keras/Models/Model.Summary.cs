using System.Globalization;
using System.Text;

namespace TfSyncBN.Keras;

public abstract partial class Model
{
    /// <summary>
    /// A Keras-style table of the layers (<c>model.summary()</c>): name and class, output shape (batch dimension
    /// <c>None</c>) and parameter count of each layer, and for a <see cref="Functional"/> model a <c>Connected to</c>
    /// column listing the tensors each call reads as <c>layer[node_index][tensor_index]</c> (one line each); then the
    /// total, trainable and non-trainable parameter counts with their float32 sizes.
    /// </summary>
    /// <param name="printFn">Called with each line, as Keras' <c>print_fn</c>; null prints to the console (<c>Console.WriteLine</c>), as Keras does.</param>
    /// <param name="lineLength">The table width, at least 40; null is Keras' default, 65 for a Sequential (columns at 45% and 85%)
    /// and 98 for a Functional (columns at 33%, 55% and 67%).</param>
    /// <returns>The whole table, lines separated by <c>\n</c>.</returns>
    /// <exception cref="InvalidOperationException">The model is not built.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="lineLength"/> is less than 40.</exception>
    public string Summary(Action<string>? printFn = null, int? lineLength = null)
    {
        var functional = this as Functional;
        int width = lineLength ?? (functional is null ? 65 : 98);
        if (width < 40) throw new ArgumentOutOfRangeException(nameof(lineLength), lineLength, "lineLength must be at least 40.");
        if (!Built) throw new InvalidOperationException($"Model '{Name}' is not built yet: give the Sequential an inputShape, or call Build, Call or Fit first.");
        return functional is not null ? Finish(FunctionalRows(functional, width), width, printFn) : SequentialSummary(printFn, width);
    }

    private string SequentialSummary(Action<string>? printFn, int lineLength)
    {
        int[] stops = [(int)(lineLength * 0.45), (int)(lineLength * 0.85), lineLength];
        var lines = new List<string>
        {
            $"Model: \"{Name}\"",
            new('_', lineLength),
            Row(stops, "Layer (type)", "Output Shape", "Param #"),
            new('=', lineLength),
        };
        var shapes = OutputShapesForSummary();
        var layers = Layers;
        for (int i = 0; i < layers.Count; i++)
        {
            var l = layers[i];
            lines.Add(Row(stops, $"{l.Name} ({l.ClassName})", shapes is null ? "?" : ShapeText(shapes[i]), l.CountParams().ToString("N0", CultureInfo.InvariantCulture)));
            lines.Add(i + 1 < layers.Count ? "" : new string('=', lineLength));
        }
        if (layers.Count == 0) lines.Add(new string('=', lineLength));
        return Finish(lines, lineLength, printFn);
    }

    /// <summary>Appends the parameter counts, prints every line and returns the table.</summary>
    private string Finish(List<string> lines, int lineLength, Action<string>? printFn)
    {
        long trainable = ParameterCount(TrainableWeights);
        long other = ParameterCount(NonTrainableWeights);
        lines.Add($"Total params: {Count(trainable + other)}");
        lines.Add($"Trainable params: {Count(trainable)}");
        lines.Add($"Non-trainable params: {Count(other)}");
        lines.Add(new string('_', lineLength));
        foreach (var line in lines) (printFn ?? Console.WriteLine)(line);
        return string.Join("\n", lines);
    }

    /// <summary>Each layer's output shape, or null when the model type does not record them.</summary>
    private IReadOnlyList<IReadOnlyList<int>>? OutputShapesForSummary() => this is Sequential s ? s.OutputShapes : null;

    private static string Row(int[] stops, params string[] fields)
    {
        var sb = new StringBuilder(" ");
        for (int i = 0; i < fields.Length; i++)
        {
            sb.Append(fields[i]);
            // At least one space between columns; a long field pushes the next one right rather than being cut.
            int target = i + 1 < stops.Length ? stops[i] : 0;
            sb.Append(' ', Math.Max(1, target - sb.Length));
        }
        return sb.ToString().TrimEnd();
    }

    private static string ShapeText(IReadOnlyList<int> shape) =>
        "(" + string.Join(", ", shape.Select(d => d < 0 ? "None" : d.ToString(CultureInfo.InvariantCulture))) + (shape.Count == 1 ? ",)" : ")");

    /// <summary><c>12,345 (48.22 KB)</c>: the count and its float32 size, in Keras 3's format.</summary>
    private static string Count(long parameters)
    {
        double bytes = parameters * 4.0;
        string[] units = ["B", "KB", "MB", "GB"];
        int u = 0;
        while (bytes >= 1024 && u < units.Length - 1)
        {
            bytes /= 1024;
            u++;
        }
        return string.Create(CultureInfo.InvariantCulture, $"{parameters:N0} ({bytes:F2} {units[u]})");
    }
}
