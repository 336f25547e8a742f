using System.Collections;
using System.Globalization;

namespace TfSyncBN.Keras;

/// <summary>Reading and writing Keras-style config dictionaries, whatever numeric types they hold after a JSON round trip.</summary>
internal static class KerasConfig
{
    /// <summary>A float as the double with the same shortest decimal form (0.99f becomes 0.99, not 0.9900000095...).</summary>
    public static double Number(float value) => double.Parse(value.ToString("R", CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);

    /// <summary><c>{"class_name": ..., "config": ...}</c>, or null for null.</summary>
    public static IReadOnlyDictionary<string, object?>? Serialize(IKerasObject? value) => value is null
        ? null
        : new Dictionary<string, object?> { ["class_name"] = value.ClassName, ["config"] = value.GetConfig() };

    public static bool TryGet(IReadOnlyDictionary<string, object?> config, string key, out object? value) =>
        config.TryGetValue(key, out value);

    public static float GetFloat(IReadOnlyDictionary<string, object?> config, string key, float fallback) =>
        config.TryGetValue(key, out var v) && v is not null ? ToFloat(v, key) : fallback;

    public static float? GetNullableFloat(IReadOnlyDictionary<string, object?> config, string key) =>
        config.TryGetValue(key, out var v) && v is not null ? ToFloat(v, key) : null;

    public static int GetInt(IReadOnlyDictionary<string, object?> config, string key, int fallback) =>
        config.TryGetValue(key, out var v) && v is not null ? ToInt(v, key) : fallback;

    public static int? GetNullableInt(IReadOnlyDictionary<string, object?> config, string key) =>
        config.TryGetValue(key, out var v) && v is not null ? ToInt(v, key) : null;

    public static bool GetBool(IReadOnlyDictionary<string, object?> config, string key, bool fallback) =>
        !config.TryGetValue(key, out var v) || v is null ? fallback
        : v is bool b ? b
        : v is IConvertible c && c.GetTypeCode() == TypeCode.String && bool.TryParse((string)v, out var parsed) ? parsed
        : throw new ArgumentException($"Config key '{key}' must be a boolean, but is {v}.", nameof(config));

    public static string? GetString(IReadOnlyDictionary<string, object?> config, string key) =>
        config.TryGetValue(key, out var v) && v is not null ? v.ToString() : null;

    /// <summary>An int or a list of ints (Keras <c>axis</c>).</summary>
    public static int[]? GetInts(IReadOnlyDictionary<string, object?> config, string key) =>
        !config.TryGetValue(key, out var v) || v is null ? null
        : v is IEnumerable e and not string ? e.Cast<object>().Select(o => ToInt(o, key)).ToArray()
        : [ToInt(v, key)];

    /// <summary>A nested <c>{"class_name", "config"}</c> dictionary, or null.</summary>
    public static IReadOnlyDictionary<string, object?>? GetDictionary(IReadOnlyDictionary<string, object?> config, string key) =>
        !config.TryGetValue(key, out var v) || v is null ? null
        : v as IReadOnlyDictionary<string, object?> ?? throw new ArgumentException($"Config key '{key}' must be a dictionary, but is {v}.", nameof(config));

    private static float ToFloat(object v, string key) => v is IConvertible c && c.GetTypeCode() != TypeCode.Boolean
        ? Convert.ToSingle(v, CultureInfo.InvariantCulture)
        : throw new ArgumentException($"Config key '{key}' must be a number, but is {v}.", "config");

    private static int ToInt(object v, string key)
    {
        double d = v is IConvertible c && c.GetTypeCode() != TypeCode.Boolean
            ? Convert.ToDouble(v, CultureInfo.InvariantCulture)
            : throw new ArgumentException($"Config key '{key}' must be an integer, but is {v}.", "config");
        return d == Math.Floor(d) && d >= int.MinValue && d <= int.MaxValue
            ? (int)d
            : throw new ArgumentException($"Config key '{key}' must be an integer, but is {v}.", "config");
    }
}
