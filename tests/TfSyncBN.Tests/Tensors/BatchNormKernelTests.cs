using TfSyncBN.Distribute;
using TfSyncBN.Tensors;
using TfSyncBN.Tensors.Kernels;
using TfSyncBN.Tests.TestUtil;

namespace TfSyncBN.Tests.Tensors;

/// <summary>
/// The batch-norm kernels against naive float64 loops, over every code path: channels-last streams with a short
/// period (C = 1, 3, 4, 12, 16, 24, 64 and a last partial period), channels-last rows per channel block (C = 5, 80,
/// 128), channels-first runs, the same calls split over 1-3 blocks of outer rows (the multi-threaded path), and the
/// affine map with ordinary and with non-temporal (aligned, peeled) stores.
/// </summary>
[TestClass]
public sealed class BatchNormKernelTests
{
    public static IEnumerable<object[]> Layouts =>
    [
        [37, 1, 1], [37, 3, 1], [41, 4, 1], [29, 12, 1], [33, 16, 1], [35, 24, 1], [50, 64, 1],
        [23, 5, 1], [19, 80, 1], [21, 128, 1], [3, 4, 37], [2, 7, 64], [4, 3, 5],
        // Channels first with long runs: unrolled blocks plus leftover vectors and a tail; and past one flush period.
        [3, 2, 1010], [1, 2, 17000],
    ];

    private static (float[] X, float[] G, float[] A, float[] B) Data(ChannelLayout L, int seed)
    {
        var rng = new Random(seed);
        int n = L.Outer * L.Channels * L.Inner;
        var x = new float[n];
        var g = new float[n];
        for (int i = 0; i < n; i++)
        {
            x[i] = (float)(rng.NextDouble() * 4 - 1);
            g[i] = (float)(rng.NextDouble() * 2 - 1);
        }
        var a = new float[L.Channels];
        var b = new float[L.Channels];
        for (int c = 0; c < L.Channels; c++)
        {
            a[c] = (float)(rng.NextDouble() - 0.5);
            b[c] = (float)(rng.NextDouble() + 0.5);
        }
        return (x, g, a, b);
    }

    private static int Channel(ChannelLayout L, int e) => e / L.Inner % L.Channels;

    [TestMethod]
    [DataRow(64, 16, 1024)]
    [DataRow(4096, 64, 1)]
    public void PairSums_SameThreadCount_BitwiseIdenticalResults(int outer, int channels, int inner)
    {
        // A given thread count must give the same sums every time (fixed blocks, added in block order), whatever
        // thread happens to run which block.
        var L = new ChannelLayout(outer, channels, inner);
        var (x, g, a, b) = Data(L, 7);
        for (int threads = 1; threads <= 2; threads++)
        {
            double[]? first1 = null, first2 = null;
            for (int call = 0; call < 5; call++)
            {
                var s1 = new double[channels];
                var s2 = new double[channels];
                BatchNormKernels.PairSums(g, x, L, a, b, s1, s2, threads);
                first1 ??= s1;
                first2 ??= s2;
                CollectionAssert.AreEqual(first1, s1, $"s1, {threads} threads, call {call}");
                CollectionAssert.AreEqual(first2, s2, $"s2, {threads} threads, call {call}");
            }
        }
    }

    [TestMethod]
    [DynamicData(nameof(Layouts))]
    public void PairSums_MatchesFloat64Loop(int outer, int channels, int inner)
    {
        var L = new ChannelLayout(outer, channels, inner);
        var (x, g, a, b) = Data(L, outer * 1000 + channels);
        var e1 = new double[channels];
        var e2 = new double[channels];
        for (int e = 0; e < x.Length; e++)
        {
            int c = Channel(L, e);
            double du = (double)g[e] - a[c], dv = (double)x[e] - b[c];
            e1[c] += du;
            e2[c] += du * dv;
        }
        for (int threads = 1; threads <= 3; threads++)
        {
            var s1 = new double[channels];
            var s2 = new double[channels];
            BatchNormKernels.PairSums(g, x, L, a, b, s1, s2, threads);
            for (int c = 0; c < channels; c++)
            {
                Assert.AreEqual(e1[c], s1[c], 1e-5 * (1 + Math.Abs(e1[c])), $"s1[{c}], {threads} threads");
                Assert.AreEqual(e2[c], s2[c], 1e-5 * (1 + Math.Abs(e2[c])), $"s2[{c}], {threads} threads");
            }
        }
    }

    /// <summary>
    /// The moments' call, u and v the same span with the same shift (which loads and subtracts once), against the
    /// same values passed as two copies (the general path): bit for bit, on 1-3 blocks.
    /// </summary>
    [TestMethod]
    [DynamicData(nameof(Layouts))]
    public void PairSums_SameOperands_BitwiseAsTwoCopies(int outer, int channels, int inner)
    {
        var L = new ChannelLayout(outer, channels, inner);
        var (x, _, a, _) = Data(L, outer * 31 + channels);
        float[] xCopy = [.. x], aCopy = [.. a];
        for (int threads = 1; threads <= 3; threads++)
        {
            double[] s1 = new double[channels], s2 = new double[channels], t1 = new double[channels], t2 = new double[channels];
            BatchNormKernels.PairSums(x, x, L, a, a, s1, s2, threads);
            BatchNormKernels.PairSums(x, xCopy, L, a, aCopy, t1, t2, threads);
            CollectionAssert.AreEqual(t1, s1, $"s1, {threads} threads");
            CollectionAssert.AreEqual(t2, s2, $"s2, {threads} threads");
        }
    }

