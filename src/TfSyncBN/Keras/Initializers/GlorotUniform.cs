namespace TfSyncBN.Keras;

/// <summary>
/// The Glorot uniform (Xavier uniform) initializer (<c>keras.initializers.GlorotUniform</c>, name <c>glorot_uniform</c>): <see cref="VarianceScaling"/> with scale 1,
/// mode <c>fan_avg</c> and distribution <c>uniform</c>. Config: <c>{"seed"}</c>.
/// </summary>
/// <remarks>Samples a uniform distribution on [−limit, limit) with <c>limit = sqrt(6/(fan_in + fan_out))</c>; the fans are computed as described on <see cref="VarianceScaling"/>. Reference: Glorot and Bengio, 2010.</remarks>
public sealed class GlorotUniform : VarianceScaling
{
    /// <summary>Creates the initializer.</summary>
    /// <param name="seed">Seed for reproducible values; null draws a fresh seed for this instance.</param>
    public GlorotUniform(int? seed = null) : base(1f, VarianceScalingMode.FanAvg, VarianceScalingDistribution.Uniform, seed)
    {
    }

    /// <inheritdoc/>
    public override string ClassName => "GlorotUniform";

    /// <inheritdoc/>
    public override IReadOnlyDictionary<string, object?> GetConfig() => ConfigWithSeed();

    internal static new GlorotUniform FromConfig(IReadOnlyDictionary<string, object?> config) => new(KerasConfig.GetNullableInt(config, "seed"));
}
