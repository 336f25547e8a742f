namespace TfSyncBN.Keras;

/// <summary>
/// Samples a normal distribution (<c>keras.initializers.RandomNormal</c>, names <c>random_normal</c>, <c>normal</c>).
/// Config: <c>{"seed", "mean", "stddev"}</c>.
/// </summary>
/// <remarks>Element i is <c>(float)(mean + stddev·z)</c>, z a standard normal sample (Box–Muller on Philox4x32-10);
/// seeding and reproducibility are described on <see cref="RandomInitializer"/>.</remarks>
public sealed class RandomNormal : NormalInitializer
{
    /// <summary>Creates the initializer.</summary>
    /// <param name="mean">Mean of the distribution.</param>
    /// <param name="stddev">Standard deviation of the distribution, ≥ 0.</param>
    /// <param name="seed">Seed for reproducible values; null draws a fresh seed for this instance.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="mean"/> is not finite, or <paramref name="stddev"/> is negative or not finite.</exception>
    public RandomNormal(float mean = 0f, float stddev = 0.05f, int? seed = null)
        : base(mean, stddev, seed)
    {
    }

    /// <inheritdoc/>
    public override string ClassName => "RandomNormal";

    private protected override void Fill(float[] destination, int[] shape) => StatelessRandom.FillNormal(destination, Key, Mean, Stddev);

    internal static RandomNormal FromConfig(IReadOnlyDictionary<string, object?> config) => new(
        MeanOf(config), StddevOf(config), KerasConfig.GetNullableInt(config, "seed"));
}
