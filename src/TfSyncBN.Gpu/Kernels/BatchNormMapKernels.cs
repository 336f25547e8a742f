using ILGPU;

namespace TfSyncBN.Gpu.Kernels;

/// <summary>
/// The batch-norm kernels behind the tensor core's backend: the per-channel pair sums and the per-channel affine map of
/// the cpu backend's <c>BatchNormKernels</c>, with the same float32 operations. A float32 fused multiply-add
/// <c>fma(a, b, c)</c> is computed as <c>(float)((double)a·b + c)</c>: the product is exact in float64, so the result
/// differs from a single rounding only in rare double-rounding ties, and its sign (the fused ReLU's gate) never does.
/// </summary>
internal static class BatchNormMapKernels
{
    /// <summary>
    /// Level 1 of the deterministic pair sums (tiles of <see cref="ReductionKernels.Tile"/> elements, see
    /// <see cref="ReductionKernels"/>): for work item w = tile·C + c, <c>p1[w] = Σ du</c> and <c>p2[w] = Σ du·dv</c> over
    /// the tile, with <c>du = u − a[c]</c> and <c>dv = v − b[c]</c> in float32, and with <paramref name="gate"/> 1
    /// du taken as 0 where <c>fma(dv, gs[c], go[c])</c> is not &gt; 0.
    /// </summary>
    public static void PairPartials(Index1D index, ArrayView<float> u, ArrayView<float> v, ArrayView<float> a, ArrayView<float> b,
        ArrayView<float> gs, ArrayView<float> go, int gate, ChannelLayout l, int items, int stride, ArrayView<double> p1, ArrayView<double> p2)
    {
        long count = l.Count;
        for (int w = index; w < items; w += stride)
        {
            int c = w % l.Channels, tile = w / l.Channels;
            long start = (long)tile * ReductionKernels.Tile;
            long end = start + ReductionKernels.Tile < count ? start + ReductionKernels.Tile : count;
            float ac = a[c], bc = b[c];
            double acc1 = 0.0, acc2 = 0.0;
            for (long j = start; j < end; j++)
            {
                long o = j / l.Inner, k = j - o * l.Inner;
                long at = (o * l.Channels + c) * l.Inner + k;
                float du = u[at] - ac;
                float dv = v[at] - bc;
                if (gate != 0 && !((double)dv * gs[c] + go[c] > 0.0)) du = 0f;
                acc1 += du;
                acc2 += (double)du * dv;
            }
            p1[w] = acc1;
            p2[w] = acc2;
        }
    }

    /// <summary>
    /// <c>y = fma(x − m[c], s[c], o[c])</c>; with <paramref name="hasG"/> 1, <c>y = fma(g', k[c], y)</c> where g' is g, or
    /// 0 when <paramref name="relu"/> is 1 and <c>fma(x − m[c], gs[c], go[c])</c> is not &gt; 0; without g and with
    /// <paramref name="relu"/> 1, <c>y = max(y, 0)</c>.
    /// </summary>
    public static void Affine(Index1D i, ArrayView<float> x, ArrayView<float> g, ArrayView<float> m, ArrayView<float> s, ArrayView<float> o,
        ArrayView<float> k, ArrayView<float> gs, ArrayView<float> go, int hasG, int relu, ChannelLayout l, ArrayView<float> y)
    {
        int c = (int)((i.X / l.Inner) % l.Channels);
        float d = x[i] - m[c];
        float t = (float)((double)d * s[c] + o[c]);
        if (hasG != 0)
        {
            float gv = g[i];
            if (relu != 0 && !((double)d * gs[c] + go[c] > 0.0)) gv = 0f;
            y[i] = (float)((double)gv * k[c] + t);
        }
        else
        {
            y[i] = relu != 0 && t <= 0f ? 0f : t; // NaN is not <= 0: it propagates, as MathF.Max does
        }
    }
}
