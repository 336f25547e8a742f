using TfSyncBN.Tensors;

namespace TfSyncBN.Keras;

/// <summary>
/// The leaky rectified linear unit layer (<c>keras.layers.LeakyReLU</c>), element-wise: <c>y = x</c> for x ≥ 0 and
/// <c>negative_slope·x</c> below (see <see cref="Tensor.LeakyRelu"/>). Keras' default slope is 0.3. No weights.
/// </summary>
public sealed class LeakyReLU : Layer
{
    /// <summary>Creates the layer.</summary>
    /// <param name="negativeSlope">The slope below 0, finite and ≥ 0 (Keras 3's <c>negative_slope</c>, tf.keras' <c>alpha</c>).</param>
    /// <param name="name">The layer name; generated when null.</param>
    /// <param name="trainable">Kept for Keras compatibility (the layer has no weights).</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="negativeSlope"/> is negative, NaN or infinite.</exception>
    public LeakyReLU(float negativeSlope = 0.3f, string? name = null, bool trainable = true) : base(name, trainable)
    {
        if (!(negativeSlope >= 0) || float.IsInfinity(negativeSlope))
            throw new ArgumentOutOfRangeException(nameof(negativeSlope), negativeSlope, "negativeSlope must be a finite number >= 0.");
        NegativeSlope = negativeSlope;
    }

    /// <summary>The slope below 0.</summary>
    public float NegativeSlope { get; }

    /// <inheritdoc/>
    protected override void Build(IReadOnlyList<int> inputShape)
    {
    }

    /// <inheritdoc/>
    protected override Tensor CallCore(Tensor inputs, bool training, Tensor? mask) => inputs.LeakyRelu(NegativeSlope);

    /// <summary>The Keras 3 config: <c>name, trainable, dtype, negative_slope</c>.</summary>
    public override IReadOnlyDictionary<string, object?> GetConfig() => LayerConfig.With(base.GetConfig(), ("negative_slope", KerasConfig.Number(NegativeSlope)));

    /// <summary>Rebuilds a layer from <see cref="GetConfig"/> output; the slope is read from <c>negative_slope</c> (Keras 3) or <c>alpha</c> (tf.keras), 0.3 when neither is present.</summary>
    /// <exception cref="ArgumentException">A value has the wrong type, or both keys are present.</exception>
    /// <exception cref="ArgumentOutOfRangeException">The slope is out of range (see the constructor).</exception>
    public static LeakyReLU FromConfig(IReadOnlyDictionary<string, object?> config)
    {
        ArgumentNullException.ThrowIfNull(config);
        var slope = KerasConfig.GetNullableFloat(config, "negative_slope");
        var alpha = KerasConfig.GetNullableFloat(config, "alpha");
        if (slope is not null && alpha is not null)
            throw new ArgumentException("The config of LeakyReLU has both 'negative_slope' (Keras 3) and 'alpha' (tf.keras); give one.", nameof(config));
        return new LeakyReLU(slope ?? alpha ?? 0.3f, LayerConfig.Name(config), LayerConfig.Trainable(config));
    }
}
