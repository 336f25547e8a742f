namespace TfSyncBN.Keras;

/// <summary>Which fan <see cref="VarianceScaling"/> divides its scale by (Keras <c>mode</c>).</summary>
public enum VarianceScalingMode
{
    /// <summary><c>"fan_in"</c>: the number of input units.</summary>
    FanIn,

    /// <summary><c>"fan_out"</c>: the number of output units.</summary>
    FanOut,

    /// <summary><c>"fan_avg"</c>: the mean of the two.</summary>
    FanAvg,
}

/// <summary>The distribution <see cref="VarianceScaling"/> samples (Keras <c>distribution</c>).</summary>
public enum VarianceScalingDistribution
{
    /// <summary><c>"truncated_normal"</c>: a normal truncated at two standard deviations, rescaled to the target variance.</summary>
    TruncatedNormal,

    /// <summary><c>"untruncated_normal"</c>: a plain normal.</summary>
    UntruncatedNormal,

    /// <summary><c>"uniform"</c>: a uniform distribution on [−limit, limit).</summary>
    Uniform,
}

/// <summary>
/// Samples with a variance adapted to the weight's shape (<c>keras.initializers.VarianceScaling</c>, name
/// <c>variance_scaling</c>). Config: <c>{"seed", "scale", "mode", "distribution"}</c>.
/// </summary>
/// <remarks>
/// <para>As in Keras: with <c>(fan_in, fan_out)</c> from the shape (below), <c>n</c> is <c>max(1, fan_in)</c>,
/// <c>max(1, fan_out)</c> or <c>max(1, (fan_in + fan_out)/2)</c> by <see cref="Mode"/>, and <c>v = scale/n</c>. Then
/// truncated normal: mean 0, <c>stddev = sqrt(v)/0.87962566103423978</c>, redrawn beyond two stddev (the constant is the
/// standard deviation of a standard normal truncated to [−2, 2], so the result has variance v); untruncated normal:
/// mean 0, <c>stddev = sqrt(v)</c>; uniform: on [−limit, limit) with <c>limit = sqrt(3v)</c>.</para>
/// <para>Fans, as Keras' <c>compute_fans</c>: rank 0: 1 and 1; rank 1 <c>[n]</c>: n and n; rank 2 <c>[in, out]</c>: in and
/// out; rank ≥ 3 (convolution kernels <c>[..., in, out]</c>): with r the product of all but the last two dimensions
/// (the receptive field), <c>in·r</c> and <c>out·r</c>.</para>
/// <para>Seeding and reproducibility are described on <see cref="RandomInitializer"/>.</para>
/// </remarks>
public class VarianceScaling : RandomInitializer
{
    private static readonly string[] ModeNames = ["fan_in", "fan_out", "fan_avg"];
    private static readonly string[] DistributionNames = ["truncated_normal", "untruncated_normal", "uniform"];

    /// <summary>The standard deviation of a standard normal truncated to [−2, 2] (Keras' constant).</summary>
    internal const double TruncatedStddev = 0.87962566103423978;

    /// <summary>Creates the initializer.</summary>
    /// <param name="scale">Scaling factor, &gt; 0 and finite.</param>
    /// <param name="mode">Which fan divides the scale.</param>
    /// <param name="distribution">The distribution to sample.</param>
    /// <param name="seed">Seed for reproducible values; null draws a fresh seed for this instance.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="scale"/> is not positive and finite, or
    /// <paramref name="mode"/> or <paramref name="distribution"/> is not a defined value.</exception>
    public VarianceScaling(float scale = 1f, VarianceScalingMode mode = VarianceScalingMode.FanIn,
        VarianceScalingDistribution distribution = VarianceScalingDistribution.TruncatedNormal, int? seed = null) : base(seed)
    {
        Scale = float.IsFinite(scale) && scale > 0
            ? scale
            : throw new ArgumentOutOfRangeException(nameof(scale), scale, "scale must be a finite number > 0.");
        Mode = Enum.IsDefined(mode)
            ? mode
            : throw new ArgumentOutOfRangeException(nameof(mode), mode, $"mode must be one of {string.Join(", ", Enum.GetNames<VarianceScalingMode>())}.");
        Distribution = Enum.IsDefined(distribution)
            ? distribution
            : throw new ArgumentOutOfRangeException(nameof(distribution), distribution, $"distribution must be one of {string.Join(", ", Enum.GetNames<VarianceScalingDistribution>())}.");
    }

