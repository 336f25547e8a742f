using TfSyncBN.Tensors;

namespace TfSyncBN.Keras;

/// <summary>
/// Binary cross-entropy (<c>keras.losses.BinaryCrossentropy</c>, Keras 3 with the TensorFlow backend), registered as
/// <c>binary_crossentropy</c>. Labels are first smoothed, <c>y ← y·(1 − ls) + ls/2</c>. From probabilities,
/// <c>p ← clip(p, ε, 1 − ε)</c> (ε = 1e-7) and the element loss is <c>−(y·log p + (1 − y)·log(1 − p))</c>; from logits x,
/// <c>max(x, 0) − x·y + log(1 + exp(−|x|))</c>. The per-example loss is the mean of the element losses over the last axis
/// (a rank-1 input is one element per example).
/// </summary>
public sealed class BinaryCrossentropy : Loss
{
    /// <summary>Creates the loss.</summary>
    /// <param name="fromLogits">Whether predictions are logits (default false: probabilities in [0, 1]).</param>
    /// <param name="labelSmoothing">The smoothing ls in [0, 1] (default 0).</param>
    /// <param name="name">The name; <c>binary_crossentropy</c> when null.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="labelSmoothing"/> is outside [0, 1].</exception>
    public BinaryCrossentropy(bool fromLogits = false, float labelSmoothing = 0f, string? name = null)
        : base(name ?? "binary_crossentropy")
    {
        if (!(labelSmoothing >= 0 && labelSmoothing <= 1))
            throw new ArgumentOutOfRangeException(nameof(labelSmoothing), labelSmoothing, "labelSmoothing must be in [0, 1].");
        FromLogits = fromLogits;
        LabelSmoothing = labelSmoothing;
    }

    /// <summary>Whether predictions are logits.</summary>
    public bool FromLogits { get; }

    /// <summary>The label smoothing ls.</summary>
    public float LabelSmoothing { get; }

    /// <inheritdoc/>
    /// <exception cref="ArgumentException">The labels' shape differs from the predictions', or the predictions are a scalar.</exception>
    protected override Tensor Compute(Tensor yTrue, Tensor yPred)
    {
        if (yPred.Rank == 0)
            throw new ArgumentException("Predictions need a batch axis (axis 0), but are a scalar.", nameof(yPred));
        if (!Tensor.SameShape(yTrue.ShapeArray, yPred.ShapeArray))
            throw new ArgumentException($"Labels must have the predictions' shape {Tensor.ShapeString(yPred.ShapeArray)}, but have shape {Tensor.ShapeString(yTrue.ShapeArray)}.", nameof(yTrue));
        var y = yTrue;
        if (LabelSmoothing > 0) y = y * (1f - LabelSmoothing) + 0.5f * LabelSmoothing;
        Tensor elements;
        if (FromLogits)
        {
            elements = yPred.Relu() - yPred * y + (1f + (-yPred.Abs()).Exp()).Log();
        }
        else
        {
            var p = yPred.Maximum(Tensor.Scalar(Epsilon)).Minimum(Tensor.Scalar(1f - Epsilon));
            elements = -(y * p.Log() + (1f - y) * (1f - p).Log());
        }
        return yPred.Rank == 1 ? elements : elements.Mean([-1]);
    }

    /// <summary>The Keras config: the base keys, <c>from_logits</c> and <c>label_smoothing</c>.</summary>
    public override IReadOnlyDictionary<string, object?> GetConfig() => new Dictionary<string, object?>(base.GetConfig())
    {
        ["from_logits"] = FromLogits,
        ["label_smoothing"] = KerasConfig.Number(LabelSmoothing),
    };

    /// <summary>Rebuilds the loss from <see cref="GetConfig"/> output; missing keys take Keras' defaults.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="config"/> is null.</exception>
    public static BinaryCrossentropy FromConfig(IReadOnlyDictionary<string, object?> config)
    {
        ArgumentNullException.ThrowIfNull(config);
        return new(KerasConfig.GetBool(config, "from_logits", false), KerasConfig.GetFloat(config, "label_smoothing", 0f),
            KerasConfig.GetString(config, "name"));
    }
}
