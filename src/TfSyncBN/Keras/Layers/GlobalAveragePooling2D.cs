using TfSyncBN.Tensors;

namespace TfSyncBN.Keras;

/// <summary>
/// Global average pooling over the spatial axes (<c>keras.layers.GlobalAveragePooling2D</c>):
/// <c>y[n, c] = (1/(H·W))·Σ_{h, w} x[n, h, w, c]</c> (NHWC; x[n, c, h, w] with <c>"channels_first"</c>).
/// Gradient: <c>dx = dy/(H·W)</c> at every position. Shapes as in <see cref="GlobalPooling2D"/>.
/// </summary>
public sealed class GlobalAveragePooling2D : GlobalPooling2D
{
    /// <summary>Creates the layer.</summary>
    /// <param name="dataFormat"><c>"channels_last"</c> (null means this) or <c>"channels_first"</c>.</param>
    /// <param name="keepDims">Whether the output keeps the spatial axes with size 1.</param>
    /// <param name="name">The layer name; generated when null.</param>
    /// <param name="trainable">Kept for Keras compatibility (the layer has no weights).</param>
    /// <exception cref="ArgumentException"><paramref name="dataFormat"/> is not an accepted value.</exception>
    public GlobalAveragePooling2D(string? dataFormat = null, bool keepDims = false, string? name = null, bool trainable = true)
        : base(dataFormat, keepDims, name, trainable)
    {
    }

    private protected override Tensor Pool(Tensor x, int[] axes, string dataFormat) => x.Mean(axes, keepDims: true);

    /// <summary>Rebuilds a layer from <see cref="GlobalPooling2D.GetConfig"/> output.</summary>
    /// <exception cref="ArgumentException">A value has the wrong type, or <c>data_format</c> is not accepted.</exception>
    public static GlobalAveragePooling2D FromConfig(IReadOnlyDictionary<string, object?> config)
    {
        var a = ReadArgs(config);
        return new GlobalAveragePooling2D(a.DataFormat, a.KeepDims, a.Name, a.Trainable);
    }
}
