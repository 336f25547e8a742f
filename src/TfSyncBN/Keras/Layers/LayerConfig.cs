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

    public const string ChannelsFirst = "channels_first";

    /// <summary>Checks <c>data_format</c> (<c>"channels_last"</c>, the default when null, or <c>"channels_first"</c>) and returns it.</summary>
    /// <exception cref="ArgumentException">Another data format.</exception>
    public static string DataFormat(string? dataFormat, string paramName) => dataFormat switch
    {
        null or ChannelsLast => ChannelsLast,
        ChannelsFirst => ChannelsFirst,
        _ => throw new ArgumentException($"{paramName} must be \"channels_last\" (NHWC) or \"channels_first\" (NCHW), but is \"{dataFormat}\".", paramName),
    };

    /// <summary>The tensor ops' name of a Keras data format: <c>"NCHW"</c> for channels_first, else <c>"NHWC"</c>.</summary>
    public static string OpFormat(string dataFormat) => dataFormat == ChannelsFirst ? "NCHW" : "NHWC";

    /// <summary>The channel axis of a rank-4 input: 1 for channels_first, 3 otherwise.</summary>
    public static int ChannelAxis(string dataFormat) => dataFormat == ChannelsFirst ? 1 : 3;

    /// <summary>The spatial sizes [H, W] of a rank-4 shape in the given data format.</summary>
    public static (int H, int W) Spatial(IReadOnlyList<int> shape, string dataFormat) =>
        dataFormat == ChannelsFirst ? (shape[2], shape[3]) : (shape[1], shape[2]);

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
