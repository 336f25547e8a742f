using TfSyncBN.Tensors;

namespace TfSyncBN.Keras;

/// <summary>
/// The rules by which models run two consecutive layer calls as one (Sequential for neighbouring layers, Functional for a
/// call whose output only one other call reads): a batch normalization and a following plain ReLU as one fused op (with
/// a max pooling after the ReLU, all three), and,
/// in inference, a batch normalization folded into the linear Conv2D or Dense before it. Neither applies while the
/// numerics check is on, which inspects each layer's output.
/// </summary>
internal static class LayerFusion
{
    /// <summary>
    /// <paramref name="layer"/> when it is a batch normalization and <paramref name="consumer"/>, the only reader of its
    /// output, is <c>ReLU()</c> with Keras defaults or <c>Activation("relu")</c>: the pair then runs as
    /// <see cref="BatchNormalization.CallWithRelu"/>, bit for bit the same results as the two calls.
    /// </summary>
    internal static BatchNormalization? ReluFusion(Layer layer, Layer consumer) =>
        layer is BatchNormalization bn && !Debugging.CheckNumericsEnabled
        && consumer is ReLU { MaxValue: null, NegativeSlope: 0f, Threshold: 0f } or Activation { Function: "relu" }
            ? bn : null;

    /// <summary>
    /// <paramref name="pool"/> when <paramref name="layer"/> and <paramref name="relu"/> fuse (see
    /// <see cref="ReluFusion"/>) and <paramref name="pool"/>, the only reader of the ReLU's output, is a
    /// <see cref="MaxPooling2D"/>: the three then run as <see cref="BatchNormalization.CallWithReluMaxPool"/>, which
    /// falls back to the separate calls where its kernels do not apply.
    /// </summary>
    internal static MaxPooling2D? MaxPoolFusion(Layer layer, Layer relu, Layer pool) =>
        ReluFusion(layer, relu) is not null ? pool as MaxPooling2D : null;

    /// <summary>
    /// In inference, the per-channel map of <paramref name="consumer"/>, the only reader of <paramref name="layer"/>'s
    /// output, when it is a batch normalization that can be folded into <paramref name="layer"/>, a Conv2D (channels
    /// last) or Dense with a linear activation (see <see cref="BatchNormalization.InferenceFold"/>); the pair then runs as
    /// <see cref="KernelLayer.CallFolded"/>. <paramref name="rank"/> is the input's rank, which those layers keep.
    /// </summary>
    internal static (Tensor Scale, Tensor Shift)? InferenceFold(Layer layer, Layer consumer, int rank) =>
        layer is Dense { Activation: "linear" } or Conv2D { Activation: "linear", DataFormat: LayerConfig.ChannelsLast }
        && !Debugging.CheckNumericsEnabled
        && consumer is BatchNormalization bn ? bn.InferenceFold(rank) : null;
}
