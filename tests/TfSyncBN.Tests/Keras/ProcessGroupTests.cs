using TfSyncBN.Distribute;
using TfSyncBN.Keras;
using TfSyncBN.Tensors;
using TfSyncBN.Tests.Compat;
using TfSyncBN.Tests.TestUtil;

namespace TfSyncBN.Tests.Keras;

/// <summary>Process groups: each group of replicas equals batch normalization of its own replicas' concatenated batch.</summary>
[TestClass]
public sealed class ProcessGroupTests
{
    private const int C = 3;

    /// <summary>
    /// Runs one training step with <paramref name="groups"/> on replicas holding <paramref name="sizes"/> rows of shape
    /// [rows, 2, C] (channels last) and checks, per group, outputs, input gradients, summed γ/β gradients and the
    /// replicas' copies of the moving statistics against the float64 reference on the group's concatenated batch.
    /// </summary>
    private static void AssertGroupsMatchReference(int[][] groups, int[] sizes)
    {
        int replicas = sizes.Length;
        var rng = new Random(77);
        var xs = sizes.Select(n => Tensor.FromArray(TestData.Normal(rng, n * 2 * C, 1.5, 2), [n, 2, C])).ToArray();
        var dys = sizes.Select(n => Tensor.FromArray(TestData.Normal(rng, n * 2 * C), [n, 2, C])).ToArray();
        float[] gamma = [1.5f, 0.5f, -2f], beta = [0.25f, -1f, 3f];
        using var strategy = new MirroredStrategy(replicas);
        var layer = ParityHarness.InScope(strategy, () => new SyncBatchNormalization(momentum: 0.5f,
            gammaInitializer: new FixedInitializer(gamma), betaInitializer: new FixedInitializer(beta), processGroups: groups));
        var outs = ParityHarness.Step(strategy, layer, xs, dys);

        foreach (var group in groups)
        {
            var x = ParityHarness.Concat(group.Select(r => xs[r]));
            var dy = ParityHarness.Concat(group.Select(r => dys[r]));
            int rows = group.Sum(r => sizes[r]);
            var reference = ReferenceBatchNorm.Training(x, [rows, 2, C], [2], gamma, beta, 1e-3, dy);
            TestData.AssertClose(ParityHarness.Concat(group.Select(r => outs[r].Y)), reference.Y, 2e-5, 2e-5, $"group {Tensor.ShapeString(group)} y");
            TestData.AssertClose(ParityHarness.Concat(group.Select(r => outs[r].Dx!)), reference.Dx, 2e-5, 2e-5, $"group {Tensor.ShapeString(group)} dx");
            var dGamma = new double[C];
            var dBeta = new double[C];
            foreach (int r in group)
            {
                for (int c = 0; c < C; c++)
                {
                    dGamma[c] += outs[r].DGamma!.ToArray()[c];
                    dBeta[c] += outs[r].DBeta!.ToArray()[c];
                }
            }
            TestData.AssertClose(dGamma.Select(v => (float)v).ToArray(), reference.DGamma, 2e-4, 2e-5, "summed dγ");
            TestData.AssertClose(dBeta.Select(v => (float)v).ToArray(), reference.DBeta, 2e-4, 2e-5, "summed dβ");
            bool empty = rows == 0;
            foreach (int r in group)
            {
                // Keras convention, momentum 0.5, from zeros / ones; a group with no elements keeps the initial values.
                var expectedMean = reference.Mean.Select(m => empty ? 0 : 0.5 * m).ToArray();
                var expectedVar = reference.Variance.Select(v => empty ? 1 : 0.5 + 0.5 * v).ToArray();
                TestData.AssertClose(layer.MovingMean!.Replicas[r].AsSpan(), expectedMean, 1e-6, 1e-5, $"replica {r} moving mean");
                TestData.AssertClose(layer.MovingVariance!.Replicas[r].AsSpan(), expectedVar, 1e-6, 1e-5, $"replica {r} moving variance");
            }
        }
    }

    [TestMethod]
    public void TwoGroupsOfTwo_EachEqualsBatchNormOverItsOwnReplicas() =>
        AssertGroupsMatchReference([[0, 1], [2, 3]], [3, 2, 4, 1]);

    [TestMethod]
    public void InterleavedGroups_EachEqualsBatchNormOverItsOwnReplicas() =>
        AssertGroupsMatchReference([[0, 2], [3, 1]], [2, 5, 1, 3]);

    [TestMethod]
    public void GroupWithAnEmptyReplica_AndAnAllEmptyGroup_StayExact() =>
        AssertGroupsMatchReference([[0, 1], [2, 3]], [4, 0, 0, 0]);

