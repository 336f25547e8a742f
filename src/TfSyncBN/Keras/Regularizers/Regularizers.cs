namespace TfSyncBN.Keras;

/// <summary>
/// Factories and lookup for the built-in regularizers, mirroring <c>keras.regularizers</c>
/// (e.g. <c>Regularizers.L2(1e-4f)</c>, <c>Regularizers.Get("l1_l2")</c>).
/// </summary>
public static class Regularizers
{
    /// <summary>Every name <see cref="Get"/> and <see cref="FromConfig"/> accept: each class name followed by its snake_case names.</summary>
    public static IReadOnlyList<string> Names => RegularizerRegistry.Instance.Names;

    /// <summary>An <see cref="Keras.L1"/> regularizer, penalty <c>l1·Σ|w|</c>.</summary>
    /// <param name="l1">The factor, finite and ≥ 0.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="l1"/> is negative or not finite.</exception>
    public static L1 L1(float l1 = 0.01f) => new(l1);

    /// <summary>An <see cref="Keras.L2"/> regularizer, penalty <c>l2·Σw²</c>.</summary>
    /// <param name="l2">The factor, finite and ≥ 0.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="l2"/> is negative or not finite.</exception>
    public static L2 L2(float l2 = 0.01f) => new(l2);

    /// <summary>An <see cref="Keras.L1L2"/> regularizer, penalty <c>l1·Σ|w| + l2·Σw²</c>.</summary>
    /// <param name="l1">Factor of the L1 term, finite and ≥ 0.</param>
    /// <param name="l2">Factor of the L2 term, finite and ≥ 0.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="l1"/> or <paramref name="l2"/> is negative or not finite.</exception>
    public static L1L2 L1L2(float l1 = 0f, float l2 = 0f) => new(l1, l2);

    /// <summary>
    /// A new regularizer with default arguments, by Keras name (<c>keras.regularizers.get</c>): <c>"l1"</c>, <c>"l2"</c>,
    /// <c>"l1_l2"</c> or a class name such as <c>"L1L2"</c>, matched case-sensitively (see <see cref="Names"/>).
    /// </summary>
    /// <param name="identifier">The name.</param>
    /// <exception cref="ArgumentNullException"><paramref name="identifier"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="identifier"/> is not a known name; the message lists the accepted names.</exception>
    public static IRegularizer Get(string identifier) => RegularizerRegistry.Instance.Get(identifier, nameof(identifier));

    /// <summary>
    /// A new regularizer from its serialized form <c>{"class_name": name, "config": {...}}</c> (<c>keras.regularizers.deserialize</c>),
    /// as made by <see cref="Serialize"/>. The name may be any of <see cref="Names"/>; config keys left out take their defaults.
    /// </summary>
    /// <param name="config">The serialized regularizer.</param>
    /// <exception cref="ArgumentNullException"><paramref name="config"/> is null.</exception>
    /// <exception cref="ArgumentException">The class name is missing or unknown, or the config has an unknown key or a value of the wrong type.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A factor is negative or not finite (the exception names <c>l1</c> or <c>l2</c>).</exception>
    public static IRegularizer FromConfig(IReadOnlyDictionary<string, object?> config) => RegularizerRegistry.Instance.FromConfig(config, nameof(config));

    /// <summary><c>{"class_name": value.ClassName, "config": value.GetConfig()}</c> (<c>keras.regularizers.serialize</c>).</summary>
    /// <param name="value">The regularizer.</param>
    /// <exception cref="ArgumentNullException"><paramref name="value"/> is null.</exception>
    public static IReadOnlyDictionary<string, object?> Serialize(IRegularizer value) =>
        KerasRegistry<IRegularizer>.Serialize(value, nameof(value));
}

/// <summary>The names of the built-in regularizers: Keras' class names and snake_case names, plus Keras 2's <c>l1_l2</c>.</summary>
file static class RegularizerRegistry
{
    public static readonly KerasRegistry<IRegularizer> Instance = new("regularizer",
        new("L1", ["l1"], L1.FromConfig),
        new("L2", ["l2"], L2.FromConfig),
        new("L1L2", ["l1_l2", "l1l2"], L1L2.FromConfig));
}
