using TfSyncBN.Distribute;
using TfSyncBN.Tensors;

namespace TfSyncBN.Tests.Distribute;

/// <summary><see cref="ReplicaContext.AllReduce(ReduceOp, Tensor)"/>, its multi-tensor overload and its gradient.</summary>
[TestClass]
public sealed class AllReduceTests
{
    private static float Value(int replica, int i) => (replica + 1) * 1.5f - i * 0.25f + (i % 3) * replica;

    [TestMethod]
    [DataRow(1)]
    [DataRow(2)]
    [DataRow(3)]
    [DataRow(4)]
    public void AllReduce_EqualsTheIndependentlyComputedSumAndMean(int replicas) => Bounded.Run(() =>
    {
        using var s = new MirroredStrategy(replicas, TimeSpan.FromSeconds(20));
        int[] shape = [2, 3];
        var results = s.Run(ctx =>
        {
            var x = Tensor.FromFunction(shape, i => Value(ctx.ReplicaId, i));
            var before = x.ToArray();
            var sum = ctx.AllReduce(ReduceOp.Sum, x);
            var mean = ctx.AllReduce(ReduceOp.Mean, x);
            CollectionAssert.AreEqual(before, x.ToArray(), "the input is not modified");
            return (sum, mean);
        });
        for (int r = 0; r < replicas; r++)
        {
            var (sum, mean) = results[r];
            CollectionAssert.AreEqual(shape, sum.Shape.ToArray());
            CollectionAssert.AreEqual(shape, mean.Shape.ToArray());
            for (int i = 0; i < 6; i++)
            {
                double expected = 0;
                for (int p = 0; p < replicas; p++) expected += Value(p, i);
                Assert.AreEqual(expected, sum.AsSpan()[i], 1e-5, $"replica {r}, sum[{i}]");
                Assert.AreEqual(expected / replicas, mean.AsSpan()[i], 1e-5, $"replica {r}, mean[{i}]");
            }
        }
    });

    [TestMethod]
    public void AllReduce_TensorFlowDocsExample() => Bounded.Run(() =>
    {
        // {'a': 1, 'b': [40, 1]} + {'a': 3, 'b': [2, 98]} -> {'a': 4, 'b': [42, 99]}; MEAN -> {'a': 2, 'b': [21, 49.5]}.
        using var s = new MirroredStrategy(2, TimeSpan.FromSeconds(20));
        var results = s.Run(ctx =>
        {
            var a = Tensor.Scalar(ctx.ReplicaId == 0 ? 1f : 3f);
            var b = ctx.ReplicaId == 0 ? Tensor.FromArray([40f, 1f]) : Tensor.FromArray([2f, 98f]);
            return (Sum: ctx.AllReduce(ReduceOp.Sum, [a, b]), Mean: ctx.AllReduce(ReduceOp.Mean, [a, b]));
        });
        foreach (var (sum, mean) in results)
        {
            Assert.AreEqual(0, sum[0].Rank);
            Assert.AreEqual(4f, sum[0].ToScalar());
            CollectionAssert.AreEqual(new[] { 42f, 99f }, sum[1].ToArray());
            Assert.AreEqual(2f, mean[0].ToScalar());
            CollectionAssert.AreEqual(new[] { 21f, 49.5f }, mean[1].ToArray());
        }
    });

    [TestMethod]
    public void AllReduce_OnTheDefaultStrategy_IsTheIdentity() => Bounded.Run(() =>
    {
        var x = Tensor.FromArray([1f, 2f, 3f]);
        var ctx = ReplicaContext.Current!;
        CollectionAssert.AreEqual(x.ToArray(), ctx.AllReduce(ReduceOp.Sum, x).ToArray());
        CollectionAssert.AreEqual(x.ToArray(), ctx.AllReduce(ReduceOp.Mean, x).ToArray());
        var many = ctx.AllReduce(ReduceOp.Sum, [x, Tensor.Scalar(5f)]);
        Assert.AreEqual(2, many.Count);
        Assert.AreEqual(5f, many[1].ToScalar());
    });

