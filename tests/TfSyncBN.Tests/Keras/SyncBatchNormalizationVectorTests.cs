using TfSyncBN.Distribute;
using TfSyncBN.Keras;
using TfSyncBN.Tensors;
using TfSyncBN.Tensors.Kernels;
using TfSyncBN.Tests.TestUtil;

namespace TfSyncBN.Tests.Keras;

/// <summary>The test vectors V1-V8 of syncbn-semantics.md (c.2), computed independently in float64 there.</summary>
[TestClass]
public sealed class SyncBatchNormalizationVectorTests
{
    public sealed record ReplicaOut(Tensor Y, Tensor? Dx, Tensor? DGamma, Tensor? DBeta);

    /// <summary>Runs one training step of <paramref name="layer"/> on each replica's own input (and upstream gradient).</summary>
    private static PerReplica<ReplicaOut> Step(MirroredStrategy strategy, BatchNormalization layer, Tensor[] inputs, Tensor[]? dys = null, Tensor[]? masks = null)
    {
        var task = Task.Run(() => strategy.Run(ctx =>
        {
            int r = ctx.ReplicaId;
            using var tape = new GradientTape();
            tape.Watch(inputs[r]);
            var y = layer.Call(inputs[r], training: true, mask: masks?[r]);
            if (dys is null) return new ReplicaOut(y, null, null, null);
            var g = tape.Gradient(y, [inputs[r], layer.Gamma!, layer.Beta!], dys[r]);
            return new ReplicaOut(y, g[0], g[1], g[2]);
        }));
        Assert.IsTrue(task.Wait(TimeSpan.FromSeconds(30)), "the step must not hang");
        return task.Result;
    }

    private static SyncBatchNormalization InScope(Strategy s, Func<SyncBatchNormalization> make)
    {
        using (s.Scope()) return make();
    }

    [TestMethod]
    public void V1_HorovodLayout_TwoReplicas_KerasConvention()
    {
        // x_r = [[r, r+1], [2r, 2r+1], [3r, 3r+1], [4r, 4r+1]] as (1, 4, 2), channels on axis 1.
        Tensor X(int r) => Tensor.FromArray([r, r + 1, 2 * r, 2 * r + 1, 3 * r, 3 * r + 1, 4 * r, 4 * r + 1], [1, 4, 2]);
        using var strategy = new MirroredStrategy(2);
        var layer = InScope(strategy, () => new SyncBatchNormalization(axis: [1]));
        var outs = Step(strategy, layer, [X(0), X(1)]);

        // Channel 0 is {0,1 | 1,2}: mean 1, variance 0.5 → y = [-1.412801, 0 | 0, 1.412801].
        TestData.AssertClose(new[] { outs[0].Y.ToArray()[0], outs[0].Y.ToArray()[1], outs[1].Y.ToArray()[0], outs[1].Y.ToArray()[1] },
            new double[] { -1.412801, 0, 0, 1.412801 }, 2e-6, 0, "channel 0 output");
        double[] mu = [1, 1.5, 2, 2.5], var = [0.5, 1.25, 2.5, 4.25];
        foreach (var copy in layer.MovingMean!.Replicas) TestData.AssertClose(copy.AsSpan(), mu.Select(m => 0.01 * m).ToArray(), 1e-7, 1e-6, "moving mean");
        foreach (var copy in layer.MovingVariance!.Replicas) TestData.AssertClose(copy.AsSpan(), var.Select(v => 0.99 + 0.01 * v).ToArray(), 1e-7, 1e-6, "moving variance");
    }

    [TestMethod]
    public void V1_HorovodLayout_PyTorchEpsilon()
    {
        Tensor X(int r) => Tensor.FromArray([r, r + 1, 2 * r, 2 * r + 1, 3 * r, 3 * r + 1, 4 * r, 4 * r + 1], [1, 4, 2]);
        using var strategy = new MirroredStrategy(2);
        var layer = InScope(strategy, () => new SyncBatchNormalization(axis: [1], epsilon: 1e-5f));
        var outs = Step(strategy, layer, [X(0), X(1)]);
        Assert.AreEqual(-1.414199, outs[0].Y.ToArray()[0], 2e-6);
        Assert.AreEqual(1.414199, outs[1].Y.ToArray()[1], 2e-6);
    }

