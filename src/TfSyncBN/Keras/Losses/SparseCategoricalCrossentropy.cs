using TfSyncBN.Tensors;
using TfSyncBN.Tensors.Kernels;

namespace TfSyncBN.Keras;

/// <summary>
/// Cross-entropy between integer class labels and predicted distributions (<c>keras.losses.SparseCategoricalCrossentropy</c>).
/// </summary>
/// <remarks>
/// <para>Predictions have the classes on the last axis, shape <c>[N, ..., C]</c>; labels hold class ids as floats,
/// shape <c>[N, ...]</c> or <c>[N, ..., 1]</c>. Per example, with label k:</para>
/// <para>from logits: <c>loss = logsumexp(x) − x[k]</c>, computed by a fused, numerically stable kernel whose gradient
/// is <c>softmax(x) − onehot(k)</c>;</para>
/// <para>from probabilities: <c>loss = −log(clip(p[k]/Σp, 1e-7, 1 − 1e-7))</c> (Keras 3's formula).</para>
/// <para>Example (Keras docs): labels [1, 2], probabilities [[0.05, 0.95, 0], [0.1, 0.8, 0.1]] → 1.177 (mean).</para>
/// </remarks>
public sealed class SparseCategoricalCrossentropy : Loss
{
    /// <summary>Creates the loss.</summary>
    /// <param name="fromLogits">Whether predictions are logits (true) or probabilities (false, Keras' default).</param>
    /// <param name="name">The name; <c>sparse_categorical_crossentropy</c> when null.</param>
    public SparseCategoricalCrossentropy(bool fromLogits = false, string? name = null)
        : base(name ?? "sparse_categorical_crossentropy") => FromLogits = fromLogits;

    /// <summary>Whether predictions are logits.</summary>
    public bool FromLogits { get; }

    /// <summary>Per-example losses of shape <c>yPred.Shape[..^1]</c>.</summary>
    /// <exception cref="ArgumentException">The label count differs from the number of rows of <paramref name="yPred"/>, or a label is not an integer in [0, C).</exception>
    protected override Tensor Compute(Tensor yTrue, Tensor yPred)
    {
        if (FromLogits) return SoftmaxCrossEntropy.Sparse(yTrue.StopGradient(), yPred);
        if (yPred.Rank == 0 || yPred.ShapeArray[^1] == 0)
            throw new ArgumentException($"Predictions need a non-empty class axis (the last), but have shape {Tensor.ShapeString(yPred.ShapeArray)}.", nameof(yPred));
        return CrossEntropyOfProbabilities(OneHot(yTrue, yPred.ShapeArray), yPred);
    }

    /// <summary>One-hot rows for integer labels, checked like the fused kernel checks them.</summary>
    internal static Tensor OneHot(Tensor labels, int[] predShape)
    {
        int classes = predShape[^1];
        int rows = Tensor.ShapeSize(predShape) / classes;
        if (labels.Size != rows)
            throw new ArgumentException($"Sparse labels must hold one class id per row of the predictions ({rows} rows, predictions shape {Tensor.ShapeString(predShape)}), but have shape {Tensor.ShapeString(labels.ShapeArray)}.", "yTrue");
        var oneHot = Tensor.Zeros(predShape);
        var data = oneHot.ToArray();
        var span = labels.ToArray();
        for (int r = 0; r < rows; r++)
        {
            float v = span[r];
            if (!(v >= 0 && v < classes) || v != MathF.Floor(v))
                throw new ArgumentException($"Sparse labels must be integers in [0, {classes}), but label {r} is {v}.", "yTrue");
            data[r * classes + (int)v] = 1f;
        }
        return Tensor.FromArray(data, predShape);
    }

    /// <inheritdoc/>
    public override IReadOnlyDictionary<string, object?> GetConfig() =>
        new Dictionary<string, object?>(base.GetConfig()) { ["from_logits"] = FromLogits };

    /// <summary>Rebuilds the loss from <see cref="GetConfig"/> output (missing keys take their defaults).</summary>
    /// <exception cref="ArgumentException">A value has the wrong type.</exception>
    public static SparseCategoricalCrossentropy FromConfig(IReadOnlyDictionary<string, object?> config)
    {
        ArgumentNullException.ThrowIfNull(config);
        return new(KerasConfig.GetBool(config, "from_logits", false), KerasConfig.GetString(config, "name"));
    }
}
