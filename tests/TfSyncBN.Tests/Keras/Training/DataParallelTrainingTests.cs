using TfSyncBN.Distribute;
using TfSyncBN.Keras;
using TfSyncBN.Tensors;
using static TfSyncBN.Tests.Keras.Training.TrainingFixtures;

namespace TfSyncBN.Tests.Keras.Training;

/// <summary>
/// The central property: data-parallel training with SyncBatchNormalization on R replicas is single-device training on
/// the same global batches (weights, moving statistics, losses, metrics), uneven and empty per-replica batches included.
/// </summary>
[TestClass]
public sealed class DataParallelTrainingTests
{
    private const double Rtol = 1e-4;

    private static void AssertEquivalent(Func<bool, Sequential> build, int[] sampleShape, int replicas, string optimizer)
    {
        var (x, y) = Data(sampleShape, seed: 5);
        var single = build(true);
        Compile(single, optimizer);
        var expectedLogs = Train(single, x, y);

        using var strategy = new MirroredStrategy(replicas);
        Sequential model;
        using (strategy.Scope())
        {
            model = build(true);
            Compile(model, optimizer);
        }
        Assert.AreSame(strategy, model.Strategy);
        var logs = Train(model, x, y);

        for (int s = 0; s < logs.Count; s++)
        {
            Assert.AreEqual(expectedLogs[s]["loss"], logs[s]["loss"], Rtol * Math.Max(1, expectedLogs[s]["loss"]), $"loss of step {s}");
            Assert.AreEqual(expectedLogs[s]["accuracy"], logs[s]["accuracy"], 1e-12, $"accuracy of step {s}");
        }
        var expectedWeights = single.Weights;
        var weights = model.Weights;
        Assert.AreEqual(expectedWeights.Count, weights.Count);
        for (int i = 0; i < weights.Count; i++)
        {
            Assert.AreEqual(replicas, weights[i].Replicas.Count, weights[i].Name);
            for (int r = 0; r < replicas; r++) Close(expectedWeights[i].Value, weights[i].Replicas[r], Rtol, $"{weights[i].Name} on replica {r}");
        }
        AssertReplicasBitwiseIdentical(model);
        // Training moved the weights and the moving statistics away from their initial values.
        Assert.IsTrue(single.Weights.Any(w => w.Name.Contains("moving_mean") && w.Value.AsSpan().ToArray().Any(v => Math.Abs(v) > 1e-2)));
        Assert.IsTrue(expectedLogs[^2]["loss"] < expectedLogs[0]["loss"], "the loss went down");
    }

    internal static void AssertReplicasBitwiseIdentical(Model model)
    {
        foreach (var v in model.Weights.Concat(model.Optimizer!.Variables))
        {
            for (int r = 1; r < v.Replicas.Count; r++)
                CollectionAssert.AreEqual(v.Replicas[0].ToArray(), v.Replicas[r].ToArray(), $"{v.Name}: replica {r} differs from replica 0");
        }
    }

    [TestMethod]
    [Timeout(20000)]
    [DataRow(1)]
    [DataRow(2)]
    [DataRow(3)]
    [DataRow(4)]
    public void MlpWithSyncBN_OnRReplicas_EqualsSingleDevice(int replicas) =>
        AssertEquivalent(Mlp_(), [5], replicas, "sgd");

    private static Func<bool, Sequential> Mlp_() => sync => Mlp(sync);

    [TestMethod]
    [Timeout(20000)]
    [DataRow(1)]
    [DataRow(2)]
    [DataRow(3)]
    [DataRow(4)]
    public void CnnWithSyncBN_OnRReplicas_EqualsSingleDevice(int replicas) =>
        AssertEquivalent(Cnn, [6, 6, 2], replicas, "adam");

    [TestMethod]
    [Timeout(20000)]
    public void WithL2Regularization_TheSplitStillEqualsSingleDevice() =>
        AssertEquivalent(sync => Mlp(sync, Regularizers.L2(0.05f)), [5], 3, "sgd");

