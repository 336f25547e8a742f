using TfSyncBN.Distribute;
using TfSyncBN.Keras;
using TfSyncBN.Tensors;
using static TfSyncBN.Tests.Keras.Training.TrainingFixtures;

namespace TfSyncBN.Tests.Keras.Training;

/// <summary>
/// tf.keras' replica-context gradient semantics: <c>optimizer.ApplyGradients</c> inside <c>strategy.Run</c> sums the
/// gradients over the replicas before applying them (<c>skip_gradients_aggregation=False</c>), unless told to skip it.
/// </summary>
[TestClass]
public sealed class ReplicaGradientAggregationTests
{
    [TestMethod]
    [Timeout(30000)]
    [DataRow(2)]
    [DataRow(3)]
    public void CustomTapeLoop_InRun_EqualsSingleDeviceOnTheWholeBatch_ReplicasBitwiseIdentical(int replicas) =>
        // The custom loop of the Keras distributed-training guide: each replica's loss is its Σ per-example losses over
        // the GLOBAL batch size, and apply_gradients does the cross-replica sum. No collective is written by hand.
        DataParallelTrainingTests.AssertCustomLoopEqualsSingleDevice(replicas, summedLoss: true, (ctx, model, optimizer, batch) =>
        {
            var loss = new SparseCategoricalCrossentropy(fromLogits: true);
            using var tape = new GradientTape();
            var logits = model.Call(batch.X, training: true);
            var scaled = loss.Unreduced(batch.Y, logits).Sum() / batch.Global;
            optimizer.ApplyGradients(tape.Gradient(scaled, model.TrainableWeights), model.TrainableWeights);
            return scaled.ToScalar();
        });

    [TestMethod]
    [Timeout(30000)]
    public void NegativeControl_SkipGradientsAggregation_WithLocalGradients_ReplicasDriftApart()
    {
        // The same loop with the sum skipped applies each replica's local gradient: the copies are no longer identical.
        var (x, y) = Data([6, 6, 2], seed: 5);
        using var strategy = new MirroredStrategy(2);
        var loss = new SparseCategoricalCrossentropy(fromLogits: true);
        Sequential model;
        Optimizer optimizer;
        using (strategy.Scope())
        {
            model = Cnn(sync: true);
            model.Build([-1, 6, 6, 2]);
            optimizer = new SGD(learningRate: 0.1f);
        }
        foreach (var (xb, yb) in Batches(x, y).Take(3))
        {
            var xs = Model.Split(xb, 2);
            var ys = Model.Split(yb, 2);
            strategy.Run(ctx =>
            {
                using var tape = new GradientTape();
                var scaled = loss.Unreduced(ys[ctx.ReplicaId], model.Call(xs[ctx.ReplicaId], training: true)).Sum() / xb.Shape[0];
                optimizer.ApplyGradients(tape.Gradient(scaled, model.TrainableWeights), model.TrainableWeights, skipGradientsAggregation: true);
                return 0;
            });
        }
        var kernel = model.Layers[^1].Weights[0];
        double diff = MaxRelative(kernel.Replicas[0], kernel.Replicas[1]);
        Assert.IsTrue(diff > 1e-3, $"local gradients should make the copies differ, max difference {diff}");
    }

    [TestMethod]
    [Timeout(10000)]
    public void ApplyGradients_InRun_SumsOverReplicas_NullCountsAsZero_AllNullLeavesVariableAlone()
    {
        // Plain SGD (Keras: w ← w − lr·g) on 3 replicas: replica r passes g·(r+1) for w, null for w on replica 1, and
        // null everywhere for u. Expected, in float64 by hand: w ← w − lr·(1 + 3)·g, u unchanged.
        double[] w0 = [0.5, -1.25, 2.0], g = [0.1, -0.3, 0.7];
        const double lr = 0.05;
        using var strategy = new MirroredStrategy(3);
        Variable w, u;
        using (strategy.Scope())
        {
            w = new Variable(Tensor.FromArray(w0.Select(d => (float)d).ToArray()), "w");
            u = new Variable(Tensor.FromArray([1f, 2f]), "u");
        }
        var sgd = new SGD(learningRate: (float)lr);
        strategy.Run(ctx =>
        {
            var gw = ctx.ReplicaId == 1 ? null : Tensor.FromArray(g.Select(d => (float)(d * (ctx.ReplicaId + 1))).ToArray());
            sgd.ApplyGradients([gw, null], [w, u]);
            return 0;
        });
        for (int r = 0; r < 3; r++)
        {
            var got = w.Replicas[r].ToArray();
            for (int i = 0; i < 3; i++) Assert.AreEqual(w0[i] - lr * 4 * g[i], got[i], 1e-6, $"w[{i}] on replica {r}");
            CollectionAssert.AreEqual(new[] { 1f, 2f }, u.Replicas[r].ToArray(), $"u on replica {r}");
        }
        Assert.AreEqual(1L, sgd.Iterations);

        // skipGradientsAggregation: each replica applies what it is given (here the same gradient), no sum.
        strategy.Run(ctx =>
        {
            sgd.ApplyGradients([Tensor.FromArray(g.Select(d => (float)d).ToArray()), null], [w, u], skipGradientsAggregation: true);
            return 0;
        });
        for (int r = 0; r < 3; r++)
        {
            var got = w.Replicas[r].ToArray();
            for (int i = 0; i < 3; i++) Assert.AreEqual(w0[i] - lr * 5 * g[i], got[i], 1e-6, $"w[{i}] on replica {r} after the unaggregated step");
        }
    }

    [TestMethod]
    [Timeout(10000)]
    public void ApplyGradients_OutsideRun_DoesNotReduce()
    {
        using var strategy = new MirroredStrategy(2);
        Variable w;
        using (strategy.Scope()) w = new Variable(Tensor.FromArray([1f, -1f]), "w");
        new SGD(learningRate: 0.5f).ApplyGradients([Tensor.FromArray([0.2f, 0.4f])], [w]);
        // Keras SGD: w ← w − lr·g with the gradient as given (not doubled by a sum over the 2 copies).
        foreach (var copy in w.Replicas)
        {
            Assert.AreEqual(0.9, copy.ToArray()[0], 1e-6);
            Assert.AreEqual(-1.2, copy.ToArray()[1], 1e-6);
        }
    }
}
