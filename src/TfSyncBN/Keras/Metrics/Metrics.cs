namespace TfSyncBN.Keras;

/// <summary>Lookup of the built-in metrics by Keras name (<c>keras.metrics.get</c>).</summary>
/// <remarks>In <c>Model.Compile</c> the names <c>"accuracy"</c> and <c>"acc"</c> follow the loss, as in Keras: sparse
/// categorical accuracy for a sparse cross-entropy, categorical accuracy for a categorical one, else <see cref="Accuracy"/>;
/// here, without a loss, they mean <see cref="Accuracy"/>.</remarks>
public static class Metrics
{
    /// <summary>Every name <see cref="Get"/> accepts.</summary>
    public static IReadOnlyList<string> Names => MetricRegistry.Instance.Names;

    /// <summary>A new metric by class name or Keras name (<c>"accuracy"</c>, <c>"sparse_categorical_accuracy"</c>, <c>"categorical_accuracy"</c>, <c>"mean"</c>).</summary>
    /// <exception cref="ArgumentNullException"><paramref name="identifier"/> is null.</exception>
    /// <exception cref="ArgumentException">The name is unknown; the message lists the accepted names.</exception>
    public static Metric Get(string identifier) => MetricRegistry.Instance.Get(identifier, nameof(identifier));

    /// <summary>A new metric from <c>{"class_name": name, "config": {...}}</c>.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="config"/> is null.</exception>
    /// <exception cref="ArgumentException">The class name is missing or unknown, or the config has an unknown key.</exception>
    public static Metric FromConfig(IReadOnlyDictionary<string, object?> config) => MetricRegistry.Instance.FromConfig(config, nameof(config));

    /// <summary><c>{"class_name": value.ClassName, "config": value.GetConfig()}</c>.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="value"/> is null.</exception>
    public static IReadOnlyDictionary<string, object?> Serialize(Metric value) => KerasRegistry<Metric>.Serialize(value, nameof(value));
}

file static class MetricRegistry
{
    public static readonly KerasRegistry<Metric> Instance = new("metric",
        new("Accuracy", ["accuracy", "acc"], Accuracy.FromConfig),
        new("SparseCategoricalAccuracy", ["sparse_categorical_accuracy"], SparseCategoricalAccuracy.FromConfig),
        new("CategoricalAccuracy", ["categorical_accuracy"], CategoricalAccuracy.FromConfig),
        new("Mean", ["mean"], Mean.FromConfig),
        new("MeanAbsoluteError", ["mae", "mean_absolute_error"], MeanAbsoluteError.FromConfig),
        new("TopKCategoricalAccuracy", ["top_k_categorical_accuracy"], TopKCategoricalAccuracy.FromConfig));
}
