using TfSyncBN.Distribute;
using TfSyncBN.Tensors;

namespace TfSyncBN.Tests.Distribute;

/// <summary><c>Strategy.Run</c> results (<see cref="PerReplica{T}"/>) and cross-replica <c>Strategy.Reduce</c>.</summary>
[TestClass]
public sealed class RunAndReduceTests
{
    [TestMethod]
    public void Run_ReturnsPerReplicaResultsInReplicaOrder() => Bounded.Run(() =>
    {
        using var s = new MirroredStrategy(4, TimeSpan.FromSeconds(20));
        // Later replicas finish first: the order must still be the replica order.
        var result = s.Run(ctx =>
        {
            Thread.Sleep((4 - ctx.ReplicaId) * 15);
            return $"r{ctx.ReplicaId}";
        });
        string[] expected = ["r0", "r1", "r2", "r3"];
        Assert.AreEqual(4, result.Count);
        for (int r = 0; r < 4; r++) Assert.AreEqual(expected[r], result[r]);
        CollectionAssert.AreEqual(expected, result.Values.ToArray());
        CollectionAssert.AreEqual(expected, result.ToList());
        var enumerated = new List<string>();
        foreach (var v in result) enumerated.Add(v);
        CollectionAssert.AreEqual(expected, enumerated);
        System.Collections.IEnumerable untyped = result;
        CollectionAssert.AreEqual(expected, untyped.Cast<string>().ToArray());
    });

