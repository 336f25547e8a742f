namespace TfSyncBN.Keras;

/// <summary>
/// The He normal initializer (<c>keras.initializers.HeNormal</c>, name <c>he_normal</c>): <see cref="VarianceScaling"/> with scale 2,
/// mode <c>fan_in</c> and distribution <c>truncated_normal</c>. Config: <c>{"seed"}</c>.
/// </summary>
/// <remarks>Samples a truncated normal with <c>stddev = sqrt(2/fan_in)/0.87962566103423978</c> before truncation, so that the variance is <c>2/fan_in</c>; the fans are computed as described on <see cref="VarianceScaling"/>. Reference: He et al., 2015.</remarks>
public sealed class HeNormal : VarianceScaling
{
    /// <summary>Creates the initializer.</summary>
    /// <param name="seed">Seed for reproducible values; null draws a fresh seed for this instance.</param>
    public HeNormal(int? seed = null) : base(2f, VarianceScalingMode.FanIn, VarianceScalingDistribution.TruncatedNormal, seed)
    {
    }

    /// <inheritdoc/>
    public override string ClassName => "HeNormal";

    /// <inheritdoc/>
    public override IReadOnlyDictionary<string, object?> GetConfig() => ConfigWithSeed();

    internal static new HeNormal FromConfig(IReadOnlyDictionary<string, object?> config) => new(KerasConfig.GetNullableInt(config, "seed"));
}
