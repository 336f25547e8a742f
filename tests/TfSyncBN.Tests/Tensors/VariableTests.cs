using TfSyncBN.Distribute;
using TfSyncBN.Tensors;
using TfSyncBN.Tests.TestUtil;

namespace TfSyncBN.Tests.Tensors;

/// <summary>Variables: assignment, and mirroring over the replicas of a <see cref="MirroredStrategy"/>.</summary>
[TestClass]
public sealed class VariableTests
{
    private static float[] Values(Tensor t) => t.ToArray();

    [TestMethod]
    public void Constructor_RecordsItsSettings()
    {
        Func<Tensor, Tensor> clip = t => t;
        var v = new Variable(Tensor.Zeros([2, 3]), "w", trainable: false, VariableAggregation.Sum, clip);
        Assert.AreEqual("w", v.Name);
        Assert.IsFalse(v.Trainable);
        Assert.AreEqual(VariableAggregation.Sum, v.Aggregation);
        Assert.AreSame(clip, v.Constraint);
        CollectionAssert.AreEqual(new[] { 2, 3 }, v.Shape.ToArray());
        Assert.AreEqual("Variable", new Variable(Tensor.Zeros([1])).Name);
        Assert.AreEqual("initialValue", Assert.ThrowsExactly<ArgumentNullException>(() => new Variable(null!)).ParamName);
    }

    [TestMethod]
    public void OutsideAnyStrategy_HasOneCopy()
    {
        var v = new Variable(Tensor.Zeros([3]));
        Assert.IsNull(v.Strategy);
        Assert.AreEqual(1, v.Replicas.Count);
    }

    [TestMethod]
    public void Assign_ReplacesTheValue()
    {
        var v = new Variable(Tensor.Zeros([3]));
        v.Assign(Tensor.FromArray([1f, 2f, 3f]));
        CollectionAssert.AreEqual(new[] { 1f, 2f, 3f }, Values(v.Value));
    }

    [TestMethod]
    public void Assign_OfWrongShape_Throws()
    {
        var v = new Variable(Tensor.Zeros([3]), "bias");
        var e = Assert.ThrowsExactly<ArgumentException>(() => v.Assign(Tensor.Zeros([1, 3])));
        Assert.AreEqual("value", e.ParamName);
        StringAssert.Contains(e.Message, "bias");
        Assert.ThrowsExactly<ArgumentException>(() => v.Assign(Tensor.Zeros([4])));
        Assert.ThrowsExactly<ArgumentException>(() => v.Assign(Tensor.Scalar(0f)));
        Assert.AreEqual("value", Assert.ThrowsExactly<ArgumentNullException>(() => v.Assign(null!)).ParamName);
        CollectionAssert.AreEqual(new[] { 0f, 0f, 0f }, Values(v.Value), "a rejected assignment changes nothing");
    }

    [TestMethod]
    public void AssignAddAndAssignSub_UpdateTheValue()
    {
        var v = new Variable(Tensor.FromArray([1f, 2f, 3f]));
        v.AssignAdd(Tensor.FromArray([0.5f, -1f, 10f]));
        CollectionAssert.AreEqual(new[] { 1.5f, 1f, 13f }, Values(v.Value));
        v.AssignSub(Tensor.FromArray([1.5f, 4f, 3f]));
        CollectionAssert.AreEqual(new[] { 0f, -3f, 10f }, Values(v.Value));
    }

    [TestMethod]
    public void AssignAddAndAssignSub_OfWrongShape_Throw()
    {
        var v = new Variable(Tensor.FromArray([1f, 2f, 3f]));
        // Broadcastable deltas are rejected too: an update never changes the shape or broadcasts silently.
        Assert.AreEqual("delta", Assert.ThrowsExactly<ArgumentException>(() => v.AssignAdd(Tensor.Scalar(1f))).ParamName);
        Assert.AreEqual("delta", Assert.ThrowsExactly<ArgumentException>(() => v.AssignAdd(Tensor.Zeros([2, 3]))).ParamName);
        Assert.AreEqual("delta", Assert.ThrowsExactly<ArgumentException>(() => v.AssignSub(Tensor.Zeros([1]))).ParamName);
        Assert.AreEqual("delta", Assert.ThrowsExactly<ArgumentNullException>(() => v.AssignSub(null!)).ParamName);
        CollectionAssert.AreEqual(new[] { 1f, 2f, 3f }, Values(v.Value));
    }

    [TestMethod]
    public void Assignments_AreNotRecordedAndDoNotDisturbGradients()
    {
        var v = new Variable(Tensor.FromArray([1f, 2f]));
        using var tape = new GradientTape();
        var y = v.Value * 3f;
        v.AssignAdd(y);
        v.AssignSub(y * 0.5f);
        var g = tape.Gradient(y.Sum(), [v])[0];
        CollectionAssert.AreEqual(new[] { 3f, 3f }, g!.ToArray());
        CollectionAssert.AreEqual(new[] { 2.5f, 5f }, Values(v.Value));
    }

