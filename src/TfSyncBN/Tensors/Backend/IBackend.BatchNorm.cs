using TfSyncBN.Tensors.Kernels;

namespace TfSyncBN.Tensors;

// The batch-normalization kernels of a backend (BatchNormCore runs on a device through them).
internal partial interface IBackend
{
    /// <summary>
    /// The per-channel pair sums of batch normalization over storages of <paramref name="layout"/>'s size: for each
    /// channel c, <c>s1[c] += Σ du</c> and <c>s2[c] += Σ du·dv</c> over the channel's elements, with <c>du = u − a[c]</c>
    /// and <c>dv = v − b[c]</c> in float32 and the sums in float64. With a gate (<paramref name="gs"/> and
    /// <paramref name="go"/> not null; the fused ReLU's backward) du counts as 0 where <c>dv·gs[c] + go[c]</c> (one fused
    /// multiply-add) is not &gt; 0. Deterministic: the same inputs give the same bits on every call.
    /// </summary>
    /// <param name="u">The first operand (x for the moments, dy for the backward pass).</param>
    /// <param name="v">The second operand (x).</param>
    /// <param name="layout">The [Outer, Channels, Inner] view of both.</param>
    /// <param name="a">The per-channel shift of u, C values (host memory).</param>
    /// <param name="b">The per-channel shift of v, C values (host memory).</param>
    /// <param name="s1">C float64 accumulators (host memory) that receive Σ du.</param>
    /// <param name="s2">C float64 accumulators (host memory) that receive Σ du·dv.</param>
    /// <param name="gs">The gate's per-channel scale, or null for no gate.</param>
    /// <param name="go">The gate's per-channel offset, or null for no gate.</param>
    void BatchNormPairSums(TensorStorage u, TensorStorage v, ChannelLayout layout, float[] a, float[] b, double[] s1, double[] s2,
        float[]? gs, float[]? go);

    /// <summary>
    /// The per-channel affine map of batch normalization into <paramref name="y"/> (the size of <paramref name="layout"/>):
    /// <c>y = fma(x − m[c], s[c], o[c])</c>; with <paramref name="g"/>, <c>y = fma(g', k[c], y)</c> where g' is g, or 0
    /// when <paramref name="relu"/> and <c>fma(x − m[c], gs[c], go[c])</c> is not &gt; 0 (the fused ReLU's gradient);
    /// without g and with <paramref name="relu"/>, <c>y = max(y, 0)</c>. fma is a float32 fused multiply-add.
    /// </summary>
    /// <param name="x">The input.</param>
    /// <param name="g">The gradient operand, or null for the forward map.</param>
    /// <param name="layout">The [Outer, Channels, Inner] view of x, g and y.</param>
    /// <param name="m">Per-channel shift, C values (host memory).</param>
    /// <param name="s">Per-channel scale, C values.</param>
    /// <param name="o">Per-channel offset, C values.</param>
    /// <param name="k">Per-channel factor of g, C values; null exactly when g is.</param>
    /// <param name="relu">Whether a ReLU is fused (see above).</param>
    /// <param name="gs">The gate's per-channel scale when g and relu are given, else null.</param>
    /// <param name="go">The gate's per-channel offset when g and relu are given, else null.</param>
    /// <param name="y">The destination.</param>
    void BatchNormAffine(TensorStorage x, TensorStorage? g, ChannelLayout layout, float[] m, float[] s, float[] o, float[]? k, bool relu,
        float[]? gs, float[]? go, TensorStorage y);
}