    [TestMethod]
    public void PerReplica_IsReadOnly_AndRejectsBadIndices() => Bounded.Run(() =>
    {
        using var s = new MirroredStrategy(2, TimeSpan.FromSeconds(20));
        var result = s.Run(ctx => ctx.ReplicaId);
        var asList = (IList<int>)result.Values;
        Assert.IsTrue(asList.IsReadOnly);
        Assert.ThrowsExactly<NotSupportedException>(() => asList[0] = 5);
        var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => result[2]);
        Assert.AreEqual("index", e.ParamName);
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => result[-1]);
    });

    [TestMethod]
    public void Run_RejectsNullFunction()
    {
        using var s = new MirroredStrategy(2, TimeSpan.FromSeconds(20));
        Assert.ThrowsExactly<ArgumentNullException>(() => s.Run<int>(null!));
        Assert.ThrowsExactly<ArgumentNullException>(() => Strategy.Default.Run<int>(null!));
    }

    private static PerReplica<Tensor> PerReplicaTensors(Strategy s, Func<int, Tensor> make) => s.Run(ctx => make(ctx.ReplicaId));

    [TestMethod]
    [DataRow(1)]
    [DataRow(2)]
    [DataRow(3)]
    public void Reduce_WithoutAxis_CombinesElementwiseAcrossReplicas(int replicas) => Bounded.Run(() =>
    {
        using var s = new MirroredStrategy(replicas, TimeSpan.FromSeconds(20));
        static float Value(int r, int i) => (r + 1) * 10 + i * 0.5f - r * r;
        var values = PerReplicaTensors(s, r => Tensor.FromFunction([2, 3], i => Value(r, i)));
        var sum = s.Reduce(ReduceOp.Sum, values);
        var mean = s.Reduce(ReduceOp.Mean, values);
        CollectionAssert.AreEqual(new[] { 2, 3 }, sum.Shape.ToArray());
        CollectionAssert.AreEqual(new[] { 2, 3 }, mean.Shape.ToArray());
        for (int i = 0; i < 6; i++)
        {
            double expected = 0;
            for (int r = 0; r < replicas; r++) expected += Value(r, i);
            Assert.AreEqual(expected, sum.AsSpan()[i], 1e-4, $"sum[{i}]");
            Assert.AreEqual(expected / replicas, mean.AsSpan()[i], 1e-4, $"mean[{i}]");
        }
    });

    [TestMethod]
    public void Reduce_TensorFlowDocsExample_MeanWithAxisDividesByTheGlobalBatch() => Bounded.Run(() =>
    {
        // 6 examples split [4, 2] over 2 replicas: the mean over axis 0 is the mean of all 6 examples, 2.5,
        // not the mean of the two replica means (3) and not the sum over 2*4 (1.875).
        using var s = new MirroredStrategy(2, TimeSpan.FromSeconds(20));
        var values = PerReplicaTensors(s, r => r == 0 ? Tensor.FromArray([0f, 1f, 2f, 3f]) : Tensor.FromArray([4f, 5f]));
        var mean = s.Reduce(ReduceOp.Mean, values, axis: 0);
        Assert.AreEqual(0, mean.Rank);
        Assert.AreEqual(2.5f, mean.ToScalar(), 1e-6f);
        var sum = s.Reduce(ReduceOp.Sum, values, axis: 0);
        Assert.AreEqual(15f, sum.ToScalar(), 1e-6f);
        Assert.AreEqual(2.5f, s.Reduce(ReduceOp.Mean, values, axis: -1).ToScalar(), 1e-6f, "negative axis");
    });

    [TestMethod]
    public void Reduce_WithAxis_CountsEmptyReplicas() => Bounded.Run(() =>
    {
        using var s = new MirroredStrategy(2, TimeSpan.FromSeconds(20));
        var oneEmpty = PerReplicaTensors(s, r => r == 0 ? Tensor.FromArray([3f, 4f, 8f]) : Tensor.Zeros([0]));
        Assert.AreEqual(5f, s.Reduce(ReduceOp.Mean, oneEmpty, axis: 0).ToScalar(), 1e-6f);
        var allEmpty = PerReplicaTensors(s, _ => Tensor.Zeros([0, 2]));
        var mean = s.Reduce(ReduceOp.Mean, allEmpty, axis: 0);
        CollectionAssert.AreEqual(new[] { 2 }, mean.Shape.ToArray());
        Assert.IsTrue(mean.ToArray().All(float.IsNaN), "the mean over no examples is 0/0, as in TensorFlow");
        CollectionAssert.AreEqual(new[] { 0f, 0f }, s.Reduce(ReduceOp.Sum, allEmpty, axis: 0).ToArray());
    });

    [TestMethod]
    public void Reduce_WithAxis_OnMatrices_KeepsTheOtherAxes() => Bounded.Run(() =>
    {
        using var s = new MirroredStrategy(2, TimeSpan.FromSeconds(20));
        // Rows (batch) x 2 features; replica 0 has 4 rows, replica 1 has 2.
        var values = PerReplicaTensors(s, r => r == 0
            ? Tensor.FromArray([1f, 10f, 2f, 20f, 3f, 30f, 4f, 40f], [4, 2])
            : Tensor.FromArray([5f, 50f, 6f, 60f], [2, 2]));
        var mean = s.Reduce(ReduceOp.Mean, values, axis: 0);
        CollectionAssert.AreEqual(new[] { 2 }, mean.Shape.ToArray());
        Assert.AreEqual(3.5f, mean.AsSpan()[0], 1e-5f);
        Assert.AreEqual(35f, mean.AsSpan()[1], 1e-4f);
        var sum = s.Reduce(ReduceOp.Sum, values, axis: 0);
        Assert.AreEqual(21f, sum.AsSpan()[0], 1e-5f);
        Assert.AreEqual(210f, sum.AsSpan()[1], 1e-4f);

        // Along axis 1 the replicas' results have different lengths (4 and 2): that is a shape mismatch.
        var e = Assert.ThrowsExactly<ArgumentException>(() => s.Reduce(ReduceOp.Sum, values, axis: 1));
        Assert.AreEqual("value", e.ParamName);
    });

    [TestMethod]
    public void Reduce_RejectsBadArguments() => Bounded.Run(() =>
    {
        using var s = new MirroredStrategy(2, TimeSpan.FromSeconds(20));
        using var three = new MirroredStrategy(3, TimeSpan.FromSeconds(20));

        var mismatched = PerReplicaTensors(s, r => Tensor.Zeros([r + 2]));
        var e = Assert.ThrowsExactly<ArgumentException>(() => s.Reduce(ReduceOp.Sum, mismatched));
        Assert.AreEqual("value", e.ParamName);
        StringAssert.Contains(e.Message, "[2]");
        StringAssert.Contains(e.Message, "[3]");

        var wrongCount = PerReplicaTensors(three, _ => Tensor.Zeros([2]));
        e = Assert.ThrowsExactly<ArgumentException>(() => s.Reduce(ReduceOp.Mean, wrongCount));
        Assert.AreEqual("value", e.ParamName);
        StringAssert.Contains(e.Message, "3");

        var vectors = PerReplicaTensors(s, _ => Tensor.Zeros([2]));
        e = Assert.ThrowsExactly<ArgumentException>(() => s.Reduce(ReduceOp.Sum, vectors, axis: 1));
        Assert.AreEqual("axis", e.ParamName);
        e = Assert.ThrowsExactly<ArgumentException>(() => s.Reduce(ReduceOp.Sum, vectors, axis: -2));
        Assert.AreEqual("axis", e.ParamName);
        var scalars = PerReplicaTensors(s, _ => Tensor.Scalar(1f));
        e = Assert.ThrowsExactly<ArgumentException>(() => s.Reduce(ReduceOp.Sum, scalars, axis: 0));
        Assert.AreEqual("axis", e.ParamName);

        Assert.ThrowsExactly<ArgumentNullException>(() => s.Reduce(ReduceOp.Sum, null!));
        var withNull = s.Run(ctx => ctx.ReplicaId == 0 ? Tensor.Zeros([2]) : null!);
        e = Assert.ThrowsExactly<ArgumentException>(() => s.Reduce(ReduceOp.Sum, withNull));
        Assert.AreEqual("value", e.ParamName);
        var op = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => s.Reduce((ReduceOp)7, vectors));
        Assert.AreEqual("op", op.ParamName);
    });

    [TestMethod]
    public void Reduce_InsideRun_Throws() => Bounded.Run(() =>
    {
        using var s = new MirroredStrategy(2, TimeSpan.FromSeconds(20));
        var values = PerReplicaTensors(s, _ => Tensor.Zeros([2]));
        var errors = s.Run(_ => Bounded.Catch(() => s.Reduce(ReduceOp.Sum, values)));
        foreach (var e in errors) Assert.IsInstanceOfType<InvalidOperationException>(e);
    });

    [TestMethod]
    public void Reduce_OnTheDefaultStrategy_ReturnsTheSingleValue() => Bounded.Run(() =>
    {
        var values = Strategy.Default.Run(_ => Tensor.FromArray([1f, 2f, 3f]));
        CollectionAssert.AreEqual(new[] { 1f, 2f, 3f }, Strategy.Default.Reduce(ReduceOp.Sum, values).ToArray());
        CollectionAssert.AreEqual(new[] { 1f, 2f, 3f }, Strategy.Default.Reduce(ReduceOp.Mean, values).ToArray());
        Assert.AreEqual(2f, Strategy.Default.Reduce(ReduceOp.Mean, values, axis: 0).ToScalar(), 1e-6f);
    });

    [TestMethod]
    public void ReduceMean_MatchesAllReduceMean_Bitwise() => Bounded.Run(() =>
    {
        using var s = new MirroredStrategy(3, TimeSpan.FromSeconds(20));
        var values = PerReplicaTensors(s, r => Tensor.FromArray(Bits.OrderSensitive(r, 3, 24)));
        var allReduced = s.Run(ctx => ctx.AllReduce(ReduceOp.Mean, values[ctx.ReplicaId]));
        var reduced = s.Reduce(ReduceOp.Mean, values);
        Bits.AssertSame(Bits.Of(allReduced[0]), Bits.Of(reduced), "Reduce(Mean) vs AllReduce(Mean)");
        var allSum = s.Run(ctx => ctx.AllReduce(ReduceOp.Sum, values[ctx.ReplicaId]));
        Bits.AssertSame(Bits.Of(allSum[0]), Bits.Of(s.Reduce(ReduceOp.Sum, values)), "Reduce(Sum) vs AllReduce(Sum)");
    });
}
