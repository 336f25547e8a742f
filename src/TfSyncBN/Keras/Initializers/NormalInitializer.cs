namespace TfSyncBN.Keras;

/// <summary>
/// Base of the initializers that sample a normal distribution, <see cref="RandomNormal"/> and
/// <see cref="TruncatedNormal"/>: their mean, standard deviation, validation and config <c>{"seed", "mean", "stddev"}</c>.
/// </summary>
public abstract class NormalInitializer : RandomInitializer
{
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="mean"/> is not finite, or <paramref name="stddev"/> is negative or not finite.</exception>
    private protected NormalInitializer(float mean, float stddev, int? seed) : base(seed)
    {
        Mean = CheckFinite(mean, nameof(mean));
        Stddev = CheckFinite(stddev, nameof(stddev)) >= 0
            ? stddev
            : throw new ArgumentOutOfRangeException(nameof(stddev), stddev, "stddev must be >= 0.");
    }

    /// <summary>Mean of the normal distribution (config key <c>mean</c>).</summary>
    public float Mean { get; }

    /// <summary>Standard deviation of the normal distribution, before any truncation (config key <c>stddev</c>).</summary>
    public float Stddev { get; }

    /// <inheritdoc/>
    public override IReadOnlyDictionary<string, object?> GetConfig() =>
        ConfigWithSeed(("mean", KerasConfig.Number(Mean)), ("stddev", KerasConfig.Number(Stddev)));

    /// <summary>The mean in <paramref name="config"/>, Keras default 0.</summary>
    private protected static float MeanOf(IReadOnlyDictionary<string, object?> config) => KerasConfig.GetFloat(config, "mean", 0f);

    /// <summary>The standard deviation in <paramref name="config"/>, Keras default 0.05.</summary>
    private protected static float StddevOf(IReadOnlyDictionary<string, object?> config) => KerasConfig.GetFloat(config, "stddev", 0.05f);
}
