using TfSyncBN.Gpu.Kernels;
using TfSyncBN.GpuCheck;

namespace TfSyncBN.Gpu.Tests;

/// <summary>The reductions and the GEMM give the same bits on every run and for every launch shape, as documented.</summary>
[TestClass]
public sealed class DeterminismTests
{
    [TestMethod]
    public void BatchNormAndReductionsGiveTheSameBitsTwice()
    {
        var r = Checks.Determinism(Device.Cpu, [70, 5]);
        Assert.IsTrue(r.Passed, r.Name);
    }

    [TestMethod]
    public void ChannelSumsDoNotDependOnTheLaunchWidth()
    {
        // 3 channels x 1,100 elements = 5 tiles per channel (15 work items): one thread doing all of them, 4 threads, or
        // one per work item must give identical bits, since the tile order is fixed by the shape alone.
        var d = Device.Cpu;
        using var scope = new DeviceScope();
        int outer = 220, c = 3, inner = 5;
        // Magnitudes from 2⁻⁴⁰ to 2⁴⁰, so that float64 sums round and a different order would show in the bits.
        var rng = new Random(71);
        var x = d.Upload([.. Enumerable.Range(0, outer * c * inner).Select(_ => (float)((rng.NextDouble() - 0.5) * Math.Pow(2, rng.Next(-40, 41))))], [outer, c, inner]);
        var l = new ChannelLayout(outer, c, inner);
        long[] Bits(int? threads)
        {
            using var sums = d.ChannelSums(x, null, null, l, ReductionKernels.SumX, threads);
            return [.. sums.ToArray().Select(BitConverter.DoubleToInt64Bits)];
        }
        var all = Bits(null);
        CollectionAssert.AreEqual(all, Bits(1));
        CollectionAssert.AreEqual(all, Bits(4));
        // Reference: the same two-level order written out on the host (tiles of 256 in j order, then tiles in order).
        var host = x.ToArray();
        for (int ch = 0; ch < c; ch++)
        {
            double total = 0;
            for (int t0 = 0; t0 < outer * inner; t0 += ReductionKernels.Tile)
            {
                double tile = 0;
                for (int j = t0; j < Math.Min(t0 + ReductionKernels.Tile, outer * inner); j++) tile += host[((j / inner) * c + ch) * inner + j % inner];
                total += tile;
            }
            Assert.AreEqual(BitConverter.DoubleToInt64Bits(total), all[ch], $"channel {ch}");
        }
    }

    [TestMethod]
    public void GemmDoesNotDependOnTheTileSize()
    {
        // Each output adds its products in increasing p whatever the tile edge: tiles 1 and 2 give the same bits, and both
        // equal a host loop in that order (float32 multiply, then add).
        var d = Device.Cpu;
        using var scope = new DeviceScope();
        int m = 5, n = 7, k = 11;
        float[] a = Conformance.Random(m * k, 72), b = Conformance.Random(k * n, 73);
        var ga = d.Upload(a, [m, k]);
        var gb = d.Upload(b, [k, n]);
        float[] Run(int tile)
        {
            var c = d.Zeros([m, n]);
            d.Gemm(ga.View, gb.View, c.View, m, n, k, false, false, tile);
            return c.ToArray();
        }
        var t1 = Run(1);
        var t2 = Run(2);
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                float acc = 0;
                for (int p = 0; p < k; p++) acc += a[i * k + p] * b[p * n + j];
                Assert.AreEqual(BitConverter.SingleToInt32Bits(acc), BitConverter.SingleToInt32Bits(t1[i * n + j]), $"tile 1 ({i}, {j})");
                Assert.AreEqual(BitConverter.SingleToInt32Bits(acc), BitConverter.SingleToInt32Bits(t2[i * n + j]), $"tile 2 ({i}, {j})");
            }
    }

    [TestMethod]
    public void SyncBatchNormOverReplicasEqualsTheWholeBatch()
    {
        // Uneven split (13 rows over 4 replicas), each replica a thread with its own handle on the CPU accelerator; local
        // BN on the same split is the negative control (it must differ).
        var results = Checks.SyncBatchNorm("ilgpu-cpu:0", 4, [13, 2, 3, 4]);
        Assert.AreEqual(3, results.Count);
        foreach (var r in results) Assert.IsTrue(r.Passed, $"{r.Name}: {r.MaxError} > {r.Bound}");
    }
}
