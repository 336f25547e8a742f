using TfSyncBN.Distribute;
using TfSyncBN.Keras;
using TfSyncBN.Tensors;
using TfSyncBN.Tests.TestUtil;
using TorchSyncBatchNorm = TfSyncBN.Compat.Torch.SyncBatchNorm;

namespace TfSyncBN.Tests.Compat;

/// <summary>
/// <c>torch.nn.SyncBatchNorm</c>'s documented defaults, conventions and errors through the facade; V1, V5 and V6 of
/// syncbn-semantics.md with PyTorch's numbers (unbiased running variance).
/// </summary>
[TestClass]
public sealed class TorchSyncBatchNormTests
{
    private static Tensor V1(int r) => Tensor.FromArray([r, r + 1, 2 * r, 2 * r + 1, 3 * r, 3 * r + 1, 4 * r, 4 * r + 1], [1, 4, 2]);

    [TestMethod]
    public void Defaults_AreTorchs()
    {
        var bn = new TorchSyncBatchNorm(4);
        Assert.AreEqual(1e-5f, bn.Epsilon);
        Assert.AreEqual(0.1f, bn.Momentum);
        Assert.AreEqual(MomentumConvention.PyTorch, bn.MomentumConvention);
        Assert.IsTrue(bn.UnbiasedMovingVariance);
        Assert.IsTrue(bn.TrackRunningStats);
        Assert.IsTrue(bn.Center && bn.Scale, "affine");
        Assert.IsNull(bn.ProcessGroupList, "WORLD");
        CollectionAssert.AreEqual(new[] { 1 }, bn.Axis.ToArray(), "channels on dim 1");
        Assert.AreEqual(4, bn.NumFeatures);
        bn.Call(Tensor.Ones([2, 4, 3]), training: false);
        CollectionAssert.AreEqual(new float[] { 1, 1, 1, 1 }, bn.Gamma!.Value.ToArray(), "weight = ones");
        CollectionAssert.AreEqual(new float[] { 0, 0, 0, 0 }, bn.Beta!.Value.ToArray(), "bias = zeros");
        CollectionAssert.AreEqual(new float[] { 0, 0, 0, 0 }, bn.MovingMean!.Value.ToArray(), "running_mean = zeros");
        CollectionAssert.AreEqual(new float[] { 1, 1, 1, 1 }, bn.MovingVariance!.Value.ToArray(), "running_var = ones");
        Assert.AreEqual(0f, bn.NumBatchesTracked!.Value.ToScalar(), "num_batches_tracked = 0");
        Assert.IsInstanceOfType<SyncBatchNormalization>(bn);
    }

    [TestMethod]
    public void V1_TwoReplicas_TorchNumbers()
    {
        using var strategy = new MirroredStrategy(2);
        var bn = ParityHarness.InScope(strategy, () => new TorchSyncBatchNorm(4));
        var outs = ParityHarness.Step(strategy, bn, [V1(0), V1(1)]);
        Assert.AreEqual(-1.414199, outs[0].Y.ToArray()[0], 2e-6);
        Assert.AreEqual(1.414199, outs[1].Y.ToArray()[1], 2e-6);
        double[] mu = [1, 1.5, 2, 2.5];
        foreach (var copy in bn.MovingMean!.Replicas) TestData.AssertClose(copy.AsSpan(), mu.Select(m => 0.1 * m).ToArray(), 1e-7, 1e-6, "running_mean");
        foreach (var copy in bn.MovingVariance!.Replicas)
            TestData.AssertClose(copy.AsSpan(), new[] { 0.966667, 1.066667, 1.233333, 1.466667 }, 1e-6, 0, "running_var (unbiased)");
        foreach (var copy in bn.NumBatchesTracked!.Replicas) Assert.AreEqual(1f, copy.ToScalar());
    }

