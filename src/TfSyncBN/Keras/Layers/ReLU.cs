using TfSyncBN.Tensors;

namespace TfSyncBN.Keras;

/// <summary>
/// The rectified linear unit layer (<c>keras.layers.ReLU</c>), element-wise:
/// <c>y = min(x, max_value)</c> for <c>x ≥ threshold</c>, and <c>y = negative_slope·(x − threshold)</c> below it.
/// </summary>
/// <remarks>With the Keras defaults (no maximum, slope 0, threshold 0) this is <c>max(x, 0)</c>, one fused kernel
/// (<see cref="Tensor.Relu"/>). Gradient: 1 on <c>threshold &lt; x &lt; max_value</c>, <c>negative_slope</c> below
/// the threshold, 0 above the maximum.</remarks>
public sealed class ReLU : Layer
{
    /// <summary>Creates the layer.</summary>
    /// <param name="maxValue">The upper bound, ≥ 0; none when null.</param>
    /// <param name="negativeSlope">The slope below the threshold, ≥ 0.</param>
    /// <param name="threshold">Where the unit switches on.</param>
    /// <param name="name">The layer name; generated when null.</param>
    /// <param name="trainable">Kept for Keras compatibility (the layer has no weights).</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="maxValue"/> or <paramref name="negativeSlope"/> is negative or NaN, or <paramref name="threshold"/> is not finite.</exception>
    public ReLU(float? maxValue = null, float negativeSlope = 0f, float threshold = 0f, string? name = null, bool trainable = true)
        : base(name, trainable)
    {
        if (maxValue is float m && !(m >= 0))
            throw new ArgumentOutOfRangeException(nameof(maxValue), maxValue, "maxValue must be >= 0 (or null for no maximum).");
        if (!(negativeSlope >= 0) || float.IsInfinity(negativeSlope))
            throw new ArgumentOutOfRangeException(nameof(negativeSlope), negativeSlope, "negativeSlope must be a finite number >= 0.");
        if (!float.IsFinite(threshold))
            throw new ArgumentOutOfRangeException(nameof(threshold), threshold, "threshold must be finite.");
        MaxValue = maxValue;
        NegativeSlope = negativeSlope;
        Threshold = threshold;
    }

    /// <summary>The upper bound, or null.</summary>
    public float? MaxValue { get; }

    /// <summary>The slope below the threshold.</summary>
    public float NegativeSlope { get; }

    /// <summary>Where the unit switches on.</summary>
    public float Threshold { get; }

    /// <inheritdoc/>
    protected override void Build(IReadOnlyList<int> inputShape)
    {
    }

    /// <inheritdoc/>
    protected override Tensor CallCore(Tensor inputs, bool training, Tensor? mask)
    {
        Tensor y;
        if (Threshold == 0f)
        {
            y = inputs.Relu();
            if (NegativeSlope != 0f) y -= inputs.Negate().Relu() * NegativeSlope;
        }
        else
        {
            // z = x − t: above the threshold y = z + t = x, below it y = slope·z.
            var z = inputs - Threshold;
            y = z.Relu();
            if (NegativeSlope != 0f) y -= z.Negate().Relu() * NegativeSlope;
            var on = TrainingOps.GreaterEqualMask(inputs, Threshold);
            y += on * Threshold;
        }
        return MaxValue is float m ? y.Minimum(Tensor.Scalar(m)) : y;
    }

    /// <summary>The Keras config: <c>name, trainable, dtype, max_value, negative_slope, threshold</c>.</summary>
    public override IReadOnlyDictionary<string, object?> GetConfig() => LayerConfig.With(base.GetConfig(),
        ("max_value", MaxValue is float m ? KerasConfig.Number(m) : null), ("negative_slope", KerasConfig.Number(NegativeSlope)),
        ("threshold", KerasConfig.Number(Threshold)));

    /// <summary>Rebuilds a layer from <see cref="GetConfig"/> output.</summary>
    /// <exception cref="ArgumentException">A value has the wrong type.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A value is out of range (see the constructor).</exception>
    public static ReLU FromConfig(IReadOnlyDictionary<string, object?> config)
    {
        ArgumentNullException.ThrowIfNull(config);
        return new ReLU(KerasConfig.GetNullableFloat(config, "max_value"), KerasConfig.GetFloat(config, "negative_slope", 0f),
            KerasConfig.GetFloat(config, "threshold", 0f), LayerConfig.Name(config), LayerConfig.Trainable(config));
    }
}
