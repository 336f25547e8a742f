namespace TfSyncBN.Keras;

/// <summary>Reading the Keras config keys that several layers share.</summary>
internal static class LayerConfig
{
    public const string ChannelsLast = "channels_last";

    public static string? Name(IReadOnlyDictionary<string, object?> c) => KerasConfig.GetString(c, "name");

    public static bool Trainable(IReadOnlyDictionary<string, object?> c) => KerasConfig.GetBool(c, "trainable", true);

    public static IInitializer? Initializer(IReadOnlyDictionary<string, object?> c, string key) =>
        KerasConfig.GetDictionary(c, key) is { } d ? Initializers.FromConfig(d) : null;

    public static IRegularizer? Regularizer(IReadOnlyDictionary<string, object?> c, string key) =>
        KerasConfig.GetDictionary(c, key) is { } d ? Regularizers.FromConfig(d) : null;

    public static IConstraint? Constraint(IReadOnlyDictionary<string, object?> c, string key) =>
        KerasConfig.GetDictionary(c, key) is { } d ? Constraints.FromConfig(d) : null;

    /// <summary>A required integer entry.</summary>
    /// <exception cref="ArgumentException">The entry is missing or null.</exception>
    public static int RequiredInt(IReadOnlyDictionary<string, object?> c, string key, string className) =>
        KerasConfig.GetNullableInt(c, key) ?? throw new ArgumentException($"The config of {className} needs the key '{key}'.", "config");

    /// <summary>A required int-or-list entry (Keras accepts <c>3</c> for <c>(3, 3)</c>).</summary>
    public static int[] RequiredInts(IReadOnlyDictionary<string, object?> c, string key, string className) =>
        KerasConfig.GetInts(c, key) ?? throw new ArgumentException($"The config of {className} needs the key '{key}'.", "config");

    /// <summary>Checks <c>data_format</c> (only <c>"channels_last"</c> is implemented) and returns it.</summary>
    /// <exception cref="ArgumentException">Another data format.</exception>
    public static string DataFormat(string? dataFormat, string paramName) => dataFormat is null or ChannelsLast
        ? ChannelsLast
        : throw new ArgumentException($"{paramName} must be \"channels_last\" (NHWC, the only layout implemented), but is \"{dataFormat}\".", paramName);

    /// <summary>The base config (<c>name</c>, <c>trainable</c>, <c>dtype</c>) plus the layer's own entries.</summary>
    public static Dictionary<string, object?> With(IReadOnlyDictionary<string, object?> baseConfig, params (string Key, object? Value)[] entries)
    {
        var config = new Dictionary<string, object?>(baseConfig);
        foreach (var (key, value) in entries) config[key] = value;
        return config;
    }

    /// <summary>A shape with the batch dimension first, checked for the expected rank.</summary>
    /// <exception cref="ArgumentException">Null, or the rank is not <paramref name="rank"/> (or below it when <paramref name="atLeast"/>).</exception>
    public static int[] CheckRank(IReadOnlyList<int> shape, int rank, string className, bool atLeast = false, string paramName = "inputShape")
    {
        ArgumentNullException.ThrowIfNull(shape, paramName);
        if (atLeast ? shape.Count < rank : shape.Count != rank)
            throw new ArgumentException($"{className} needs inputs of rank {(atLeast ? ">= " : "")}{rank} (batch first{(rank == 4 && !atLeast ? ", NHWC" : "")}), but got shape [{string.Join(", ", shape)}].", paramName);
        return [.. shape];
    }
}
