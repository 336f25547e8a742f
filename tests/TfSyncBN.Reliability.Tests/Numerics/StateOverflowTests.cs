using TfSyncBN.Distribute;
using TfSyncBN.Keras;
using TfSyncBN.Tensors;

namespace TfSyncBN.Reliability.Tests.Numerics;

/// <summary>
/// Issue #16, item 2: statistics that overflow float32. An input of 1e20 gives right outputs but a moving variance of
/// +∞ (after which inference outputs beta in that channel); with the numerics check on, the update of a moving
/// statistic or of an optimizer slot raises <see cref="CheckNumericsException"/> naming the layer, the variable and the
/// channel, and nothing changes.
/// </summary>
/// <remarks>The check is process-wide, so this class runs alone.</remarks>
[TestClass]
[DoNotParallelize]
public sealed class StateOverflowTests
{
    [TestCleanup]
    public void Off() => Debugging.DisableCheckNumerics();

    /// <summary>4 rows, 3 channels; channel 1 holds ±1e20 (variance 1e40, above float32's 3.4e38).</summary>
    private static Tensor HugeChannel() => Tensor.FromArray(
        [0.5f, 1e20f, 1f, -0.5f, -1e20f, 2f, 1.5f, 1e20f, 3f, -1.5f, -1e20f, 4f], [4, 3]);

    [TestMethod]
    public void WithoutCheck_HugeInput_RightOutputs_InfiniteMovingVariance_InferenceGivesBeta()
    {
        var bn = new BatchNormalization(momentum: 0.5f, betaInitializer: Initializers.Constant(0.25f), name: "huge_bn_off");
        var y = bn.Call(HugeChannel(), training: true).ToArray();
        // Channel 1 is ±1e20 with mean 0 and biased variance 1e40: normalized to ±1 (to float32 and ε precision).
        for (int r = 0; r < 4; r++) Assert.AreEqual(r % 2 == 0 ? 1.25f : -0.75f, y[r * 3 + 1], 1e-5f, $"row {r}");
        var movingVariance = bn.MovingVariance!.Value.ToArray();
        Assert.AreEqual(float.PositiveInfinity, movingVariance[1], "the documented silent overflow");
        Assert.IsTrue(float.IsFinite(movingVariance[0]) && float.IsFinite(movingVariance[2]));
        var inference = bn.Call(HugeChannel(), training: false).ToArray();
        for (int r = 0; r < 4; r++) Assert.AreEqual(0.25f, inference[r * 3 + 1], $"row {r}: beta");
    }

    [TestMethod]
    [Timeout(20_000, CooperativeCancellation = true)]
    public void WithCheck_HugeInput_NamesLayerVariableAndChannel_NothingChanges_OnEveryReplica()
    {
        Debugging.EnableCheckNumerics();
        using var strategy = new MirroredStrategy(2, TimeSpan.FromSeconds(10));
        BatchNormalization bn;
        using (strategy.Scope()) bn = new BatchNormalization(synchronized: true, momentum: 0.5f, name: "huge_bn");
        var x = HugeChannel();
        bn.EnsureBuilt(x.Shape);
        var before = bn.Weights.SelectMany(w => w.Replicas).Select(t => t.ToArray()).ToArray();
        var e = Assert.ThrowsExactly<CheckNumericsException>(() =>
            strategy.Run(ctx => bn.Call(x.Slice(0, 2 * ctx.ReplicaId, 2), training: true)));
        Assert.AreEqual("huge_bn", e.LayerName);
        StringAssert.Contains(e.Message, "'huge_bn/moving_variance'");
        StringAssert.Contains(e.Message, "channel 1");
        StringAssert.Contains(e.Message, "+Infinity");
        StringAssert.Contains(e.Message, "3.4e38");
        Assert.AreEqual(1, e.Index);
        var after = bn.Weights.SelectMany(w => w.Replicas).Select(t => t.ToArray()).ToArray();
        for (int i = 0; i < before.Length; i++) CollectionAssert.AreEqual(before[i], after[i], $"copy {i} unchanged");
        // The strategy and layer keep working on finite data.
        var ok = strategy.Run(ctx => bn.Call(Tensor.FromFunction([2, 3], i => i + ctx.ReplicaId), training: true));
        Assert.IsTrue(ok[0].ToArray().All(float.IsFinite));
    }

    [TestMethod]
    public void WithCheck_OverflowingOptimizerSlot_NamesTheSlotAndChannel_NothingChanges()
    {
        // Adam's second moment is (1 - β2)·g²: a gradient of 1e21 makes it 1e39, beyond float32 (+∞).
        var w = new Variable(Tensor.FromArray([1f, 2f, 3f]), "dense_x/kernel");
        var adam = new Adam(learningRate: 0.1f);
        var grad = Tensor.FromArray([0.5f, 0.5f, 1e21f]);
        adam.Build([w]);
        var before = adam.Variables.Append(w).Select(v => v.Value.ToArray()).ToArray();

        // Control: without the check, the slot silently becomes +∞ (and the weight moves).
        var wOff = new Variable(Tensor.FromArray([1f, 2f, 3f]), "dense_y/kernel");
        var adamOff = new Adam(learningRate: 0.1f);
        adamOff.ApplyGradients([grad], [wOff]);
        Assert.AreEqual(float.PositiveInfinity, adamOff.Variables.Single(v => v.Name == "dense_y/kernel_v").Value.ToArray()[2]);

        Debugging.EnableCheckNumerics();
        var e = Assert.ThrowsExactly<CheckNumericsException>(() => adam.ApplyGradients([grad], [w]));
        Assert.AreEqual("dense_x", e.LayerName);
        StringAssert.Contains(e.Message, "'dense_x/kernel_v'");
        StringAssert.Contains(e.Message, "channel 2");
        var after = adam.Variables.Append(w).Select(v => v.Value.ToArray()).ToArray();
        for (int i = 0; i < before.Length; i++) CollectionAssert.AreEqual(before[i], after[i], $"variable {i} unchanged");
        Assert.AreEqual(0L, adam.Iterations);
    }
}
