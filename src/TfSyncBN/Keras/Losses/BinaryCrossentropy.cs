using TfSyncBN.Tensors;

namespace TfSyncBN.Keras;

/// <summary>
/// Binary cross-entropy (<c>keras.losses.BinaryCrossentropy</c>, Keras 3 with the TensorFlow backend), registered as
/// <c>binary_crossentropy</c>. Labels are first smoothed, <c>y ← y·(1 − ls) + ls/2</c>. From probabilities,
/// <c>p ← clip(p, ε, 1 − ε)</c> (ε = 1e-7) and the element loss is <c>−(y·log p + (1 − y)·log(1 − p))</c>; from logits x,
/// <c>max(x, 0) − x·y + log(1 + exp(−|x|))</c>. The per-example loss is the mean of the element losses over the last axis
/// (a rank-1 input is one element per example).
/// </summary>
public sealed class BinaryCrossentropy : SmoothedCrossentropy
{
    /// <summary>Creates the loss.</summary>
    /// <param name="fromLogits">Whether predictions are logits (default false: probabilities in [0, 1]).</param>
    /// <param name="labelSmoothing">The smoothing ls in [0, 1] (default 0).</param>
    /// <param name="name">The name; <c>binary_crossentropy</c> when null.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="labelSmoothing"/> is outside [0, 1].</exception>
    public BinaryCrossentropy(bool fromLogits = false, float labelSmoothing = 0f, string? name = null)
        : base(fromLogits, labelSmoothing, name ?? "binary_crossentropy")
    {
    }

    /// <inheritdoc/>
    /// <exception cref="ArgumentException">The labels' shape differs from the predictions', or the predictions are a scalar.</exception>
    protected override Tensor Compute(Tensor yTrue, Tensor yPred)
    {
        if (yPred.Rank == 0)
            throw new ArgumentException("Predictions need a batch axis (axis 0), but are a scalar.", nameof(yPred));
        var y = SmoothedLabels(yTrue, yPred, classes: 2);
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

    /// <summary>Rebuilds the loss from <see cref="SmoothedCrossentropy.GetConfig"/> output; missing keys take Keras' defaults.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="config"/> is null.</exception>
    public static BinaryCrossentropy FromConfig(IReadOnlyDictionary<string, object?> config)
    {
        ArgumentNullException.ThrowIfNull(config);
        return new(KerasConfig.GetBool(config, "from_logits", false), KerasConfig.GetFloat(config, "label_smoothing", 0f),
            KerasConfig.GetString(config, "name"));
    }
}
