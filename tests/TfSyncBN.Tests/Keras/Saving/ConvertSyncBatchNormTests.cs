using TfSyncBN.Distribute;
using TfSyncBN.Keras;
using TfSyncBN.Tensors;
using TfSyncBN.Tests.TestUtil;

namespace TfSyncBN.Tests.Keras.Saving;

[TestClass]
public sealed class ConvertSyncBatchNormTests
{
    private static BatchNormalization TrainedBn(string name)
    {
        var bn = new BatchNormalization(axis: [1], momentum: 0.7f, epsilon: 0.01f, center: true, scale: true,
            betaInitializer: new FixedInitializer(0.5f, -0.25f, 1f), gammaInitializer: new FixedInitializer(1.5f, 0.75f, 2f),
            betaRegularizer: Regularizers.L1(0.03f), gammaRegularizer: Regularizers.L2(0.02f),
            betaConstraint: Constraints.MaxNorm(3f, [0]), gammaConstraint: Constraints.NonNeg(), name: name);
        var random = TestData.NewRandom();
        // Two training steps move the moving statistics away from their initial values.
        bn.Call(TestData.Uniform(random, [4, 3, 5]), training: true);
        bn.Call(TestData.Uniform(random, [4, 3, 5], 0f, 3f), training: true);
        return bn;
    }

    [TestMethod]
    public void BatchNorm_BecomesSyncBatchNorm_WithSameOptionsWeightsAndStatistics()
    {
        var bn = TrainedBn("bn_convert_a");
        var sync = (SyncBatchNormalization)SyncBatchNormConversion.ConvertLayer(bn);

        Assert.AreEqual("bn_convert_a", sync.Name);
        Assert.IsTrue(sync.Synchronized);
        Assert.IsTrue(sync.Built);
        CollectionAssert.AreEqual(bn.BuiltInputShape!.ToArray(), sync.BuiltInputShape!.ToArray());
        CollectionAssert.AreEqual(new[] { 1 }, sync.Axis.ToArray());
        Assert.AreEqual(0.7f, sync.Momentum);
        Assert.AreEqual(0.01f, sync.Epsilon);
        Assert.AreSame(bn.BetaRegularizer, sync.BetaRegularizer);
        Assert.AreSame(bn.GammaRegularizer, sync.GammaRegularizer);
        Assert.AreSame(bn.BetaConstraint, sync.BetaConstraint);
        Assert.AreSame(bn.GammaConstraint, sync.GammaConstraint);
        Assert.AreSame(bn.GammaInitializer, sync.GammaInitializer);

        // Config equal except the synchronized flag.
        var expected = new Dictionary<string, object?>(bn.GetConfig()) { ["synchronized"] = true };
        KerasAssert.ConfigsEqual(expected, sync.GetConfig());

        // Weights and moving statistics, value for value; the moving statistics are not their initial values.
        CollectionAssert.AreNotEqual(new[] { 0f, 0f, 0f }, bn.MovingMean!.Value.ToArray());
        for (int i = 0; i < 4; i++)
        {
            Assert.AreEqual($"bn_convert_a/{new[] { "gamma", "beta", "moving_mean", "moving_variance" }[i]}", sync.Weights[i].Name);
            CollectionAssert.AreEqual(bn.Weights[i].Value.ToArray(), sync.Weights[i].Value.ToArray(), bn.Weights[i].Name);
            Assert.AreEqual(bn.Weights[i].Trainable, sync.Weights[i].Trainable);
        }
        // The regularization losses and the constraints act on the new weights.
        Assert.HasCount(2, sync.Losses);
        for (int i = 0; i < 2; i++) Assert.AreEqual(bn.Losses[i].ToScalar(), sync.Losses[i].ToScalar());
        Assert.IsNotNull(sync.Gamma!.Constraint);
        Assert.IsNotNull(sync.Beta!.Constraint);
        CollectionAssert.AreEqual(new[] { 0f, 1f }, sync.Gamma.Constraint(Tensor.FromArray([-2f, 1f])).ToArray(), "NonNeg carried to gamma");
    }

