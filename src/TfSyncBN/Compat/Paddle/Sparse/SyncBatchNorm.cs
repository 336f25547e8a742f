namespace TfSyncBN.Compat.Paddle.Sparse;

/// <summary>
/// Paddle's <c>paddle.sparse.nn.SyncBatchNorm</c>: <see cref="Paddle.SyncBatchNorm"/> for sparse COO inputs, called with
/// <see cref="Keras.BatchNormalization.CallSparse"/>.
/// </summary>
/// <remarks>
/// Each channel is normalized over the stored values only (the [nnz, C] values matrix), synchronized across replicas
/// like dense inputs; the result keeps the input's indices. As in Paddle the channels are the values' columns whatever
/// <c>dataFormat</c> says (it is validated, and kept in <see cref="Paddle.SyncBatchNorm.PaddleDataFormat"/>).
/// </remarks>
public sealed class SyncBatchNorm : Paddle.SyncBatchNorm
{
    /// <summary>Creates the layer (Paddle <c>sparse.nn.SyncBatchNorm(num_features, momentum, epsilon, weight_attr, bias_attr, data_format, name)</c>).</summary>
    /// <param name="numFeatures">C, the number of channels; at least 1.</param>
    /// <param name="momentum">Weight of the old moving statistics, in [0, 1].</param>
    /// <param name="epsilon">Added to the variance; positive.</param>
    /// <param name="weightAttr">γ's attributes; <see cref="ParamAttr.False"/> for a frozen γ = 1.</param>
    /// <param name="biasAttr">β's attributes; <see cref="ParamAttr.False"/> for a frozen β = 0.</param>
    /// <param name="dataFormat">NC, NCL, NCHW, NCDHW, NLC, NHWC or NDHWC (validated only).</param>
    /// <param name="name">The layer name; generated when null.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="numFeatures"/> is below 1, <paramref name="momentum"/>
    /// is outside [0, 1], or <paramref name="epsilon"/> is not positive.</exception>
    /// <exception cref="ArgumentException"><paramref name="dataFormat"/> is not one of the accepted formats.</exception>
    public SyncBatchNorm(int numFeatures, float momentum = 0.9f, float epsilon = 1e-5f, ParamAttr? weightAttr = null,
        ParamAttr? biasAttr = null, string dataFormat = "NCHW", string? name = null)
        : base(numFeatures, momentum, epsilon, weightAttr, biasAttr, dataFormat, name, sparse: true)
    {
    }
}
