using TfSyncBN.Distribute;
using TfSyncBN.Keras;
using TfSyncBN.Reliability.Tests.Util;
using TfSyncBN.Tensors;

namespace TfSyncBN.Reliability.Tests.Numerics;

/// <summary>
/// Non-finite values: how NaN and infinities propagate without the check (the documented behaviour), and that the
/// opt-in check (<see cref="Debugging.EnableCheckNumerics"/>) raises <see cref="CheckNumericsException"/> naming the
/// layer, the replica and the tensor, before any weight changes, leaving the strategy usable.
/// </summary>
/// <remarks>The check is process-wide, so this class runs alone.</remarks>
[TestClass]
[DoNotParallelize]
public sealed class NonFiniteValuesTests
{
    [TestCleanup]
    public void Off() => Debugging.DisableCheckNumerics();

    private static Tensor Data(int seed, params int[] shape) =>
        Tensor.FromArray(Close.Normal(new System.Random(seed), shape.Aggregate(1, (p, d) => p * d), 1, 2), shape);

    private static Tensor With(Tensor t, int index, float value)
    {
        var a = t.ToArray();
        a[index] = value;
        return Tensor.FromArray(a, t.Shape);
    }

    /// <summary>Without the check: a NaN or infinity in one replica's input of synchronized BN poisons that channel on
    /// every replica (through the shared statistics) and in the moving statistics; the other channels stay finite.
    /// Plain BN keeps it on its replica.</summary>
    [TestMethod]
    [DataRow(float.NaN)]
    [DataRow(float.PositiveInfinity)]
    [DataRow(float.NegativeInfinity)]
    [Timeout(20_000, CooperativeCancellation = true)]
    public void WithoutCheck_NonFiniteInput_PoisonsItsChannelOnEveryReplicaOfSyncBN(float bad)
    {
        const int C = 3, Rows = 4, R = 2, BadChannel = 1;
        using var strategy = new MirroredStrategy(R, TimeSpan.FromSeconds(10));
        BatchNormalization sync, local;
        using (strategy.Scope())
        {
            sync = new BatchNormalization(synchronized: true);
            local = new BatchNormalization();
        }
        var x = Data(1, R * Rows, C);
        x = With(x, (Rows + 2) * C + BadChannel, bad); // replica 1, row 2, channel 1
        foreach (var (layer, poisonsAll) in new[] { (sync, true), (local, false) })
        {
            var y = strategy.Run(ctx => layer.Call(x.Slice(0, ctx.ReplicaId * Rows, Rows), training: true));
            for (int r = 0; r < R; r++)
            {
                var v = y[r].AsSpan();
                for (int i = 0; i < v.Length; i++)
                {
                    bool channelPoisoned = i % C == BadChannel && (poisonsAll || r == 1);
                    if (channelPoisoned) Assert.IsFalse(float.IsFinite(v[i]), $"{layer.Name}: replica {r} element {i} should be non-finite");
                    else Assert.IsTrue(float.IsFinite(v[i]), $"{layer.Name}: replica {r} element {i} should stay finite, is {v[i]}");
                }
            }
        }
        foreach (var copy in sync.MovingMean!.Replicas)
        {
            Assert.IsTrue(float.IsNaN(copy.AsSpan()[BadChannel]) || float.IsInfinity(copy.AsSpan()[BadChannel]));
            Assert.IsTrue(float.IsFinite(copy.AsSpan()[0]) && float.IsFinite(copy.AsSpan()[2]));
        }
    }

