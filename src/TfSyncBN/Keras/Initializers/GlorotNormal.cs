namespace TfSyncBN.Keras;

/// <summary>
/// The Glorot normal (Xavier normal) initializer (<c>keras.initializers.GlorotNormal</c>, name <c>glorot_normal</c>): <see cref="VarianceScaling"/> with scale 1,
/// mode <c>fan_avg</c> and distribution <c>truncated_normal</c>. Config: <c>{"seed"}</c>.
/// </summary>
/// <remarks>Samples a truncated normal with <c>stddev = sqrt(2/(fan_in + fan_out))/0.87962566103423978</c> before truncation, so that the variance is <c>2/(fan_in + fan_out)</c>; the fans are computed as described on <see cref="VarianceScaling"/>. Reference: Glorot and Bengio, 2010.</remarks>
public sealed class GlorotNormal : VarianceScaling
{
    /// <summary>Creates the initializer.</summary>
    /// <param name="seed">Seed for reproducible values; null draws a fresh seed for this instance.</param>
    public GlorotNormal(int? seed = null) : base(1f, VarianceScalingMode.FanAvg, VarianceScalingDistribution.TruncatedNormal, seed)
    {
    }

    /// <inheritdoc/>
    public override string ClassName => "GlorotNormal";

    /// <inheritdoc/>
    public override IReadOnlyDictionary<string, object?> GetConfig() => ConfigWithSeed();

    internal static new GlorotNormal FromConfig(IReadOnlyDictionary<string, object?> config) => new(KerasConfig.GetNullableInt(config, "seed"));
}
