namespace TfSyncBN.Keras;

public sealed partial class Functional
{
    /// <summary>
    /// The Keras config, in tf.keras 2's layout: <c>{"name": ..., "layers": [{"class_name": ..., "config": {...}, "name":
    /// ..., "inbound_nodes": [[["layer", node_index, tensor_index, {}], ...], ...]}, ...], "input_layers": [["name", 0,
    /// 0], ...], "output_layers": [["name", node_index, tensor_index], ...]}</c>. Node indices count each layer's calls
    /// within this model. A nested model's entry holds its own config (class <c>Functional</c> or <c>Sequential</c>).
    /// </summary>
    /// <exception cref="ArgumentException">A layer's config holds a value with no JSON form.</exception>
    public override IReadOnlyDictionary<string, object?> GetConfig()
    {
        var entries = new List<object?>();
        foreach (var layer in layers)
        {
            var entry = new Dictionary<string, object?>(Keras.Layers.Serialize(layer))
            {
                ["name"] = layer.Name,
                ["inbound_nodes"] = nodes.Where(n => ReferenceEquals(n.Layer, layer) && n.Inputs.Count > 0)
                    .Select(n => (object?)n.Inputs.Select(t => (object?)new object?[]
                    {
                        t.Node.Layer.Name, NodeIndex(t.Node), t.TensorIndex, new Dictionary<string, object?>(),
                    }).ToArray())
                    .ToArray(),
            };
            entries.Add(entry);
        }
        return new Dictionary<string, object?>
        {
            ["name"] = Name,
            ["layers"] = entries,
            ["input_layers"] = inputs.Select(History).ToArray(),
            ["output_layers"] = outputs.Select(History).ToArray(),
        };
    }

    private object? History(KerasTensor t) => new object?[] { t.Node.Layer.Name, NodeIndex(t.Node), t.TensorIndex };

    /// <summary>
    /// A new model from Keras model JSON (<c>keras.models.model_from_json</c>) of class <c>Functional</c> (or tf.keras'
    /// older <c>Model</c>), as <see cref="Model.ToJson"/> writes it: the layers are created from their configs, their calls
    /// replayed from <c>inbound_nodes</c> (tf.keras 2's lists, or Keras 3's <c>{"args": [...], "kwargs": {}}</c> with
    /// <c>keras_history</c>), and the model built under the current strategy. Nested <c>Functional</c> and
    /// <c>Sequential</c> entries become nested models. The weights are freshly initialized (load them with
    /// <see cref="Model.LoadWeights"/>).
    /// </summary>
    /// <param name="json">The JSON text.</param>
    /// <exception cref="ArgumentNullException"><paramref name="json"/> is null.</exception>
    /// <exception cref="ArgumentException">The text is not valid JSON, does not describe a functional model, or its config
    /// is invalid (see <see cref="FromConfig"/>).</exception>
    public static Functional FromJson(string json)
    {
        ArgumentNullException.ThrowIfNull(json);
        var root = KerasJson.Read(json, nameof(json));
        var className = KerasConfig.GetString(root, "class_name");
        if (className is not ("Functional" or "Model"))
            throw new ArgumentException($"The model JSON describes a '{className ?? "(no class_name)"}', not a 'Functional' model (for 'Sequential', use Sequential.FromJson).", nameof(json));
        var config = KerasConfig.GetDictionary(root, "config")
            ?? throw new ArgumentException("The model JSON has no 'config' object.", nameof(json));
        try
        {
            return FromConfig(config);
        }
        catch (ArgumentException e) when (e.ParamName != nameof(json))
        {
            throw new ArgumentException($"Invalid model JSON: {e.Message}", nameof(json), e);
        }
    }

    /// <summary>A new model from the config <see cref="GetConfig"/> returns (<c>Functional.from_config</c>); see <see cref="FromJson"/>.</summary>
    /// <param name="config">The config: <c>name</c>, <c>layers</c>, <c>input_layers</c>, <c>output_layers</c>.</param>
    /// <exception cref="ArgumentNullException"><paramref name="config"/> is null.</exception>
    /// <exception cref="ArgumentException">A key is missing or malformed, a layer entry is invalid (the message names
    /// it), an inbound node names an unknown layer, node or tensor, or the graph cannot be built.</exception>
    public static Functional FromConfig(IReadOnlyDictionary<string, object?> config)
    {
        ArgumentNullException.ThrowIfNull(config);
        if (!config.TryGetValue("layers", out var l) || l is not IReadOnlyList<object?> list)
            throw new ArgumentException("The functional config has no 'layers' list.", nameof(config));
        var byName = new Dictionary<string, Layer>(StringComparer.Ordinal);
        var calls = new Dictionary<string, List<Node>>(StringComparer.Ordinal);
        var pending = new List<(Layer Layer, Queue<object?> Nodes)>();
        for (int i = 0; i < list.Count; i++)
        {
            if (list[i] is not IReadOnlyDictionary<string, object?> entry)
                throw new ArgumentException($"Entry {i} of the functional config's layers is not an object.", nameof(config));
            Layer layer;
            try
            {
                layer = CreateLayer(entry);
            }
            catch (ArgumentException e)
            {
                throw new ArgumentException($"Layer entry {i} of the functional config: {e.Message}", nameof(config), e);
            }
            var name = KerasConfig.GetString(entry, "name") ?? layer.Name;
            if (!byName.TryAdd(name, layer))
                throw new ArgumentException($"Two layer entries of the functional config are named '{name}'.", nameof(config));
            calls[name] = layer is InputLayer input ? [input.Output.Node] : [];
            var inbound = entry.TryGetValue("inbound_nodes", out var nodesValue) && nodesValue is IReadOnlyList<object?> nl ? nl : [];
            if (layer is not InputLayer) pending.Add((layer, new Queue<object?>(inbound)));
        }

        // Replay the calls: a node can be made once every tensor it reads exists (Keras' deserialization does the same).
        bool progress = true;
        while (progress)
        {
            progress = false;
            foreach (var (layer, queue) in pending)
            {
                while (queue.Count > 0 && Resolve(ReadHistory(queue.Peek()), byName, calls) is { } ins)
                {
                    queue.Dequeue();
                    var node = layer.CallSymbolic(ins)[0].Node;
                    calls[NameOf(layer, byName)].Add(node);
                    progress = true;
                }
            }
        }
        if (pending.FirstOrDefault(p => p.Nodes.Count > 0) is { Layer: not null } stuck)
            throw new ArgumentException($"An inbound node of layer '{NameOf(stuck.Layer, byName)}' reads a layer, node or tensor that the config does not define.", nameof(config));

        var ins2 = Resolve(ReadHistoryList(config, "input_layers"), byName, calls)
            ?? throw new ArgumentException("'input_layers' names a layer, node or tensor that the config does not define.", nameof(config));
        var outs = Resolve(ReadHistoryList(config, "output_layers"), byName, calls)
            ?? throw new ArgumentException("'output_layers' names a layer, node or tensor that the config does not define.", nameof(config));
        return new Functional(ins2, outs, KerasConfig.GetString(config, "name"));
    }