    /// <summary>With plain BatchNormalization each replica normalizes with its own part of the batch, so its moving
    /// averages follow a different path from single-device training: the control that shows the equivalence tests above
    /// can fail.</summary>
    private static void AssertPlainBatchNormDiffers(Func<bool, Sequential> build, int[] sampleShape, string optimizer, int replicas)
    {
        var (x, y) = Data(sampleShape, seed: 5);
        var single = build(false);
        Compile(single, optimizer);
        Train(single, x, y);
        using var strategy = new MirroredStrategy(replicas);
        Sequential model;
        using (strategy.Scope())
        {
            model = build(false);
            Compile(model, optimizer);
        }
        Train(model, x, y);
        var bn = (BatchNormalization)model.Layers[1];
        var reference = (BatchNormalization)single.Layers[1];
        Assert.IsFalse(bn.Synchronized);
        double meanGap = MaxRelative(reference.MovingMean!.Value, bn.MovingMean!.Replicas[0]);
        double varGap = MaxRelative(reference.MovingVariance!.Value, bn.MovingVariance!.Replicas[0]);
        Assert.IsTrue(Math.Max(meanGap, varGap) > 1e-2, $"local BN should differ from single-device BN, but the gaps are {meanGap} and {varGap}");
        Assert.IsTrue(MaxRelative(bn.MovingVariance.Replicas[0], bn.MovingVariance.Replicas[1]) > 1e-3, "the replicas' local statistics differ too");
    }

    [TestMethod]
    [Timeout(20000)]
    public void NegativeControl_PlainBatchNormOnTwoReplicas_MovingStatisticsDiffer() =>
        AssertPlainBatchNormDiffers(Mlp_(), [5], "sgd", replicas: 2);

    [TestMethod]
    [Timeout(20000)]
    [DataRow(2)]
    [DataRow(4)]
    public void NegativeControl_CnnWithPlainBatchNorm_MovingStatisticsDiffer(int replicas) =>
        AssertPlainBatchNormDiffers(Cnn, [6, 6, 2], "adam", replicas);

    [TestMethod]
    [Timeout(20000)]
    [DataRow(2)]
    [DataRow(3)]
    public void HandWrittenLoop_TapeInRun_AllReduceOfGradients_ApplyGradientsSkippingAggregation_EqualsSingleDevice(int replicas) =>
        // The custom training loop of the Keras distributed-training guide, written out: GradientTape inside
        // strategy.Run, per-example losses summed and divided by the GLOBAL batch size, one fused Sum all-reduce of the
        // gradients (and of the loss, to log it), then the optimizer's ApplyGradients on each replica's copy.
        AssertCustomLoopEqualsSingleDevice(replicas, summedLoss: false, (ctx, model, optimizer, batch) =>
        {
            var loss = new SparseCategoricalCrossentropy(fromLogits: true);
            var variables = model.TrainableWeights;
            Tensor scaled;
            IReadOnlyList<Tensor?> grads;
            using (var tape = new GradientTape())
            {
                var logits = model.Call(batch.X, training: true);
                scaled = loss.Unreduced(batch.Y, logits).Sum() / batch.Global;
                grads = tape.Gradient(scaled, variables);
            }
            // A replica with an empty slice may have no gradient: it contributes zeros to the same collective.
            Tensor[] parts = [.. grads.Select((g, i) => g ?? Tensor.Zeros(variables[i].Shape)), scaled];
            var reduced = ctx.AllReduce(ReduceOp.Sum, parts);
            // Already reduced by hand: the optimizer must not sum them again.
            optimizer.ApplyGradients(reduced.Take(variables.Count).ToArray(), variables, skipGradientsAggregation: true);
            return reduced[^1].ToScalar();
        });

