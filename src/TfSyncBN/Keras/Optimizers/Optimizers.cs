namespace TfSyncBN.Keras;

/// <summary>Lookup of the built-in optimizers by Keras name (<c>keras.optimizers.get</c>), e.g. <c>Optimizers.Get("adam")</c>.</summary>
public static class Optimizers
{
    /// <summary>Every name <see cref="Get"/> accepts: each class name followed by its snake_case names.</summary>
    public static IReadOnlyList<string> Names => OptimizerRegistry.Instance.Names;

    /// <summary>A new optimizer with Keras' default arguments, by name: <c>"sgd"</c>, <c>"adam"</c>, <c>"SGD"</c>, <c>"Adam"</c>.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="identifier"/> is null.</exception>
    /// <exception cref="ArgumentException">The name is unknown; the message lists the accepted names.</exception>
    public static Optimizer Get(string identifier) => OptimizerRegistry.Instance.Get(identifier, nameof(identifier));

    /// <summary>A new optimizer (without state) from <c>{"class_name": name, "config": {...}}</c>.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="config"/> is null.</exception>
    /// <exception cref="ArgumentException">The class name is missing or unknown, or the config has an unknown key or a value of the wrong type.</exception>
    public static Optimizer FromConfig(IReadOnlyDictionary<string, object?> config) => OptimizerRegistry.Instance.FromConfig(config, nameof(config));

    /// <summary><c>{"class_name": value.ClassName, "config": value.GetConfig()}</c>.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="value"/> is null.</exception>
    public static IReadOnlyDictionary<string, object?> Serialize(Optimizer value) => KerasRegistry<Optimizer>.Serialize(value, nameof(value));
}

file static class OptimizerRegistry
{
    public static readonly KerasRegistry<Optimizer> Instance = new("optimizer",
        new("SGD", ["sgd"], SGD.FromConfig),
        new("Adam", ["adam"], Adam.FromConfig),
        new("AdamW", ["adamw"], AdamW.FromConfig),
        new("RMSprop", ["rmsprop"], RMSprop.FromConfig));
}
