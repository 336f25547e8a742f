using TfSyncBN.Tensors;

namespace TfSyncBN.Keras;

/// <summary>
/// Softmax along an axis (<c>keras.layers.Softmax</c>): <c>y = exp(x − m) / Σ_axis exp(x − m)</c>, m the maximum
/// along the axis, so large logits stay finite (see <see cref="Tensor.Softmax"/>). No weights.
/// </summary>
public sealed class Softmax : Layer
{
    /// <summary>Creates the layer.</summary>
    /// <param name="axis">The axis to normalize over; negative counts from the end. Keras' default is -1.</param>
    /// <param name="name">The layer name; generated when null.</param>
    /// <param name="trainable">Kept for Keras compatibility (the layer has no weights).</param>
    public Softmax(int axis = -1, string? name = null, bool trainable = true) : base(name, trainable) => Axis = axis;

    /// <summary>The axis.</summary>
    public int Axis { get; }

    /// <inheritdoc/>
    protected override void Build(IReadOnlyList<int> inputShape) => Tensor.NormalizeAxes([Axis], inputShape.Count, "axis");

    /// <inheritdoc/>
    protected override Tensor CallCore(Tensor inputs, bool training, Tensor? mask) => inputs.Softmax(Axis);

    /// <summary>The Keras config: <c>name, trainable, dtype, axis</c>.</summary>
    public override IReadOnlyDictionary<string, object?> GetConfig() => LayerConfig.With(base.GetConfig(), ("axis", Axis));

    /// <summary>Rebuilds a layer from <see cref="GetConfig"/> output.</summary>
    /// <exception cref="ArgumentException">A value has the wrong type.</exception>
    public static Softmax FromConfig(IReadOnlyDictionary<string, object?> config)
    {
        ArgumentNullException.ThrowIfNull(config);
        return new Softmax(KerasConfig.GetInt(config, "axis", -1), LayerConfig.Name(config), LayerConfig.Trainable(config));
    }
}