    /// <summary>
    /// Trains the <see cref="TrainingFixtures.Cnn"/> with Adam(0.01) for the fixture's 20 global batches with a custom
    /// replica step, and asserts losses and weights equal single-device Fit steps (1e-4) with bitwise-identical replicas.
    /// </summary>
    /// <param name="replicas">The number of replicas.</param>
    /// <param name="summedLoss">Whether the step returns its replica's share of the loss (summed over replicas here)
    /// rather than the global loss.</param>
    /// <param name="step">One replica's step: context, model, optimizer, (its slice, its labels, the global batch size).</param>
    internal static void AssertCustomLoopEqualsSingleDevice(int replicas, bool summedLoss,
        Func<ReplicaContext, Sequential, Optimizer, (Tensor X, Tensor Y, int Global), double> step)
    {
        var (x, y) = Data([6, 6, 2], seed: 5);
        var single = Cnn(sync: true);
        Compile(single, "adam");
        var expectedLogs = Train(single, x, y);

        using var strategy = new MirroredStrategy(replicas);
        Sequential model;
        Optimizer optimizer;
        using (strategy.Scope())
        {
            model = Cnn(sync: true);
            model.Build([-1, 6, 6, 2]);
            optimizer = new Adam(learningRate: 0.01f);
            optimizer.Build(model.TrainableWeights);
        }
        int s = 0;
        foreach (var (xb, yb) in Batches(x, y))
        {
            var xs = Model.Split(xb, replicas);
            var ys = Model.Split(yb, replicas);
            var losses = strategy.Run(ctx => step(ctx, model, optimizer, (xs[ctx.ReplicaId], ys[ctx.ReplicaId], xb.Shape[0])));
            double want = expectedLogs[s]["loss"], tolerance = Rtol * Math.Max(1, want);
            if (summedLoss) Assert.AreEqual(want, losses.Sum(), tolerance, $"loss of step {s}");
            else foreach (var l in losses) Assert.AreEqual(want, l, tolerance, $"loss of step {s}");
            s++;
        }
        Assert.AreEqual(BatchSizes.Length, s);
        Assert.AreEqual(BatchSizes.Length, optimizer.Iterations);
        var expectedWeights = single.Weights;
        var weights = model.Weights;
        Assert.AreEqual(expectedWeights.Count, weights.Count);
        for (int i = 0; i < weights.Count; i++)
            for (int r = 0; r < replicas; r++) Close(expectedWeights[i].Value, weights[i].Replicas[r], Rtol, $"{weights[i].Name} on replica {r}");
        foreach (var v in weights.Concat(optimizer.Variables))
            for (int r = 1; r < replicas; r++)
                CollectionAssert.AreEqual(v.Replicas[0].ToArray(), v.Replicas[r].ToArray(), $"{v.Name}: replica {r} differs from replica 0");
        Assert.IsTrue(expectedLogs[^2]["loss"] < expectedLogs[0]["loss"], "the loss went down");
    }

    [TestMethod]
    [Timeout(20000)]
    public void OneStep_IsSumOfPerExampleLossesOverTheGlobalBatch_CheckedByHand()
    {
        // Linear model y = x·w + b, MSE, plain SGD: one step on 5 samples over 3 replicas (2-2-1) must give
        // w ← w − lr·(2/5)·Σ (x·w + b − y)·x, the single-device gradient, not a mean of per-replica means.
        float[] xs = [1f, 2f, -1f, 0.5f, 3f];
        float[] ys = [2f, 1f, 0f, -1f, 4f];
        const double w0 = 0.3, b0 = -0.2, lr = 0.05;
        double gw = 0, gb = 0;
        for (int i = 0; i < 5; i++)
        {
            double err = xs[i] * w0 + b0 - ys[i];
            gw += 2 * err * xs[i] / 5;
            gb += 2 * err / 5;
        }
        double loss = Enumerable.Range(0, 5).Average(i => Math.Pow(xs[i] * w0 + b0 - ys[i], 2));
        using var strategy = new MirroredStrategy(3);
        Sequential model;
        using (strategy.Scope())
        {
            model = new Sequential([new Dense(1, kernelInitializer: Initializers.Constant((float)w0), biasInitializer: Initializers.Constant((float)b0))]);
            model.Compile(new SGD(learningRate: (float)lr), "mse");
        }
        var logs = model.TrainStep(Tensor.FromArray(xs, [5, 1]), Tensor.FromArray(ys, [5, 1]));
        Assert.AreEqual(loss, logs["loss"], 1e-6);
        var w = model.Weights;
        Assert.AreEqual(w0 - lr * gw, w[0].Replicas[2].ToScalar(), 1e-6);
        Assert.AreEqual(b0 - lr * gb, w[1].Replicas[2].ToScalar(), 1e-6);
        AssertReplicasBitwiseIdentical(model);
    }

    [TestMethod]
    [Timeout(20000)]
    public void CustomLoop_TrainStepInsideRun_EqualsCrossReplicaTrainStep()
    {
        var (x, y) = Data([5], seed: 7);
        using var strategy = new MirroredStrategy(3);
        Sequential a, b;
        using (strategy.Scope())
        {
            a = Mlp(sync: true);
            b = Mlp(sync: true);
            Compile(a, "adam");
            Compile(b, "adam");
        }
        var expected = Train(a, x, y);
        int step = 0;
        foreach (var (xb, yb) in Batches(x, y))
        {
            var xs = Model.Split(xb, 3);
            var ys = Model.Split(yb, 3);
            b.ResetMetrics();
            var logs = strategy.Run(ctx => b.TrainStep(xs[ctx.ReplicaId], ys[ctx.ReplicaId]));
            foreach (var l in logs) Assert.AreEqual(expected[step]["loss"], l["loss"], 0, $"step {step}: every replica reports the same loss");
            step++;
        }
        for (int i = 0; i < a.Weights.Count; i++)
            for (int r = 0; r < 3; r++)
                CollectionAssert.AreEqual(a.Weights[i].Replicas[r].ToArray(), b.Weights[i].Replicas[r].ToArray(), a.Weights[i].Name);
    }

