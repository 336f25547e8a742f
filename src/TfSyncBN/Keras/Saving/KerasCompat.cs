namespace TfSyncBN.Keras;

/// <summary>
/// The config keys that tf.keras 2.x and Keras 3 write into layer configs besides those TfSyncBN's layers read, and
/// the values under which each leaves the computation unchanged. <see cref="Layers.Deserialize"/> accepts such a key
/// with such a value and rejects it (naming the layer and the key) with any other value. Adding a key that Keras writes
/// is a one-line change here.
/// </summary>
internal static class KerasCompat
{
    /// <summary>A key, the values that leave the computation unchanged, and what those values are (for the message).</summary>
    private sealed record NeutralKey(string Key, Func<object?, bool> IsNeutral, string Accepted);

    private static readonly NeutralKey[] Keys =
    [
        // tf.keras 2.x Layer.get_config: an activity regularizer adds a loss term.
        new("activity_regularizer", v => v is null, "null"),
        // tf.keras 2.x writes the dtype as a string, Keras 3 as a DTypePolicy {"class_name": "DTypePolicy", "config": {"name": ...}}.
        new("dtype", IsFloat32, "\"float32\" or a float32 DTypePolicy"),
        // tf.keras 2.x / Keras 3 Conv: grouped convolution.
        new("groups", v => v is null || IsInt(v, 1), "1"),
        // Keras 3 Dense/EinsumDense LoRA and quantization.
        new("lora_rank", v => v is null, "null"),
        new("lora_alpha", _ => true, "any value (used only with lora_rank)"),
        new("quantization_config", v => v is null, "null"),
        // tf.keras 2.x BatchNormalization: batch renormalization and ghost batches; "fused" picks a kernel only.
        new("renorm", v => v is false or null, "false"),
        new("renorm_clipping", _ => true, "any value (used only with renorm)"),
        new("renorm_momentum", _ => true, "any value (used only with renorm)"),
        new("virtual_batch_size", v => v is null, "null"),
        new("adjustment", v => v is null, "null"),
        new("fused", _ => true, "any value (a kernel choice)"),
        // Dropout.
        new("noise_shape", v => v is null, "null"),
        // Pooling: keepdims changes the output shape.
        new("keepdims", v => v is false or null, "false"),
        // Keras 3 LayerNormalization.
        new("rms_scaling", v => v is false or null, "false"),
        // tf.keras 2.x InputLayer / layer configs.
        new("sparse", v => v is false or null, "false"),
        new("ragged", v => v is false or null, "false"),
    ];

    /// <summary>
    /// Checks the keys of a layer config that the rebuilt layer's own config (<paramref name="known"/>) lacks: a neutral
    /// key with a neutral value is accepted; a neutral key with another value, or any other key, is an error.
    /// </summary>
    /// <exception cref="ArgumentException">The message names the layer, its class and the key, and lists what is accepted.</exception>
    public static void CheckExtraKeys(string className, IReadOnlyDictionary<string, object?> inner, IReadOnlyDictionary<string, object?> known,
        IReadOnlyCollection<string> alsoAccepted, string paramName)
    {
        var layerName = KerasConfig.GetString(inner, "name") is { } n ? $"Layer '{n}' ({className})" : $"The config of {className}";
        if (inner.TryGetValue("dtype", out var dtype) && !IsFloat32(dtype))
            throw new ArgumentException($"{layerName} has 'dtype' {Describe(dtype)}, which would change the computation; only \"float32\" (or a float32 DTypePolicy) is supported.", paramName);
        foreach (var (key, value) in inner)
        {
            if (known.ContainsKey(key) || alsoAccepted.Contains(key)) continue;
            var neutral = Array.Find(Keys, k => k.Key == key);
            if (neutral is null)
                throw new ArgumentException($"{layerName} has an unknown key '{key}'; accepted keys: {string.Join(", ", known.Keys)}.", paramName);
            if (!neutral.IsNeutral(value))
                throw new ArgumentException($"{layerName} has '{key}': {Describe(value)}, which would change the computation and is not supported; accepted: {neutral.Accepted}.", paramName);
        }
    }

    /// <summary>
    /// A copy of a Keras config with Keras 3's serialization envelope removed from every nested object: the
    /// <c>module</c> and <c>registered_name</c> keys beside <c>class_name</c> (initializers, regularizers, constraints)
    /// and DTypePolicy objects replaced by their name. Other values are kept as they are.
    /// </summary>
    public static IReadOnlyDictionary<string, object?> StripEnvelopes(IReadOnlyDictionary<string, object?> config)
    {
        var result = new Dictionary<string, object?>(config.Count);
        foreach (var (key, value) in config) result[key] = Strip(value);
        return result;
    }

    private static object? Strip(object? value)
    {
        if (value is not IReadOnlyDictionary<string, object?> d) return value;
        if (d.ContainsKey("class_name"))
        {
            if (KerasConfig.GetString(d, "class_name") is "DTypePolicy" or "Policy" && IsFloat32(d)) return "float32";
            var copy = new Dictionary<string, object?>();
            foreach (var (k, v) in d)
                if (k is not ("module" or "registered_name" or "build_config" or "compile_config")) copy[k] = Strip(v);
            return copy;
        }
        return StripEnvelopes(d);
    }

    /// <summary>Null (the default), <c>"float32"</c>, or a DTypePolicy/Policy object named <c>float32</c>.</summary>
    private static bool IsFloat32(object? value) => value switch
    {
        null => true,
        string s => s == "float32",
        IReadOnlyDictionary<string, object?> d => KerasConfig.GetString(d, "class_name") is "DTypePolicy" or "Policy"
            && d.TryGetValue("config", out var c) && c is IReadOnlyDictionary<string, object?> cfg && KerasConfig.GetString(cfg, "name") == "float32",
        _ => false,
    };

    private static bool IsInt(object? v, long expected) => v is long l ? l == expected : v is int i ? i == expected : v is double d && d == expected;

    private static string Describe(object? value) => value is null ? "null" : value is string s ? $"\"{s}\"" : KerasJsonText(value);

    private static string KerasJsonText(object value) => value is IReadOnlyDictionary<string, object?> d
        ? KerasJson.Write(d, indented: false)
        : value is bool b ? (b ? "true" : "false") : Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture) ?? "?";
}
