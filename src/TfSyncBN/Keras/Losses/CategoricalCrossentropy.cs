using TfSyncBN.Tensors;
using TfSyncBN.Tensors.Kernels;

namespace TfSyncBN.Keras;

/// <summary>
/// Cross-entropy between one-hot (or soft) labels and predicted distributions (<c>keras.losses.CategoricalCrossentropy</c>).
/// </summary>
/// <remarks>
/// <para>Labels and predictions share the shape <c>[N, ..., C]</c>, classes on the last axis. With label smoothing s the
/// labels first become <c>y·(1 − s) + s/C</c>. Per example:</para>
/// <para>from logits: <c>loss = Σy·logsumexp(x) − Σ y·x</c> (fused, numerically stable; gradient <c>softmax·Σy − y</c>);</para>
/// <para>from probabilities: <c>loss = −Σ y·log(clip(p/Σp, 1e-7, 1 − 1e-7))</c> (Keras 3's formula).</para>
/// <para>Example (Keras docs): y [[0, 1, 0], [0, 0, 1]], p [[0.05, 0.95, 0], [0.1, 0.8, 0.1]] → 1.177 (mean).</para>
/// </remarks>
public sealed class CategoricalCrossentropy : SmoothedCrossentropy
{
    /// <summary>Creates the loss.</summary>
    /// <param name="fromLogits">Whether predictions are logits (true) or probabilities (false, Keras' default).</param>
    /// <param name="labelSmoothing">The smoothing s in [0, 1]; 0 leaves labels unchanged.</param>
    /// <param name="name">The name; <c>categorical_crossentropy</c> when null.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="labelSmoothing"/> is outside [0, 1].</exception>
    public CategoricalCrossentropy(bool fromLogits = false, float labelSmoothing = 0f, string? name = null)
        : base(fromLogits, labelSmoothing, name ?? "categorical_crossentropy")
    {
    }

    /// <summary>Per-example losses of shape <c>yPred.Shape[..^1]</c>.</summary>
    /// <exception cref="ArgumentException">The shapes differ, or the predictions have no class axis.</exception>
    protected override Tensor Compute(Tensor yTrue, Tensor yPred)
    {
        if (yPred.Rank == 0 || yPred.ShapeArray[^1] == 0)
            throw new ArgumentException($"Predictions need a non-empty class axis (the last), but have shape {Tensor.ShapeString(yPred.ShapeArray)}.", nameof(yPred));
        var y = SmoothedLabels(yTrue, yPred, yPred.ShapeArray[^1]);
        return FromLogits ? SoftmaxCrossEntropy.Dense(y, yPred) : CrossEntropyOfProbabilities(y, yPred);
    }

    /// <summary>Rebuilds the loss from <see cref="SmoothedCrossentropy.GetConfig"/> output (missing keys take their defaults).</summary>
    /// <exception cref="ArgumentException">A value has the wrong type.</exception>
    /// <exception cref="ArgumentOutOfRangeException">The label smoothing is outside [0, 1].</exception>
    public static CategoricalCrossentropy FromConfig(IReadOnlyDictionary<string, object?> config)
    {
        ArgumentNullException.ThrowIfNull(config);
        return new(KerasConfig.GetBool(config, "from_logits", false), KerasConfig.GetFloat(config, "label_smoothing", 0f),
            KerasConfig.GetString(config, "name"));
    }
}
