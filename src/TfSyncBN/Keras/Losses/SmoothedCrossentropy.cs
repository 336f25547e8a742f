using TfSyncBN.Tensors;

namespace TfSyncBN.Keras;

/// <summary>
/// The shared options of the cross-entropies on dense labels (<see cref="BinaryCrossentropy"/>,
/// <see cref="CategoricalCrossentropy"/>): whether predictions are logits, and the label smoothing ls in [0, 1], with
/// their Keras config keys <c>from_logits</c> and <c>label_smoothing</c>.
/// </summary>
public abstract class SmoothedCrossentropy : Loss
{
    /// <summary>Validates and stores the options.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="labelSmoothing"/> is outside [0, 1].</exception>
    private protected SmoothedCrossentropy(bool fromLogits, float labelSmoothing, string name) : base(name)
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

    /// <summary>Checks that labels have the predictions' shape, then smooths them: <c>y·(1 − ls) + ls/classes</c>.</summary>
    private protected Tensor SmoothedLabels(Tensor yTrue, Tensor yPred, int classes)
    {
        if (!Tensor.SameShape(yTrue.ShapeArray, yPred.ShapeArray))
            throw new ArgumentException($"Labels must have the predictions' shape {Tensor.ShapeString(yPred.ShapeArray)}, but have shape {Tensor.ShapeString(yTrue.ShapeArray)}.", nameof(yTrue));
        return LabelSmoothing > 0 ? yTrue * (1f - LabelSmoothing) + LabelSmoothing / classes : yTrue;
    }

    /// <summary>The Keras config: the base keys, <c>from_logits</c> and <c>label_smoothing</c>.</summary>
    public override IReadOnlyDictionary<string, object?> GetConfig() => new Dictionary<string, object?>(base.GetConfig())
    {
        ["from_logits"] = FromLogits,
        ["label_smoothing"] = KerasConfig.Number(LabelSmoothing),
    };
}
