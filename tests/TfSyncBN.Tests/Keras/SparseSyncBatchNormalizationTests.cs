using TfSyncBN.Distribute;
using TfSyncBN.Keras;
using TfSyncBN.Tensors;
using TfSyncBN.Tests.Compat;
using TfSyncBN.Tests.TestUtil;

namespace TfSyncBN.Tests.Keras;

/// <summary>Sparse COO inputs: normalized over the stored values per channel, synchronized, with the sparsity pattern kept.</summary>
[TestClass]
public sealed class SparseSyncBatchNormalizationTests
{
    private const int C = 4;
    private static readonly int[] Dense = [2, 3, 3, C];

    /// <summary>A sparse tensor with <paramref name="nnz"/> distinct random positions of <see cref="Dense"/>.</summary>
    private static SparseCooTensor RandomSparse(Random rng, int nnz)
    {
        var positions = Enumerable.Range(0, 18).OrderBy(_ => rng.Next()).Take(nnz).Order().ToArray();
        var indices = positions.SelectMany(p => new[] { p / 9, p / 3 % 3, p % 3 }).ToArray();
        return new SparseCooTensor(indices, Tensor.FromArray(TestData.Normal(rng, nnz * C, 2, 3), [nnz, C]), Dense);
    }

    private static SyncBatchNormalization NewLayer() => new(momentum: 0.5f,
        gammaInitializer: new FixedInitializer(1.5f, -0.5f, 2f, 1f), betaInitializer: new FixedInitializer(0f, 1f, -1f, 0.5f));

    [TestMethod]
    [DataRow(5, 3)]
    [DataRow(6, 0)]
    public void TwoReplicas_EqualTheDenseLayerOnTheConcatenatedValues(int nnz0, int nnz1)
    {
        var rng = new Random(nnz0 * 10 + nnz1);
        var inputs = new[] { RandomSparse(rng, nnz0), RandomSparse(rng, nnz1) };
        var dys = inputs.Select(s => Tensor.FromArray(TestData.Normal(rng, s.Nnz * C), [s.Nnz, C])).ToArray();
        using var strategy = new MirroredStrategy(2);
        var layer = ParityHarness.InScope(strategy, NewLayer);
        var task = Task.Run(() => strategy.Run(ctx =>
        {
            var input = inputs[ctx.ReplicaId];
            using var tape = new GradientTape();
            tape.Watch(input.Values);
            var y = layer.CallSparse(input, training: true);
            var g = tape.Gradient(y.Values, [input.Values, layer.Gamma!, layer.Beta!], dys[ctx.ReplicaId]);
            return (Y: y, Dx: g[0]!, DGamma: g[1]!, DBeta: g[2]!);
        }));
        Assert.IsTrue(task.Wait(TimeSpan.FromSeconds(30)), "must not hang");
        var outs = task.Result;

        // The reference: the dense layer, on one device, applied to the [nnz0 + nnz1, C] values matrix.
        var values = Tensor.FromArray(ParityHarness.Concat(inputs.Select(s => s.Values)), [nnz0 + nnz1, C]);
        var reference = NewLayer();
        using var refTape = new GradientTape();
        refTape.Watch(values);
        var yRef = reference.Call(values, training: true);
        var gRef = refTape.Gradient(yRef, [values, reference.Gamma!, reference.Beta!], Tensor.FromArray(ParityHarness.Concat(dys), [nnz0 + nnz1, C]));

        TestData.AssertClose(ParityHarness.Concat([outs[0].Y.Values, outs[1].Y.Values]), yRef.AsSpan(), 2e-5, 2e-5, "values");
        TestData.AssertClose(ParityHarness.Concat([outs[0].Dx, outs[1].Dx]), gRef[0]!.AsSpan(), 2e-5, 2e-5, "d values");
        var dGamma = outs[0].DGamma.ToArray().Zip(outs[1].DGamma.ToArray(), (a, b) => a + b).ToArray();
        TestData.AssertClose(dGamma, gRef[1]!.AsSpan(), 1e-4, 1e-5, "summed dγ");
        foreach (var copy in layer.MovingMean!.Replicas) TestData.AssertClose(copy.AsSpan(), reference.MovingMean!.Value.AsSpan(), 1e-6, 1e-6, "moving mean");
        foreach (var copy in layer.MovingVariance!.Replicas) TestData.AssertClose(copy.AsSpan(), reference.MovingVariance!.Value.AsSpan(), 1e-6, 1e-6, "moving variance");

        // Independent check of the statistics: float64 per-channel moments of the stored values only.
        var (mean, _, _) = ParityHarness.ChannelMoments(values.ToArray(), C, 1);
        TestData.AssertClose(layer.MovingMean.Replicas[0].AsSpan(), mean.Select(m => 0.5 * m).ToArray(), 1e-5, 1e-5, "0.5 · mean of stored values");

        for (int r = 0; r < 2; r++)
        {
            CollectionAssert.AreEqual(inputs[r].Indices.ToArray(), outs[r].Y.Indices.ToArray(), "the sparsity pattern is kept");
            CollectionAssert.AreEqual(Dense, outs[r].Y.DenseShape.ToArray());
        }
    }

    [TestMethod]
    public void DenseForm_IsZeroOutsideTheStoredPositions()
    {
        var sparse = new SparseCooTensor([0, 1, 2, 1, 0, 0], Tensor.FromArray([1, 2, 3, 4, 5, 6, 7, 8], [2, C]), Dense);
        var y = NewLayer().CallSparse(sparse, training: true).ToDense();
        var d = y.ToArray();
        int a = ((0 * 3 + 1) * 3 + 2) * C, b = ((1 * 3 + 0) * 3 + 0) * C;
        for (int i = 0; i < d.Length; i++)
        {
            if (i >= a && i < a + C || i >= b && i < b + C) continue;
            Assert.AreEqual(0f, d[i], $"element {i}");
        }
        // Two stored values per channel normalize to −1 and +1 (ε aside), then γ and β apply: channel 0 is γ = 1.5, β = 0.
        Assert.AreEqual(-1.5, d[a], 1e-3);
        Assert.AreEqual(1.5, d[b], 1e-3);
    }

    [TestMethod]
    public void ChannelsFirstLayer_RejectsSparseInput()
    {
        var sparse = new SparseCooTensor([0, 0, 0], Tensor.Ones([1, C]), Dense);
        var e = Assert.ThrowsExactly<ArgumentException>(() => new SyncBatchNormalization(axis: [1]).CallSparse(sparse, training: true));
        StringAssert.Contains(e.Message, "last axis");
    }

    [TestMethod]
    public void SparseTensor_ValidatesIndicesAndValues()
    {
        Assert.ThrowsExactly<ArgumentException>(() => new SparseCooTensor([0, 3, 0], Tensor.Ones([1, C]), Dense));
        Assert.ThrowsExactly<ArgumentException>(() => new SparseCooTensor([0, 0, 0], Tensor.Ones([1, C + 1]), Dense));
        Assert.ThrowsExactly<ArgumentException>(() => new SparseCooTensor([0, 0], Tensor.Ones([1, C]), Dense));
        Assert.ThrowsExactly<ArgumentException>(() => new SparseCooTensor([], Tensor.Ones([0, C]), [C]));
        var ok = new SparseCooTensor([1, 2, 0], Tensor.Ones([1, C]), Dense);
        Assert.AreEqual(3, ok.SparseRank);
        Assert.AreEqual(1, ok.Nnz);
        Assert.ThrowsExactly<ArgumentException>(() => ok.WithValues(Tensor.Ones([2, C])));
    }
}