    [TestMethod]
    public void V2_UnevenReplicas_AreCountWeighted()
    {
        using var strategy = new MirroredStrategy(2);
        var layer = InScope(strategy, () => new SyncBatchNormalization(momentum: 0f));
        var outs = Step(strategy, layer, [Tensor.FromArray([1, 2, 3], [3, 1]), Tensor.FromArray([10], [1, 1])]);
        TestData.AssertClose(outs[0].Y.AsSpan(), new[] { -0.848494, -0.565663, -0.282831 }, 2e-6, 0, "replica 0");
        TestData.AssertClose(outs[1].Y.AsSpan(), new[] { 1.696988 }, 2e-6, 0, "replica 1");
        // Equal weighting per replica (Horovod-TF) would give mean 6 and variance 16.333.
        Assert.AreEqual(4f, layer.MovingMean!.Value.ToScalar(), 1e-6f);
        Assert.AreEqual(12.5f, layer.MovingVariance!.Value.ToScalar(), 1e-5f);
    }

    [TestMethod]
    [DataRow(new float[] { 10000, 10001 }, 0.25)]
    [DataRow(new float[] { 1000, 1001, 1002 }, 2.0 / 3)]
    public void V3_LargeMeanSmallSpread_VarianceIsNotLostToCancellation(float[] values, double expected)
    {
        foreach (int replicas in new[] { 1, 2 })
        {
            using var strategy = new MirroredStrategy(replicas);
            var layer = InScope(strategy, () => new SyncBatchNormalization(momentum: 0f));
            int half = replicas == 1 ? values.Length : values.Length / 2;
            Tensor[] parts = replicas == 1 ? [Tensor.FromArray(values, [values.Length, 1])] :
                [Tensor.FromArray(values[..half], [half, 1]), Tensor.FromArray(values[half..], [values.Length - half, 1])];
            Step(strategy, layer, parts);
            Assert.AreEqual(expected, layer.MovingVariance!.Value.ToScalar(), 1e-6 * expected + 1e-7, $"R={replicas}");
        }
    }

    [TestMethod]
    public void V3_Float32Values_3000Point1To3000Point4()
    {
        float[] values = [3000.1f, 3000.2f, 3000.3f, 3000.4f];
        double mean = values.Average(v => (double)v), exact = values.Average(v => ((double)v - mean) * ((double)v - mean));
        using var strategy = new MirroredStrategy(2);
        var layer = InScope(strategy, () => new SyncBatchNormalization(momentum: 0f));
        Step(strategy, layer, [Tensor.FromArray(values[..3], [3, 1]), Tensor.FromArray(values[3..], [1, 1])]);
        Assert.AreEqual(exact, layer.MovingVariance!.Value.ToScalar(), 1e-4 * exact);
    }

    [TestMethod]
    public void Variance_MeanTenThousandTimesStd_RelativeErrorBelow1e3()
    {
        var rng = new Random(11);
        const int channels = 16;
        int[] sizes = [700, 0, 1348];
        var all = TestData.Normal(rng, sizes.Sum() * channels, mean: 1e4, std: 1);
        using var strategy = new MirroredStrategy(sizes.Length);
        var layer = InScope(strategy, () => new SyncBatchNormalization(momentum: 0f));
        var starts = TestData.Offsets(sizes);
        var x = Tensor.FromArray(all, [sizes.Sum(), channels]);
        Step(strategy, layer, sizes.Select((n, r) => x.Slice(0, starts[r], n)).ToArray());
        var oracle = ReferenceBatchNorm.Training(all, [sizes.Sum(), channels], [1], null, null, 1e-3);
        var got = layer.MovingVariance!.Value.ToArray();
        for (int c = 0; c < channels; c++)
            Assert.AreEqual(oracle.Variance[c], got[c], 1e-3 * oracle.Variance[c], $"channel {c}");
    }

    [TestMethod]
    [DataRow(true)]
    [DataRow(false)]
    public void Variance_OutlierAsFirstElement_DoesNotSpoilTheShift(bool channelsLast)
    {
        // With the first element as the shift, a first element of 1000 over N(0,1) data lost 1e-2 of the variance.
        var data = TestData.Normal(new Random(20261123), 1 << 20);
        data[0] = 1000f;
        double mean = data.Average(v => (double)v), exact = data.Average(v => ((double)v - mean) * ((double)v - mean));
        var layer = new BatchNormalization(axis: [channelsLast ? -1 : 1], momentum: 0f);
        layer.Call(Tensor.FromArray(data, channelsLast ? [1 << 20, 1] : [1, 1, 1 << 20]), training: true);
        Assert.AreEqual(exact, layer.MovingVariance!.Value.ToScalar(), 1e-5 * exact);
    }

