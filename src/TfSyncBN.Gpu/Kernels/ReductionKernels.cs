using ILGPU;

namespace TfSyncBN.Gpu.Kernels;

/// <summary>
/// Deterministic per-channel sums in float64: a fixed two-level tree with no atomics.
/// </summary>
/// <remarks>
/// The elements of channel c, in their order j = o·Inner + i (o &lt; Outer, i &lt; Inner), are cut into tiles of
/// <see cref="Tile"/> consecutive elements. Level 1 (<see cref="ChannelPartials"/>): one work item per (tile, channel)
/// adds its tile's terms in increasing j. Level 2 (<see cref="CombinePartials"/>): one work item per channel adds the
/// tile sums in increasing tile order. The order depends only on the shape, never on the launch (work items are
/// visited by a grid-stride loop), so every run, device and replica with the same inputs gets the same bits.
/// </remarks>
internal static class ReductionKernels
{
    /// <summary>Elements per level-1 tile.</summary>
    public const int Tile = 256;

    /// <summary>Σ x.</summary>
    public const int SumX = 0;
    /// <summary>Σ (x − mean[c])².</summary>
    public const int SumSquaredDeviation = 1;
    /// <summary>Σ u.</summary>
    public const int SumU = 2;
    /// <summary>Σ u·(x − mean[c]).</summary>
    public const int SumUTimesDeviation = 3;

    /// <summary>
    /// <c>partials[tile·C + c]</c> = the tile's sum of the term selected by <paramref name="mode"/>, for every work item
    /// w = tile·C + c below <paramref name="items"/>; the launch has <paramref name="stride"/> threads, each taking w,
    /// w + stride, ... (so any launch width gives the same partials).
    /// </summary>
    public static void ChannelPartials(Index1D index, ArrayView<float> x, ArrayView<float> u, ArrayView<double> mean,
        ChannelLayout l, int mode, int items, int stride, ArrayView<double> partials)
    {
        long count = l.Count;
        for (int w = index; w < items; w += stride)
        {
            int c = w % l.Channels, tile = w / l.Channels;
            long start = (long)tile * Tile;
            long end = start + Tile < count ? start + Tile : count;
            double m = mode == SumSquaredDeviation || mode == SumUTimesDeviation ? mean[c] : 0.0;
            double acc = 0.0;
            for (long j = start; j < end; j++)
            {
                long o = j / l.Inner, k = j - o * l.Inner;
                long at = (o * l.Channels + c) * l.Inner + k;
                double v = x[at];
                if (mode == SumX) acc += v;
                else if (mode == SumSquaredDeviation) acc += (v - m) * (v - m);
                else if (mode == SumU) acc += u[at];
                else acc += u[at] * (v - m);
            }
            partials[w] = acc;
        }
    }

    /// <summary><c>result[c] = Σ_tile partials[tile·C + c]</c> in increasing tile order.</summary>
    public static void CombinePartials(Index1D c, ArrayView<double> partials, int channels, int tiles, ArrayView<double> result)
    {
        double acc = 0.0;
        for (int t = 0; t < tiles; t++) acc += partials[(long)t * channels + c];
        result[c] = acc;
    }
}
