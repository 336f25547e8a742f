using TfSyncBN.Distribute;
using TfSyncBN.Keras;
using TfSyncBN.Tensors;
using TfSyncBN.Tests.TestUtil;

namespace TfSyncBN.Tests.Keras;

/// <summary>
/// The defining property: SyncBatchNormalization over R replicas equals BatchNormalization on the concatenated batch,
/// for outputs, moving statistics, input gradients and the replica-summed γ/β gradients.
/// </summary>
[TestClass]
public sealed class SyncBatchNormalizationEquivalenceTests
{
    private const double Atol = 2e-5, Rtol = 2e-5;

    public sealed record Case(string Name, int[] RowShape, int[] Axis);

    // Per-example shapes (batch axis excluded); channel counts include vector-width multiples plus tails.
    private static readonly Case[] Cases =
    [
        new("rank2 [N,C]", [20], [-1]),
        new("rank3 [N,L,C]", [3, 5], [-1]),
        new("NHWC", [3, 2, 19], [-1]),
        new("NCHW", [3, 5, 4], [1]),
        new("list axis, not adjacent [N,A,B,D] axis [1,3]", [2, 3, 4], [1, 3]),
        new("list axis, adjacent [N,H,W,C] axis [2,3]", [2, 3, 4], [2, 3]),
        new("rank5 NCDHW", [2, 2, 3, 3], [1]),
    ];

    public static IEnumerable<object[]> CaseData => Cases.Select(c => new object[] { c.Name });

    [TestMethod]
    [DynamicData(nameof(CaseData))]
    public void SyncAcrossReplicas_EqualsBatchNormOnConcatenatedBatch(string caseName)
    {
        var cs = Cases.Single(c => c.Name == caseName);
        for (int replicas = 1; replicas <= 4; replicas++)
        {
            var rng = new Random(1000 * replicas + caseName.Length);
            int total = 11;
            // R = 2: uneven, both non-empty; R >= 3: one replica has an empty batch.
            var sizes = TestData.UnevenSplit(rng, total, replicas, withEmpty: replicas >= 3);
            Check(cs, replicas, sizes, rng, steps: 3);
        }
    }

