using TfSyncBN.Distribute;
using TfSyncBN.Keras;
using TfSyncBN.Tensors;
using TfSyncBN.Tests.Compat;
using TfSyncBN.Tests.TestUtil;

namespace TfSyncBN.Tests.Keras;

/// <summary>
/// The options for other frameworks' conventions: batch-statistics mode, track_running_stats, momentum conventions,
/// unbiased moving variance, data formats, config keys and Convert. Expected values are computed by hand in the tests.
/// </summary>
[TestClass]
public sealed class BatchNormalizationParityOptionsTests
{
    // V6 of syncbn-semantics.md: one channel, batch mean 2, biased variance 1, n = 4.
    private static Tensor V6 => Tensor.FromArray([1, 1, 3, 3], [4, 1]);

    [TestMethod]
    public void UseBatchStatisticsTrue_InInference_UsesBatchStatisticsAndStillUpdates()
    {
        var layer = new BatchNormalization(momentum: 0.5f, epsilon: 1e-5f, useBatchStatistics: true);
        var y = layer.Call(V6, training: false);
        double s = 1 / Math.Sqrt(1 + 1e-5);
        TestData.AssertClose(y.AsSpan(), new[] { -s, -s, s, s }, 1e-6, 0, "batch-normalized");
        Assert.AreEqual(1.0, layer.MovingMean!.Value.ToScalar(), 1e-6);        // 0.5·0 + 0.5·2
        Assert.AreEqual(1.0, layer.MovingVariance!.Value.ToScalar(), 1e-6);    // 0.5·1 + 0.5·1
    }

    [TestMethod]
    public void UseBatchStatisticsFalse_InTraining_UsesMovingStatistics_DoesNotUpdate_DirectGradientOnly()
    {
        var layer = new BatchNormalization(momentum: 0.5f, epsilon: 1e-5f, useBatchStatistics: false,
            movingMeanInitializer: Initializers.Constant(1f), movingVarianceInitializer: Initializers.Constant(4f));
        var x = V6;
        using var tape = new GradientTape();
        tape.Watch(x);
        var y = layer.Call(x, training: true);
        double inv = 1 / Math.Sqrt(4 + 1e-5);
        TestData.AssertClose(y.AsSpan(), new[] { 0.0, 0.0, 2 * inv, 2 * inv }, 1e-6, 0, "moving-normalized");
        var dx = tape.Gradient(y, [x], Tensor.FromArray([1, 2, 3, 4], [4, 1]))[0]!;
        TestData.AssertClose(dx.AsSpan(), new[] { inv, 2 * inv, 3 * inv, 4 * inv }, 1e-6, 0, "dx = dy·γ·inv");
        Assert.AreEqual(1f, layer.MovingMean!.Value.ToScalar());
        Assert.AreEqual(4f, layer.MovingVariance!.Value.ToScalar());
    }

    [TestMethod]
    public void UseBatchStatisticsUnset_BatchInTraining_MovingInInference()
    {
        var layer = new BatchNormalization(momentum: 0f, epsilon: 1e-5f);
        var train = layer.Call(Tensor.FromArray([0, 4], [2, 1]), training: true);   // mean 2, variance 4
        TestData.AssertClose(train.AsSpan(), new[] { -2 / Math.Sqrt(4 + 1e-5), 2 / Math.Sqrt(4 + 1e-5) }, 1e-6, 0, "training");
        var infer = layer.Call(Tensor.FromArray([6], [1, 1]), training: false);
        Assert.AreEqual(4 / Math.Sqrt(4 + 1e-5), infer.ToScalar(), 1e-6);
    }

    [TestMethod]
    public void TrackRunningStatsFalse_HasNoMovingStatistics_AndUsesBatchStatisticsInInference()
    {
        var layer = new BatchNormalization(epsilon: 1e-5f, trackRunningStats: false);
        var y = layer.Call(V6, training: false);
        double s = 1 / Math.Sqrt(1 + 1e-5);
        TestData.AssertClose(y.AsSpan(), new[] { -s, -s, s, s }, 1e-6, 0, "inference uses the batch");
        Assert.IsNull(layer.MovingMean);
        Assert.IsNull(layer.MovingVariance);
        Assert.AreEqual(2, layer.Weights.Count, "γ and β only");
        Assert.ThrowsExactly<ArgumentException>(() => new BatchNormalization(trackRunningStats: false, useBatchStatistics: false));
    }

