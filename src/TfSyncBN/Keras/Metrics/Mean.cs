namespace TfSyncBN.Keras;

/// <summary>The weighted mean of the values given to <see cref="Update"/> (<c>keras.metrics.Mean</c>); models track their loss with it.</summary>
public sealed class Mean : Metric
{
    /// <summary>Creates the metric.</summary>
    /// <param name="name">The name; <c>mean</c> when null.</param>
    public Mean(string? name = null) : base(name ?? "mean") { }

    /// <summary>Adds <paramref name="value"/> with weight <paramref name="sampleWeight"/>: Total += value·weight, Count += weight.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="sampleWeight"/> is negative or NaN.</exception>
    public void Update(double value, double sampleWeight = 1)
    {
        if (!(sampleWeight >= 0)) throw new ArgumentOutOfRangeException(nameof(sampleWeight), sampleWeight, "sampleWeight must be >= 0.");
        Merge(value * sampleWeight, sampleWeight);
    }

    /// <summary>Rebuilds the metric from <see cref="Metric.GetConfig"/> output.</summary>
    public static Mean FromConfig(IReadOnlyDictionary<string, object?> config)
    {
        ArgumentNullException.ThrowIfNull(config);
        return new(KerasConfig.GetString(config, "name"));
    }
}
