using TfSyncBN.Distribute;
using TfSyncBN.Keras;
using TfSyncBN.Tensors;
using TfSyncBN.Tensors.Kernels;
using TfSyncBN.Tests.TestUtil;
using FunctionalModel = TfSyncBN.Keras.Functional;

namespace TfSyncBN.Tests.Keras;

/// <summary>
/// Batch normalization, ReLU and max pooling as one fused op: bit for bit the pooled output, input gradient, γ/β
/// gradients and moving statistics of the three calls, for BatchNormalization and SyncBatchNormalization, on data with
/// tied maxima (the gradient goes to each window's first maximal position) and windows with no positive value; where
/// the kernels do not apply (windows that do not tile, channels not a whole number of vectors), the same results by
/// the separate calls.
/// </summary>
[TestClass]
public sealed class BatchNormReluMaxPoolFusionTests
{
    public static IEnumerable<object[]> Cases =>
        from geometry in new[] { "2x2 on 8x6", "3x3 on 9x6", "2x2 on 7x6", "2x2 stride 1 on 8x6", "1x2 on 4x6" }
        from channels in new[] { 16, 32, 24 }
        from replicas in new[] { 1, 3 }
        from training in new[] { true, false }
        select new object[] { geometry, channels, replicas, training };

    [TestMethod]
    [DynamicData(nameof(Cases))]
    public void FusedOp_EqualsBatchNormReluThenMaxPool_Bitwise(string geometry, int channels, int replicas, bool training)
    {
        var p = geometry.Split(' ');
        var window = p[0].Split('x').Select(int.Parse).ToArray();
        var image = p[^1].Split('x').Select(int.Parse).ToArray();
        int[]? strides = p.Length == 5 ? [int.Parse(p[2]), int.Parse(p[2])] : null;
        Compare(channels, replicas, training, n: 10, image[0], image[1], window, strides);
    }

    [TestMethod]
    [DoNotParallelize]
    public void FusedOp_LargeBatchOnSeveralThreads_EqualsBatchNormReluThenMaxPool_Bitwise()
    {
        // 2 threads (the kernels split pixels and window rows into blocks): the CNN's two layers at batch 16.
        using var saved = new SavedKernelOptions();
        KernelOptions.MaxThreads = 2;
        KernelOptions.MinElementsPerThread = 1;
        Compare(32, 1, training: true, n: 16, h: 28, w: 28, [2, 2], null);
        Compare(64, 1, training: true, n: 16, h: 14, w: 14, [2, 2], null);
    }

    private static void Compare(int channels, int replicas, bool training, int n, int h, int w, int[] window, int[]? strides)
    {
        var rng = new Random(TestData.Seed + channels * 7 + replicas + h);
        int C = channels;
        int[] shape = [n, h, w, C];
        int size = shape.Aggregate(1, (a, b) => a * b);
        // Values on a grid of 1/4: many windows hold tied maxima, and many hold no positive pre-activation.
        var x = Tensor.FromArray(TestData.Normal(rng, size, -0.2, 1.5).Select(v => MathF.Round(v * 4) / 4).ToArray(), shape);
        var gamma = TestData.Normal(rng, C, 1, 0.5);
        gamma[0] = -gamma[0];
        var beta = TestData.Normal(rng, C, 0, 0.5);
        var movingMean = TestData.Normal(rng, C, 0.2, 0.3);
        var movingVariance = TestData.Normal(rng, C, 2, 0.3);
        BatchNormalization Make() => new(momentum: 0.9f, gammaInitializer: new FixedInitializer(gamma),
            betaInitializer: new FixedInitializer(beta), movingMeanInitializer: new FixedInitializer(movingMean),
            movingVarianceInitializer: new FixedInitializer(movingVariance), synchronized: replicas > 1);
        var pool = new MaxPooling2D(window, strides);
        int[] pooledShape = [.. pool.ComputeOutputShape(shape)];
        var dy = Tensor.FromArray(TestData.Normal(rng, pooledShape.Aggregate(1, (a, b) => a * b)), pooledShape);
        var g = WindowGeometry.Create(shape, window[0], window[1], (strides ?? window)[0], (strides ?? window)[1], false);
        bool fuses = BatchNormKernels.FusesMaxPool(g);
        string label = $"{window[0]}x{window[1]} windows on {h}x{w}, C={C}, R={replicas}, training={training}, fused kernels: {fuses}";

        var fused = Run(fuse: true);
        var unfused = Run(fuse: false);
        // Fused: one op instead of three; otherwise BN+ReLU fused and the pooling, two.
        Assert.AreEqual(unfused["ops"][0] - (fuses ? 2 : 1), fused["ops"][0], $"recorded ops ({label})");
        fused.Remove("ops");
        foreach (var name in fused.Keys)
            BatchNormReluFusionTests.AssertBitwise(unfused[name], fused[name], $"{name} ({label})");
        // The data exercises what the fused backward must get right.
        Assert.IsTrue(fused["y"].Any(v => v > 0) && fused["y"].Any(v => v == 0), $"windows with and without a positive value ({label})");
        // (In training every dx element also gets the statistics' terms.)
        Assert.IsTrue(training || fused["dx"].Any(v => v != 0) && fused["dx"].Any(v => v == 0), $"routed and dropped gradients ({label})");

        Dictionary<string, float[]> Run(bool fuse)
        {
            if (replicas == 1) return Step(Make(), pool, x, dy, fuse, training);
            using var strategy = new MirroredStrategy(replicas, TimeSpan.FromSeconds(30));
            BatchNormalization layer;
            using (strategy.Scope()) layer = Make();
            int[] sizes = [n / 2, 0, n - n / 2];
            var starts = TestData.Offsets(sizes);
            var per = strategy.Run(ctx => Step(layer, pool, x.Slice(0, starts[ctx.ReplicaId], sizes[ctx.ReplicaId]),
                dy.Slice(0, starts[ctx.ReplicaId], sizes[ctx.ReplicaId]), fuse, training));
            return new Dictionary<string, float[]>
            {
                ["y"] = [.. per.Values.SelectMany(r => r["y"])],
                ["dx"] = [.. per.Values.SelectMany(r => r["dx"])],
                ["dgamma"] = per.Values.Select(r => Tensor.FromArray(r["dgamma"])).Aggregate((a, b) => a + b).ToArray(),
                ["dbeta"] = per.Values.Select(r => Tensor.FromArray(r["dbeta"])).Aggregate((a, b) => a + b).ToArray(),
                ["moving mean"] = per.Values[0]["moving mean"],
                ["moving variance"] = per.Values[0]["moving variance"],
                ["ops"] = per.Values[0]["ops"],
            };
        }
    }

