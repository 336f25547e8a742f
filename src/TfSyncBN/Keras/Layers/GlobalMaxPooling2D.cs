using TfSyncBN.Tensors;

namespace TfSyncBN.Keras;

/// <summary>
/// Global max pooling over the spatial axes (<c>keras.layers.GlobalMaxPooling2D</c>):
/// <c>y[n, c] = max_{h, w} x[n, h, w, c]</c> (NHWC; x[n, c, h, w] with <c>"channels_first"</c>), computed as one
/// H×W <see cref="Tensor.MaxPool2D"/> window; the gradient goes to the first maximal position (row-major).
/// Shapes as in <see cref="GlobalPooling2D"/>.
/// </summary>
public sealed class GlobalMaxPooling2D : GlobalPooling2D
{
    /// <summary>Creates the layer.</summary>
    /// <param name="dataFormat"><c>"channels_last"</c> (null means this) or <c>"channels_first"</c>.</param>
    /// <param name="keepDims">Whether the output keeps the spatial axes with size 1.</param>
    /// <param name="name">The layer name; generated when null.</param>
    /// <param name="trainable">Kept for Keras compatibility (the layer has no weights).</param>
    /// <exception cref="ArgumentException"><paramref name="dataFormat"/> is not an accepted value.</exception>
    public GlobalMaxPooling2D(string? dataFormat = null, bool keepDims = false, string? name = null, bool trainable = true)
        : base(dataFormat, keepDims, name, trainable)
    {
    }

    private protected override Tensor Pool(Tensor x, int[] axes, string dataFormat)
    {
        int h = x.Shape[axes[0]], w = x.Shape[axes[1]];
        if (h < 1 || w < 1)
            throw new ArgumentException($"{ClassName} needs at least one spatial position, but got shape {Tensor.ShapeString([.. x.Shape])}.", "inputs");
        return x.MaxPool2D([h, w], [h, w], "valid", dataFormat);
    }

    /// <summary>Rebuilds a layer from <see cref="GlobalPooling2D.GetConfig"/> output.</summary>
    /// <exception cref="ArgumentException">A value has the wrong type, or <c>data_format</c> is not accepted.</exception>
    public static GlobalMaxPooling2D FromConfig(IReadOnlyDictionary<string, object?> config)
    {
        var a = ReadArgs(config);
        return new GlobalMaxPooling2D(a.DataFormat, a.KeepDims, a.Name, a.Trainable);
    }
}
