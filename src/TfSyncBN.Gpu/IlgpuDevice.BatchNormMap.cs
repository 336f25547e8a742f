using ILGPU;
using ILGPU.Runtime;
using TfSyncBN.Gpu.Kernels;

namespace TfSyncBN.Gpu;

// The batch-norm kernels behind the tensor core's backend (IlgpuBackend.BatchNorm): pair sums and the affine map, with
// the per-channel constants uploaded from the host.
public sealed partial class IlgpuDevice
{
    internal void PairSums(ArrayView<float> u, ArrayView<float> v, ChannelLayout l, float[] a, float[] b, double[] s1, double[] s2,
        float[]? gs, float[]? go)
    {
        int c = l.Channels;
        if (c == 0 || l.Count == 0) return;
        int tiles = (int)((l.Count + ReductionKernels.Tile - 1) / ReductionKernels.Tile);
        int items = tiles * c;
        using var av = Constants(a);
        using var bv = Constants(b);
        using var gsv = Constants(gs ?? a);
        using var gov = Constants(go ?? a);
        using var p1 = new PooledBuffer<double>(Pool, items, joinScope: false);
        using var p2 = new PooledBuffer<double>(Pool, items, joinScope: false);
        using var r = new PooledBuffer<double>(Pool, 2 * c, joinScope: false);
        Kernel(nameof(BatchNormMapKernels.PairPartials), () => Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, ChannelLayout, int, int, ArrayView<double>, ArrayView<double>>(
            BatchNormMapKernels.PairPartials))(items, u, v, av.View, bv.View, gsv.View, gov.View, gs is null ? 0 : 1, l, items, items, p1.View, p2.View);
        var combine = Kernel(nameof(ReductionKernels.CombinePartials), () => Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<double>, int, int,
            ArrayView<double>>(ReductionKernels.CombinePartials));
        combine(c, p1.View, c, tiles, r.View.SubView(0, c));
        combine(c, p2.View, c, tiles, r.View.SubView(c, c));
        var sums = r.ToArray();
        for (int i = 0; i < c; i++)
        {
            s1[i] += sums[i];
            s2[i] += sums[c + i];
        }
    }

    internal void Affine(ArrayView<float> x, ArrayView<float>? g, ChannelLayout l, float[] m, float[] s, float[] o, float[]? k, bool relu,
        float[]? gs, float[]? go, ArrayView<float> y)
    {
        if (y.Length == 0) return;
        using var mv = Constants(m);
        using var sv = Constants(s);
        using var ov = Constants(o);
        using var kv = Constants(k ?? m);
        using var gsv = Constants(gs ?? m);
        using var gov = Constants(go ?? m);
        Kernel(nameof(BatchNormMapKernels.Affine), () => Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, ChannelLayout,
            ArrayView<float>>(BatchNormMapKernels.Affine))(
            (int)y.Length, x, g ?? x, mv.View, sv.View, ov.View, kv.View, gsv.View, gov.View, g is null ? 0 : 1, relu ? 1 : 0, l, y);
    }

    private PooledBuffer<float> Constants(float[] values)
    {
        var b = new PooledBuffer<float>(Pool, Math.Max(values.Length, 1), joinScope: false);
        if (values.Length > 0) b.View.SubView(0, values.Length).CopyFromCPU(values);
        return b;
    }
}
