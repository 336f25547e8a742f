using TfSyncBN.Tensors;

namespace TfSyncBN.Gpu;

// The batch-normalization members of the ILGPU backend.
internal sealed partial class IlgpuBackend
{
    /// <inheritdoc/>
    public void BatchNormPairSums(TensorStorage u, TensorStorage v, Tensors.Kernels.ChannelLayout layout, float[] a, float[] b, double[] s1,
        double[] s2, float[]? gs, float[]? go)
    {
        lock (Owner) Owner.PairSums(S(u).View, S(v).View, Layout(layout), a, b, s1, s2, gs, go);
    }

    /// <inheritdoc/>
    public void BatchNormAffine(TensorStorage x, TensorStorage? g, Tensors.Kernels.ChannelLayout layout, float[] m, float[] s, float[] o,
        float[]? k, bool relu, float[]? gs, float[]? go, TensorStorage y)
    {
        lock (Owner) Owner.Affine(S(x).View, g is null ? null : S(g).View, Layout(layout), m, s, o, k, relu, gs, go, S(y).View);
    }

    private static Kernels.ChannelLayout Layout(Tensors.Kernels.ChannelLayout l) => new(l.Outer, l.Channels, l.Inner);
}
