using TfSyncBN.Compat.Paddle;
using TfSyncBN.Distribute;
using TfSyncBN.Keras;
using TfSyncBN.Tensors;
using TfSyncBN.Tests.TestUtil;
using PaddleSyncBatchNorm = TfSyncBN.Compat.Paddle.SyncBatchNorm;
using SparseSyncBatchNorm = TfSyncBN.Compat.Paddle.Sparse.SyncBatchNorm;

namespace TfSyncBN.Tests.Compat;

/// <summary>Paddle's <c>nn.SyncBatchNorm</c> and <c>sparse.nn.SyncBatchNorm</c>: documented defaults, attributes, formats and conversion.</summary>
[TestClass]
public sealed class PaddleTests
{
    private static Tensor V1(int r) => Tensor.FromArray([r, r + 1, 2 * r, 2 * r + 1, 3 * r, 3 * r + 1, 4 * r, 4 * r + 1], [1, 4, 2]);

    [TestMethod]
    public void Defaults_ArePaddles()
    {
        var bn = new PaddleSyncBatchNorm(4);
        Assert.AreEqual(0.9f, bn.Momentum);
        Assert.AreEqual(1e-5f, bn.Epsilon);
        Assert.AreEqual("NCHW", bn.PaddleDataFormat);
        Assert.AreEqual(MomentumConvention.Keras, bn.MomentumConvention);
        Assert.IsFalse(bn.UnbiasedMovingVariance);
        CollectionAssert.AreEqual(new[] { 1 }, bn.Axis.ToArray());
        bn.Call(Tensor.Ones([2, 4, 2, 2]), training: false);
        CollectionAssert.AreEqual(new float[] { 1, 1, 1, 1 }, bn.Gamma!.Value.ToArray());
        CollectionAssert.AreEqual(new float[] { 0, 0, 0, 0 }, bn.Beta!.Value.ToArray());
        CollectionAssert.AreEqual(new float[] { 0, 0, 0, 0 }, bn.MovingMean!.Value.ToArray());
        CollectionAssert.AreEqual(new float[] { 1, 1, 1, 1 }, bn.MovingVariance!.Value.ToArray());
    }

    [TestMethod]
    public void V1_TwoReplicas_PaddleConvention()
    {
        using var strategy = new MirroredStrategy(2);
        var bn = ParityHarness.InScope(strategy, () => new PaddleSyncBatchNorm(4, dataFormat: "NCL"));
        var outs = ParityHarness.Step(strategy, bn, [V1(0), V1(1)]);
        Assert.AreEqual(-1.414199, outs[0].Y.ToArray()[0], 2e-6);
        Assert.AreEqual(1.414199, outs[1].Y.ToArray()[1], 2e-6);
        double[] mu = [1, 1.5, 2, 2.5], var = [0.5, 1.25, 2.5, 4.25];
        TestData.AssertClose(bn.MovingMean!.Value.AsSpan(), mu.Select(m => 0.1 * m).ToArray(), 1e-7, 1e-6, "moving mean");
        TestData.AssertClose(bn.MovingVariance!.Value.AsSpan(), var.Select(v => 0.9 + 0.1 * v).ToArray(), 1e-7, 1e-6, "moving variance (biased)");
    }

    [TestMethod]
    public void V6_PaddleMomentum()
    {
        var bn = new PaddleSyncBatchNorm(1, dataFormat: "NC");
        bn.Call(Tensor.FromArray([1, 1, 3, 3], [4, 1]), training: true);
        Assert.AreEqual(0.2f, bn.MovingMean!.Value.ToScalar(), 1e-6f);
        Assert.AreEqual(1.0f, bn.MovingVariance!.Value.ToScalar(), 1e-6f);
    }

    [TestMethod]
    public void AttrFalse_GivesFrozenOneAndZero()
    {
        var bn = new PaddleSyncBatchNorm(2, weightAttr: ParamAttr.False, biasAttr: ParamAttr.False, dataFormat: "NC");
        var y = bn.Call(Tensor.FromArray([0, 10, 2, 30], [2, 2]), training: true);
        Assert.IsNull(bn.Gamma);
        Assert.IsNull(bn.Beta);
        Assert.AreEqual(0, bn.TrainableWeights.Count);
        double s = 1 / Math.Sqrt(1 + 1e-5), t = 10 / Math.Sqrt(100 + 1e-5);
        TestData.AssertClose(y.AsSpan(), new[] { -s, -t, s, t }, 1e-6, 0, "γ = 1, β = 0");

        var onlyBias = new PaddleSyncBatchNorm(2, weightAttr: new ParamAttr(Initializers.Constant(3f)), biasAttr: ParamAttr.False, dataFormat: "NC");
        var z = onlyBias.Call(Tensor.FromArray([0, 10, 2, 30], [2, 2]), training: true);
        Assert.IsNull(onlyBias.Beta);
        Assert.AreEqual(-3 * s, z.ToArray()[0], 1e-5);
    }

