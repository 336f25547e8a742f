using TfSyncBN.Tensors.Kernels;

namespace TfSyncBN.Tensors;

/// <summary>
/// What the batch-norm op applies to its output in the same passes: nothing, a ReLU, or a ReLU then a max pooling
/// (whose windows <see cref="BatchNormKernels.FusesMaxPool"/> accepts). A pooling always comes with the ReLU.
/// </summary>
internal sealed class BatchNormEpilogue
{
    private BatchNormEpilogue(bool relu, WindowGeometry? maxPool)
    {
        Relu = relu;
        MaxPool = maxPool;
    }

    /// <summary>Batch normalization alone.</summary>
    public static readonly BatchNormEpilogue None = new(false, null);

    /// <summary>Batch normalization then <c>max(y, 0)</c>.</summary>
    public static readonly BatchNormEpilogue WithRelu = new(true, null);

    /// <summary>Batch normalization, <c>max(y, 0)</c>, then the max pooling <paramref name="pool"/> (NHWC).</summary>
    public static BatchNormEpilogue WithReluMaxPool(WindowGeometry pool) => new(true, pool);

    /// <summary>Whether a ReLU follows the normalization.</summary>
    public bool Relu { get; }

    /// <summary>The max pooling after the ReLU, or null.</summary>
    public WindowGeometry? MaxPool { get; }
}