    [TestMethod]
    public void V2_UnevenReplicas_UnbiasedRunningVariance()
    {
        // V2: replica 0 = [1, 2, 3], replica 1 = [10]; μ = 4, σ² = 12.5, unbiased 16.6667 (N = 4, 12.5·4/3).
        double unbiased = 12.5 * 4 / 3;
        Tensor[] xs = [Tensor.FromArray([1, 2, 3], [3, 1]), Tensor.FromArray([10], [1, 1])];
        using var strategy = new MirroredStrategy(2);

        // momentum 1: the running statistics become exactly the batch's, so running_var IS the unbiased variance.
        var whole = ParityHarness.InScope(strategy, () => new TorchSyncBatchNorm(1, momentum: 1f));
        var outs = ParityHarness.Step(strategy, whole, xs);
        foreach (var copy in whole.MovingMean!.Replicas) Assert.AreEqual(4.0, copy.ToScalar(), 1e-6, "running_mean = μ");
        foreach (var copy in whole.MovingVariance!.Replicas) Assert.AreEqual(16.6667, copy.ToScalar(), 1e-4, "running_var = unbiased σ²");
        // The output uses the biased σ² = 12.5 (PyTorch normalizes with the biased batch variance), count-weighted.
        double s = Math.Sqrt(12.5 + 1e-5);
        TestData.AssertClose(ParityHarness.Concat(outs.Select(o => o.Y)), new[] { -3 / s, -2 / s, -1 / s, 6 / s }, 1e-6, 0, "y");

        // Default momentum 0.1: running_var = 0.9·1 + 0.1·16.6667.
        var bn = ParityHarness.InScope(strategy, () => new TorchSyncBatchNorm(1));
        ParityHarness.Step(strategy, bn, xs);
        foreach (var copy in bn.MovingMean!.Replicas) Assert.AreEqual(0.4, copy.ToScalar(), 1e-6);
        foreach (var copy in bn.MovingVariance!.Replicas) Assert.AreEqual(0.9 + 0.1 * unbiased, copy.ToScalar(), 1e-5);
        // Not the equal-weight (Horovod-TF) numbers μ = 6, σ² = 16.333 (unbiased 21.78).
        Assert.IsTrue(Math.Abs(bn.MovingVariance.Value.ToScalar() - (0.9 + 0.1 * 16.333 * 4 / 3)) > 0.4);
    }

    [TestMethod]
    public void V5_EmptyReplica_TorchNumbers()
    {
        using var strategy = new MirroredStrategy(2);
        var bn = ParityHarness.InScope(strategy, () => new TorchSyncBatchNorm(1));
        var outs = ParityHarness.Step(strategy, bn, [Tensor.FromArray([1, 2, 3, 4], [4, 1]), Tensor.Zeros([0, 1])]);
        Assert.AreEqual(0, outs[1].Y.Size);
        Assert.AreEqual(0.25f, bn.MovingMean!.Value.ToScalar(), 1e-6f);
        Assert.AreEqual(1.066667f, bn.MovingVariance!.Value.ToScalar(), 1e-6f);
    }

    [TestMethod]
    public void V6_TorchMomentum()
    {
        var bn = new TorchSyncBatchNorm(1);
        bn.Call(Tensor.FromArray([1, 1, 3, 3], [4, 1]), training: true);
        Assert.AreEqual(0.2f, bn.MovingMean!.Value.ToScalar(), 1e-6f);
        Assert.AreEqual(1.033333f, bn.MovingVariance!.Value.ToScalar(), 1e-6f);
    }

    [TestMethod]
    public void MomentumNone_IsTheCumulativeAverage()
    {
        var bn = new TorchSyncBatchNorm(1, momentum: null);
        Assert.AreEqual(MomentumConvention.CumulativeAverage, bn.MomentumConvention);
        bn.Call(Tensor.FromArray([1, 1, 3, 3], [4, 1]), training: true);   // mean 2, unbiased 4/3
        bn.Call(Tensor.FromArray([4, 6], [2, 1]), training: true);         // mean 5, unbiased 2
        bn.Call(Tensor.FromArray([2, 2], [2, 1]), training: true);         // mean 2, unbiased 0
        Assert.AreEqual(3f, bn.MovingMean!.Value.ToScalar(), 1e-6f);
        Assert.AreEqual((4f / 3 + 2 + 0) / 3, bn.MovingVariance!.Value.ToScalar(), 1e-6f);
        Assert.AreEqual(3f, bn.NumBatchesTracked!.Value.ToScalar());
    }

