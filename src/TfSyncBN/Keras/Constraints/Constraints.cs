namespace TfSyncBN.Keras;

/// <summary>
/// Factories and lookup for the built-in weight constraints, mirroring <c>keras.constraints</c>
/// (e.g. <c>Constraints.MaxNorm(3f, axis: [0, 1, 2])</c>, <c>Constraints.Get("non_neg")</c>).
/// </summary>
public static class Constraints
{
    /// <summary>Every name <see cref="Get"/> and <see cref="FromConfig"/> accept: each class name followed by its snake_case name.</summary>
    public static IReadOnlyList<string> Names => ConstraintRegistry.Instance.Names;

    /// <summary>A <see cref="Keras.NonNeg"/> constraint, <c>w · (w ≥ 0)</c>.</summary>
    public static NonNeg NonNeg() => new();

    /// <summary>A <see cref="Keras.UnitNorm"/> constraint, <c>w / (ε + ‖w‖)</c> along <paramref name="axis"/>.</summary>
    /// <param name="axis">The axes along which norms are taken; null means [0].</param>
    /// <exception cref="ArgumentException"><paramref name="axis"/> repeats an entry.</exception>
    public static UnitNorm UnitNorm(IReadOnlyList<int>? axis = null) => new(axis);

    /// <summary>A <see cref="Keras.MaxNorm"/> constraint, norms along <paramref name="axis"/> clipped to at most <paramref name="maxValue"/>.</summary>
    /// <param name="maxValue">The maximum norm, finite and ≥ 0.</param>
    /// <param name="axis">The axes along which norms are taken; null means [0].</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="maxValue"/> is negative or not finite.</exception>
    /// <exception cref="ArgumentException"><paramref name="axis"/> repeats an entry.</exception>
    public static MaxNorm MaxNorm(float maxValue = 2f, IReadOnlyList<int>? axis = null) => new(maxValue, axis);

    /// <summary>A <see cref="Keras.MinMaxNorm"/> constraint, norms along <paramref name="axis"/> moved towards [<paramref name="minValue"/>, <paramref name="maxValue"/>].</summary>
    /// <param name="minValue">The minimum norm, finite and ≥ 0.</param>
    /// <param name="maxValue">The maximum norm, finite and ≥ <paramref name="minValue"/>.</param>
    /// <param name="rate">How far to move the norms towards the interval, in [0, 1].</param>
    /// <param name="axis">The axes along which norms are taken; null means [0].</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="minValue"/> is negative or not finite,
    /// <paramref name="maxValue"/> is below <paramref name="minValue"/> or not finite, or <paramref name="rate"/> is outside [0, 1].</exception>
    /// <exception cref="ArgumentException"><paramref name="axis"/> repeats an entry.</exception>
    public static MinMaxNorm MinMaxNorm(float minValue = 0f, float maxValue = 1f, float rate = 1f, IReadOnlyList<int>? axis = null) =>
        new(minValue, maxValue, rate, axis);

    /// <summary>
    /// A new constraint with default arguments, by Keras name (<c>keras.constraints.get</c>): <c>"non_neg"</c>,
    /// <c>"unit_norm"</c>, <c>"max_norm"</c>, <c>"min_max_norm"</c> or a class name such as <c>"MaxNorm"</c>, matched
    /// case-sensitively (see <see cref="Names"/>).
    /// </summary>
    /// <param name="identifier">The name.</param>
    /// <exception cref="ArgumentNullException"><paramref name="identifier"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="identifier"/> is not a known name; the message lists the accepted names.</exception>
    public static IConstraint Get(string identifier) => ConstraintRegistry.Instance.Get(identifier, nameof(identifier));

    /// <summary>
    /// A new constraint from its serialized form <c>{"class_name": name, "config": {...}}</c> (<c>keras.constraints.deserialize</c>),
    /// as made by <see cref="Serialize"/>. The name may be any of <see cref="Names"/>; config keys left out take their
    /// defaults, and <c>axis</c> may be an int or a list of ints.
    /// </summary>
    /// <param name="config">The serialized constraint.</param>
    /// <exception cref="ArgumentNullException"><paramref name="config"/> is null.</exception>
    /// <exception cref="ArgumentException">The class name is missing or unknown, the config has an unknown key or a value of the wrong type, or the axis repeats an entry.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A value is out of the constructor's range (the exception names that parameter).</exception>
    public static IConstraint FromConfig(IReadOnlyDictionary<string, object?> config) => ConstraintRegistry.Instance.FromConfig(config, nameof(config));

    /// <summary><c>{"class_name": value.ClassName, "config": value.GetConfig()}</c> (<c>keras.constraints.serialize</c>).</summary>
    /// <param name="value">The constraint.</param>
    /// <exception cref="ArgumentNullException"><paramref name="value"/> is null.</exception>
    public static IReadOnlyDictionary<string, object?> Serialize(IConstraint value) =>
        KerasRegistry<IConstraint>.Serialize(value, nameof(value));
}

/// <summary>The names of the built-in constraints: Keras 3's class names and their snake_case forms.</summary>
file static class ConstraintRegistry
{
    public static readonly KerasRegistry<IConstraint> Instance = new("constraint",
        new("NonNeg", ["non_neg"], _ => new NonNeg()),
        new("UnitNorm", ["unit_norm"], UnitNorm.FromConfig),
        new("MaxNorm", ["max_norm"], MaxNorm.FromConfig),
        new("MinMaxNorm", ["min_max_norm"], MinMaxNorm.FromConfig));
}