    /// <summary>Scaling factor (config key <c>scale</c>).</summary>
    public float Scale { get; }

    /// <summary>Which fan divides the scale (config key <c>mode</c>: <c>"fan_in"</c>, <c>"fan_out"</c> or <c>"fan_avg"</c>).</summary>
    public VarianceScalingMode Mode { get; }

    /// <summary>The distribution sampled (config key <c>distribution</c>: <c>"truncated_normal"</c>, <c>"untruncated_normal"</c> or <c>"uniform"</c>).</summary>
    public VarianceScalingDistribution Distribution { get; }

    /// <inheritdoc/>
    public override string ClassName => "VarianceScaling";

    /// <inheritdoc/>
    public override IReadOnlyDictionary<string, object?> GetConfig() => ConfigWithSeed(
        ("scale", KerasConfig.Number(Scale)), ("mode", ModeNames[(int)Mode]), ("distribution", DistributionNames[(int)Distribution]));

    private protected sealed override void Fill(float[] destination, int[] shape)
    {
        var (fanIn, fanOut) = ComputeFans(shape);
        double v = Scale / Mode switch
        {
            VarianceScalingMode.FanIn => Math.Max(1.0, fanIn),
            VarianceScalingMode.FanOut => Math.Max(1.0, fanOut),
            _ => Math.Max(1.0, (fanIn + fanOut) / 2.0),
        };
        switch (Distribution)
        {
            case VarianceScalingDistribution.TruncatedNormal:
                StatelessRandom.FillTruncatedNormal(destination, Key, 0, Math.Sqrt(v) / TruncatedStddev);
                break;
            case VarianceScalingDistribution.UntruncatedNormal:
                StatelessRandom.FillNormal(destination, Key, 0, Math.Sqrt(v));
                break;
            default:
                double limit = Math.Sqrt(3 * v);
                StatelessRandom.FillUniform(destination, Key, -limit, limit);
                break;
        }
    }

    /// <summary>(fan_in, fan_out) of a weight shape, as Keras' <c>compute_fans</c> (see the remarks of the class).</summary>
    internal static (long FanIn, long FanOut) ComputeFans(IReadOnlyList<int> shape)
    {
        int rank = shape.Count;
        if (rank == 0) return (1, 1);
        if (rank == 1) return (shape[0], shape[0]);
        long receptiveField = 1;
        for (int i = 0; i < rank - 2; i++) receptiveField *= shape[i];
        return (shape[rank - 2] * receptiveField, shape[rank - 1] * receptiveField);
    }

    internal static VarianceScaling FromConfig(IReadOnlyDictionary<string, object?> config) => new(
        KerasConfig.GetFloat(config, "scale", 1f),
        (VarianceScalingMode)ParseName(config, "mode", ModeNames, (int)VarianceScalingMode.FanIn, lower: false),
        (VarianceScalingDistribution)ParseName(config, "distribution", DistributionNames, (int)VarianceScalingDistribution.TruncatedNormal, lower: true),
        KerasConfig.GetNullableInt(config, "seed"));

    /// <summary>The index of a config string among <paramref name="names"/>; like Keras, the distribution is lower-cased and "normal" means "truncated_normal".</summary>
    private static int ParseName(IReadOnlyDictionary<string, object?> config, string key, string[] names, int fallback, bool lower)
    {
        var text = KerasConfig.GetString(config, key);
        if (text is null) return fallback;
        if (lower)
        {
            text = text.ToLowerInvariant();
            if (text == "normal") text = "truncated_normal";
        }
        int index = Array.IndexOf(names, text);
        return index >= 0
            ? index
            : throw new ArgumentException($"Config key '{key}' must be one of {string.Join(", ", names)}, but is '{text}'.", nameof(config));
    }
}
