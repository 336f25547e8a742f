using TfSyncBN.Distribute;
using TfSyncBN.Tensors;

namespace TfSyncBN.Tests.Distribute;

/// <summary>Variables get one copy per replica when created under a multi-replica strategy.</summary>
[TestClass]
public sealed class MirroredVariableTests
{
    [TestMethod]
    public void VariableCreatedWithoutAStrategy_HasOneCopy() => Bounded.Run(() =>
    {
        var v = new Variable(Tensor.Zeros([2]));
        Assert.AreEqual(1, v.Replicas.Count);
        Assert.IsNull(v.Strategy);
        var inDefaultRun = Strategy.Default.Run(_ => new Variable(Tensor.Zeros([2])))[0];
        Assert.AreEqual(1, inDefaultRun.Replicas.Count);
        Assert.IsNull(inDefaultRun.Strategy);
        using var single = new MirroredStrategy(1, TimeSpan.FromSeconds(20));
        using (single.Scope()) Assert.AreEqual(1, new Variable(Tensor.Zeros([2])).Replicas.Count, "one replica needs no mirroring");
    });

    [TestMethod]
    public void VariableCreatedInScope_HasOneCopyPerReplica_ReadAndWrittenPerReplicaInRun() => Bounded.Run(() =>
    {
        const int R = 3;
        using var s = new MirroredStrategy(R, TimeSpan.FromSeconds(20));
        Variable v;
        using (s.Scope()) v = new Variable(Tensor.FromArray([1f, 2f]), aggregation: VariableAggregation.Mean);
        Assert.AreEqual(R, v.Replicas.Count);
        Assert.AreSame(s, v.Strategy);

        var before = s.Run(ctx =>
        {
            var read = v.Value.ToArray();
            v.Assign(Tensor.FromArray([ctx.ReplicaId * 10f, ctx.ReplicaId]));
            return read;
        });
        foreach (var read in before) CollectionAssert.AreEqual(new[] { 1f, 2f }, read);
        for (int r = 0; r < R; r++) CollectionAssert.AreEqual(new[] { r * 10f, r }, v.Replicas[r].ToArray(), $"copy {r}");
        var own = s.Run(_ => v.Value.ToArray());
        for (int r = 0; r < R; r++) CollectionAssert.AreEqual(new[] { r * 10f, r }, own[r], $"replica {r} reads its own copy");

        // Cross-replica code reads the aggregate and writes every copy.
        using (s.Scope())
        {
            CollectionAssert.AreEqual(new[] { 10f, 1f }, v.Value.ToArray());
            v.Assign(Tensor.FromArray([5f, 6f]));
        }
        foreach (var copy in v.Replicas) CollectionAssert.AreEqual(new[] { 5f, 6f }, copy.ToArray());
    });

    [TestMethod]
    public void VariableCreatedInsideRun_HasOneCopyPerReplica() => Bounded.Run(() =>
    {
        const int R = 4;
        using var s = new MirroredStrategy(R, TimeSpan.FromSeconds(20));
        var created = s.Run(_ => new Variable(Tensor.Zeros([3])));
        foreach (var v in created)
        {
            Assert.AreEqual(R, v.Replicas.Count);
            Assert.AreSame(s, v.Strategy);
        }
    });
}
