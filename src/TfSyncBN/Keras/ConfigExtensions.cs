namespace TfSyncBN.Keras;

/// <summary>
/// Typed reads of a Keras config dictionary (<see cref="IKerasObject.GetConfig"/>, <c>Layer.GetConfig</c>, the
/// dictionaries of a model's JSON), whatever numeric type a value holds (a float from <c>GetConfig</c>, a double or
/// long after a JSON round trip). They spare callers a cast of each <c>object</c> value, which matters from F#.
/// </summary>
public static class ConfigExtensions
{
    /// <summary>The number at <paramref name="key"/> as a float (<c>Convert.ToSingle</c>, invariant culture).</summary>
    /// <exception cref="KeyNotFoundException">The config has no <paramref name="key"/>, or its value is null.</exception>
    /// <exception cref="ArgumentException">The value is not a number.</exception>
    public static float GetFloat(this IReadOnlyDictionary<string, object?> config, string key) =>
        Converted(config, key, () => KerasConfig.GetNullableFloat(Required(config, key), key)) ?? throw Missing(config, key);

    /// <summary>The integer at <paramref name="key"/> (a whole number that fits an int).</summary>
    /// <exception cref="KeyNotFoundException">The config has no <paramref name="key"/>, or its value is null.</exception>
    /// <exception cref="ArgumentException">The value is not a whole number in the int range.</exception>
    public static int GetInt(this IReadOnlyDictionary<string, object?> config, string key) =>
        Converted(config, key, () => KerasConfig.GetNullableInt(Required(config, key), key)) ?? throw Missing(config, key);

    /// <summary>The boolean at <paramref name="key"/> (a bool, or the strings "true"/"false").</summary>
    /// <exception cref="KeyNotFoundException">The config has no <paramref name="key"/>, or its value is null.</exception>
    /// <exception cref="ArgumentException">The value is not a boolean.</exception>
    public static bool GetBool(this IReadOnlyDictionary<string, object?> config, string key) =>
        KerasConfig.GetBool(Required(config, key), key, fallback: false);

    /// <summary>The value at <paramref name="key"/> as text (<c>ToString()</c> of a non-string value).</summary>
    /// <exception cref="KeyNotFoundException">The config has no <paramref name="key"/>, or its value is null.</exception>
    public static string GetString(this IReadOnlyDictionary<string, object?> config, string key) =>
        KerasConfig.GetString(Required(config, key), key) ?? throw Missing(config, key);

    /// <summary>The integers at <paramref name="key"/>: a list of whole numbers, or one number as a list of one (Keras <c>axis</c>).</summary>
    /// <exception cref="KeyNotFoundException">The config has no <paramref name="key"/>, or its value is null.</exception>
    /// <exception cref="ArgumentException">An element is not a whole number in the int range.</exception>
    public static IReadOnlyList<int> GetInts(this IReadOnlyDictionary<string, object?> config, string key) =>
        Converted(config, key, () => KerasConfig.GetInts(Required(config, key), key)) ?? throw Missing(config, key);

    /// <summary>The nested dictionary at <paramref name="key"/>, e.g. a <c>{"class_name", "config"}</c> initializer entry.</summary>
    /// <exception cref="KeyNotFoundException">The config has no <paramref name="key"/>, or its value is null.</exception>
    /// <exception cref="ArgumentException">The value is not a dictionary.</exception>
    public static IReadOnlyDictionary<string, object?> GetConfig(this IReadOnlyDictionary<string, object?> config, string key) =>
        KerasConfig.GetDictionary(Required(config, key), key) ?? throw Missing(config, key);

    /// <summary>A text value that is not a number fails with the same ArgumentException as any other non-number.</summary>
    private static T Converted<T>(IReadOnlyDictionary<string, object?> config, string key, Func<T> read)
    {
        try
        {
            return read();
        }
        catch (Exception e) when (e is FormatException or InvalidCastException or OverflowException)
        {
            throw new ArgumentException($"Config key '{key}' must be a number, but is {config[key]}.", nameof(config), e);
        }
    }

    private static IReadOnlyDictionary<string, object?> Required(IReadOnlyDictionary<string, object?> config, string key)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(key);
        return config.TryGetValue(key, out var v) && v is not null ? config : throw Missing(config, key);
    }

    private static KeyNotFoundException Missing(IReadOnlyDictionary<string, object?> config, string key) =>
        new($"The config has no value at '{key}'; its keys are: {string.Join(", ", config.Keys)}.");
}