    private static void Check(Case cs, int replicas, int[] sizes, Random rng, int steps)
    {
        int total = sizes.Sum();
        int[] shape = [total, .. cs.RowShape];
        int rowSize = cs.RowShape.Aggregate(1, (a, b) => a * b);
        var resolved = cs.Axis.Select(a => a < 0 ? a + shape.Length : a).OrderBy(a => a).ToArray();
        int channels = resolved.Aggregate(1, (a, ax) => a * shape[ax]);
        var gammaInit = TestData.Normal(rng, channels, 1, 0.5);
        var betaInit = TestData.Normal(rng, channels, 0, 0.5);
        int[] paramShape = resolved.Length == 1 ? [channels] : Enumerable.Range(0, shape.Length).Select(i => resolved.Contains(i) ? shape[i] : 1).ToArray();

        BatchNormalization MakeLayer(bool sync) => new(axis: cs.Axis, momentum: 0.8f, epsilon: 1e-3f,
            gammaInitializer: new FixedInitializer(gammaInit), betaInitializer: new FixedInitializer(betaInit), synchronized: sync);

        var reference = MakeLayer(sync: false);
        using var strategy = new MirroredStrategy(replicas, TimeSpan.FromSeconds(30));
        BatchNormalization synced, local;
        using (strategy.Scope())
        {
            synced = MakeLayer(sync: true);
            local = MakeLayer(sync: false);
        }
        var starts = TestData.Offsets(sizes);
        string label = $"{cs.Name}, R={replicas}, split [{string.Join(",", sizes)}]";

        for (int step = 0; step < steps; step++)
        {
            var xData = TestData.Normal(rng, total * rowSize, mean: 3, std: 2);
            var dyData = TestData.Normal(rng, total * rowSize);
            var x = Tensor.FromArray(xData, shape);
            var dy = Tensor.FromArray(dyData, shape);

            // Single device on the whole batch.
            var refResult = RunOne(reference, x, dy);

            // The oracle that shares no code with the library.
            var oracle = ReferenceBatchNorm.Training(xData, shape, resolved, gammaInit, betaInit, 1e-3, dyData);
            TestData.AssertClose(refResult.Y.AsSpan(), oracle.Y, Atol, Rtol, $"BN y vs float64 oracle ({label})");
            TestData.AssertClose(refResult.Dx.AsSpan(), oracle.Dx, Atol, Rtol, $"BN dx vs float64 oracle ({label})");
            TestData.AssertClose(refResult.DGamma.AsSpan(), oracle.DGamma, 1e-4, Rtol, $"BN dgamma vs oracle ({label})");
            TestData.AssertClose(refResult.DBeta.AsSpan(), oracle.DBeta, 1e-4, Rtol, $"BN dbeta vs oracle ({label})");

            var perReplica = strategy.Run(ctx =>
                RunOne(synced, x.Slice(0, starts[ctx.ReplicaId], sizes[ctx.ReplicaId]), dy.Slice(0, starts[ctx.ReplicaId], sizes[ctx.ReplicaId])));
            for (int r = 0; r < replicas; r++)
                CollectionAssert.AreEqual(new[] { sizes[r] }.Concat(cs.RowShape).ToArray(), perReplica[r].Y.Shape.ToArray(), $"replica {r} output shape ({label})");

            var y = Tensor.Concat(perReplica.Select(p => p.Y).ToArray(), 0);
            var dx = Tensor.Concat(perReplica.Select(p => p.Dx).ToArray(), 0);
            TestData.AssertClose(y.AsSpan(), refResult.Y.AsSpan(), Atol, Rtol, $"SyncBN y, step {step} ({label})");
            TestData.AssertClose(dx.AsSpan(), refResult.Dx.AsSpan(), Atol, Rtol, $"SyncBN dx, step {step} ({label})");
            var dGamma = perReplica.Select(p => p.DGamma).Aggregate((a, b) => a + b);
            var dBeta = perReplica.Select(p => p.DBeta).Aggregate((a, b) => a + b);
            TestData.AssertClose(dGamma.AsSpan(), refResult.DGamma.AsSpan(), 1e-4, Rtol, $"summed dgamma, step {step} ({label})");
            TestData.AssertClose(dBeta.AsSpan(), refResult.DBeta.AsSpan(), 1e-4, Rtol, $"summed dbeta, step {step} ({label})");
            CollectionAssert.AreEqual(paramShape, dGamma.Shape.ToArray(), "dgamma shape");

            if (sizes.Count(n => n > 0) >= 2)
            {
                // Negative control: local statistics per replica must not match the global batch.
                var localY = Tensor.Concat(strategy.Run(ctx =>
                    local.Call(x.Slice(0, starts[ctx.ReplicaId], sizes[ctx.ReplicaId]), training: true)).Values.ToArray(), 0);
                Assert.IsTrue(TestData.MaxAbsDiff(localY.AsSpan(), refResult.Y.AsSpan()) > 1e-2, $"plain BN with {replicas} replicas should differ ({label})");
            }
        }

        // Moving statistics: every replica's copy equals the single-device layer's, bit for bit across replicas.
        foreach (var (mine, theirs, name) in new[] { (synced.MovingMean!, reference.MovingMean!, "moving mean"), (synced.MovingVariance!, reference.MovingVariance!, "moving variance") })
        {
            Assert.AreEqual(replicas, mine.Replicas.Count, $"{name} is mirrored ({label})");
            foreach (var copy in mine.Replicas)
            {
                TestData.AssertClose(copy.AsSpan(), theirs.Value.AsSpan(), Atol, Rtol, $"{name} ({label})");
                CollectionAssert.AreEqual(mine.Replicas[0].ToArray(), copy.ToArray(), $"{name} copies are identical ({label})");
            }
        }
    }

    public sealed record StepResult(Tensor Y, Tensor Dx, Tensor DGamma, Tensor DBeta);

    internal static StepResult RunOne(BatchNormalization layer, Tensor x, Tensor dy)
    {
        using var tape = new GradientTape();
        tape.Watch(x);
        var y = layer.Call(x, training: true);
        var g = tape.Gradient(y, [x, layer.Gamma!, layer.Beta!], dy);
        return new StepResult(y, g[0]!, g[1]!, g[2]!);
    }

    [TestMethod]
    public void WithoutStrategy_SyncIsExactlyBatchNormalization()
    {
        var rng = new Random(7);
        var x = Tensor.FromArray(TestData.Normal(rng, 6 * 4 * 5, 2, 3), [6, 4, 5]);
        var dy = Tensor.FromArray(TestData.Normal(rng, 6 * 4 * 5), [6, 4, 5]);
        var a = RunOne(new BatchNormalization(axis: [1]), x, dy);
        var b = RunOne(new SyncBatchNormalization(axis: [1]), x, dy);
        CollectionAssert.AreEqual(a.Y.ToArray(), b.Y.ToArray());
        CollectionAssert.AreEqual(a.Dx.ToArray(), b.Dx.ToArray());
        CollectionAssert.AreEqual(a.DGamma.ToArray(), b.DGamma.ToArray());
    }

    [TestMethod]
    public void InCrossReplicaContext_SyncUsesLocalStatistics()
    {
        var rng = new Random(8);
        var x = Tensor.FromArray(TestData.Normal(rng, 8 * 3, 1, 2), [8, 3]);
        using var strategy = new MirroredStrategy(2);
        SyncBatchNormalization layer;
        Tensor y;
        using (strategy.Scope())
        {
            layer = new SyncBatchNormalization();
            Assert.IsNull(ReplicaContext.Current);
            y = layer.Call(x, training: true);
        }
        var expected = new BatchNormalization().Call(x, training: true);
        CollectionAssert.AreEqual(expected.ToArray(), y.ToArray());
    }
}