    [TestMethod]
    public void V4_Backward_TwoReplicas()
    {
        using var strategy = new MirroredStrategy(2);
        // ε = 0 in the vector; the smallest positive epsilon changes nothing at float32 precision.
        var layer = InScope(strategy, () => new SyncBatchNormalization(epsilon: 1e-12f, gammaInitializer: new FixedInitializer(2f)));
        var outs = Step(strategy, layer,
            [Tensor.FromArray([1, 2], [2, 1]), Tensor.FromArray([3, 6], [2, 1])],
            [Tensor.FromArray([1, 0], [2, 1]), Tensor.FromArray([0.5f, -1], [2, 1])]);
        TestData.AssertClose(outs[0].Dx!.AsSpan(), new[] { 0.171811, -0.515432 }, 2e-6, 0, "dx replica 0");
        TestData.AssertClose(outs[1].Dx!.AsSpan(), new[] { 0.400892, -0.057270 }, 2e-6, 0, "dx replica 1");
        Assert.AreEqual(-1.069045, outs[0].DGamma!.ToScalar(), 2e-6, "local dgamma 0");
        Assert.AreEqual(-1.603567, outs[1].DGamma!.ToScalar(), 2e-6, "local dgamma 1");
        Assert.AreEqual(1.0, outs[0].DBeta!.ToScalar(), 1e-6, "local dbeta 0");
        Assert.AreEqual(-0.5, outs[1].DBeta!.ToScalar(), 1e-6, "local dbeta 1");
    }

    [TestMethod]
    public void V5_EmptyReplica_JoinsEveryCollectiveAndGetsEmptyOutput()
    {
        using var strategy = new MirroredStrategy(2, TimeSpan.FromSeconds(20));
        var layer = InScope(strategy, () => new SyncBatchNormalization());
        var outs = Step(strategy, layer,
            [Tensor.FromArray([1, 2, 3, 4], [4, 1]), Tensor.Zeros([0, 1])],
            [Tensor.FromArray([1, -1, 2, 0.5f], [4, 1]), Tensor.Zeros([0, 1])]);
        CollectionAssert.AreEqual(new[] { 0, 1 }, outs[1].Y.Shape.ToArray());
        CollectionAssert.AreEqual(new[] { 0, 1 }, outs[1].Dx!.Shape.ToArray());
        Assert.AreEqual(0f, outs[1].DBeta!.ToScalar());
        foreach (var copy in layer.MovingMean!.Replicas) Assert.AreEqual(0.025f, copy.ToScalar(), 1e-7f);
        foreach (var copy in layer.MovingVariance!.Replicas) Assert.AreEqual(1.0025f, copy.ToScalar(), 1e-6f);
        // Outputs of the non-empty replica are those of the whole batch [1,2,3,4].
        var whole = new BatchNormalization().Call(Tensor.FromArray([1, 2, 3, 4], [4, 1]), training: true);
        TestData.AssertClose(outs[0].Y.AsSpan(), whole.AsSpan(), 1e-6, 0, "replica 0 output");
    }

    [TestMethod]
    public void ZeroGlobalCount_NoNaN_MovingStatisticsUnchanged()
    {
        using var strategy = new MirroredStrategy(2);
        var layer = InScope(strategy, () => new SyncBatchNormalization(movingVarianceInitializer: new FixedInitializer(2f, 3f)));
        var outs = Step(strategy, layer, [Tensor.Zeros([0, 2]), Tensor.Zeros([0, 2])], [Tensor.Zeros([0, 2]), Tensor.Zeros([0, 2])]);
        Assert.AreEqual(0, outs[0].Y.Size);
        CollectionAssert.AreEqual(new[] { 0f, 0f }, outs[0].DGamma!.ToArray());
        foreach (var copy in layer.MovingVariance!.Replicas) CollectionAssert.AreEqual(new[] { 2f, 3f }, copy.ToArray());
        foreach (var copy in layer.MovingMean!.Replicas) CollectionAssert.AreEqual(new[] { 0f, 0f }, copy.ToArray());
    }

    [TestMethod]
    public void V6_MomentumConventions()
    {
        var x = Tensor.FromArray([1, 1, 3, 3], [4, 1]); // batch mean 2, biased variance 1
        var keras = new SyncBatchNormalization();
        keras.Call(x, training: true);
        Assert.AreEqual(0.02f, keras.MovingMean!.Value.ToScalar(), 1e-7f);
        Assert.AreEqual(1.0f, keras.MovingVariance!.Value.ToScalar(), 1e-7f);

        // Paddle and MindSpore use the Keras convention with momentum 0.9.
        var paddle = new SyncBatchNormalization(momentum: 0.9f);
        paddle.Call(x, training: true);
        Assert.AreEqual(0.2f, paddle.MovingMean!.Value.ToScalar(), 1e-7f);
        Assert.AreEqual(1.0f, paddle.MovingVariance!.Value.ToScalar(), 1e-7f);

        // The functional form uses the PyTorch convention (momentum 0.1 weights the batch); its variance is biased.
        var mean = new Variable(Tensor.Zeros([1]), trainable: false);
        var variance = new Variable(Tensor.Ones([1]), trainable: false);
        Ops.BatchNorm(x.Reshape([4, 1]), mean, variance, training: true, momentum: 0.1f);
        Assert.AreEqual(0.2f, mean.Value.ToScalar(), 1e-7f);
        Assert.AreEqual(1.0f, variance.Value.ToScalar(), 1e-7f);
    }

