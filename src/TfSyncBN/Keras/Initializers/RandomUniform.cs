namespace TfSyncBN.Keras;

/// <summary>
/// Samples a uniform distribution on [minval, maxval) (<c>keras.initializers.RandomUniform</c>, names
/// <c>random_uniform</c>, <c>uniform</c>). Config: <c>{"seed", "minval", "maxval"}</c>.
/// </summary>
/// <remarks>Element i is <c>minval + (maxval − minval)·U</c>, U uniform on [0, 1) with 53 random bits, rounded once to
/// float and kept below <c>maxval</c> (all elements equal <c>minval</c> when the bounds are equal). Seeding and
/// reproducibility are described on <see cref="RandomInitializer"/>.</remarks>
public sealed class RandomUniform : RandomInitializer
{
    /// <summary>Creates the initializer.</summary>
    /// <param name="minval">Lower bound (inclusive).</param>
    /// <param name="maxval">Upper bound (exclusive), ≥ <paramref name="minval"/>.</param>
    /// <param name="seed">Seed for reproducible values; null draws a fresh seed for this instance.</param>
    /// <exception cref="ArgumentOutOfRangeException">A bound is not finite, or <paramref name="maxval"/> is below <paramref name="minval"/>.</exception>
    public RandomUniform(float minval = -0.05f, float maxval = 0.05f, int? seed = null) : base(seed)
    {
        Minval = CheckFinite(minval, nameof(minval));
        Maxval = CheckFinite(maxval, nameof(maxval)) >= minval
            ? maxval
            : throw new ArgumentOutOfRangeException(nameof(maxval), maxval, $"maxval must be >= minval ({minval}).");
    }

    /// <summary>Lower bound, inclusive (config key <c>minval</c>).</summary>
    public float Minval { get; }

    /// <summary>Upper bound, exclusive (config key <c>maxval</c>).</summary>
    public float Maxval { get; }

    /// <inheritdoc/>
    public override string ClassName => "RandomUniform";

    /// <inheritdoc/>
    public override IReadOnlyDictionary<string, object?> GetConfig() =>
        ConfigWithSeed(("minval", KerasConfig.Number(Minval)), ("maxval", KerasConfig.Number(Maxval)));

    private protected override void Fill(float[] destination, int[] shape) => StatelessRandom.FillUniform(destination, Key, Minval, Maxval);

    internal static RandomUniform FromConfig(IReadOnlyDictionary<string, object?> config) => new(
        KerasConfig.GetFloat(config, "minval", -0.05f), KerasConfig.GetFloat(config, "maxval", 0.05f), KerasConfig.GetNullableInt(config, "seed"));
}
