using TfSyncBN.Compat.MindSpore;
using TfSyncBN.Distribute;
using TfSyncBN.Keras;
using TfSyncBN.Tensors;
using TfSyncBN.Tests.TestUtil;
using MintSyncBatchNorm = TfSyncBN.Compat.MindSpore.Mint.SyncBatchNorm;
using MsOps = TfSyncBN.Compat.MindSpore.Ops;

namespace TfSyncBN.Tests.Compat;

/// <summary>MindSpore's <c>mint.nn.SyncBatchNorm</c>, <c>nn.GlobalBatchNorm</c> and <c>ops.batch_norm</c>: documented defaults, examples and errors.</summary>
[TestClass]
public sealed class MindSporeTests
{
    private static Tensor V1(int r) => Tensor.FromArray([r, r + 1, 2 * r, 2 * r + 1, 3 * r, 3 * r + 1, 4 * r, 4 * r + 1], [1, 4, 2]);

    [TestMethod]
    public void Mint_Defaults_FollowPyTorch()
    {
        var bn = new MintSyncBatchNorm(3);
        Assert.AreEqual(1e-5f, bn.Epsilon);
        Assert.AreEqual(0.1f, bn.Momentum);
        Assert.AreEqual(MomentumConvention.PyTorch, bn.MomentumConvention);
        Assert.IsTrue(bn.UnbiasedMovingVariance);
        Assert.IsTrue(bn.TrackRunningStats);
        Assert.IsTrue(bn.Center && bn.Scale);
        Assert.IsNull(bn.ProcessGroupList);
        CollectionAssert.AreEqual(new[] { 1 }, bn.Axis.ToArray());
    }

    [TestMethod]
    public void Mint_V1_TwoReplicas()
    {
        using var strategy = new MirroredStrategy(2);
        var bn = ParityHarness.InScope(strategy, () => new MintSyncBatchNorm(4));
        var outs = ParityHarness.Step(strategy, bn, [V1(0), V1(1)]);
        Assert.AreEqual(-1.414199, outs[0].Y.ToArray()[0], 2e-6);
        TestData.AssertClose(bn.MovingVariance!.Value.AsSpan(), new[] { 0.966667, 1.066667, 1.233333, 1.466667 }, 1e-6, 0, "running_var");
        TestData.AssertClose(bn.MovingMean!.Value.AsSpan(), new[] { 0.1, 0.15, 0.2, 0.25 }, 1e-7, 1e-6, "running_mean");
    }

    [TestMethod]
    public void Mint_TrackRunningStatsFalse_BatchStatisticsInEval()
    {
        var bn = new MintSyncBatchNorm(1, trackRunningStats: false);
        var y = bn.Call(Tensor.FromArray([1, 3], [2, 1]), training: false);
        Assert.IsNull(bn.MovingMean);
        Assert.AreEqual(1 / Math.Sqrt(1 + 1e-5), y.ToArray()[1], 1e-6);
    }

