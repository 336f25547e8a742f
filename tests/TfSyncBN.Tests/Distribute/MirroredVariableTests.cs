using TfSyncBN.Distribute;
using TfSyncBN.Tensors;

namespace TfSyncBN.Tests.Distribute;

/// <summary>Variables get one copy per replica when created under a multi-replica strategy: each copy holds the initial
/// value, and each replica reads and writes its own copy only.</summary>
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
        var created = s.Run(ctx => new Variable(Tensor.FromArray([ctx.ReplicaId, ctx.ReplicaId + 1f, ctx.ReplicaId + 2f])));
        for (int creator = 0; creator < R; creator++)
        {
            var v = created[creator];
            Assert.AreEqual(R, v.Replicas.Count);
            Assert.AreSame(s, v.Strategy);
            for (int r = 0; r < R; r++)
                CollectionAssert.AreEqual(new[] { creator, creator + 1f, creator + 2f }, v.Replicas[r].ToArray(), $"variable of replica {creator}, copy {r}: its initial value");
        }

        // The copies are independent: each replica's write changes its own copy only, and no other variable.
        s.Run(ctx =>
        {
            created[0].AssignAdd(Tensor.Fill([3], 10f * (ctx.ReplicaId + 1)));
            return 0;
        });
        for (int r = 0; r < R; r++)
        {
            float add = 10f * (r + 1);
            CollectionAssert.AreEqual(new[] { add, 1f + add, 2f + add }, created[0].Replicas[r].ToArray(), $"copy {r} got only its replica's update");
            for (int other = 1; other < R; other++)
                CollectionAssert.AreEqual(new[] { other, other + 1f, other + 2f }, created[other].Replicas[r].ToArray(), $"variable {other} untouched");
        }
        // A write by one replica alone (the others write nothing) leaves the other copies as they were.
        s.Run(ctx =>
        {
            if (ctx.ReplicaId == 2) created[0].Assign(Tensor.FromArray([-1f, -2f, -3f]));
            return 0;
        });
        CollectionAssert.AreEqual(new[] { -1f, -2f, -3f }, created[0].Replicas[2].ToArray());
        CollectionAssert.AreEqual(new[] { 10f, 11f, 12f }, created[0].Replicas[0].ToArray());
        CollectionAssert.AreEqual(new[] { 40f, 41f, 42f }, created[0].Replicas[3].ToArray());
    });
}
