using TfSyncBN.Distribute;
using TfSyncBN.Keras;
using TfSyncBN.Tensors;
using TfSyncBN.Tests.TestUtil;
using NnSyncBatchNorm = TfSyncBN.Compat.MindSpore.SyncBatchNorm;

namespace TfSyncBN.Tests.Compat;

/// <summary>MindSpore's <c>nn.SyncBatchNorm</c>: documented defaults, process groups and errors.</summary>
[TestClass]
public sealed class MindSporeNnSyncBatchNormTests
{
    [TestMethod]
    public void Defaults_AndV6()
    {
        var bn = new NnSyncBatchNorm(1);
        Assert.AreEqual(1e-5f, bn.Epsilon);
        Assert.AreEqual(0.9f, bn.Momentum);
        Assert.AreEqual(MomentumConvention.Keras, bn.MomentumConvention);
        Assert.IsFalse(bn.UnbiasedMovingVariance);
        Assert.IsNull(bn.ProcessGroupList);
        Assert.IsNull(bn.UseBatchStatistics);
        bn.Call(Tensor.FromArray([1, 1, 3, 3], [4, 1]), training: true);
        Assert.AreEqual(0.2f, bn.MovingMean!.Value.ToScalar(), 1e-6f);
        Assert.AreEqual(1.0f, bn.MovingVariance!.Value.ToScalar(), 1e-6f);
    }

    [TestMethod]
    public void ProcessGroups_SynchronizeWithinEachGroup()
    {
        using var strategy = new MirroredStrategy(4);
        var bn = ParityHarness.InScope(strategy, () => new NnSyncBatchNorm(1, processGroups: [[0, 3], [1, 2]]));
        var outs = ParityHarness.Step(strategy, bn, [Tensor.FromArray([0], [1, 1]), Tensor.FromArray([10], [1, 1]),
            Tensor.FromArray([30], [1, 1]), Tensor.FromArray([2], [1, 1])]);
        double s = 1 / Math.Sqrt(1 + 1e-5), t = 10 / Math.Sqrt(100 + 1e-5);
        TestData.AssertClose(ParityHarness.Concat(outs.Select(o => o.Y)), new[] { -s, -t, t, s }, 1e-6, 0, "groups {0,3} and {1,2}");
    }

    [TestMethod]
    public void DocumentedErrors()
    {
        Assert.AreEqual("numFeatures", Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new NnSyncBatchNorm(0)).ParamName);
        Assert.AreEqual("momentum", Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new NnSyncBatchNorm(2, momentum: 1.5f)).ParamName);
        using var strategy = new MirroredStrategy(2);
        using (strategy.Scope())
        {
            var e = Assert.ThrowsExactly<ArgumentException>(() => new NnSyncBatchNorm(2, processGroups: [[0], [1, 2]]));
            StringAssert.Contains(e.Message, "replica id 2 ");
        }
        var rank = Assert.ThrowsExactly<ArgumentException>(() => new NnSyncBatchNorm(2).Call(Tensor.Ones([2, 2, 3]), training: true));
        StringAssert.Contains(rank.Message, "rank 2 or 4");
    }
}