    private static Dictionary<string, float[]> Step(BatchNormalization layer, MaxPooling2D pool, Tensor x, Tensor dy, bool fuse, bool training) =>
        BatchNormReluFusionTests.Step(layer, x, dy,
            () => fuse ? layer.CallWithReluMaxPool(x, training, pool) : pool.Call(layer.Call(x, training: training).Relu()));

    [TestMethod]
    public void PooledKernels_EqualTheSeparateKernels_Bitwise_ForEveryBlockSplit()
    {
        // 840 pixels: the blocks of 2 threads split a window row (at pixel 420, image row 35), those of 3 an image row
        // (pixel 280); every block holds several float32 runs of 256 pixels, which end inside image rows.
        var rng = new Random(TestData.Seed);
        int n = 7, h = 10, w = 12, C = 32;
        var g = WindowGeometry.Create([n, h, w, C], 2, 2, 2, 2, false);
        Assert.IsTrue(BatchNormKernels.FusesMaxPool(g));
        var layout = new ChannelLayout(n * h * w, C, 1);
        var x = TestData.Normal(rng, n * h * w * C, 0, 1).Select(v => MathF.Round(v * 4) / 4).ToArray();
        var dp = TestData.Normal(rng, n * g.OH * g.OW * C, 0, 1);
        var mean = TestData.Normal(rng, C, 0, 0.1);
        var scale = TestData.Normal(rng, C, 1, 0.5);
        var offset = TestData.Normal(rng, C, 0, 0.5);
        var k = TestData.Normal(rng, C, 0, 0.1);
        var a = TestData.Normal(rng, C, 1, 0.2);
        var b = TestData.Normal(rng, C, 0, 0.1);
        // Exact zero pre-activations: channel 0 of image 0 sits at its mean with no offset, so every window there has
        // the maximum 0 at all four positions (the ReLU's gate, not the routing, must drop its gradient).
        offset[0] = 0;
        for (int p = 0; p < h * w; p++) x[p * C] = mean[0];
        var routed = AssertPooledKernelsGiveTheSeparateBits(x, dp, g, mean, scale, offset, k, a, b, [1, 2, 3, 5]);
        // Negative control: the sums differ when the gradient goes to the last maximal position instead of the first.
        var last = (float[])routed.Clone();
        for (int i = 0; i < last.Length; i += 2 * C) (last[i], last[i + C]) = (last[i + C], last[i]);
        double[] l1 = new double[C], l2 = new double[C], r1 = new double[C], r2 = new double[C];
        BatchNormKernels.PairSums(last, x, layout, new float[C], mean, l1, l2, 1, scale, offset);
        BatchNormKernels.PairSums(routed, x, layout, new float[C], mean, r1, r2, 1, scale, offset);
        CollectionAssert.AreNotEqual(r2, l2, "moving the routed gradients changes the sums");
    }

