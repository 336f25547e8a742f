using TfSyncBN.Distribute;
using TfSyncBN.Keras;
using TfSyncBN.Tensors;

namespace TfSyncBN.Tests.Distribute;

/// <summary>
/// A replica of one strategy's Run must not write a variable mirrored over another strategy: it is not one of that
/// strategy's replicas, so it used to take the cross-replica path and overwrite EVERY copy (racing with its fellow
/// replicas), which silently gives an idle replica the statistics of another. It now throws.
/// </summary>
[TestClass]
public sealed class ForeignStrategyWriteTests
{
    [TestMethod]
    public void ReplicaOfAnotherStrategy_WritingAMirroredVariable_ThrowsAndLeavesEveryCopy() => Bounded.Run(() =>
    {
        using var owner = new MirroredStrategy(2, TimeSpan.FromSeconds(20));
        using var other = new MirroredStrategy(2, TimeSpan.FromSeconds(20));
        Variable v;
        using (owner.Scope()) v = new Variable(Tensor.FromArray([1f, 2f]), name: "shared");
        owner.Run(ctx =>
        {
            v.Assign(Tensor.FromArray([10f * ctx.ReplicaId, 3f]));
            return 0;
        });

        var error = Assert.ThrowsExactly<InvalidOperationException>(() => other.Run(ctx =>
        {
            if (ctx.ReplicaId == 0) v.AssignAdd(Tensor.FromArray([-0.5f, -0.5f]));
            return 0;
        }));
        StringAssert.Contains(error.Message, "'shared'");
        StringAssert.Contains(error.Message, "another strategy");
        CollectionAssert.AreEqual(new[] { 0f, 3f }, v.Replicas[0].ToArray(), "copy 0 unchanged");
        CollectionAssert.AreEqual(new[] { 10f, 3f }, v.Replicas[1].ToArray(), "copy 1 unchanged (used to become copy 0's update)");

        // Legitimate writes are unchanged: own replicas write their copy, cross-replica code (and the default
        // strategy's single replica) writes every copy.
        owner.Run(ctx =>
        {
            v.AssignAdd(Tensor.FromArray([1f, 1f]));
            return 0;
        });
        CollectionAssert.AreEqual(new[] { 1f, 4f }, v.Replicas[0].ToArray());
        CollectionAssert.AreEqual(new[] { 11f, 4f }, v.Replicas[1].ToArray());
        Strategy.Default.Run(_ =>
        {
            v.Assign(Tensor.FromArray([7f, 8f]));
            return 0;
        });
        foreach (var copy in v.Replicas) CollectionAssert.AreEqual(new[] { 7f, 8f }, copy.ToArray());
    });

    [TestMethod]
    public void SyncBatchNormBuiltUnderOneStrategy_TrainedInAnotherStrategysRun_ThrowsInsteadOfCopyingStatistics() => Bounded.Run(() =>
    {
        using var owner = new MirroredStrategy(2, TimeSpan.FromSeconds(20));
        using var other = new MirroredStrategy(2, TimeSpan.FromSeconds(20));
        SyncBatchNormalization layer;
        using (owner.Scope()) layer = new SyncBatchNormalization(momentum: 0.5f, processGroups: [[0], [1]]);
        var x = Tensor.FromArray([1f, 2f, 3f, 5f], [2, 2]);
        owner.Run(ctx => layer.Call(ctx.ReplicaId == 0 ? x : x.Slice(0, 0, 0), training: false));
        Assert.AreSame(owner, layer.MovingMean!.Strategy);

        // Replica 1 has an empty batch, so nothing may change its copy; replica 0 of the other strategy used to
        // overwrite both copies with its update.
        Assert.ThrowsExactly<InvalidOperationException>(() =>
            other.Run(ctx => layer.Call(ctx.ReplicaId == 0 ? x : x.Slice(0, 0, 0), training: true)));
        foreach (var copy in layer.MovingMean.Replicas) CollectionAssert.AreEqual(new[] { 0f, 0f }, copy.ToArray());
    });
}