    private static string NameOf(Layer layer, Dictionary<string, Layer> byName) =>
        byName.First(p => ReferenceEquals(p.Value, layer)).Key;

    /// <summary>A layer from its model JSON entry: an input layer, a nested Functional or Sequential model (as its
    /// <see cref="ModelLayer"/>), or a built-in layer.</summary>
    internal static Layer CreateLayer(IReadOnlyDictionary<string, object?> entry)
    {
        var className = KerasConfig.GetString(entry, "class_name");
        var inner = KerasConfig.GetDictionary(entry, "config") ?? new Dictionary<string, object?>();
        return className switch
        {
            "InputLayer" => InputLayer.FromConfig(inner),
            "Functional" or "Model" => FromConfig(inner).AsLayer,
            "Sequential" => SequentialFrom(entry),
            _ => Keras.Layers.Deserialize(entry),
        };
    }

    private static ModelLayer SequentialFrom(IReadOnlyDictionary<string, object?> entry)
    {
        var a = ModelJson.ReadSequential(entry, "config");
        return new Sequential(a.Layers, a.InputShape, a.Name).AsLayer;
    }

    /// <summary>The tensors named by (layer, node, tensor) triples, or null while one does not exist yet.</summary>
    private static KerasTensor[]? Resolve(IReadOnlyList<(string Layer, int Node, int Tensor)> history,
        Dictionary<string, Layer> byName, Dictionary<string, List<Node>> calls)
    {
        var result = new KerasTensor[history.Count];
        for (int i = 0; i < history.Count; i++)
        {
            var (layer, node, tensor) = history[i];
            if (!calls.TryGetValue(layer, out var made) || node >= made.Count || tensor >= made[node].Outputs.Count) return null;
            result[i] = made[node].Outputs[tensor];
        }
        return result;
    }

    private static List<(string, int, int)> ReadHistoryList(IReadOnlyDictionary<string, object?> config, string key)
    {
        if (!config.TryGetValue(key, out var v) || v is not IReadOnlyList<object?> list || list.Count == 0)
            throw new ArgumentException($"The functional config needs a non-empty '{key}' list.", "config");
        // Keras 3 writes a single input or output as one triple rather than a list of triples.
        return list[0] is string ? [Triple(list, key)] : list.Select(t => Triple(t, key)).ToList();
    }

    /// <summary>The (layer, node, tensor) triples one inbound node reads: tf.keras 2's list of
    /// <c>[layer, node, tensor, kwargs]</c>, or Keras 3's <c>{"args": [...]}</c> with <c>__keras_tensor__</c> entries.</summary>
    private static List<(string, int, int)> ReadHistory(object? node)
    {
        var result = new List<(string, int, int)>();
        if (node is IReadOnlyDictionary<string, object?> keras3)
        {
            Collect(keras3.TryGetValue("args", out var args) ? args : null, result);
            if (result.Count == 0) throw new ArgumentException("An inbound node has no keras_history in its args.", "config");
        }
        else if (node is IReadOnlyList<object?> list && list.Count > 0) result.AddRange(list.Select(t => Triple(t, "inbound_nodes")));
        else throw new ArgumentException("An inbound node must be a non-empty list of [layer, node_index, tensor_index, kwargs].", "config");
        return result;
    }

    private static void Collect(object? value, List<(string, int, int)> result)
    {
        if (value is IReadOnlyDictionary<string, object?> d)
        {
            if (KerasConfig.GetString(d, "class_name") == "__keras_tensor__" && KerasConfig.GetDictionary(d, "config") is { } c
                && c.TryGetValue("keras_history", out var h))
                result.Add(Triple(h, "keras_history"));
        }
        else if (value is IReadOnlyList<object?> list) foreach (var v in list) Collect(v, result);
    }

    private static (string, int, int) Triple(object? value, string key)
    {
        if (value is IReadOnlyList<object?> { Count: >= 3 } t && t[0] is string layer && Index(t[1]) is int node && Index(t[2]) is int tensor)
            return (layer, node, tensor);
        throw new ArgumentException($"An entry of '{key}' must be [layer_name, node_index, tensor_index, ...] with non-negative integers.", "config");
    }

    private static int? Index(object? value) =>
        value is long or int or double && Convert.ToDouble(value, System.Globalization.CultureInfo.InvariantCulture) is var d
            && d == Math.Floor(d) && d >= 0 && d <= int.MaxValue ? (int)d : null;
}