    [TestMethod]
    public void GroupOfOne_IsLocalBatchNormalization()
    {
        var rng = new Random(5);
        var xs = new[] { 4, 3, 5 }.Select(n => Tensor.FromArray(TestData.Normal(rng, n * C), [n, C])).ToArray();
        using var strategy = new MirroredStrategy(3);
        var layer = ParityHarness.InScope(strategy, () => new SyncBatchNormalization(processGroups: [[1], [0, 2]]));
        var outs = ParityHarness.Step(strategy, layer, xs);
        var local = ReferenceBatchNorm.Training(xs[1].ToArray(), [3, C], [1], null, null, 1e-3);
        TestData.AssertClose(outs[1].Y.AsSpan(), local.Y, 2e-5, 2e-5, "replica 1 alone");
        var pair = ReferenceBatchNorm.Training(ParityHarness.Concat([xs[0], xs[2]]), [9, C], [1], null, null, 1e-3);
        TestData.AssertClose(ParityHarness.Concat([outs[0].Y, outs[2].Y]), pair.Y, 2e-5, 2e-5, "replicas 0 and 2 together");
    }

    [TestMethod]
    public void OneCollectivePerForward_OnePerBackward_WithGroups()
    {
        using var strategy = new MirroredStrategy(4);
        var layer = ParityHarness.InScope(strategy, () => new SyncBatchNormalization(axis: [1], processGroups: [[0, 1], [2, 3]]));
        var x = Tensor.FromArray(TestData.Normal(new Random(3), 8 * 4 * 5), [8, 4, 5]);
        var counts = strategy.Run(ctx =>
        {
            var slice = x.Slice(0, 2 * ctx.ReplicaId, 2);
            var group = ctx.Group!;
            long before = group.CollectivesCompleted;
            using var tape = new GradientTape();
            tape.Watch(slice);
            var y = layer.Call(slice, training: true);
            long afterForward = group.CollectivesCompleted;
            tape.Gradient(y, [slice, layer.Gamma!, layer.Beta!]);
            return new[] { afterForward - before, group.CollectivesCompleted - afterForward };
        });
        foreach (var c in counts) CollectionAssert.AreEqual(new long[] { 1, 1 }, c);
    }

    [TestMethod]
    public void IdOutsideTheReplicaRange_RaisesAtTheCall_NamingTheId()
    {
        using var strategy = new MirroredStrategy(2);
        var layer = new SyncBatchNormalization(processGroups: [[0, 1, 2]]);   // made outside the scope: checked at the call
        var error = ParityHarness.CatchInRun(strategy, ctx => layer.Call(Tensor.Ones([2, 3]), training: true));
        Assert.IsInstanceOfType<ArgumentException>(error);
        StringAssert.Contains(error!.Message, "replica id 2 ");
        Assert.AreEqual("processGroups", ((ArgumentException)error).ParamName);
    }

    [TestMethod]
    public void InsideAScope_OutOfRangeAndUncoveredIds_RaiseAtConstruction()
    {
        using var strategy = new MirroredStrategy(4);
        using (strategy.Scope())
        {
            var outside = Assert.ThrowsExactly<ArgumentException>(() => new SyncBatchNormalization(processGroups: [[0, 1], [2, 4]]));
            StringAssert.Contains(outside.Message, "replica id 4 ");
            var missing = Assert.ThrowsExactly<ArgumentException>(() => new SyncBatchNormalization(processGroups: [[0, 1], [2]]));
            StringAssert.Contains(missing.Message, "replica id 3 ");
            Assert.AreEqual("processGroups", missing.ParamName);
        }
    }

    [TestMethod]
    public void MalformedGroups_RaiseNamingTheOffendingId()
    {
        var repeated = Assert.ThrowsExactly<ArgumentException>(() => new SyncBatchNormalization(processGroups: [[0, 1], [1, 2]]));
        StringAssert.Contains(repeated.Message, "replica id 1 ");
        var negative = Assert.ThrowsExactly<ArgumentException>(() => new SyncBatchNormalization(processGroups: [[0, -3]]));
        StringAssert.Contains(negative.Message, "replica id -3 ");
        var empty = Assert.ThrowsExactly<ArgumentException>(() => new SyncBatchNormalization(processGroups: [[0], []]));
        StringAssert.Contains(empty.Message, "group 1 is empty");
        var unsynchronized = Assert.ThrowsExactly<ArgumentException>(() => new BatchNormalization(processGroups: [[0]]));
        Assert.AreEqual("processGroups", unsynchronized.ParamName);
    }

    [TestMethod]
    public void KerasThreeForm_WithGroups_EqualsTheSyncClass()
    {
        var rng = new Random(8);
        var xs = new[] { 2, 3, 1, 2 }.Select(n => Tensor.FromArray(TestData.Normal(rng, n * C), [n, C])).ToArray();
        using var strategy = new MirroredStrategy(4);
        var a = ParityHarness.InScope(strategy, () => new SyncBatchNormalization(processGroups: [[0, 3], [1, 2]]));
        var b = ParityHarness.InScope(strategy, () => new BatchNormalization(synchronized: true, processGroups: [[0, 3], [1, 2]]));
        var ya = ParityHarness.Step(strategy, a, xs);
        var yb = ParityHarness.Step(strategy, b, xs);
        for (int r = 0; r < 4; r++) CollectionAssert.AreEqual(ya[r].Y.ToArray(), yb[r].Y.ToArray(), $"replica {r}");
    }
}