    [TestMethod]
    public void Mint_DocumentedErrors()
    {
        Assert.AreEqual("numFeatures", Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new MintSyncBatchNorm(0)).ParamName);
        Assert.AreEqual("momentum", Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new MintSyncBatchNorm(2, momentum: 1.01f)).ParamName);
        Assert.AreEqual("momentum", Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new MintSyncBatchNorm(2, momentum: -0.1f)).ParamName);
        Assert.AreEqual("dtype", Assert.ThrowsExactly<ArgumentException>(() => new MintSyncBatchNorm(2, dtype: "float16")).ParamName);
        using var strategy = new MirroredStrategy(2);
        using (strategy.Scope())
        {
            var e = Assert.ThrowsExactly<ArgumentException>(() => new MintSyncBatchNorm(2, processGroup: [[0, 2]]));
            StringAssert.Contains(e.Message, "replica id 2 ");
            StringAssert.Contains(e.Message, "[0, 2)");
        }
    }

    [TestMethod]
    public void GlobalBatchNorm_DocumentedExample_InferenceOnOnes()
    {
        var bn = new GlobalBatchNorm(numFeatures: 3, deviceNumEachGroup: 2);
        var y = bn.Call(Tensor.Ones([1, 3, 2, 2]), training: false);
        foreach (float v in y.ToArray()) Assert.AreEqual(0.999995f, v, 5e-7f);
    }

    [TestMethod]
    public void GlobalBatchNorm_Defaults()
    {
        var bn = new GlobalBatchNorm(3);
        Assert.AreEqual(1e-5f, bn.Epsilon);
        Assert.AreEqual(0.9f, bn.Momentum);
        Assert.AreEqual(MomentumConvention.Keras, bn.MomentumConvention);
        Assert.IsFalse(bn.UnbiasedMovingVariance);
        Assert.AreEqual(2, bn.DeviceNumEachGroup);
        Assert.IsNull(bn.UseBatchStatistics);
        Assert.IsInstanceOfType<Ones>(bn.GammaInitializer);
        Assert.IsInstanceOfType<Zeros>(bn.BetaInitializer);
        Assert.IsInstanceOfType<Zeros>(bn.MovingMeanInitializer);
        Assert.IsInstanceOfType<Ones>(bn.MovingVarianceInitializer);
        Assert.AreEqual(2, bn.GetConfig()["device_num_each_group"]);
    }

    [TestMethod]
    public void GlobalBatchNorm_InitializersByName()
    {
        var bn = new GlobalBatchNorm(4, gammaInit: "xavier_uniform", betaInit: "he_uniform", movingMeanInit: "ones", movingVarInit: "zeros");
        Assert.IsInstanceOfType<GlorotUniform>(bn.GammaInitializer);
        Assert.IsInstanceOfType<HeUniform>(bn.BetaInitializer);
        bn.Call(Tensor.Ones([2, 4]), training: false);
        CollectionAssert.AreEqual(new float[] { 1, 1, 1, 1 }, bn.MovingMean!.Value.ToArray());
        CollectionAssert.AreEqual(new float[] { 0, 0, 0, 0 }, bn.MovingVariance!.Value.ToArray());
        float limit = MathF.Sqrt(6f / 8);   // Glorot uniform, fan_in = fan_out = 4
        foreach (float g in bn.Gamma!.Value.ToArray()) Assert.IsTrue(Math.Abs(g) <= limit, $"{g} within ±{limit}");
        Assert.AreEqual("gammaInit", Assert.ThrowsExactly<ArgumentException>(() => new GlobalBatchNorm(2, gammaInit: "One")).ParamName);
    }

    [TestMethod]
    public void GlobalBatchNorm_V6_MindSporeMomentum()
    {
        var bn = new GlobalBatchNorm(1);
        bn.Call(Tensor.FromArray([1, 1, 3, 3], [4, 1]), training: true);
        Assert.AreEqual(0.2f, bn.MovingMean!.Value.ToScalar(), 1e-6f);
        Assert.AreEqual(1.0f, bn.MovingVariance!.Value.ToScalar(), 1e-6f);
    }

    [TestMethod]
    public void GlobalBatchNorm_GroupsOfDeviceNumEachGroup()
    {
        using var strategy = new MirroredStrategy(4);
        var bn = ParityHarness.InScope(strategy, () => new GlobalBatchNorm(1));
        var outs = ParityHarness.Step(strategy, bn, [Tensor.FromArray([0], [1, 1]), Tensor.FromArray([2], [1, 1]),
            Tensor.FromArray([10], [1, 1]), Tensor.FromArray([30], [1, 1])]);
        double s = 1 / Math.Sqrt(1 + 1e-5), t = 10 / Math.Sqrt(100 + 1e-5);
        TestData.AssertClose(ParityHarness.Concat(outs.Select(o => o.Y)), new[] { -s, s, -t, t }, 1e-6, 0, "groups {0,1} and {2,3}");

        using var three = new MirroredStrategy(3);
        var odd = ParityHarness.InScope(three, () => new GlobalBatchNorm(1));
        var error = ParityHarness.CatchInRun(three, _ => odd.Call(Tensor.Ones([1, 1]), training: true));
        Assert.IsInstanceOfType<ArgumentException>(error);
        Assert.AreEqual("deviceNumEachGroup", ((ArgumentException)error!).ParamName);
    }

    [TestMethod]
    public void GlobalBatchNorm_UseBatchStatistics()
    {
        var always = new GlobalBatchNorm(1, useBatchStatistics: true);
        var y = always.Call(Tensor.FromArray([1, 3], [2, 1]), training: false);
        Assert.AreEqual(-1 / Math.Sqrt(1 + 1e-5), y.ToArray()[0], 1e-6);
        Assert.AreEqual(0.2f, always.MovingMean!.Value.ToScalar(), 1e-6f, "still updated: 0.9·0 + 0.1·2");
        var never = new GlobalBatchNorm(1, useBatchStatistics: false);
        var z = never.Call(Tensor.FromArray([1, 3], [2, 1]), training: true);
        Assert.AreEqual(3 / Math.Sqrt(1 + 1e-5), z.ToArray()[1], 1e-6);
        Assert.AreEqual(0f, never.MovingMean!.Value.ToScalar());
    }

    [TestMethod]
    public void GlobalBatchNorm_DocumentedErrors_AndInputRanks()
    {
        Assert.AreEqual("deviceNumEachGroup", Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new GlobalBatchNorm(2, deviceNumEachGroup: 1)).ParamName);
        Assert.AreEqual("numFeatures", Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new GlobalBatchNorm(0)).ParamName);
        Assert.AreEqual("momentum", Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new GlobalBatchNorm(2, momentum: 1.5f)).ParamName);
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new GlobalBatchNorm(2, eps: 0f));
        var e = Assert.ThrowsExactly<ArgumentException>(() => new GlobalBatchNorm(2).Call(Tensor.Ones([2, 2, 3]), training: true));
        StringAssert.Contains(e.Message, "rank 2 or 4");
        Assert.AreEqual(4, new GlobalBatchNorm(2).Call(Tensor.Ones([1, 2, 1, 2]), training: false).Size);
    }

    [TestMethod]
    public void OpsBatchNorm_DocumentedExample()
    {
        var y = MsOps.BatchNorm(Tensor.FromArray([1, 2, 3, 4], [2, 2]), new Variable(Tensor.FromArray([0.5f, 1.5f])),
            new Variable(Tensor.FromArray([0.1f, 0.2f])), Tensor.FromArray([2f, 2f]), Tensor.FromArray([-1f, -1f]));
        TestData.AssertClose(y.AsSpan(), new[] { 2.1621194, 1.2360122, 14.810596, 10.180061 }, 2e-5, 2e-6, "example");
    }

    [TestMethod]
    public void OpsBatchNorm_TrainingUpdatesWithMomentum()
    {
        var mean = new Variable(Tensor.FromArray([0f]));
        var var = new Variable(Tensor.FromArray([1f]));
        MsOps.BatchNorm(Tensor.FromArray([1, 1, 3, 3], [4, 1]), mean, var, training: true);
        Assert.AreEqual(0.2f, mean.Value.ToScalar(), 1e-6f);
        Assert.AreEqual(1.0f, var.Value.ToScalar(), 1e-6f, "biased batch variance 1 (the functional form)");
    }

    [TestMethod]
    public void OpsBatchNorm_DocumentedErrors()
    {
        var x = Tensor.Ones([2, 1]);
        Variable M() => new(Tensor.FromArray([0f]));
        Assert.AreEqual("eps", Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => MsOps.BatchNorm(x, M(), M(), eps: 0f)).ParamName);
        Assert.AreEqual("eps", Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => MsOps.BatchNorm(x, M(), M(), eps: 1.5f)).ParamName);
        Assert.AreEqual("momentum", Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => MsOps.BatchNorm(x, M(), M(), momentum: -0.5f)).ParamName);
        Assert.AreEqual("momentum", Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => MsOps.BatchNorm(x, M(), M(), momentum: 2f)).ParamName);
        Assert.AreEqual(1f, MsOps.BatchNorm(x, M(), new Variable(Tensor.FromArray([1f])), eps: 1f).ToArray()[0] * MathF.Sqrt(2f), 1e-6f, "eps = 1 is allowed");
    }
}
