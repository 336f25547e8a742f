namespace TfSyncBN.Keras;

/// <summary>
/// The He uniform initializer (<c>keras.initializers.HeUniform</c>, name <c>he_uniform</c>): <see cref="VarianceScaling"/> with scale 2,
/// mode <c>fan_in</c> and distribution <c>uniform</c>. Config: <c>{"seed"}</c>.
/// </summary>
/// <remarks>Samples a uniform distribution on [−limit, limit) with <c>limit = sqrt(6/fan_in)</c>; the fans are computed as described on <see cref="VarianceScaling"/>. Reference: He et al., 2015.</remarks>
public sealed class HeUniform : VarianceScaling
{
    /// <summary>Creates the initializer.</summary>
    /// <param name="seed">Seed for reproducible values; null draws a fresh seed for this instance.</param>
    public HeUniform(int? seed = null) : base(2f, VarianceScalingMode.FanIn, VarianceScalingDistribution.Uniform, seed)
    {
    }

    /// <inheritdoc/>
    public override string ClassName => "HeUniform";

    /// <inheritdoc/>
    public override IReadOnlyDictionary<string, object?> GetConfig() => ConfigWithSeed();

    internal static new HeUniform FromConfig(IReadOnlyDictionary<string, object?> config) => new(KerasConfig.GetNullableInt(config, "seed"));
}
