using TfSyncBN.Keras;

namespace TfSyncBN.Compat.Paddle;

/// <summary>
/// Paddle's <c>paddle.nn.SyncBatchNorm</c> on the TfSyncBN core: Paddle's defaults (momentum 0.9 in the Keras
/// convention, epsilon 1e-5, data format NCHW) and its <c>weight_attr</c> / <c>bias_attr</c>.
/// </summary>
/// <remarks>
/// <para>It is a <see cref="SyncBatchNormalization"/> with <c>dataFormat</c> mapped onto the channel axis (NC, NCL,
/// NCHW, NCDHW: axis 1; NLC, NHWC, NDHWC: the last axis), <c>moving = momentum·moving + (1 − momentum)·batch</c> and
/// the biased moving variance, as Paddle. <see cref="ParamAttr.False"/> for <c>weightAttr</c> / <c>biasAttr</c> gives the
/// frozen γ = 1 / β = 0 (no weight is created, so nothing trains; Paddle creates a frozen parameter holding that constant).</para>
/// <para>Differences: it runs on the CPU (Paddle's kernel is GPU-only); statistics are count-weighted and clamped at 0
/// (Paddle's backward assumes equal per-device counts and its variance is not clamped).</para>
/// </remarks>
public class SyncBatchNorm : SyncBatchNormalization
{
    /// <summary>Creates the layer (Paddle <c>SyncBatchNorm(num_features, momentum, epsilon, weight_attr, bias_attr, data_format, name)</c>).</summary>
    /// <param name="numFeatures">C, the number of channels; at least 1.</param>
    /// <param name="momentum">Weight of the old moving statistics, in [0, 1].</param>
    /// <param name="epsilon">Added to the variance; positive.</param>
    /// <param name="weightAttr">γ's attributes; <see cref="ParamAttr.False"/> for a frozen γ = 1; null for the default (ones).</param>
    /// <param name="biasAttr">β's attributes; <see cref="ParamAttr.False"/> for a frozen β = 0; null for the default (zeros).</param>
    /// <param name="dataFormat">NC, NCL, NCHW, NCDHW, NLC, NHWC or NDHWC.</param>
    /// <param name="name">The layer name; generated when null.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="numFeatures"/> is below 1, <paramref name="momentum"/>
    /// is outside [0, 1], or <paramref name="epsilon"/> is not positive.</exception>
    /// <exception cref="ArgumentException"><paramref name="dataFormat"/> is not one of the accepted formats (Paddle's ValueError).</exception>
    public SyncBatchNorm(int numFeatures, float momentum = 0.9f, float epsilon = 1e-5f, ParamAttr? weightAttr = null,
        ParamAttr? biasAttr = null, string dataFormat = "NCHW", string? name = null)
        : this(numFeatures, momentum, epsilon, weightAttr, biasAttr, dataFormat, name, sparse: false)
    {
    }

    private protected SyncBatchNorm(int numFeatures, float momentum, float epsilon, ParamAttr? weightAttr, ParamAttr? biasAttr,
        string dataFormat, string? name, bool sparse)
        : base(axis: sparse ? SparseAxis(dataFormat) : null, momentum: FacadeChecks.CheckMomentum(momentum, nameof(momentum)),
            epsilon: FacadeChecks.CheckEpsilon(epsilon, nameof(epsilon)),
            center: biasAttr is not { Disabled: true }, scale: weightAttr is not { Disabled: true },
            betaInitializer: biasAttr?.Initializer, gammaInitializer: weightAttr?.Initializer, name: name,
            dataFormat: sparse ? null : dataFormat ?? throw new ArgumentNullException(nameof(dataFormat)))
    {
        NumFeatures = FacadeChecks.CheckNumFeatures(numFeatures, nameof(numFeatures));
        ExpectedChannels = numFeatures;
        PaddleDataFormat = dataFormat;
    }

    /// <summary>C, the number of channels.</summary>
    public int NumFeatures { get; }

    /// <summary>The data format given to the constructor.</summary>
    public string PaddleDataFormat { get; }

    /// <summary>
    /// Paddle <c>SyncBatchNorm.convert_sync_batchnorm(layer)</c>: a synchronized copy of a batch-normalization layer with
    /// its options and current weights (see <see cref="SyncBatchNormalization.Convert"/>); other layers unchanged.
    /// </summary>
    /// <param name="layer">The layer to convert.</param>
    /// <exception cref="ArgumentNullException"><paramref name="layer"/> is null.</exception>
    public static Layer ConvertSyncBatchNorm(Layer layer) => Convert(layer);

    /// <summary>Sparse values always hold the channels in their columns; the format is still validated.</summary>
    private static int[] SparseAxis(string dataFormat)
    {
        ArgumentNullException.ThrowIfNull(dataFormat);
        ChannelAxisOf(dataFormat, nameof(dataFormat));
        return [-1];
    }
}
