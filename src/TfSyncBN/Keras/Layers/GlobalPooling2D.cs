using TfSyncBN.Tensors;

namespace TfSyncBN.Keras;

/// <summary>
/// The shared part of <see cref="GlobalAveragePooling2D"/> and <see cref="GlobalMaxPooling2D"/>: one value per image and
/// channel over all spatial positions of NHWC (<c>"channels_last"</c>) or NCHW (<c>"channels_first"</c>) inputs.
/// Output [N, C], or with <c>keepdims</c> [N, 1, 1, C] (channels last) / [N, C, 1, 1] (channels first).
/// </summary>
public abstract class GlobalPooling2D : Layer
{
    /// <summary>Validates and stores the arguments.</summary>
    /// <exception cref="ArgumentException"><paramref name="dataFormat"/> is not an accepted value.</exception>
    private protected GlobalPooling2D(string? dataFormat, bool keepDims, string? name, bool trainable) : base(name, trainable)
    {
        DataFormat = LayerConfig.DataFormat(dataFormat, nameof(dataFormat));
        KeepDims = keepDims;
    }

    /// <summary><c>"channels_last"</c> or <c>"channels_first"</c>.</summary>
    public string DataFormat { get; }

    /// <summary>Whether the spatial axes stay with size 1.</summary>
    public bool KeepDims { get; }

    private bool ChannelsFirst => DataFormat == LayerConfig.ChannelsFirst;

    /// <summary>[N, C], or with <see cref="KeepDims"/> [N, 1, 1, C] (channels last) or [N, C, 1, 1] (channels first).</summary>
    /// <exception cref="ArgumentException">The input is not rank 4.</exception>
    public override IReadOnlyList<int> ComputeOutputShape(IReadOnlyList<int> inputShape)
    {
        var s = LayerConfig.CheckRank(inputShape, 4, ClassName);
        int c = s[LayerConfig.ChannelAxis(DataFormat)];
        return !KeepDims ? [s[0], c] : ChannelsFirst ? [s[0], c, 1, 1] : [s[0], 1, 1, c];
    }

    /// <inheritdoc/>
    protected override void Build(IReadOnlyList<int> inputShape) => LayerConfig.CheckRank(inputShape, 4, ClassName, paramName: "inputs");

    /// <inheritdoc/>
    protected override Tensor CallCore(Tensor inputs, bool training, Tensor? mask)
    {
        if (inputs.Rank != 4) throw new ArgumentException($"{ClassName} needs inputs of rank 4 ({DataFormat}), but got shape {Tensor.ShapeString([.. inputs.Shape])}.", nameof(inputs));
        var y = Pool(inputs, ChannelsFirst ? [2, 3] : [1, 2], LayerConfig.OpFormat(DataFormat));
        return KeepDims ? y : y.Reshape([inputs.Shape[0], inputs.Shape[LayerConfig.ChannelAxis(DataFormat)]]);
    }

    /// <summary>Pools the spatial axes <paramref name="axes"/>, keeping them with size 1.</summary>
    private protected abstract Tensor Pool(Tensor x, int[] axes, string dataFormat);

    /// <summary>The Keras config: <c>name, trainable, dtype, data_format, keepdims</c>.</summary>
    public override IReadOnlyDictionary<string, object?> GetConfig() => LayerConfig.With(base.GetConfig(),
        ("data_format", DataFormat), ("keepdims", KeepDims));

    /// <summary>The constructor arguments read from a config.</summary>
    private protected static (string? DataFormat, bool KeepDims, string? Name, bool Trainable) ReadArgs(IReadOnlyDictionary<string, object?> c)
    {
        ArgumentNullException.ThrowIfNull(c, "config");
        return (KerasConfig.GetString(c, "data_format"), KerasConfig.GetBool(c, "keepdims", false), LayerConfig.Name(c), LayerConfig.Trainable(c));
    }
}
