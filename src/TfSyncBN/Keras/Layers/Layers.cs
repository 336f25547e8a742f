namespace TfSyncBN.Keras;

/// <summary>
/// Serialization of layers in the Keras model-JSON form, mirroring <c>keras.layers.serialize</c> /
/// <c>keras.layers.deserialize</c>: <c>{"class_name": "Dense", "config": {...}}</c>.
/// </summary>
public static class Layers
{
    /// <summary>
    /// Config keys that Keras writes into some layer configs but that describe the model around the layer rather
    /// than the layer (its input shape); <see cref="Deserialize"/> accepts and ignores them.
    /// </summary>
    private static readonly string[] IgnoredKeys = ["batch_input_shape", "batch_shape", "input_shape"];

    /// <summary>Older (tf.keras) config keys that a class reads besides those of its own config: LeakyReLU's <c>alpha</c>.</summary>
    private static readonly Dictionary<string, string[]> LegacyKeys = new() { ["LeakyReLU"] = ["alpha"] };

    /// <summary>Every class name <see cref="Deserialize"/> accepts (Keras class names, matched case-sensitively).</summary>
    public static IReadOnlyList<string> Names => LayerRegistry.Instance.Names;

    /// <summary><c>{"class_name": layer.ClassName, "config": layer.GetConfig()}</c> (<c>keras.layers.serialize</c>).</summary>
    /// <param name="layer">The layer.</param>
    /// <exception cref="ArgumentNullException"><paramref name="layer"/> is null.</exception>
    public static IReadOnlyDictionary<string, object?> Serialize(Layer layer) =>
        KerasRegistry<Layer>.Serialize(layer, nameof(layer));

    /// <summary>
    /// A new, unbuilt layer from its serialized form <c>{"class_name": name, "config": {...}}</c>
    /// (<c>keras.layers.deserialize</c>), as made by <see cref="Serialize"/>. Config keys left out take the
    /// constructor's defaults (a layer with a required argument, such as <c>Dense</c>'s <c>units</c>, needs it); numbers
    /// may be of any numeric type, as after a JSON round trip. The weights are not part of the config.
    /// </summary>
    /// <param name="config">The serialized layer.</param>
    /// <exception cref="ArgumentNullException"><paramref name="config"/> is null.</exception>
    /// <exception cref="ArgumentException">The class name is missing or unknown (the message lists <see cref="Names"/>), a
    /// required key is missing, or the config has an unknown key or a value of the wrong type, or a key that tf.keras 2.x or
    /// Keras 3 writes with a value that would change the computation (a non-null <c>activity_regularizer</c>, a dtype
    /// other than float32, <c>groups</c> other than 1, ...; the message names the layer and the key). Such keys with
    /// neutral values, and Keras 3's <c>module</c>/<c>registered_name</c> envelopes and DTypePolicy objects, are accepted.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A config value is outside the constructor's range (the exception names that parameter).</exception>
    public static Layer Deserialize(IReadOnlyDictionary<string, object?> config)
    {
        ArgumentNullException.ThrowIfNull(config);
        var className = config.TryGetValue("class_name", out var v) && v is string s
            ? s
            : throw new ArgumentException($"A serialized layer needs a string 'class_name' entry, but config has {(v is null ? "none" : $"'{v}'")}.", nameof(config));
        var entry = LayerRegistry.Instance.Find(className, nameof(config));
        var inner = KerasCompat.StripEnvelopes(KerasConfig.GetDictionary(config, "config") ?? new Dictionary<string, object?>());
        Layer layer;
        try
        {
            layer = entry.FromConfig(inner);
        }
        catch (Exception e) when (e is FormatException or InvalidCastException or OverflowException)
        {
            throw new ArgumentException($"The config of {entry.ClassName} has a value of the wrong type: {e.Message}", nameof(config), e);
        }
        // Unknown keys are checked against the rebuilt layer's own config: layers with required arguments have no
        // default instance to compare with. Keys that tf.keras 2.x or Keras 3 write are accepted where their value leaves
        // the computation unchanged (KerasCompat).
        var alsoAccepted = LegacyKeys.TryGetValue(entry.ClassName, out var legacy) ? IgnoredKeys.Concat(legacy).ToArray() : IgnoredKeys;
        KerasCompat.CheckExtraKeys(entry.ClassName, inner, layer.GetConfig(), alsoAccepted, nameof(config));
        return layer;
    }
}

/// <summary>The layer classes by Keras class name.</summary>
file static class LayerRegistry
{
    public static readonly KerasRegistry<Layer> Instance = new("layer",
        new("Activation", [], Activation.FromConfig),
        new("Add", [], Add.FromConfig),
        new("Average", [], Average.FromConfig),
        new("AveragePooling2D", ["AvgPool2D"], AveragePooling2D.FromConfig),
        new("Concatenate", [], Concatenate.FromConfig),
        new("Maximum", [], Maximum.FromConfig),
        new("Minimum", [], Minimum.FromConfig),
        new("Multiply", [], Multiply.FromConfig),
        new("Subtract", [], Subtract.FromConfig),
        new("BatchNormalization", [], BatchNormalization.FromConfig),
        new("Conv2D", ["Convolution2D"], Conv2D.FromConfig),
        new("Dense", [], Dense.FromConfig),
        new("DepthwiseConv2D", [], DepthwiseConv2D.FromConfig),
        new("Dropout", [], Dropout.FromConfig),
        new("Flatten", [], Flatten.FromConfig),
        new("GlobalAveragePooling2D", ["GlobalAvgPool2D"], GlobalAveragePooling2D.FromConfig),
        new("GlobalMaxPooling2D", ["GlobalMaxPool2D"], GlobalMaxPooling2D.FromConfig),
        new("LayerNormalization", [], LayerNormalization.FromConfig),
        new("LeakyReLU", [], LeakyReLU.FromConfig),
        new("MaxPooling2D", ["MaxPool2D"], MaxPooling2D.FromConfig),
        new("ReLU", [], ReLU.FromConfig),
        new("Rescaling", [], Rescaling.FromConfig),
        new("Reshape", [], Reshape.FromConfig),
        new("Softmax", [], Softmax.FromConfig),
        new("SyncBatchNormalization", [], SyncBatchNormalization.FromConfig),
        new("UpSampling2D", [], UpSampling2D.FromConfig),
        new("ZeroPadding2D", [], ZeroPadding2D.FromConfig));
}