    [TestMethod]
    public void PooledKernels_GiveTheSeparateKernelsBits_WithNaNsAndInfinities()
    {
        // Channel 1: a NaN at position 0, 1, 2 or 3 of a window whose other positions are positive (the separate
        // ops' maximum is NaN, so no position gets the gradient); channel 2: +∞ and −∞ in one window (∞ is the maximum).
        var rng = new Random(TestData.Seed + 5);
        int n = 2, h = 4, w = 4, C = 32;
        var g = WindowGeometry.Create([n, h, w, C], 2, 2, 2, 2, false);
        var x = TestData.Normal(rng, n * h * w * C, 1, 0.5);
        var dp = TestData.Normal(rng, n * g.OH * g.OW * C, 0, 1);
        float[] mean = new float[C], scale = Enumerable.Repeat(1f, C).ToArray(), offset = new float[C];
        float[] k = TestData.Normal(rng, C, 0, 0.1), a = TestData.Normal(rng, C, 1, 0.2), b = TestData.Normal(rng, C, 0, 0.1);
        int[] windowOffsets = [0, 1, w, w + 1];
        for (int window = 0; window < 4; window++)
        {
            int corner = window / 2 * 2 * w + window % 2 * 2;
            x[(corner + windowOffsets[window]) * C + 1] = float.NaN;
        }
        x[(w + 1) * C + 2] = float.PositiveInfinity;
        x[1 * C + 2] = float.NegativeInfinity;
        var routed = AssertPooledKernelsGiveTheSeparateBits(x, dp, g, mean, scale, offset, k, a, b, [1]);
        // The data does what it is for: the NaN windows route nothing, the infinite one routes to its +∞.
        for (int window = 0; window < 4; window++)
        {
            int corner = window / 2 * 2 * w + window % 2 * 2;
            foreach (int at in windowOffsets) Assert.AreEqual(0f, routed[(corner + at) * C + 1], $"window {window}, NaN channel");
        }
        Assert.AreEqual(dp[2], routed[(w + 1) * C + 2], "the +∞ position of window 0 gets its gradient");
    }

    /// <summary>
    /// The separate kernels (BN + ReLU, max pooling, its backward, the gated sums and the gated input gradient) against
    /// the pooled ones, bit for bit, on each of <paramref name="threadCounts"/>; returns the separate routed gradient.
    /// </summary>
    private static float[] AssertPooledKernelsGiveTheSeparateBits(float[] x, float[] dp, WindowGeometry g, float[] mean,
        float[] scale, float[] offset, float[] k, float[] a, float[] b, int[] threadCounts)
    {
        int C = g.C;
        var layout = new ChannelLayout(g.N * g.H * g.W, C, 1);
        var relu = new float[x.Length];
        BatchNormKernels.Affine(x, default, layout, mean, scale, offset, default, relu, relu: true);
        var pooled = new float[dp.Length];
        ConvKernels.MaxPoolForward(relu, g, pooled);
        var routed = new float[x.Length];
        ConvKernels.MaxPoolBackward(relu, pooled, dp, g, routed);
        foreach (int threads in threadCounts)
        {
            var fusedPooled = new float[dp.Length];
            BatchNormKernels.AffineReluMaxPool(x, g, mean, scale, offset, fusedPooled, threads);
            BatchNormReluFusionTests.AssertBitwise(pooled, fusedPooled, $"pooled output, {threads} threads");
            double[] e1 = new double[C], e2 = new double[C], f1 = new double[C], f2 = new double[C];
            BatchNormKernels.PairSums(routed, x, layout, new float[C], mean, e1, e2, threads, scale, offset);
            BatchNormKernels.PooledPairSums(dp, x, g, mean, f1, f2, scale, offset, threads);
            CollectionAssert.AreEqual(e1, f1, $"Σdu, {threads} threads");
            CollectionAssert.AreEqual(e2, f2, $"Σdu·(x − mean), {threads} threads");
            var expected = new float[x.Length];
            BatchNormKernels.Affine(x, routed, layout, mean, k, b, a, expected, threads, relu: true, gs: scale, go: offset);
            var actual = new float[x.Length];
            BatchNormKernels.PooledAffine(x, dp, g, mean, k, b, a, actual, scale, offset, threads);
            BatchNormReluFusionTests.AssertBitwise(expected, actual, $"input gradient, {threads} threads");
        }
        return routed;
    }