    [TestMethod]
    public void Value_IsANewTensorPerReadWithTheStoredElements()
    {
        var init = Tensor.FromArray([1f, 2f]);
        var v = new Variable(init);
        var r1 = v.Value;
        var r2 = v.Value;
        Assert.AreNotSame(r1, r2);
        CollectionAssert.AreEqual(init.ToArray(), r1.ToArray());
        v.Assign(Tensor.FromArray([5f, 6f]));
        CollectionAssert.AreEqual(new[] { 1f, 2f }, r1.ToArray(), "an earlier read keeps its value");
    }

    // ---- Mirroring -----------------------------------------------------------------------------------------------

    [TestMethod]
    public void InsideScope_VariableIsMirrored()
    {
        using var s = new MirroredStrategy(3);
        Variable v;
        using (s.Scope())
        {
            v = new Variable(Tensor.FromArray([1f, 2f]));
        }
        Assert.AreEqual(3, v.Replicas.Count);
        Assert.AreSame(s, v.Strategy);
        foreach (var copy in v.Replicas) CollectionAssert.AreEqual(new[] { 1f, 2f }, copy.ToArray());
        var outside = new Variable(Tensor.Zeros([1]));
        Assert.AreEqual(1, outside.Replicas.Count, "after the scope, variables are plain again");
    }

    [TestMethod]
    public void SingleReplicaStrategy_DoesNotMirror()
    {
        using var s = new MirroredStrategy(1);
        using (s.Scope())
        {
            var v = new Variable(Tensor.Zeros([2]));
            Assert.AreEqual(1, v.Replicas.Count);
            Assert.IsNull(v.Strategy);
        }
    }

    [TestMethod]
    public void InsideRun_EachReplicaReadsAndAssignsItsOwnCopy()
    {
        using var s = new MirroredStrategy(3);
        Variable v;
        using (s.Scope()) v = new Variable(Tensor.Zeros([2]));
        var before = s.Run(ctx => v.Value.ToArray());
        foreach (var b in before) CollectionAssert.AreEqual(new[] { 0f, 0f }, b);

        s.Run(ctx =>
        {
            v.Assign(Tensor.Fill([2], 10f * (ctx.ReplicaId + 1)));
            return 0;
        });
        for (int r = 0; r < 3; r++) CollectionAssert.AreEqual(new[] { 10f * (r + 1), 10f * (r + 1) }, v.Replicas[r].ToArray(), $"replica {r}");

        var seen = s.Run(ctx => v.Value.ToArray());
        for (int r = 0; r < 3; r++) CollectionAssert.AreEqual(v.Replicas[r].ToArray(), seen[r], $"replica {r} reads its own copy");
    }

    [TestMethod]
    public void InsideRun_OneReplicaAssigning_ChangesOnlyItsCopy()
    {
        using var s = new MirroredStrategy(3);
        Variable v;
        using (s.Scope()) v = new Variable(Tensor.FromArray([1f, 1f]));
        s.Run(ctx =>
        {
            if (ctx.ReplicaId == 1) v.AssignAdd(Tensor.FromArray([5f, 6f]));
            return 0;
        });
        CollectionAssert.AreEqual(new[] { 1f, 1f }, v.Replicas[0].ToArray());
        CollectionAssert.AreEqual(new[] { 6f, 7f }, v.Replicas[1].ToArray());
        CollectionAssert.AreEqual(new[] { 1f, 1f }, v.Replicas[2].ToArray());
    }

    [TestMethod]
    [DataRow(VariableAggregation.None, new[] { 1f, 10f })]
    [DataRow(VariableAggregation.Sum, new[] { 6f, 60f })]
    [DataRow(VariableAggregation.Mean, new[] { 2f, 20f })]
    public void CrossReplicaRead_CombinesCopiesByAggregation(VariableAggregation aggregation, float[] expected)
    {
        using var s = new MirroredStrategy(3);
        Variable v;
        using (s.Scope()) v = new Variable(Tensor.Zeros([2]), aggregation: aggregation);
        s.Run(ctx =>
        {
            float k = ctx.ReplicaId + 1;
            v.Assign(Tensor.FromArray([k, 10f * k]));
            return 0;
        });
        using (s.Scope())
        {
            Assert.IsTrue(Strategy.InCrossReplicaContext);
            CollectionAssert.AreEqual(expected, v.Value.ToArray(), "in the strategy's scope");
        }
        CollectionAssert.AreEqual(expected, v.Value.ToArray(), "outside any scope");
    }

