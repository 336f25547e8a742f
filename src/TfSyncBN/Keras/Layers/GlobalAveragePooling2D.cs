using TfSyncBN.Tensors;

namespace TfSyncBN.Keras;

/// <summary>
/// Global average pooling over the spatial axes of NHWC inputs (<c>keras.layers.GlobalAveragePooling2D</c>):
/// <c>y[n, c] = (1/(H·W))·Σ_{h, w} x[n, h, w, c]</c>, shape [N, C], or [N, 1, 1, C] with <c>keepdims</c>.
/// Gradient: <c>dx[n, h, w, c] = dy[n, c]/(H·W)</c>.
/// </summary>
public sealed class GlobalAveragePooling2D : Layer
{
    /// <summary>Creates the layer.</summary>
    /// <param name="dataFormat">Must be <c>"channels_last"</c> (or null).</param>
    /// <param name="keepDims">Whether the output keeps the spatial axes with size 1.</param>
    /// <param name="name">The layer name; generated when null.</param>
    /// <param name="trainable">Kept for Keras compatibility (the layer has no weights).</param>
    /// <exception cref="ArgumentException"><paramref name="dataFormat"/> is not <c>"channels_last"</c>.</exception>
    public GlobalAveragePooling2D(string? dataFormat = null, bool keepDims = false, string? name = null, bool trainable = true) : base(name, trainable)
    {
        DataFormat = LayerConfig.DataFormat(dataFormat, nameof(dataFormat));
        KeepDims = keepDims;
    }

    /// <summary>Always <c>"channels_last"</c>.</summary>
    public string DataFormat { get; }

    /// <summary>Whether the spatial axes stay with size 1.</summary>
    public bool KeepDims { get; }

    /// <summary>[N, C], or [N, 1, 1, C] with <see cref="KeepDims"/>.</summary>
    /// <exception cref="ArgumentException">The input is not rank 4.</exception>
    public override IReadOnlyList<int> ComputeOutputShape(IReadOnlyList<int> inputShape)
    {
        var s = LayerConfig.CheckRank(inputShape, 4, ClassName);
        return KeepDims ? [s[0], 1, 1, s[3]] : [s[0], s[3]];
    }

    /// <inheritdoc/>
    protected override void Build(IReadOnlyList<int> inputShape) => LayerConfig.CheckRank(inputShape, 4, ClassName, paramName: "inputs");

    /// <inheritdoc/>
    protected override Tensor CallCore(Tensor inputs, bool training, Tensor? mask)
    {
        if (inputs.Rank != 4) throw new ArgumentException($"{ClassName} needs NHWC inputs of rank 4, but got shape {Tensor.ShapeString([.. inputs.Shape])}.", nameof(inputs));
        return inputs.Mean([1, 2], KeepDims);
    }

    /// <summary>The Keras config: <c>name, trainable, dtype, data_format, keepdims</c>.</summary>
    public override IReadOnlyDictionary<string, object?> GetConfig() => LayerConfig.With(base.GetConfig(),
        ("data_format", DataFormat), ("keepdims", KeepDims));

    /// <summary>Rebuilds a layer from <see cref="GetConfig"/> output.</summary>
    /// <exception cref="ArgumentException">A value has the wrong type, or <c>data_format</c> is not <c>"channels_last"</c>.</exception>
    public static GlobalAveragePooling2D FromConfig(IReadOnlyDictionary<string, object?> config)
    {
        ArgumentNullException.ThrowIfNull(config);
        return new GlobalAveragePooling2D(KerasConfig.GetString(config, "data_format"), KerasConfig.GetBool(config, "keepdims", false),
            LayerConfig.Name(config), LayerConfig.Trainable(config));
    }
}