    [TestMethod]
    public void MultiTensorAllReduce_ReducesAllTensorsInOneCollective_InOrder_WithTheirShapes() => Bounded.Run(() =>
    {
        const int R = 3;
        using var s = new MirroredStrategy(R, TimeSpan.FromSeconds(20));
        int[][] shapes = [[2, 3], [4], [], [0, 2], [1, 1, 2]];
        CollectiveGroup? group = null;
        var results = s.Run(ctx =>
        {
            if (ctx.ReplicaId == 0) group = ctx.Group;
            var inputs = shapes.Select((sh, k) => Tensor.FromFunction(sh, i => Value(ctx.ReplicaId, i) + 100 * k)).ToArray();
            return ctx.AllReduce(ReduceOp.Sum, inputs);
        });
        Assert.IsNotNull(group);
        Assert.AreEqual(1L, group.CollectivesCompleted, "five tensors, one collective");
        foreach (var perReplica in results)
        {
            Assert.AreEqual(shapes.Length, perReplica.Count);
            for (int k = 0; k < shapes.Length; k++)
            {
                CollectionAssert.AreEqual(shapes[k], perReplica[k].Shape.ToArray(), $"tensor {k} shape");
                for (int i = 0; i < perReplica[k].Size; i++)
                {
                    double expected = 0;
                    for (int p = 0; p < R; p++) expected += Value(p, i) + 100 * k;
                    Assert.AreEqual(expected, perReplica[k].AsSpan()[i], 1e-4, $"tensor {k}[{i}]");
                }
            }
        }

        // An empty list is no collective at all; null entries are rejected before any communication.
        results = s.Run(ctx =>
        {
            if (ctx.ReplicaId == 0) group = ctx.Group;
            return ctx.AllReduce(ReduceOp.Sum, Array.Empty<Tensor>());
        });
        Assert.AreEqual(0L, group.CollectivesCompleted);
        Assert.IsTrue(results.All(r => r.Count == 0));
        var errors = s.Run(ctx => Bounded.Catch(() => ctx.AllReduce(ReduceOp.Sum, [Tensor.Zeros([1]), null!])));
        foreach (var e in errors) Assert.IsInstanceOfType<ArgumentNullException>(e);
    });

    [TestMethod]
    public void SingleTensorAllReduces_CountOneCollectiveEach() => Bounded.Run(() =>
    {
        using var s = new MirroredStrategy(2, TimeSpan.FromSeconds(20));
        CollectiveGroup? group = null;
        s.Run(ctx =>
        {
            if (ctx.ReplicaId == 0) group = ctx.Group;
            for (int k = 0; k < 3; k++) ctx.AllReduce(ReduceOp.Sum, Tensor.Zeros([5]));
            return 0;
        });
        Assert.AreEqual(3L, group!.CollectivesCompleted);
    });

    [TestMethod]
    [DataRow(ReduceOp.Sum)]
    [DataRow(ReduceOp.Mean)]
    public void AllReduceGradient_IsTheAllReduceOfTheUpstreamGradient(ReduceOp op) => Bounded.Run(() =>
    {
        const int R = 3;
        using var s = new MirroredStrategy(R, TimeSpan.FromSeconds(20));
        static float[] Upstream(int r) => [r + 1f, -2f * r, 0.5f * r * r, 10f];
        var results = s.Run(ctx =>
        {
            var x = Tensor.FromFunction([2, 2], i => Value(ctx.ReplicaId, i));
            using var tape = new GradientTape();
            tape.Watch(x);
            var y = ctx.AllReduce(op, x);
            var grad = tape.Gradient(y, [x], Tensor.FromArray(Upstream(ctx.ReplicaId), [2, 2]))[0];
            return (y, grad);
        });
        for (int r = 0; r < R; r++)
        {
            var grad = results[r].grad;
            Assert.IsNotNull(grad, $"replica {r} gradient");
            CollectionAssert.AreEqual(new[] { 2, 2 }, grad.Shape.ToArray());
            for (int i = 0; i < 4; i++)
            {
                double expected = 0;
                for (int p = 0; p < R; p++) expected += Upstream(p)[i];
                if (op == ReduceOp.Mean) expected /= R;
                Assert.AreEqual(expected, grad.AsSpan()[i], 1e-5, $"replica {r}, d/dx[{i}]");
            }
        }
    });