    [TestMethod]
    public void TrackRunningStatsFalse_Synchronized_InferenceStatisticsAreGlobal()
    {
        using var strategy = new MirroredStrategy(2);
        var layer = ParityHarness.InScope(strategy, () => new SyncBatchNormalization(epsilon: 1e-5f, trackRunningStats: false));
        var outs = ParityHarness.Step(strategy, layer, [Tensor.FromArray([1, 1], [2, 1]), Tensor.FromArray([3, 3], [2, 1])], training: false);
        double s = 1 / Math.Sqrt(1 + 1e-5);
        TestData.AssertClose(ParityHarness.Concat([outs[0].Y, outs[1].Y]), new[] { -s, -s, s, s }, 1e-6, 0, "global statistics");
    }

    [TestMethod]
    [DataRow(MomentumConvention.Keras, 0.99f, false, 0.02, 1.0)]
    [DataRow(MomentumConvention.PyTorch, 0.1f, true, 0.2, 0.9 + 0.1 * 4.0 / 3)]
    [DataRow(MomentumConvention.Keras, 0.9f, false, 0.2, 1.0)]
    [DataRow(MomentumConvention.PyTorch, 0.1f, false, 0.2, 1.0)]
    public void V6_MomentumConventions(MomentumConvention convention, float momentum, bool unbiased, double mean, double variance)
    {
        var layer = new BatchNormalization(momentum: momentum, momentumConvention: convention, unbiasedMovingVariance: unbiased);
        layer.Call(V6, training: true);
        Assert.AreEqual(mean, layer.MovingMean!.Value.ToScalar(), 1e-6);
        Assert.AreEqual(variance, layer.MovingVariance!.Value.ToScalar(), 1e-6);
        if (convention == MomentumConvention.Keras) Assert.IsNull(layer.NumBatchesTracked);
        else Assert.AreEqual(1f, layer.NumBatchesTracked!.Value.ToScalar());
    }

    [TestMethod]
    public void CumulativeAverage_AveragesTheBatchStatistics_AndCountsBatches()
    {
        var layer = new BatchNormalization(momentum: 0.3f, momentumConvention: MomentumConvention.CumulativeAverage, unbiasedMovingVariance: true);
        layer.Call(V6, training: true);                                   // mean 2, unbiased variance 4/3
        Assert.AreEqual(2.0, layer.MovingMean!.Value.ToScalar(), 1e-6);
        Assert.AreEqual(4.0 / 3, layer.MovingVariance!.Value.ToScalar(), 1e-6);
        layer.Call(Tensor.FromArray([0, 2], [2, 1]), training: true);     // mean 1, unbiased variance 2
        Assert.AreEqual(1.5, layer.MovingMean.Value.ToScalar(), 1e-6);
        Assert.AreEqual((4.0 / 3 + 2) / 2, layer.MovingVariance.Value.ToScalar(), 1e-6);
        Assert.AreEqual(2f, layer.NumBatchesTracked!.Value.ToScalar());
        Assert.IsFalse(layer.NumBatchesTracked.Trainable);
        CollectionAssert.Contains(layer.NonTrainableWeights.ToArray(), layer.NumBatchesTracked);
    }

    [TestMethod]
    public void EmptyBatch_LeavesMovingStatisticsAndCounterUnchanged()
    {
        var layer = new BatchNormalization(momentumConvention: MomentumConvention.CumulativeAverage, unbiasedMovingVariance: true);
        layer.Call(V6, training: true);
        var y = layer.Call(Tensor.Zeros([0, 1]), training: true);
        Assert.AreEqual(0, y.Size);
        Assert.AreEqual(1f, layer.NumBatchesTracked!.Value.ToScalar());
        Assert.AreEqual(2.0, layer.MovingMean!.Value.ToScalar(), 1e-6);
        Assert.AreEqual(4.0 / 3, layer.MovingVariance!.Value.ToScalar(), 1e-6);
    }