    [TestMethod]
    public void AffineFalse_HasNoWeightOrBias()
    {
        var bn = new TorchSyncBatchNorm(2, affine: false);
        var y = bn.Call(Tensor.FromArray([0, 10, 2, 30], [2, 2]), training: true);
        Assert.IsNull(bn.Gamma);
        Assert.IsNull(bn.Beta);
        Assert.AreEqual(0, bn.TrainableWeights.Count);
        double s = 1 / Math.Sqrt(1 + 1e-5), t = 10 / Math.Sqrt(100 + 1e-5);
        TestData.AssertClose(y.AsSpan(), new[] { -s, -t, s, t }, 1e-6, 0, "plain normalization");
    }

    [TestMethod]
    public void TrackRunningStatsFalse_UsesBatchStatisticsInEval()
    {
        var bn = new TorchSyncBatchNorm(1, trackRunningStats: false);
        var y = bn.Call(Tensor.FromArray([1, 3], [2, 1]), training: false);
        Assert.IsNull(bn.MovingMean);
        Assert.IsNull(bn.NumBatchesTracked);
        Assert.AreEqual(-1 / Math.Sqrt(1 + 1e-5), y.ToArray()[0], 1e-6);
    }

    [TestMethod]
    public void ProcessGroup_SynchronizesWithinEachGroup()
    {
        using var strategy = new MirroredStrategy(4);
        var bn = ParityHarness.InScope(strategy, () => new TorchSyncBatchNorm(1, processGroup: [[0, 1], [2, 3]]));
        var outs = ParityHarness.Step(strategy, bn, [Tensor.FromArray([0], [1, 1]), Tensor.FromArray([2], [1, 1]),
            Tensor.FromArray([10], [1, 1]), Tensor.FromArray([30], [1, 1])]);
        double s = 1 / Math.Sqrt(1 + 1e-5), t = 10 / Math.Sqrt(100 + 1e-5);
        TestData.AssertClose(ParityHarness.Concat(outs.Select(o => o.Y)), new[] { -s, s, -t, t }, 1e-6, 0, "per-group statistics");
        // Unbiased with N = 2 per group: group 0 variance 1 → 2, group 1 variance 100 → 200; momentum 0.1.
        Assert.AreEqual(0.9f + 0.1f * 2, bn.MovingVariance!.Replicas[1].ToScalar(), 1e-5f);
        Assert.AreEqual(0.9f + 0.1f * 200, bn.MovingVariance!.Replicas[2].ToScalar(), 1e-4f);
    }

    [TestMethod]
    public void Errors_NumFeaturesAndInputs()
    {
        var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new TorchSyncBatchNorm(0));
        Assert.AreEqual("numFeatures", e.ParamName);
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new TorchSyncBatchNorm(2, momentum: 1.5f));
        var bn = new TorchSyncBatchNorm(3);
        var wrong = Assert.ThrowsExactly<ArgumentException>(() => bn.Call(Tensor.Ones([2, 4]), training: true));
        StringAssert.Contains(wrong.Message, "num_features = 3");
        Assert.ThrowsExactly<ArgumentException>(() => new TorchSyncBatchNorm(3).Call(Tensor.Ones([3]), training: true), "expected at least 2D input");
    }

    [TestMethod]
    public void ConvertSyncBatchNorm_CopiesRunningStatisticsAndCounter()
    {
        var bn = new BatchNormalization(axis: [1], momentum: 0.1f, epsilon: 1e-5f, momentumConvention: MomentumConvention.PyTorch,
            unbiasedMovingVariance: true, name: "torch_bn");
        bn.Call(Tensor.FromArray([1, 2, 3, 4, 6, 9], [3, 2]), training: true);
        var sync = (SyncBatchNormalization)TorchSyncBatchNorm.ConvertSyncBatchNorm(bn, [[0]]);
        Assert.IsTrue(sync.Synchronized);
        CollectionAssert.AreEqual(bn.MovingMean!.Value.ToArray(), sync.MovingMean!.Value.ToArray());
        CollectionAssert.AreEqual(bn.MovingVariance!.Value.ToArray(), sync.MovingVariance!.Value.ToArray());
        Assert.AreEqual(1f, sync.NumBatchesTracked!.Value.ToScalar());
        Assert.AreEqual(1, sync.ProcessGroupList!.Count);
    }
}
