using TfSyncBN.Tensors;

namespace TfSyncBN.Keras;

/// <summary>
/// Rescales its input (<c>keras.layers.Rescaling</c>): <c>y = x·scale + offset</c>, e.g. <c>scale = 1/255</c> to map
/// pixels to [0, 1]. No weights; the output has the input's shape.
/// </summary>
public sealed class Rescaling : Layer
{
    /// <summary>Creates the layer.</summary>
    /// <param name="scale">The factor, finite.</param>
    /// <param name="offset">The offset added after scaling, finite.</param>
    /// <param name="name">The layer name; generated when null.</param>
    /// <param name="trainable">Kept for Keras compatibility (the layer has no weights).</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="scale"/> or <paramref name="offset"/> is not finite.</exception>
    public Rescaling(float scale, float offset = 0f, string? name = null, bool trainable = true) : base(name, trainable)
    {
        if (!float.IsFinite(scale)) throw new ArgumentOutOfRangeException(nameof(scale), scale, "scale must be finite.");
        if (!float.IsFinite(offset)) throw new ArgumentOutOfRangeException(nameof(offset), offset, "offset must be finite.");
        Scale = scale;
        Offset = offset;
    }

    /// <summary>The factor.</summary>
    public float Scale { get; }

    /// <summary>The offset.</summary>
    public float Offset { get; }

    /// <inheritdoc/>
    protected override void Build(IReadOnlyList<int> inputShape)
    {
    }

    /// <inheritdoc/>
    protected override Tensor CallCore(Tensor inputs, bool training, Tensor? mask)
    {
        var y = inputs * Scale;
        return Offset == 0f ? y : y + Offset;
    }

    /// <summary>The Keras config: <c>name, trainable, dtype, scale, offset</c>.</summary>
    public override IReadOnlyDictionary<string, object?> GetConfig() => LayerConfig.With(base.GetConfig(),
        ("scale", KerasConfig.Number(Scale)), ("offset", KerasConfig.Number(Offset)));

    /// <summary>Rebuilds a layer from <see cref="GetConfig"/> output; <c>scale</c> is required.</summary>
    /// <exception cref="ArgumentException"><c>scale</c> is missing, or a value has the wrong type.</exception>
    public static Rescaling FromConfig(IReadOnlyDictionary<string, object?> config)
    {
        ArgumentNullException.ThrowIfNull(config);
        var scale = KerasConfig.GetNullableFloat(config, "scale") ?? throw new ArgumentException("The config of Rescaling needs the key 'scale'.", nameof(config));
        return new Rescaling(scale, KerasConfig.GetFloat(config, "offset", 0f), LayerConfig.Name(config), LayerConfig.Trainable(config));
    }
}