    [TestMethod]
    public void OutputsAreBitwiseIdentical_WithoutAStrategy_InBothModes()
    {
        var a = TrainedBn("bn_convert_b");
        var b = TrainedBn("bn_convert_b2");
        var sync = SyncBatchNormConversion.ConvertLayer(b);
        var x = TestData.Uniform(TestData.NewRandom(7), [6, 3, 5], -2f, 2f);
        CollectionAssert.AreEqual(a.Call(x, training: false).ToArray(), sync.Call(x, training: false).ToArray(), "inference");
        CollectionAssert.AreEqual(a.Call(x, training: true).ToArray(), sync.Call(x, training: true).ToArray(), "training");
        CollectionAssert.AreEqual(a.MovingVariance!.Value.ToArray(), ((BatchNormalization)sync).MovingVariance!.Value.ToArray(), "moving variance after a step");
    }

    [TestMethod]
    public void OriginalIsUntouched_AndWeightsAreIndependent()
    {
        var bn = TrainedBn("bn_convert_c");
        var before = bn.Weights.Select(w => w.Value.ToArray()).ToArray();
        var sync = (BatchNormalization)SyncBatchNormConversion.ConvertLayer(bn);
        sync.Call(Tensor.Fill([2, 3, 5], 9f), training: true);
        for (int i = 0; i < 4; i++) CollectionAssert.AreEqual(before[i], bn.Weights[i].Value.ToArray());
        CollectionAssert.AreNotEqual(before[2], sync.MovingMean!.Value.ToArray());
    }

    [TestMethod]
    public void UnbuiltLayer_StaysUnbuilt()
    {
        var sync = SyncBatchNormConversion.ConvertLayer(new BatchNormalization(center: false, trainable: false, name: "bn_unbuilt"));
        Assert.IsInstanceOfType<SyncBatchNormalization>(sync);
        Assert.IsFalse(sync.Built);
        Assert.IsFalse(((BatchNormalization)sync).Center);
        Assert.IsFalse(sync.Trainable);
    }

    [TestMethod]
    public void OtherLayers_AreReturnedAsIs()
    {
        var already = new SyncBatchNormalization();
        Assert.AreSame(already, SyncBatchNormConversion.ConvertLayer(already));
        Assert.ThrowsExactly<ArgumentNullException>(() => SyncBatchNormConversion.ConvertLayer(null!));
    }

    [TestMethod]
    [Timeout(10000, CooperativeCancellation = true)]
    public void MirroredLayer_ConvertsToMirroredWeights_AndThenSynchronizes()
    {
        using var strategy = new MirroredStrategy(2);
        var bn = new BatchNormalization(momentum: 0.5f, name: "bn_mirrored");
        var x0 = Tensor.FromArray([1f, 2f, 3f, 4f], [2, 2]);
        var x1 = Tensor.FromArray([5f, 10f, 7f, 0f], [2, 2]);
        // Unsynchronized: each replica's moving mean follows its own batch.
        strategy.Run(ctx => bn.Call(ctx.ReplicaId == 0 ? x0 : x1, training: true));
        Assert.IsNotNull(bn.MovingMean!.Strategy);
        var sync = (BatchNormalization)SyncBatchNormConversion.ConvertLayer(bn);
        Assert.AreSame(strategy, sync.MovingMean!.Strategy, "the new weights are mirrored over the same strategy");
        // Every copy takes the cross-replica value (the mean of the copies for moving statistics).
        var mean = bn.MovingMean.Value.ToArray();
        foreach (var copy in sync.MovingMean.Replicas) CollectionAssert.AreEqual(mean, copy.ToArray());

        // Now a training step synchronizes: both replicas see the statistics of the 4-row global batch.
        strategy.Run(ctx => sync.Call(ctx.ReplicaId == 0 ? x0 : x1, training: true));
        var expectedMean = new[] { mean[0] * 0.5f + (1 + 3 + 5 + 7) / 4f * 0.5f, mean[1] * 0.5f + (2 + 4 + 10 + 0) / 4f * 0.5f };
        foreach (var copy in sync.MovingMean.Replicas)
        {
            Assert.AreEqual(expectedMean[0], copy.ToArray()[0], 1e-5f);
            Assert.AreEqual(expectedMean[1], copy.ToArray()[1], 1e-5f);
        }
    }
}
