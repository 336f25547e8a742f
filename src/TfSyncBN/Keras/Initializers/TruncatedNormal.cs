namespace TfSyncBN.Keras;

/// <summary>
/// Samples a normal distribution truncated at two standard deviations (<c>keras.initializers.TruncatedNormal</c>,
/// name <c>truncated_normal</c>). Config: <c>{"seed", "mean", "stddev"}</c>.
/// </summary>
/// <remarks>
/// <para>Element i is <c>(float)(mean + stddev·z)</c>, where z is a standard normal sample redrawn while |z| &gt; 2, as in
/// Keras: values more than two standard deviations from the mean are discarded and re-drawn. The result's standard
/// deviation is therefore about <c>0.8796·stddev</c>.</para>
/// <para>Seeding and reproducibility are described on <see cref="RandomInitializer"/>.</para>
/// </remarks>
public sealed class TruncatedNormal : NormalInitializer
{
    /// <summary>Creates the initializer.</summary>
    /// <param name="mean">Mean of the distribution before truncation (and after: the truncation is symmetric).</param>
    /// <param name="stddev">Standard deviation of the normal distribution before truncation, ≥ 0.</param>
    /// <param name="seed">Seed for reproducible values; null draws a fresh seed for this instance.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="mean"/> is not finite, or <paramref name="stddev"/> is negative or not finite.</exception>
    public TruncatedNormal(float mean = 0f, float stddev = 0.05f, int? seed = null)
        : base(mean, stddev, seed)
    {
    }

    /// <inheritdoc/>
    public override string ClassName => "TruncatedNormal";

    private protected override void Fill(float[] destination, int[] shape) => StatelessRandom.FillTruncatedNormal(destination, Key, Mean, Stddev);

    internal static TruncatedNormal FromConfig(IReadOnlyDictionary<string, object?> config) => new(
        MeanOf(config), StddevOf(config), KerasConfig.GetNullableInt(config, "seed"));
}
