using TfSyncBN.Tensors.Kernels;

namespace TfSyncBN.Tensors;

// The batch-normalization members of the host backend: the span kernels BatchNormCore calls directly on host tensors.
internal sealed partial class CpuBackend
{
    /// <inheritdoc/>
    public void BatchNormPairSums(TensorStorage u, TensorStorage v, ChannelLayout layout, float[] a, float[] b, double[] s1, double[] s2,
        float[]? gs, float[]? go) =>
        BatchNormKernels.PairSums(A(u), A(v), layout, a, b, s1, s2, gs: gs, go: go);

    /// <inheritdoc/>
    public void BatchNormAffine(TensorStorage x, TensorStorage? g, ChannelLayout layout, float[] m, float[] s, float[] o, float[]? k, bool relu,
        float[]? gs, float[]? go, TensorStorage y) =>
        BatchNormKernels.Affine(A(x), AOrNull(g), layout, m, s, o, k, A(y), relu: relu, gs: gs, go: go);
}