    [TestMethod]
    public void MultiTensorAllReduceGradient_FlowsToEachInput() => Bounded.Run(() =>
    {
        const int R = 2;
        using var s = new MirroredStrategy(R, TimeSpan.FromSeconds(20));
        static float[] Wa(int r) => [1f + r, 2f, -r, 0.25f];
        static float[] Wb(int r) => [3f * r, -1f, 7f];
        var results = s.Run(ctx =>
        {
            var a = Tensor.FromFunction([2, 2], i => i + 1f);
            var b = Tensor.FromFunction([3], i => -i);
            using var tape = new GradientTape();
            tape.Watch(a);
            tape.Watch(b);
            var ys = ctx.AllReduce(ReduceOp.Sum, [a, b]);
            var loss = (ys[0] * Tensor.FromArray(Wa(ctx.ReplicaId), [2, 2])).Sum() + (ys[1] * Tensor.FromArray(Wb(ctx.ReplicaId))).Sum();
            var g = tape.Gradient(loss, [a, b]);
            return (Da: g[0]!.ToArray(), Db: g[1]!.ToArray());
        });
        foreach (var (da, db) in results)
        {
            for (int i = 0; i < 4; i++) Assert.AreEqual(Wa(0)[i] + Wa(1)[i], da[i], 1e-6f, $"da[{i}]");
            for (int i = 0; i < 3; i++) Assert.AreEqual(Wb(0)[i] + Wb(1)[i], db[i], 1e-6f, $"db[{i}]");
        }
    });

    [TestMethod]
    public void CollectivesOfDifferentElementTypes_CanFollowEachOther() => Bounded.Run(() =>
    {
        // The SyncBN layer all-reduces float64 moments; user code all-reduces float32 tensors in the same Run.
        using var s = new MirroredStrategy(2, TimeSpan.FromSeconds(20));
        var results = s.Run(ctx =>
        {
            var moments = Enumerable.Range(0, 33).Select(i => (double)(i + ctx.ReplicaId)).ToArray();
            ctx.AllReduceInPlace(ReduceOp.Sum, moments, "moments", "test");
            var f = ctx.AllReduce(ReduceOp.Sum, Tensor.FromArray([1f, 2f, 3f, 4f]));
            var big = new double[40];
            big.AsSpan().Fill(ctx.ReplicaId + 1);
            ctx.AllReduceInPlace(ReduceOp.Mean, big, "big", "test");
            return (moments, f.ToArray(), big);
        });
        foreach (var (moments, f, big) in results)
        {
            for (int i = 0; i < 33; i++) Assert.AreEqual(2.0 * i + 1, moments[i]);
            CollectionAssert.AreEqual(new[] { 2f, 4f, 6f, 8f }, f);
            Assert.IsTrue(big.All(v => v == 1.5));
        }
    });

    [TestMethod]
    public void AllReduceInPlace_WithAPrefixLength_LeavesTheRestAlone() => Bounded.Run(() =>
    {
        using var s = new MirroredStrategy(2, TimeSpan.FromSeconds(20));
        var results = s.Run(ctx =>
        {
            var buffer = new float[] { 1, 2, 3, 100 + ctx.ReplicaId };
            ctx.AllReduceInPlace(ReduceOp.Sum, buffer, "prefix", length: 3);
            return buffer;
        });
        CollectionAssert.AreEqual(new[] { 2f, 4f, 6f, 100f }, results[0]);
        CollectionAssert.AreEqual(new[] { 2f, 4f, 6f, 101f }, results[1]);
        var errors = s.Run(ctx => Bounded.Catch(() => ctx.AllReduceInPlace(ReduceOp.Sum, new float[2], "too long", length: 3)));
        foreach (var e in errors) Assert.IsInstanceOfType<ArgumentOutOfRangeException>(e);
    });