    [TestMethod]
    [DynamicData(nameof(Layouts))]
    public void Affine_MatchesFloat64Loop(int outer, int channels, int inner)
    {
        var L = new ChannelLayout(outer, channels, inner);
        var (x, g, m, s) = Data(L, outer * 7 + channels);
        var o = s.Select(v => 1 - v).ToArray();
        var k = m.Select(v => 2 * v).ToArray();
        foreach (bool withGradient in new[] { false, true })
        {
            for (int threads = 1; threads <= 3; threads++)
            foreach (bool nonTemporal in new[] { false, true })
            {
                // Offset by one element, so the non-temporal path must peel to alignment.
                var buffer = new float[x.Length + 1];
                var y = buffer.AsSpan(1);
                BatchNormKernels.Affine(x, withGradient ? g : default, L, m, s, o, withGradient ? k : default, y, threads, nonTemporal);
                for (int e = 0; e < x.Length; e++)
                {
                    int c = Channel(L, e);
                    double expected = ((double)x[e] - m[c]) * s[c] + o[c] + (withGradient ? (double)g[e] * k[c] : 0);
                    Assert.AreEqual(expected, y[e], 1e-5 * (1 + Math.Abs(expected)), $"y[{e}], gradient {withGradient}, {threads} threads, non-temporal {nonTemporal}");
                }
            }
        }
    }

    /// <summary>
    /// Non-temporal stores: y at every offset from a whole vector (a channels-first run's ends are then written element
    /// by element), channels-first runs of every length around the vector width, channels-last rows of short and long
    /// periods, outputs spanning several 4 KiB pages (whose first lines take ordinary stores), with and without the
    /// gradient term, the ReLU and its gate: bit for bit the ordinary-store path, and in place (y = x) the same as out
    /// of place.
    /// </summary>
    [TestMethod]
    [DataRow(3, 2, 15)]
    [DataRow(3, 2, 16)]
    [DataRow(3, 2, 17)]
    [DataRow(3, 2, 37)]
    [DataRow(3, 2, 64)]
    [DataRow(3, 2, 1010)]
    [DataRow(2, 2, 4096)]
    [DataRow(300, 64, 1)]
    [DataRow(2000, 3, 1)]
    [DataRow(90, 100, 1)]
    public void Affine_NonTemporal_BitwiseOrdinaryStores(int outer, int channels, int inner)
    {
        var L = new ChannelLayout(outer, channels, inner);
        var (x, g, m, s) = Data(L, inner + channels);
        var o = s.Select(v => 0.5f - v).ToArray();
        var k = m.Select(v => 2 * v).ToArray();
        foreach (bool relu in new[] { false, true })
        foreach (bool withGradient in new[] { false, true })
        {
            ReadOnlySpan<float> gradient = withGradient ? g : default;
            float[] kk = withGradient ? k : [], gs = relu && withGradient ? s : [], go = relu && withGradient ? o : [];
            var expected = new float[x.Length];
            BatchNormKernels.Affine(x, gradient, L, m, s, o, kk, expected, 1, nonTemporal: false, relu: relu, gs: gs, go: go);
            for (int offset = 0; offset < 16; offset++)
            {
                string at = $"{L}, offset {offset}, ReLU {relu}, gradient {withGradient}";
                var y = new float[x.Length + 16].AsSpan(offset, x.Length);
                BatchNormKernels.Affine(x, gradient, L, m, s, o, kk, y, 1, nonTemporal: true, relu: relu, gs: gs, go: go);
                AssertBitwise(expected, y, at);
                var inPlace = new float[x.Length + 16].AsSpan(offset, x.Length);
                x.CopyTo(inPlace);
                BatchNormKernels.Affine(inPlace, gradient, L, m, s, o, kk, inPlace, 1, nonTemporal: true, relu: relu, gs: gs, go: go);
                AssertBitwise(expected, inPlace, at + ", in place");
            }
        }
    }

    private static void AssertBitwise(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, string at)
    {
        for (int e = 0; e < expected.Length; e++)
            if (BitConverter.SingleToInt32Bits(expected[e]) != BitConverter.SingleToInt32Bits(actual[e]))
                Assert.Fail($"y[{e}] = {actual[e]:R}, expected {expected[e]:R} ({at})");
    }

    [TestMethod]
    [DoNotParallelize]
    public void ThreadsFor_FollowsOptionsAndStaysSingleInsideMultiReplicaRun()
    {
        using var saved = new SavedKernelOptions();
        Assert.AreEqual(1, KernelOptions.ThreadsFor(1 << 24, 1024), "default is single-threaded");
        KernelOptions.MaxThreads = 2;
        KernelOptions.MinElementsPerThread = 1000;
        Assert.AreEqual(2, KernelOptions.ThreadsFor(1 << 24, 1024));
        Assert.AreEqual(1, KernelOptions.ThreadsFor(1999, 1024), "too little work for two threads");
        Assert.AreEqual(1, KernelOptions.ThreadsFor(1 << 24, 1), "one outer row cannot be split");
        using (var one = new MirroredStrategy(1))
            Assert.AreEqual(2, one.Run(_ => KernelOptions.ThreadsFor(1 << 24, 1024))[0], "a single replica may use the threads");
        using var two = new MirroredStrategy(2);
        var inside = two.Run(_ => KernelOptions.ThreadsFor(1 << 24, 1024));
        CollectionAssert.AreEqual(new[] { 1, 1 }, inside.Values.ToArray(), "replicas on threads keep kernels single-threaded");
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => KernelOptions.MaxThreads = 0);
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => KernelOptions.MinElementsPerThread = 0);
    }
}