    [TestMethod]
    public void Unbiased_WithGlobalCountOne_UpdatesTheMeanAndKeepsTheVariance()
    {
        var layer = new BatchNormalization(momentum: 0.1f, momentumConvention: MomentumConvention.PyTorch, unbiasedMovingVariance: true);
        var y = layer.Call(Tensor.FromArray([5], [1, 1]), training: true);
        Assert.AreEqual(0f, y.ToScalar());
        Assert.AreEqual(0.5, layer.MovingMean!.Value.ToScalar(), 1e-6);
        Assert.AreEqual(1f, layer.MovingVariance!.Value.ToScalar(), "N = 1: the unbiased variance is undefined, so it is not applied");
        Assert.IsTrue(float.IsFinite(layer.MovingVariance.Value.ToScalar()));
    }

    [TestMethod]
    public void Unbiased_UsesTheGlobalCount_NotTheLocalOne()
    {
        // Replicas hold [1] and [3]: each local count is 1 (unbiased undefined locally), the global N is 2.
        using var strategy = new MirroredStrategy(2);
        var layer = ParityHarness.InScope(strategy, () => new SyncBatchNormalization(momentum: 1f, momentumConvention: MomentumConvention.PyTorch, unbiasedMovingVariance: true));
        ParityHarness.Step(strategy, layer, [Tensor.FromArray([1], [1, 1]), Tensor.FromArray([3], [1, 1])]);
        foreach (var copy in layer.MovingVariance!.Replicas) Assert.AreEqual(2f, copy.ToScalar(), 1e-6f, "biased 1 × 2/1");
        foreach (var copy in layer.MovingMean!.Replicas) Assert.AreEqual(2f, copy.ToScalar(), 1e-6f);
    }

    [TestMethod]
    [DataRow("NC", 2, 1)]
    [DataRow("NCL", 3, 1)]
    [DataRow("NCHW", 4, 1)]
    [DataRow("NCDHW", 5, 1)]
    [DataRow("NLC", 3, -1)]
    [DataRow("NHWC", 4, -1)]
    [DataRow("NDHWC", 5, -1)]
    public void DataFormat_MeansTheChannelAxis(string format, int rank, int axis)
    {
        int[] shape = [.. Enumerable.Range(0, rank).Select(i => i == 0 ? 3 : 2)];
        shape[axis < 0 ? rank - 1 : axis] = 4;
        var x = Tensor.FromArray(TestData.Normal(new Random(rank), shape.Aggregate(1, (a, b) => a * b)), shape);
        var byFormat = new BatchNormalization(dataFormat: format);
        var byAxis = new BatchNormalization(axis: [axis]);
        CollectionAssert.AreEqual(byAxis.Call(x, training: true).ToArray(), byFormat.Call(x, training: true).ToArray());
        Assert.AreEqual(format, byFormat.DataFormat);
        CollectionAssert.AreEqual(byAxis.Axis.ToArray(), byFormat.Axis.ToArray());
    }

    [TestMethod]
    public void DataFormat_UnknownOrTogetherWithAxis_Raises()
    {
        var unknown = Assert.ThrowsExactly<ArgumentException>(() => new SyncBatchNormalization(dataFormat: "CN"));
        Assert.AreEqual("dataFormat", unknown.ParamName);
        StringAssert.Contains(unknown.Message, "NCHW");
        Assert.ThrowsExactly<ArgumentException>(() => new SyncBatchNormalization(dataFormat: "nchw"));
        var both = Assert.ThrowsExactly<ArgumentException>(() => new BatchNormalization(axis: [1], dataFormat: "NCHW"));
        Assert.AreEqual("dataFormat", both.ParamName);
    }

