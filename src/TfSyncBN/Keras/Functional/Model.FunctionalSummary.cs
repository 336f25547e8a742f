using System.Globalization;

namespace TfSyncBN.Keras;

public abstract partial class Model
{
    /// <summary>The header and layer rows of a functional model's summary, with the <c>Connected to</c> column.</summary>
    private List<string> FunctionalRows(Functional model, int lineLength)
    {
        int[] stops = [(int)(lineLength * 0.33), (int)(lineLength * 0.55), (int)(lineLength * 0.67), lineLength];
        var lines = new List<string>
        {
            $"Model: \"{Name}\"",
            new('_', lineLength),
            Row(stops, "Layer (type)", "Output Shape", "Param #", "Connected to"),
            new('=', lineLength),
        };
        var layers = model.Layers;
        for (int i = 0; i < layers.Count; i++)
        {
            var layer = layers[i];
            var calls = model.Nodes.Where(n => ReferenceEquals(n.Layer, layer)).ToArray();
            var shapes = calls.SelectMany(n => n.Outputs).Select(t => KerasTensor.ShapeText(t.ShapeArray)).Distinct().ToArray();
            var connections = calls.SelectMany(n => n.Inputs)
                .Select(t => string.Create(CultureInfo.InvariantCulture, $"{t.Node.Layer.Name}[{model.NodeIndex(t.Node)}][{t.TensorIndex}]")).ToArray();
            lines.Add(Row(stops, $"{layer.Name} ({layer.ClassName})", shapes.Length == 1 ? shapes[0] : "multiple",
                layer.CountParams().ToString("N0", CultureInfo.InvariantCulture), connections.Length > 0 ? connections[0] : ""));
            foreach (var more in connections.Skip(1)) lines.Add(Row(stops, "", "", "", more));
            lines.Add(i + 1 < layers.Count ? "" : new string('=', lineLength));
        }
        return lines;
    }
}
