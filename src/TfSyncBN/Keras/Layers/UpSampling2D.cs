using TfSyncBN.Tensors;

namespace TfSyncBN.Keras;

/// <summary>
/// Nearest-neighbour upsampling of the spatial axes (<c>keras.layers.UpSampling2D</c>, <c>interpolation="nearest"</c>):
/// <c>y[n, i, j, c] = x[n, ⌊i/SH⌋, ⌊j/SW⌋, c]</c>, [N, H, W, C] → [N, SH·H, SW·W, C] (the same on axes 2 and 3 of NCHW
/// inputs with <c>"channels_first"</c>). Gradient: each dx sums the SH·SW copies of its dy. No weights.
/// </summary>
public sealed class UpSampling2D : Layer
{
    private readonly int[] size;

    /// <summary>Creates the layer.</summary>
    /// <param name="size">[SH, SW], or one value for both, each ≥ 1; [2, 2] (Keras' default) when null.</param>
    /// <param name="dataFormat"><c>"channels_last"</c> (null means this) or <c>"channels_first"</c>.</param>
    /// <param name="interpolation">Must be <c>"nearest"</c> (the only one implemented; Keras' default).</param>
    /// <param name="name">The layer name; generated when null.</param>
    /// <param name="trainable">Kept for Keras compatibility (the layer has no weights).</param>
    /// <exception cref="ArgumentException"><paramref name="size"/> does not hold 1 or 2 positive values, or
    /// <paramref name="dataFormat"/> or <paramref name="interpolation"/> is not accepted.</exception>
    public UpSampling2D(IReadOnlyList<int>? size = null, string? dataFormat = null, string interpolation = "nearest", string? name = null,
        bool trainable = true) : base(name, trainable)
    {
        var (sh, sw) = Window.Pair(size, [2, 2], nameof(size));
        this.size = [sh, sw];
        DataFormat = LayerConfig.DataFormat(dataFormat, nameof(dataFormat));
        if (interpolation != "nearest")
            throw new ArgumentException($"interpolation must be \"nearest\" (the only one implemented), but is {(interpolation is null ? "null" : $"\"{interpolation}\"")}.", nameof(interpolation));
        Interpolation = interpolation;
    }

    /// <summary>[SH, SW].</summary>
    public IReadOnlyList<int> Size => Array.AsReadOnly(size);

    /// <summary><c>"channels_last"</c> or <c>"channels_first"</c>.</summary>
    public string DataFormat { get; }

    /// <summary>Always <c>"nearest"</c>.</summary>
    public string Interpolation { get; }

    private int HeightAxis => DataFormat == LayerConfig.ChannelsFirst ? 2 : 1;

    /// <summary>The input shape with H·SH and W·SW.</summary>
    /// <exception cref="ArgumentException">The input is not rank 4.</exception>
    public override IReadOnlyList<int> ComputeOutputShape(IReadOnlyList<int> inputShape)
    {
        var s = LayerConfig.CheckRank(inputShape, 4, ClassName);
        s[HeightAxis] *= size[0];
        s[HeightAxis + 1] *= size[1];
        return s;
    }

    /// <inheritdoc/>
    protected override void Build(IReadOnlyList<int> inputShape) => LayerConfig.CheckRank(inputShape, 4, ClassName, paramName: "inputs");

    /// <inheritdoc/>
    protected override Tensor CallCore(Tensor inputs, bool training, Tensor? mask)
    {
        if (inputs.Rank != 4) throw new ArgumentException($"{ClassName} needs inputs of rank 4 ({DataFormat}), but got shape {Tensor.ShapeString([.. inputs.Shape])}.", nameof(inputs));
        return inputs.Repeat(size[0], HeightAxis).Repeat(size[1], HeightAxis + 1);
    }

    /// <summary>The Keras config: <c>name, trainable, dtype, size, data_format, interpolation</c>.</summary>
    public override IReadOnlyDictionary<string, object?> GetConfig() => LayerConfig.With(base.GetConfig(),
        ("size", size.ToArray()), ("data_format", DataFormat), ("interpolation", Interpolation));

    /// <summary>Rebuilds a layer from <see cref="GetConfig"/> output.</summary>
    /// <exception cref="ArgumentException">A value has the wrong type or is not accepted (see the constructor).</exception>
    public static UpSampling2D FromConfig(IReadOnlyDictionary<string, object?> config)
    {
        ArgumentNullException.ThrowIfNull(config);
        return new UpSampling2D(KerasConfig.GetInts(config, "size"), KerasConfig.GetString(config, "data_format"),
            KerasConfig.GetString(config, "interpolation") ?? "nearest", LayerConfig.Name(config), LayerConfig.Trainable(config));
    }
}