    [TestMethod]
    public void PlainLayerConfig_HasNoExtraKeys_EveryOptionRoundTrips()
    {
        Assert.IsFalse(new SyncBatchNormalization().GetConfig().Keys.Any(k => k is "process_groups" or "use_batch_statistics"
            or "track_running_stats" or "unbiased_moving_variance" or "momentum_convention" or "data_format"));
        var layer = new SyncBatchNormalization(momentum: 0.2f, processGroups: [[0, 1], [2]], useBatchStatistics: true,
            unbiasedMovingVariance: true, momentumConvention: MomentumConvention.CumulativeAverage, dataFormat: "NCHW", name: "parity_cfg");
        var config = layer.GetConfig();
        Assert.AreEqual(true, config["use_batch_statistics"]);
        Assert.AreEqual(true, config["unbiased_moving_variance"]);
        Assert.AreEqual("cumulative_average", config["momentum_convention"]);
        Assert.AreEqual("NCHW", config["data_format"]);
        var rebuilt = SyncBatchNormalization.FromConfig(config);
        KerasAssert.ConfigsEqual(config, rebuilt.GetConfig());
        Assert.AreEqual(MomentumConvention.CumulativeAverage, rebuilt.MomentumConvention);
        Assert.AreEqual(2, rebuilt.ProcessGroupList!.Count);
        CollectionAssert.AreEqual(new[] { 2 }, rebuilt.ProcessGroupList[1].ToArray());

        var untracked = new BatchNormalization(trackRunningStats: false, useBatchStatistics: null, momentumConvention: MomentumConvention.PyTorch);
        var c2 = untracked.GetConfig();
        Assert.AreEqual(false, c2["track_running_stats"]);
        Assert.AreEqual("pytorch", c2["momentum_convention"]);
        var r2 = BatchNormalization.FromConfig(c2);
        Assert.IsFalse(r2.TrackRunningStats);
        Assert.AreEqual(MomentumConvention.PyTorch, r2.MomentumConvention);
        var bad = new Dictionary<string, object?>(c2) { ["momentum_convention"] = "torch" };
        Assert.ThrowsExactly<ArgumentException>(() => BatchNormalization.FromConfig(bad));
    }

    [TestMethod]
    public void Convert_CopiesOptionsAndCurrentWeights_IntoASynchronizedLayer()
    {
        var bn = new BatchNormalization(axis: [1], momentum: 0.1f, momentumConvention: MomentumConvention.PyTorch, unbiasedMovingVariance: true,
            gammaInitializer: Initializers.Constant(2f), name: "bn_to_convert");
        bn.Call(Tensor.FromArray([1, 2, 3, 5, 7, 11], [3, 2]), training: true);
        var converted = (SyncBatchNormalization)SyncBatchNormalization.Convert(bn, [[0]]);
        Assert.AreEqual("bn_to_convert", converted.Name, "the copy keeps the name, as model JSON and summaries expect");
        Assert.IsTrue(converted.Synchronized);
        Assert.AreEqual(MomentumConvention.PyTorch, converted.MomentumConvention);
        Assert.IsTrue(converted.UnbiasedMovingVariance);
        CollectionAssert.AreEqual(bn.Gamma!.Value.ToArray(), converted.Gamma!.Value.ToArray());
        CollectionAssert.AreEqual(bn.MovingMean!.Value.ToArray(), converted.MovingMean!.Value.ToArray());
        CollectionAssert.AreEqual(bn.MovingVariance!.Value.ToArray(), converted.MovingVariance!.Value.ToArray());
        Assert.AreEqual(1f, converted.NumBatchesTracked!.Value.ToScalar());
        Assert.AreNotSame(bn.MovingMean, converted.MovingMean);
        var x = Tensor.FromArray([0, 1, 4, 2], [2, 2]);
        CollectionAssert.AreEqual(bn.Call(x, training: false).ToArray(), converted.Call(x, training: false).ToArray());

        var unbuilt = (SyncBatchNormalization)SyncBatchNormalization.Convert(new BatchNormalization(momentum: 0.5f));
        Assert.IsFalse(unbuilt.Built);
        Assert.AreEqual(0.5f, unbuilt.Momentum);
        var other = new Identity();
        Assert.AreSame(other, SyncBatchNormalization.Convert(other));
    }

    private sealed class Identity() : Layer(null, true)
    {
        protected override void Build(IReadOnlyList<int> inputShape) { }
        protected override Tensor CallCore(Tensor inputs, bool training, Tensor? mask) => inputs;
    }
}