    /// <summary>Without the check: a NaN in one replica's upstream gradient reaches every replica's input gradient
    /// (synchronized backward all-reduces Σdy and Σdy·x̂) in that channel, and the γ/β gradients of that channel.</summary>
    [TestMethod]
    [Timeout(20_000, CooperativeCancellation = true)]
    public void WithoutCheck_NaNGradient_ReachesEveryReplicaThroughSyncBNBackward()
    {
        const int C = 2, Rows = 3, R = 3;
        using var strategy = new MirroredStrategy(R, TimeSpan.FromSeconds(10));
        BatchNormalization layer;
        using (strategy.Scope()) layer = new BatchNormalization(synchronized: true);
        var x = Data(2, R * Rows, C);
        var dy = With(Data(3, R * Rows, C), 2 * Rows * C, float.NaN); // replica 2, row 0, channel 0
        var grads = strategy.Run(ctx =>
        {
            using var tape = new GradientTape();
            var xs = x.Slice(0, ctx.ReplicaId * Rows, Rows);
            tape.Watch(xs);
            var y = layer.Call(xs, training: true);
            return tape.Gradient(y, [xs, layer.Gamma!], dy.Slice(0, ctx.ReplicaId * Rows, Rows));
        });
        for (int r = 0; r < R; r++)
        {
            var dx = grads[r][0]!.AsSpan();
            for (int i = 0; i < dx.Length; i++)
                Assert.AreEqual(i % C == 0, float.IsNaN(dx[i]), $"replica {r} dx[{i}] = {dx[i]}");
        }
        Assert.IsTrue(float.IsNaN(grads[2][1]!.AsSpan()[0]) && float.IsFinite(grads[2][1]!.AsSpan()[1]), "replica 2's dgamma");
    }

    private static (MirroredStrategy Strategy, Sequential Model) Model(int replicas, float kernel = 0.1f)
    {
        var strategy = new MirroredStrategy(replicas, TimeSpan.FromSeconds(10));
        Sequential model;
        using (strategy.Scope())
        {
            model = new Sequential([new Dense(3, kernelInitializer: Initializers.Constant(kernel), name: "dense_in"),
                new SyncBatchNormalization(name: "sync_bn"), new Dense(1, kernelInitializer: Initializers.Constant(kernel), name: "dense_out")], [2]);
            model.Compile(new SGD(0.1f), new MeanSquaredError());
        }
        return (strategy, model);
    }

    private static float[][] Snapshot(Model m) => m.SavedWeights.SelectMany(v => v.Replicas).Select(t => t.ToArray()).ToArray();

    /// <summary>Without the check: a NaN sample in one replica's batch makes every replica's weights NaN, identically
    /// (the all-reduced gradient is the same everywhere); training does not skip the step.</summary>
    [TestMethod]
    [Timeout(20_000, CooperativeCancellation = true)]
    public void WithoutCheck_NaNSample_MakesEveryReplicaWeightsNaN_Identically()
    {
        var (strategy, model) = Model(4);
        using (strategy)
        {
            var x = With(Data(4, 8, 2), 13, float.NaN); // row 6: replica 3
            model.TrainStep(x, Data(5, 8, 1));
            var kernel = model.Layers[0].Weights[0];
            foreach (var copy in kernel.Replicas)
            {
                Assert.IsTrue(copy.AsSpan().ToArray().Any(float.IsNaN), "the update is NaN");
                Close.Bitwise(copy.AsSpan(), kernel.Replicas[0].AsSpan(), "every replica holds the same (NaN) weights");
            }
        }
    }

    [TestMethod]
    [Timeout(20_000, CooperativeCancellation = true)]
    public void CheckNumerics_NaNInput_NamesLayerReplicaAndTensor_NoWeightChanges_StrategyStaysUsable()
    {
        var (strategy, model) = Model(4);
        using (strategy)
        {
            model.TrainStep(Data(6, 8, 2), Data(7, 8, 1)); // builds everything
            var before = Snapshot(model);
            Debugging.EnableCheckNumerics();
            var x = With(Data(8, 8, 2), 2 * 5 + 1, float.NaN); // row 5: rows 4-5 are replica 2's
            var e = Assert.ThrowsExactly<CheckNumericsException>(() => model.TrainStep(x, Data(9, 8, 1)));
            Assert.AreEqual("dense_in", e.LayerName);
            Assert.AreEqual(2, e.ReplicaId);
            Assert.AreEqual("input", e.TensorName);
            Assert.AreEqual(3, e.Index, "row 1 of replica 2's slice, column 1");
            Assert.IsTrue(float.IsNaN(e.Value));
            StringAssert.Contains(e.Message, "layer 'dense_in', replica 2: its input (shape [2, 2]) holds NaN at flat index 3");
            var after = Snapshot(model);
            for (int i = 0; i < before.Length; i++) Close.Bitwise(after[i], before[i], $"weight copy {i} unchanged");

            // The strategy and the model still work, and the same step without the NaN trains.
            model.TrainStep(Data(8, 8, 2), Data(9, 8, 1));
            Assert.IsTrue(Snapshot(model).SelectMany(w => w).All(float.IsFinite));
        }
    }

