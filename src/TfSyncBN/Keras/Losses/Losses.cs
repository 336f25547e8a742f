namespace TfSyncBN.Keras;

/// <summary>Lookup of the built-in losses by Keras name (<c>keras.losses.get</c>), e.g. <c>Losses.Get("sparse_categorical_crossentropy")</c>.</summary>
public static class Losses
{
    /// <summary>Every name <see cref="Get"/> accepts: each class name followed by its snake_case names.</summary>
    public static IReadOnlyList<string> Names => LossRegistry.Instance.Names;

    /// <summary>A new loss with default arguments (probabilities, not logits, as in Keras), by class name or Keras function name
    /// (<c>"sparse_categorical_crossentropy"</c>, <c>"categorical_crossentropy"</c>, <c>"mean_squared_error"</c>, <c>"mse"</c>).</summary>
    /// <exception cref="ArgumentNullException"><paramref name="identifier"/> is null.</exception>
    /// <exception cref="ArgumentException">The name is unknown; the message lists the accepted names.</exception>
    public static Loss Get(string identifier) => LossRegistry.Instance.Get(identifier, nameof(identifier));

    /// <summary>A new loss from <c>{"class_name": name, "config": {...}}</c> (<c>keras.losses.deserialize</c>).</summary>
    /// <exception cref="ArgumentNullException"><paramref name="config"/> is null.</exception>
    /// <exception cref="ArgumentException">The class name is missing or unknown, or the config has an unknown key or a value of the wrong type.</exception>
    public static Loss FromConfig(IReadOnlyDictionary<string, object?> config) => LossRegistry.Instance.FromConfig(config, nameof(config));

    /// <summary><c>{"class_name": value.ClassName, "config": value.GetConfig()}</c>.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="value"/> is null.</exception>
    public static IReadOnlyDictionary<string, object?> Serialize(Loss value) => KerasRegistry<Loss>.Serialize(value, nameof(value));
}

file static class LossRegistry
{
    public static readonly KerasRegistry<Loss> Instance = new("loss",
        new("SparseCategoricalCrossentropy", ["sparse_categorical_crossentropy"], SparseCategoricalCrossentropy.FromConfig),
        new("CategoricalCrossentropy", ["categorical_crossentropy"], CategoricalCrossentropy.FromConfig),
        new("BinaryCrossentropy", ["binary_crossentropy"], BinaryCrossentropy.FromConfig),
        new("MeanSquaredError", ["mean_squared_error", "mse"], MeanSquaredError.FromConfig));
}