    [TestMethod]
    [Timeout(20000)]
    public void EachStepIssuesExactlyOneGradientCollective()
    {
        var (x, y) = Data([5], seed: 3);
        using var strategy = new MirroredStrategy(3);
        Sequential plain, sync;
        using (strategy.Scope())
        {
            plain = Mlp(sync: false);
            sync = Mlp(sync: true);
            Compile(plain, "sgd");
            Compile(sync, "sgd");
        }
        var xs = Model.Split(x.Slice(0, 0, 8), 3);
        var ys = Model.Split(y.Slice(0, 0, 8), 3);
        long[] Count(Model m) => strategy.Run(ctx =>
        {
            long before = ctx.Group!.CollectivesCompleted;
            m.TrainStep(xs[ctx.ReplicaId], ys[ctx.ReplicaId]);
            return ctx.Group!.CollectivesCompleted - before;
        }).ToArray();
        // 4 trainable variables, one fused all-reduce; SyncBN adds its own one forward and one backward collective.
        CollectionAssert.AreEqual(new long[] { 1, 1, 1 }, Count(plain));
        CollectionAssert.AreEqual(new long[] { 3, 3, 3 }, Count(sync));
    }

    [TestMethod]
    [Timeout(20000)]
    public void AReplicaWithoutGradients_StillContributesZeros()
    {
        // Global batch of 1 on 4 replicas: three replicas see an empty batch; the step still equals single device.
        var x = Tensor.FromArray([0.5f, -1f, 2f, 0.25f, 1f], [1, 5]);
        var yv = Tensor.FromArray([2f]);
        var single = new Sequential([new Dense(3, kernelInitializer: Initializers.GlorotUniform(seed: 4))]);
        Compile(single, "sgd");
        single.TrainStep(x, yv);
        using var strategy = new MirroredStrategy(4);
        Sequential model;
        using (strategy.Scope())
        {
            model = new Sequential([new Dense(3, kernelInitializer: Initializers.GlorotUniform(seed: 4))]);
            Compile(model, "sgd");
        }
        model.TrainStep(x, yv);
        for (int i = 0; i < 2; i++)
            for (int r = 0; r < 4; r++) Close(single.Weights[i].Value, model.Weights[i].Replicas[r], 1e-6, $"{model.Weights[i].Name} replica {r}");
    }
}

[TestClass]
public sealed class DataParallelFailureTests
{
    [TestMethod]
    [Timeout(10000)]
    public void ABadLabelOnOneReplica_FailsTheStepPromptly_WithoutAnOptimizerUpdate()
    {
        using var strategy = new MirroredStrategy(3);
        Sequential model;
        using (strategy.Scope())
        {
            model = TrainingFixtures.Mlp(sync: true);
            TrainingFixtures.Compile(model, "sgd");
        }
        var x = Tensor.Ones([6, 5]);
        model.Build([-1, 5]);
        var before = model.TrainableWeights.Select(w => w.Value).ToArray();
        // Only the last replica's slice (rows 4, 5) holds the invalid class 7: its error surfaces, the others do not hang.
        var e = Assert.ThrowsExactly<ArgumentException>(() => model.TrainStep(x, Tensor.FromArray([0f, 1f, 2f, 0f, 1f, 7f])));
        StringAssert.Contains(e.Message, "[0, 3)");
        // The failure comes before the gradient collective, so no replica updated its weights (the forward pass did
        // update the moving statistics, on every replica alike, as a Keras forward pass does).
        for (int i = 0; i < before.Length; i++)
            for (int r = 0; r < 3; r++) KerasAssert.Identical(before[i], model.TrainableWeights[i].Replicas[r], model.TrainableWeights[i].Name);
        Assert.AreEqual(0L, model.Optimizer!.Iterations);
        // The strategy and the model still work.
        model.TrainStep(x, Tensor.FromArray([0f, 1f, 2f, 0f, 1f, 2f]));
        DataParallelTrainingTests.AssertReplicasBitwiseIdentical(model);
    }
}