    [TestMethod]
    [Timeout(20_000, CooperativeCancellation = true)]
    public void CheckNumerics_OverflowingOutput_NamesTheLayerThatProducedIt()
    {
        Debugging.EnableCheckNumerics();
        using var strategy = new MirroredStrategy(2, TimeSpan.FromSeconds(10));
        var scale = new Rescaling(1e30f, name: "too_big");
        var x = Tensor.Fill([4, 2], 1f);
        x = With(x, 7, 1e20f); // replica 1's last element
        var e = Assert.ThrowsExactly<CheckNumericsException>(() => strategy.Run(ctx => scale.Call(x.Slice(0, 2 * ctx.ReplicaId, 2))));
        Assert.AreEqual(("too_big", 1, "output", 3), (e.LayerName, e.ReplicaId, e.TensorName, e.Index));
        Assert.AreEqual(float.PositiveInfinity, e.Value);
        StringAssert.Contains(e.Message, "+Infinity");
    }

    [TestMethod]
    [Timeout(20_000, CooperativeCancellation = true)]
    public void CheckNumerics_NaNUpstreamGradient_NamesTheLayerWhoseBackwardItEnters()
    {
        Debugging.EnableCheckNumerics();
        using var strategy = new MirroredStrategy(3, TimeSpan.FromSeconds(10));
        BatchNormalization bn;
        using (strategy.Scope()) bn = new SyncBatchNormalization(name: "bn_grad");
        var x = Data(10, 6, 2);
        var e = Assert.ThrowsExactly<CheckNumericsException>(() => strategy.Run(ctx =>
        {
            using var tape = new GradientTape();
            var y = bn.Call(x.Slice(0, 2 * ctx.ReplicaId, 2), training: true);
            var dy = ctx.ReplicaId == 1 ? With(Tensor.Fill([2, 2], 1f), 2, float.NegativeInfinity) : Tensor.Fill([2, 2], 1f);
            return tape.Gradient(y, [bn.Gamma!], dy);
        }));
        Assert.AreEqual(("bn_grad", 1, "gradient of output", 2), (e.LayerName, e.ReplicaId, e.TensorName, e.Index));
        Assert.AreEqual(float.NegativeInfinity, e.Value);
    }

    [TestMethod]
    [Timeout(20_000, CooperativeCancellation = true)]
    public void CheckNumerics_OverflowingWeightGradient_NamesTheWeight_BeforeTheUpdate()
    {
        // Finite inputs, outputs and output gradients, but x·dy overflows: only the weight-gradient check sees it.
        using var strategy = new MirroredStrategy(2, TimeSpan.FromSeconds(10));
        Sequential model;
        using (strategy.Scope())
        {
            model = new Sequential([new Dense(1, useBias: false, kernelInitializer: Initializers.Constant(1e-10f), name: "huge_in")], [1]);
            model.Compile(new SGD(0.1f), new MeanSquaredError());
        }
        model.Build([-1, 1]);
        var before = Snapshot(model);
        Debugging.EnableCheckNumerics();
        var x = Tensor.FromArray([1f, 1f, 1f, 3e37f], [4, 1]);
        var e = Assert.ThrowsExactly<CheckNumericsException>(() => model.TrainStep(x, Tensor.FromArray([0f, 0f, 0f, 0f], [4, 1])));
        Assert.AreEqual(("huge_in", 1, "gradient of weight 'huge_in/kernel'"), (e.LayerName, e.ReplicaId, e.TensorName));
        var after = Snapshot(model);
        for (int i = 0; i < before.Length; i++) Close.Bitwise(after[i], before[i], "no update");
    }

    [TestMethod]
    [Timeout(20_000, CooperativeCancellation = true)]
    public void CheckNumerics_Disabled_RaisesNothing()
    {
        Assert.IsFalse(Debugging.CheckNumericsEnabled, "off by default");
        var y = new Rescaling(1e30f).Call(Tensor.Fill([1, 2], 1e20f));
        Assert.IsTrue(float.IsPositiveInfinity(y.AsSpan()[0]));
    }
}
