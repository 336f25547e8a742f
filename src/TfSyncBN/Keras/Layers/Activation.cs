using TfSyncBN.Tensors;

namespace TfSyncBN.Keras;

/// <summary>
/// Applies an activation function by Keras name (<c>keras.layers.Activation</c>), with Keras' defaults: <c>"relu"</c> <c>max(x, 0)</c>,
/// <c>"relu6"</c> <c>min(max(x, 0), 6)</c>, <c>"leaky_relu"</c> (slope 0.2 below 0), <c>"elu"</c> (alpha 1), <c>"gelu"</c>
/// <c>x·Φ(x)</c> (exact, erf), <c>"swish"</c> or <c>"silu"</c> <c>x·σ(x)</c>,
/// <c>"sigmoid"</c> <c>1/(1 + e^−x)</c>, <c>"tanh"</c>, <c>"softmax"</c> (over the last axis, max-shifted) or
/// <c>"linear"</c> (identity). No weights; the output has the input's shape.
/// </summary>
public sealed class Activation : Layer
{
    /// <summary>Creates the layer.</summary>
    /// <param name="activation">The activation's Keras name; null means <c>"linear"</c>.</param>
    /// <param name="name">The layer name; generated when null.</param>
    /// <param name="trainable">Kept for Keras compatibility (the layer has no weights).</param>
    /// <exception cref="ArgumentException"><paramref name="activation"/> is not one of linear, relu, relu6, leaky_relu, elu, gelu, swish, silu, sigmoid, softmax, tanh.</exception>
    public Activation(string? activation, string? name = null, bool trainable = true) : base(name, trainable) =>
        Function = ActivationFunctions.Canonical(activation, nameof(activation));

    /// <summary>The activation's Keras name.</summary>
    public string Function { get; }

    /// <inheritdoc/>
    protected override void Build(IReadOnlyList<int> inputShape)
    {
    }

    /// <inheritdoc/>
    protected override Tensor CallCore(Tensor inputs, bool training, Tensor? mask) => ActivationFunctions.Apply(Function, inputs);

    /// <summary>The Keras config: <c>name, trainable, dtype, activation</c>.</summary>
    public override IReadOnlyDictionary<string, object?> GetConfig() => LayerConfig.With(base.GetConfig(), ("activation", Function));

    /// <summary>Rebuilds a layer from <see cref="GetConfig"/> output; <c>activation</c> is required.</summary>
    /// <exception cref="ArgumentException"><c>activation</c> is missing or unknown.</exception>
    public static Activation FromConfig(IReadOnlyDictionary<string, object?> config)
    {
        ArgumentNullException.ThrowIfNull(config);
        var name = KerasConfig.GetString(config, "activation") ?? throw new ArgumentException("The config of Activation needs the key 'activation'.", nameof(config));
        return new Activation(name, LayerConfig.Name(config), LayerConfig.Trainable(config));
    }
}