    [TestMethod]
    public void CrossReplicaAssignments_WriteEveryCopy()
    {
        using var s = new MirroredStrategy(3);
        Variable v;
        using (s.Scope()) v = new Variable(Tensor.Zeros([2]), aggregation: VariableAggregation.Mean);
        s.Run(ctx =>
        {
            v.Assign(Tensor.Fill([2], ctx.ReplicaId));
            return 0;
        });
        using (s.Scope())
        {
            v.AssignAdd(Tensor.FromArray([1f, 2f]));
            for (int r = 0; r < 3; r++) CollectionAssert.AreEqual(new[] { r + 1f, r + 2f }, v.Replicas[r].ToArray(), $"AssignAdd, replica {r}");
            v.Assign(Tensor.FromArray([7f, 8f]));
            foreach (var copy in v.Replicas) CollectionAssert.AreEqual(new[] { 7f, 8f }, copy.ToArray(), "Assign");
            v.AssignSub(Tensor.FromArray([1f, 1f]));
            foreach (var copy in v.Replicas) CollectionAssert.AreEqual(new[] { 6f, 7f }, copy.ToArray(), "AssignSub");
        }
    }

    [TestMethod]
    public void SameUpdatesOnEveryReplica_KeepCopiesBitwiseIdentical()
    {
        using var s = new MirroredStrategy(3);
        var random = TestData.NewRandom();
        int[] shape = [5, 37]; // vector bodies and scalar tails
        var deltas = Enumerable.Range(0, 40).Select(_ => TestData.Uniform(random, shape, -1e-2f, 1e-2f)).ToArray();
        Variable v;
        using (s.Scope()) v = new Variable(TestData.Uniform(random, shape), aggregation: VariableAggregation.Mean);

        s.Run(ctx =>
        {
            foreach (var d in deltas)
            {
                v.AssignSub(d * 0.37f);
                v.AssignAdd(d.Square());
                v.Assign(v.Value * 0.999f + (v.Value / 3f).Exp() * 1e-3f);
            }
            return 0;
        });
        var bits0 = v.Replicas[0].ToArray().Select(BitConverter.SingleToInt32Bits).ToArray();
        for (int r = 1; r < 3; r++)
            CollectionAssert.AreEqual(bits0, v.Replicas[r].ToArray().Select(BitConverter.SingleToInt32Bits).ToArray(), $"replica {r} vs replica 0");
        // And the mean of identical copies is that copy again (up to the rounding of the mean).
        var mean = v.Value.ToArray();
        var first = v.Replicas[0].ToArray();
        for (int i = 0; i < mean.Length; i++) Assert.AreEqual(first[i], mean[i], 2e-7f * Math.Max(1f, Math.Abs(first[i])));
    }

    [TestMethod]
    public void InsideRun_ReplicasComputeGradientsOfTheirOwnCopies()
    {
        using var s = new MirroredStrategy(3);
        Variable v;
        using (s.Scope()) v = new Variable(Tensor.FromArray([1f, 2f]));
        s.Run(ctx =>
        {
            v.Assign(Tensor.Fill([2], ctx.ReplicaId + 1f));
            return 0;
        });
        var grads = s.Run(ctx =>
        {
            using var tape = new GradientTape();
            var y = v.Value.Square().Sum();
            return tape.Gradient(y, [v])[0]!.ToArray();
        });
        for (int r = 0; r < 3; r++) CollectionAssert.AreEqual(new[] { 2f * (r + 1), 2f * (r + 1) }, grads[r], $"replica {r}");
    }

    [TestMethod]
    public void ToString_ShowsNameShapeAndValue()
    {
        var v = new Variable(Tensor.FromArray([1f, 2f]), "b");
        Assert.AreEqual("Variable 'b' [2] Tensor[2] [1, 2]", v.ToString());
    }

    [TestMethod]
    public void NonMirroredVariable_WrittenByManyReplicas_Throws()
    {
        var v = new Variable(Tensor.Zeros([2]), name: "single");
        using var strategy = new MirroredStrategy(2);
        var e = Assert.ThrowsExactly<InvalidOperationException>(() => strategy.Run(_ =>
        {
            v.AssignAdd(Tensor.Ones([2]));
            return 0;
        }));
        StringAssert.Contains(e.Message, "'single'");
        StringAssert.Contains(e.Message, "strategy.Scope()");
        CollectionAssert.AreEqual(new[] { 0f, 0f }, v.Value.ToArray(), "no replica wrote it");

        // One replica (the default strategy, or a 1-replica strategy) may write it.
        using var one = new MirroredStrategy(1);
        one.Run(_ => { v.AssignAdd(Tensor.Ones([2])); return 0; });
        CollectionAssert.AreEqual(new[] { 1f, 1f }, v.Value.ToArray());
    }
}