    [TestMethod]
    public void ALoopOfRuns_ReusesTheCollectiveResult_AndStillReducesEachRunsValues() => Bounded.Run(() =>
    {
        // A training loop all-reduces the same gradient buffer once per Run: each Run's collective group takes over the
        // previous one's result array, so after the first Run the all-reduce asks the GC for nothing buffer-sized.
        const int length = 50_000;
        using var s = new MirroredStrategy(2, TimeSpan.FromSeconds(20));
        var buffers = new[] { new float[length], new float[length] };
        for (int run = 0; run < 4; run++)
        {
            var allocated = s.Run(ctx =>
            {
                var b = buffers[ctx.ReplicaId];
                for (int i = 0; i < length; i++) b[i] = (run + 1) * (ctx.ReplicaId + 1) + i % 7;
                long before = GC.GetAllocatedBytesForCurrentThread();
                ctx.AllReduceInPlace(ReduceOp.Sum, b, "gradients");
                return GC.GetAllocatedBytesForCurrentThread() - before;
            });
            for (int i = 0; i < length; i += 997)
            {
                float expected = (run + 1) * 3 + 2 * (i % 7);
                Assert.AreEqual(expected, buffers[0][i], $"run {run}, replica 0, [{i}]");
                Assert.AreEqual(expected, buffers[1][i], $"run {run}, replica 1, [{i}]");
            }
            if (run > 0) Assert.IsTrue(allocated.Sum() < length, $"run {run} allocated {allocated.Sum()} bytes in its all-reduce (the buffer is {length * 4})");
        }
    });

    [TestMethod]
    [DataRow(2, 20_000)]
    [DataRow(3, 30_001)]
    [DataRow(4, 7)]
    public void LargeAndOddLengths_AreReducedExactly(int replicas, int length) => Bounded.Run(() =>
    {
        using var s = new MirroredStrategy(replicas, TimeSpan.FromSeconds(20));
        var inputs = Enumerable.Range(0, replicas).Select(r => Enumerable.Range(0, length).Select(i => (float)((i * 31 + r * 7) % 1000)).ToArray()).ToArray();
        var expected = Bits.Of(Bits.SequentialReduce(inputs, mean: false));
        var results = s.Run(ctx => ctx.AllReduce(ReduceOp.Sum, Tensor.FromArray(inputs[ctx.ReplicaId])));
        for (int r = 0; r < replicas; r++) Bits.AssertSame(expected, Bits.Of(results[r]), $"replica {r}");
    });

    [TestMethod]
    public void AllReduce_RejectsAnUndefinedOp_AndNull() => Bounded.Run(() =>
    {
        using var s = new MirroredStrategy(2, TimeSpan.FromSeconds(20));
        var errors = s.Run(ctx => (
            Op: Bounded.Catch(() => ctx.AllReduce((ReduceOp)42, Tensor.Zeros([2]))),
            Null: Bounded.Catch(() => ctx.AllReduce(ReduceOp.Sum, (Tensor)null!)),
            NullList: Bounded.Catch(() => ctx.AllReduce(ReduceOp.Sum, (IReadOnlyList<Tensor>)null!))));
        foreach (var e in errors)
        {
            Assert.IsInstanceOfType<ArgumentOutOfRangeException>(e.Op);
            Assert.IsInstanceOfType<ArgumentNullException>(e.Null);
            Assert.IsInstanceOfType<ArgumentNullException>(e.NullList);
        }
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => ReplicaContext.Current!.AllReduce((ReduceOp)42, Tensor.Zeros([2])));
    });
}
