namespace TfSyncBN.Keras;

/// <summary>The architecture of a sequential model as read from Keras model JSON.</summary>
/// <param name="Name">The model name (<c>config.name</c>), or null when absent.</param>
/// <param name="Layers">New, unbuilt layers, in order.</param>
/// <param name="InputShape">The shape of one sample (without the batch dimension) from the <c>InputLayer</c> entry or the
/// first layer's <c>batch_input_shape</c>, or null when the JSON has none.</param>
internal sealed record SequentialArchitecture(string? Name, IReadOnlyList<Layer> Layers, IReadOnlyList<int>? InputShape);

/// <summary>
/// Keras model JSON for sequential models (<c>model.to_json()</c> / <c>keras.models.model_from_json</c>):
/// <c>{"class_name": "Sequential", "config": {"name": ..., "layers": [{"class_name": ..., "config": {...}}, ...]}}</c>.
/// </summary>
/// <remarks>
/// When the input shape is known the first entry of <c>layers</c> is an <c>InputLayer</c> with
/// <c>batch_input_shape</c> <c>[null, ...]</c>, as tf.keras 2 writes it; reading also accepts Keras 3's
/// <c>batch_shape</c> and a <c>batch_input_shape</c> key in the first layer's own config.
/// </remarks>
internal static class ModelJson
{
    public static Dictionary<string, object?> SequentialConfig(string name, IReadOnlyList<Layer> layers, IReadOnlyList<int>? inputShape)
    {
        var entries = new List<object?>();
        if (inputShape is not null)
        {
            entries.Add(new Dictionary<string, object?>
            {
                ["class_name"] = "InputLayer",
                ["config"] = new Dictionary<string, object?>
                {
                    ["batch_input_shape"] = new object?[] { null }.Concat(inputShape.Select(d => (object?)d)).ToArray(),
                    ["dtype"] = "float32",
                    ["sparse"] = false,
                    ["ragged"] = false,
                    ["name"] = layers.Count > 0 ? $"{layers[0].Name}_input" : $"{name}_input",
                },
            });
        }
        foreach (var layer in layers) entries.Add(Layers.Serialize(layer));
        return new Dictionary<string, object?> { ["name"] = name, ["layers"] = entries };
    }

    /// <exception cref="ArgumentException">Invalid JSON, a class name other than <c>Sequential</c>, a missing or
    /// malformed <c>config.layers</c>, a layer that <see cref="Layers.Deserialize"/> rejects, or two layers with the same
    /// name (the message says which).</exception>
    public static SequentialArchitecture Read(string json, string paramName)
    {
        ArgumentNullException.ThrowIfNull(json, paramName);
        return ReadSequential(KerasJson.Read(json, paramName), paramName);
    }

    /// <summary>The architecture from a parsed <c>{"class_name": "Sequential", "config": {...}}</c>.</summary>
    public static SequentialArchitecture ReadSequential(IReadOnlyDictionary<string, object?> root, string paramName)
    {
        var className = KerasConfig.GetString(root, "class_name");
        if (className != "Sequential")
            throw new ArgumentException($"The model JSON describes a '{className ?? "(no class_name)"}', but only 'Sequential' models can be rebuilt.", paramName);
        var config = KerasConfig.GetDictionary(root, "config")
            ?? throw new ArgumentException("The model JSON has no 'config' object.", paramName);
        if (!config.TryGetValue("layers", out var l) || l is not IReadOnlyList<object?> list)
            throw new ArgumentException("The model JSON's config has no 'layers' list.", paramName);

        int[]? inputShape = null;
        var layers = new List<Layer>();
        for (int i = 0; i < list.Count; i++)
        {
            if (list[i] is not IReadOnlyDictionary<string, object?> entry)
                throw new ArgumentException($"Entry {i} of the model JSON's layers is not an object.", paramName);
            var inner = KerasConfig.GetDictionary(entry, "config");
            if (KerasConfig.GetString(entry, "class_name") == "InputLayer")
            {
                if (i != 0) throw new ArgumentException($"Entry {i} of the model JSON's layers is an InputLayer; only the first entry may be one.", paramName);
                inputShape = inner is null ? null : ReadBatchShape(inner, paramName);
                continue;
            }
            if (layers.Count == 0 && inputShape is null && inner is not null) inputShape = ReadBatchShape(inner, paramName);
            Layer layer;
            try
            {
                layer = Functional.CreateLayer(entry);
            }
            catch (ArgumentException e)
            {
                throw new ArgumentException($"Layer entry {i} of the model JSON: {e.Message}", paramName, e);
            }
            // Keras requires unique layer names in a model; the weights are named after their layer.
            int first = layers.FindIndex(other => other.Name == layer.Name);
            if (first >= 0)
                throw new ArgumentException(
                    $"Layer entry {i} of the model JSON is named '{layer.Name}', like layer {first} of the model: the layers of a model must have unique names.", paramName);
            layers.Add(layer);
        }
        return new SequentialArchitecture(KerasConfig.GetString(config, "name"), layers, inputShape);
    }

    /// <summary>The sample shape from <c>batch_input_shape</c> (or <c>batch_shape</c>), dropping the batch entry.</summary>
    private static int[]? ReadBatchShape(IReadOnlyDictionary<string, object?> config, string paramName)
    {
        var key = config.ContainsKey("batch_input_shape") ? "batch_input_shape" : config.ContainsKey("batch_shape") ? "batch_shape" : null;
        if (key is null || config[key] is not IReadOnlyList<object?> dims) return null;
        if (dims.Count == 0) throw new ArgumentException($"'{key}' must hold the batch dimension and the sample dimensions, but it is empty.", paramName);
        var shape = new int[dims.Count - 1];
        for (int i = 1; i < dims.Count; i++)
        {
            shape[i - 1] = dims[i] is long or int or double && Convert.ToDouble(dims[i], System.Globalization.CultureInfo.InvariantCulture) is var d && d == Math.Floor(d) && d >= 0 && d <= int.MaxValue
                ? (int)d
                : throw new ArgumentException($"'{key}' entry {i} must be a non-negative integer, but is {dims[i] ?? "null"}: only the batch dimension may be unknown.", paramName);
        }
        return shape;
    }
}