    [TestMethod]
    public void DataFormats_MapOntoTheChannelAxis_InvalidOnesRaise()
    {
        var nhwc = new PaddleSyncBatchNorm(3, dataFormat: "NHWC");
        var x = Tensor.FromArray(TestData.Normal(new Random(2), 2 * 2 * 2 * 3), [2, 2, 2, 3]);
        CollectionAssert.AreEqual(new SyncBatchNormalization(epsilon: 1e-5f).Call(x, training: true).ToArray(), nhwc.Call(x, training: true).ToArray());
        Assert.AreEqual("dataFormat", Assert.ThrowsExactly<ArgumentException>(() => new PaddleSyncBatchNorm(3, dataFormat: "CN")).ParamName);
        Assert.AreEqual("dataFormat", Assert.ThrowsExactly<ArgumentException>(() => new SparseSyncBatchNorm(3, dataFormat: "CN")).ParamName);
        Assert.AreEqual("numFeatures", Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new PaddleSyncBatchNorm(0)).ParamName);
        Assert.AreEqual("momentum", Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new PaddleSyncBatchNorm(2, momentum: 1.2f)).ParamName);
        var wrong = Assert.ThrowsExactly<ArgumentException>(() => new PaddleSyncBatchNorm(3).Call(Tensor.Ones([2, 4, 2, 2]), training: true));
        StringAssert.Contains(wrong.Message, "num_features = 3");
    }

    [TestMethod]
    public void ConvertSyncBatchNorm_SwapsABatchNormForASynchronizedCopy()
    {
        var bn = new BatchNormalization(axis: [1], momentum: 0.9f, epsilon: 1e-5f, name: "paddle_bn");
        bn.Call(Tensor.FromArray([1, 2, 5, 3, 4, 1], [3, 2]), training: true);
        var sync = (SyncBatchNormalization)PaddleSyncBatchNorm.ConvertSyncBatchNorm(bn);
        Assert.AreEqual("paddle_bn", sync.Name);
        Assert.IsTrue(sync.Synchronized);
        Assert.AreEqual(0.9f, sync.Momentum);
        CollectionAssert.AreEqual(bn.MovingMean!.Value.ToArray(), sync.MovingMean!.Value.ToArray());
        CollectionAssert.AreEqual(bn.MovingVariance!.Value.ToArray(), sync.MovingVariance!.Value.ToArray());
    }

    [TestMethod]
    public void Sparse_Defaults_AndTwoReplicasMatchTheDenseLayerOnValues()
    {
        var sparse = new SparseSyncBatchNorm(2);
        Assert.AreEqual(0.9f, sparse.Momentum);
        Assert.AreEqual(1e-5f, sparse.Epsilon);
        Assert.AreEqual("NCHW", sparse.PaddleDataFormat);

        int[] dense = [1, 3, 3, 2];
        var a = new SparseCooTensor([0, 0, 1, 0, 2, 2], Tensor.FromArray([1, 10, 3, 30], [2, 2]), dense);
        var b = new SparseCooTensor([0, 1, 1], Tensor.FromArray([5, 20], [1, 2]), dense);
        using var strategy = new MirroredStrategy(2);
        var layer = ParityHarness.InScope(strategy, () => new SparseSyncBatchNorm(2));
        var task = Task.Run(() => strategy.Run(ctx => layer.CallSparse(ctx.ReplicaId == 0 ? a : b, training: true)));
        Assert.IsTrue(task.Wait(TimeSpan.FromSeconds(30)));
        // Channel 0 stores {1, 3, 5}: mean 3, variance 8/3; channel 1 stores {10, 30, 20}: mean 20, variance 200/3.
        double i0 = 1 / Math.Sqrt(8.0 / 3 + 1e-5), i1 = 1 / Math.Sqrt(200.0 / 3 + 1e-5);
        TestData.AssertClose(ParityHarness.Concat([task.Result[0].Values, task.Result[1].Values]),
            new[] { -2 * i0, -10 * i1, 0, 10 * i1, 2 * i0, 0 }, 1e-5, 1e-5, "normalized stored values");
        TestData.AssertClose(layer.MovingMean!.Value.AsSpan(), new[] { 0.3, 2.0 }, 1e-6, 1e-6, "0.1 · mean");
        CollectionAssert.AreEqual(a.Indices.ToArray(), task.Result[0].Indices.ToArray());
    }
}