    [TestMethod]
    public void PooledKernels_RefuseOtherWindowsAndShortSpans()
    {
        var c = new float[32];
        var x = new float[2 * 6 * 6 * 32];
        var pooled = new float[2 * 3 * 3 * 32];
        var g = WindowGeometry.Create([2, 6, 6, 32], 2, 2, 2, 2, false);
        BatchNormKernels.AffineReluMaxPool(x, g, c, c, c, pooled);
        var wide = WindowGeometry.Create([2, 6, 6, 32], 3, 3, 3, 3, false);
        Assert.AreEqual("g", Assert.ThrowsExactly<ArgumentException>(() => BatchNormKernels.AffineReluMaxPool(x, wide, c, c, c, pooled)).ParamName);
        Assert.AreEqual("pooled", Assert.ThrowsExactly<ArgumentException>(() => BatchNormKernels.AffineReluMaxPool(x, g, c, c, c, pooled.AsSpan(1))).ParamName);
        Assert.AreEqual("x", Assert.ThrowsExactly<ArgumentException>(() => BatchNormKernels.PooledPairSums(pooled, x.AsSpan(1), g, c, new double[32], new double[32], c, c)).ParamName);
        Assert.AreEqual("constants", Assert.ThrowsExactly<ArgumentException>(() => BatchNormKernels.PooledAffine(x, pooled, g, c, c, c, c.AsSpan(1), new float[x.Length], c, c)).ParamName);
        Assert.AreEqual("dPooled", Assert.ThrowsExactly<ArgumentException>(() => BatchNormKernels.PooledAffine(x, pooled.AsSpan(1), g, c, c, c, c, new float[x.Length], c, c)).ParamName);
        Assert.AreEqual("dx", Assert.ThrowsExactly<ArgumentException>(() => BatchNormKernels.PooledAffine(x, pooled, g, c, c, c, c, new float[x.Length - 1], c, c)).ParamName);
    }

    [TestMethod]
    public void Sequential_AndFunctional_RunBatchNormReluMaxPoolAsOneOp_WithTheLayerwiseResults()
    {
        var rng = new Random(TestData.Seed);
        var x = TestData.Uniform(rng, [6, 8, 8, 2]);
        var dy = TestData.Uniform(rng, [6, 3]);
        Layer[] Layers() =>
        [
            // tanh: inference does not fold the batch norm into the convolution, so BN+ReLU+pool fuse in both modes.
            new Conv2D(32, [3, 3], padding: "same", activation: "tanh", useBias: false, kernelInitializer: Initializers.GlorotUniform(seed: 1)),
            new SyncBatchNormalization(momentum: 0.5f), new ReLU(), new MaxPooling2D([2, 2]),
            new Flatten(), new Dense(3, kernelInitializer: Initializers.GlorotUniform(seed: 2)),
        ];
        var sequential = new Sequential(Layers(), inputShape: [8, 8, 2]);
        var layers = Layers();
        var input = TfSyncBN.Keras.Model.Input([8, 8, 2]);
        var functional = new FunctionalModel([input], [layers.Aggregate((KerasTensor)input, (t, l) => l.Call(t))]);
        var reference = Layers();
        var referenceModel = new Sequential(reference, inputShape: [8, 8, 2]);
        var g = WindowGeometry.Create([6, 8, 8, 32], 2, 2, 2, 2, false);
        int saved = BatchNormKernels.FusesMaxPool(g) ? 2 : 1;
        foreach (bool training in new[] { true, false })
        {
            var expected = Grads(referenceModel, () => reference.Aggregate(x, (t, l) => l.Call(t, training)));
            foreach (var (name, model) in new (string, Model)[] { ("Sequential", sequential), ("Functional", functional) })
            {
                var actual = Grads(model, () => model.Call(x, training));
                BatchNormReluFusionTests.AssertBitwise(expected.Y, actual.Y, $"{name} output, training={training}");
                for (int i = 0; i < expected.Grads.Count; i++)
                    BatchNormReluFusionTests.AssertBitwise(expected.Grads[i], actual.Grads[i], $"{name} gradient {i}, training={training}");
                for (int i = 0; i < expected.Stats.Length; i++)
                    BatchNormReluFusionTests.AssertBitwise(expected.Stats[i], actual.Stats[i], $"{name} moving statistic {i}, training={training}");
                Assert.AreEqual(expected.Ops - saved, actual.Ops, $"{name} recorded ops, training={training}");
            }
        }

        (float[] Y, List<float[]> Grads, float[][] Stats, int Ops) Grads(Model model, Func<Tensor> forward)
        {
            using var tape = new GradientTape();
            var y = forward();
            int ops = tape.RecordedOps;
            var grads = tape.Gradient(y, model.TrainableWeights.Cast<ITensorLike>().ToArray(), dy);
            return (y.ToArray(), grads.Select(g => g!.ToArray()).ToList(), model.NonTrainableWeights.Select(w => w.Value.ToArray()).ToArray(), ops);
        }
    }
}
