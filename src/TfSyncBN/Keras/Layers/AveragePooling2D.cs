using TfSyncBN.Tensors;

namespace TfSyncBN.Keras;

/// <summary>
/// 2-D average pooling (<c>keras.layers.AveragePooling2D</c>): <c>y[n, oy, ox, c] = (1/k)·Σ x[n, iy, ix, c]</c> over
/// the k window positions inside the input (NHWC; the same over axes 2 and 3 of NCHW inputs with <c>"channels_first"</c>).
/// </summary>
/// <remarks>Sizes, padding and defaults as in <see cref="Pooling2D"/>. With <c>"same"</c> padding the padded positions
/// are not counted in k (TensorFlow's rule). See <see cref="Tensor.AvgPool2D"/>.</remarks>
public sealed class AveragePooling2D : Pooling2D
{
    /// <summary>Creates the layer.</summary>
    /// <param name="poolSize">[PH, PW], or one value for both, each ≥ 1; [2, 2] when null.</param>
    /// <param name="strides">[SH, SW], or one value for both, each ≥ 1; the pool size when null.</param>
    /// <param name="padding"><c>"valid"</c> or <c>"same"</c> (case-insensitive).</param>
    /// <param name="dataFormat"><c>"channels_last"</c> (null means this) or <c>"channels_first"</c>.</param>
    /// <param name="name">The layer name; generated when null.</param>
    /// <param name="trainable">Kept for Keras compatibility (the layer has no weights).</param>
    /// <exception cref="ArgumentException"><paramref name="poolSize"/> or <paramref name="strides"/> does not hold 1 or 2 positive
    /// values, or <paramref name="padding"/> or <paramref name="dataFormat"/> is not an accepted value.</exception>
    public AveragePooling2D(IReadOnlyList<int>? poolSize = null, IReadOnlyList<int>? strides = null, string padding = "valid",
        string? dataFormat = null, string? name = null, bool trainable = true) : base(poolSize, strides, padding, dataFormat, name, trainable)
    {
    }

    private protected override Tensor Pool(Tensor x, int[] poolSize, int[] strides, string padding, string dataFormat) =>
        x.AvgPool2D(poolSize, strides, padding, dataFormat);

    /// <summary>Rebuilds a layer from <see cref="Pooling2D.GetConfig"/> output.</summary>
    /// <exception cref="ArgumentException">A value has the wrong type or is not accepted (see the constructor).</exception>
    public static AveragePooling2D FromConfig(IReadOnlyDictionary<string, object?> config)
    {
        var a = PoolArgs.Read(config);
        return new AveragePooling2D(a.PoolSize, a.Strides, a.Padding, a.DataFormat, a.Name, a.Trainable);
    }
}