    [TestMethod]
    public void V7_MaskedInputs_OneAndTwoReplicas()
    {
        // tf.keras test_sync_batchnorm_with_mask: [[1,5],[2,5],[0,0],[0,0]] x 10 behind Masking, momentum 0.
        float[] example = [1, 5, 2, 5, 0, 0, 0, 0];
        float[] exampleMask = [1, 1, 0, 0];
        foreach (int replicas in new[] { 1, 2 })
        {
            int per = 10 / replicas;
            var x = Tensor.FromArray(Enumerable.Repeat(example, per).SelectMany(v => v).ToArray(), [per, 4, 2]);
            var mask = Tensor.FromArray(Enumerable.Repeat(exampleMask, per).SelectMany(v => v).ToArray(), [per, 4]);
            using var strategy = new MirroredStrategy(replicas);
            var layer = InScope(strategy, () => new SyncBatchNormalization(momentum: 0f));
            Step(strategy, layer, Enumerable.Repeat(x, replicas).ToArray(), masks: Enumerable.Repeat(mask, replicas).ToArray());
            foreach (var copy in layer.MovingMean!.Replicas) CollectionAssert.AreEqual(new[] { 1.5f, 5f }, copy.ToArray(), $"R={replicas}");
            foreach (var copy in layer.MovingVariance!.Replicas) CollectionAssert.AreEqual(new[] { 0.25f, 0f }, copy.ToArray(), $"R={replicas}");
        }
    }

    [TestMethod]
    public void V7_FullyMaskedInput_GivesZeroOutput()
    {
        foreach (bool synchronized in new[] { false, true })
        {
            var layer = new BatchNormalization(scale: false, center: false, synchronized: synchronized);
            var y = layer.Call(Tensor.Zeros([4, 5]), training: true, mask: Tensor.Zeros([4]));
            CollectionAssert.AreEqual(new float[20], y.ToArray());
            CollectionAssert.AreEqual(new float[5], layer.MovingMean!.Value.ToArray());
            CollectionAssert.AreEqual(Enumerable.Repeat(1f, 5).ToArray(), layer.MovingVariance!.Value.ToArray());
        }
    }

    [TestMethod]
    public void Masked_GradientsMatchFloat64Oracle()
    {
        var rng = new Random(5);
        var xData = TestData.Normal(rng, 6 * 3, 1, 2);
        var dyData = TestData.Normal(rng, 6 * 3);
        float[] rowMask = [1, 0, 1, 1, 0, 1];
        var layer = new BatchNormalization(gammaInitializer: new FixedInitializer(1.5f, -0.5f, 2f));
        var x = Tensor.FromArray(xData, [6, 3]);
        using var tape = new GradientTape();
        tape.Watch(x);
        var y = layer.Call(x, training: true, mask: Tensor.FromArray(rowMask));
        var dx = tape.Gradient(y, [x], Tensor.FromArray(dyData, [6, 3]))[0]!;
        var keep = Enumerable.Range(0, 18).Select(e => rowMask[e / 3] != 0).ToArray();
        var oracle = ReferenceBatchNorm.Training(xData, [6, 3], [1], [1.5f, -0.5f, 2f], null, 1e-3, dyData, keep);
        TestData.AssertClose(y.AsSpan(), oracle.Y, 1e-5, 1e-5, "y");
        TestData.AssertClose(dx.AsSpan(), oracle.Dx, 1e-5, 1e-5, "dx");
    }

    [TestMethod]
    public void V8_PyTorchElementwiseKernels()
    {
        var layout = new ChannelLayout(1, 4, 4);
        var x = Tensor.Ones([1, 4, 2, 2]);
        var stats = new BatchNormCore.Statistics([1, 2, 3, 4], [0, 0, 0, 0], [1, 2, 3, 4], [1, 1, 1, 1], [0, 0, 0, 0]);
        var y = BatchNormCore.Elemt(x, layout, stats).ToArray();
        float[] perChannel = [0, -2, -6, -12];
        CollectionAssert.AreEqual(perChannel.SelectMany(v => Enumerable.Repeat(v, 4)).ToArray(), y);

        var dx = BatchNormCore.BackwardElemt(x, x, layout, stats, [1, 1, 1, 1], [0, 0, 0, 0], count: 4).ToArray();
        float[] expected = [0.75f, 1.5f, 2.25f, 3.0f];
        TestData.AssertClose(dx, expected.SelectMany(v => Enumerable.Repeat(v, 4)).ToArray(), 1e-6, 0, "backward_elemt");
    }
}
