using TfSyncBN.Distribute;
using TfSyncBN.Keras;
using TfSyncBN.Tensors;

namespace TfSyncBN.Tests.Tensors;

[TestClass]
public sealed class TensorScopeTests
{
    private const int Big = 2 * TensorScope.MinPooledElements;

    /// <summary>Runs <paramref name="run"/> with pooling off: the reference that pooled runs must equal bit for bit.</summary>
    private static T Unpooled<T>(Func<T> run)
    {
        TensorScope.PoolingDisabled = true;
        try { return run(); }
        finally { TensorScope.PoolingDisabled = false; }
    }

    private static Tensor Ramp(int n) => Tensor.FromArray(Enumerable.Range(0, n).Select(i => i * 0.5f).ToArray());

    [TestMethod]
    public void StorageOfADisposedScope_IsReusedByTheNextOne()
    {
        var x = Ramp(Big);
        float[] first;
        using (TensorScope.Begin()) first = (x * 2f).Data;
        using (TensorScope.Begin())
        {
            var y = x + 1f;
            Assert.AreSame(first, y.Data, "the second scope's tensor of the same size takes the first one's storage");
            for (int i = 0; i < Big; i++) Assert.AreEqual(i * 0.5f + 1f, y.AsSpan()[i]);
        }
    }

    [TestMethod]
    public void OutsideAScope_AndForSmallTensors_StorageIsNeverShared()
    {
        var x = Ramp(Big);
        var a = x * 2f;
        var b = x * 2f;
        Assert.AreNotSame(a.Data, b.Data);
        var small = Ramp(TensorScope.MinPooledElements - 1);
        float[] s1;
        using (TensorScope.Begin()) s1 = (small * 2f).Data;
        using (TensorScope.Begin()) Assert.AreNotSame(s1, (small * 2f).Data, "storage below MinPooledElements is not pooled");
        Assert.IsFalse(TensorScope.IsActive);
    }

    [TestMethod]
    public void KeptTensors_AndVariables_OutliveTheScope()
    {
        var x = Ramp(Big);
        Tensor kept;
        var variable = new Variable(Tensor.Zeros([Big]), "v");
        using (var scope = TensorScope.Begin())
        {
            kept = scope.Keep(x * 3f);
            variable.Assign((x * 4f).Reshape([Big]));     // a view: the storage is what the variable owns
        }
        using (TensorScope.Begin())
        {
            // Reuse whatever the pool holds, and overwrite it.
            for (int k = 0; k < 4; k++) GC.KeepAlive(x * -1f);
        }
        for (int i = 0; i < Big; i++)
        {
            Assert.AreEqual(i * 1.5f, kept.AsSpan()[i], "kept tensor");
            Assert.AreEqual(i * 2f, variable.Value.AsSpan()[i], "variable");
        }
    }

    [TestMethod]
    public void AVariableAssignedOnAnotherThread_TakesTheStorageOutOfTheAllocatingScope()
    {
        var x = Ramp(Big);
        var variable = new Variable(Tensor.Zeros([Big]), "v");
        using (var scope = TensorScope.Begin())
        {
            var value = x * 4f;
            var t = new Thread(() => variable.Assign(value)); // e.g. a replica thread writing a tensor made by the caller
            t.Start();
            t.Join();
            Exception? keepError = null;
            var k = new Thread(() => { try { scope.Keep(value); } catch (Exception e) { keepError = e; } });
            k.Start();
            k.Join();
            Assert.IsInstanceOfType<InvalidOperationException>(keepError, "Keep belongs to the scope's thread");
        }
        using (TensorScope.Begin())
        {
            for (int k = 0; k < 4; k++) GC.KeepAlive(x * -1f);
        }
        for (int i = 0; i < Big; i++) Assert.AreEqual(i * 2f, variable.Value.AsSpan()[i]);
    }

    [TestMethod]
    public void KeepInANestedScope_MovesTheStorageToTheOuterScope()
    {
        var x = Ramp(Big);
        float[] moved;
        using (TensorScope.Begin())
        {
            using (var inner = TensorScope.Begin()) moved = inner.Keep(x * 2f).Data;
            using (TensorScope.Begin()) Assert.AreNotSame(moved, (x * 5f).Data, "the outer scope still owns it");
        }
        using (TensorScope.Begin())
        {
            var reused = new[] { (x * 6f).Data, (x * 7f).Data };
            CollectionAssert.Contains(reused, moved, "returned when the outer scope ended");
        }
    }

    /// <summary>The storage a variable holds now, read without marking it as referenced beyond a scope (as <c>Value</c> does outside one).</summary>
    private static float[] StorageOf(Variable v) => v.Capture()[0].Data;

    /// <summary>The gradient of step <paramref name="k"/> for a variable of <see cref="Big"/> elements.</summary>
    private static readonly Tensor[] Gradients = [.. Enumerable.Range(0, 10).Select(k => Tensor.FromFunction([Big], i => MathF.Sin(0.01f * i + k)))];

    /// <summary>
    /// Optimizer steps with each update in a scope of its own (as a training step runs), then other work in a scope that
    /// reuses and overwrites what the pool holds: the weights after each step, and the bytes each step asked the GC for.
    /// </summary>
    private static (float[][] Values, long[] Allocated) ScopedSteps(Variable v, Optimizer optimizer, int steps, Action<int>? between = null)
    {
        var values = new float[steps][];
        var allocated = new long[steps];
        for (int k = 0; k < steps; k++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            using (TensorScope.Begin()) optimizer.ApplyGradients([Gradients[k]], [v]);
            using (TensorScope.Begin())
            {
                for (int j = 0; j < 4; j++) GC.KeepAlive(Gradients[j] * -1f);
            }
            allocated[k] = GC.GetAllocatedBytesForCurrentThread() - before;
            values[k] = StorageOf(v).ToArray();
            between?.Invoke(k);
        }
        return (values, allocated);
    }

    [TestMethod]
    public void OptimizerUpdatesInAScope_ReuseTheStorageOfTheValuesTheyReplaced()
    {
        foreach (var make in new Func<Optimizer>[] { () => new Adam(0.01f), () => new SGD(0.1f, momentum: 0.9f), () => new RMSprop(0.01f) })
        {
            string name = make().Name;
            var reference = Unpooled(() => ScopedSteps(new Variable(Ramp(Big), "w"), make(), 6)).Values;
            var (values, allocated) = ScopedSteps(new Variable(Ramp(Big), "w"), make(), 6);
            for (int k = 0; k < 6; k++) CollectionAssert.AreEqual(reference[k], values[k], $"{name}: the weights after step {k} equal the unpooled run's");
            // Each update's new weights and slots come from the pool, and the values they replace go back to it: in
            // steady state a step asks the GC for no weight-sized storage (one weight is Big * 4 bytes).
            for (int k = 3; k < 6; k++)
                Assert.IsTrue(allocated[k] < Big * 4, $"{name}: step {k} allocated {allocated[k]} bytes (one weight is {Big * 4})");
        }
    }

    [TestMethod]
    public void AVariableValueReadOutsideAScope_OrKept_IsNeverRecycled()
    {
        var v = new Variable(Ramp(Big), "w");
        var optimizer = new Adam(0.01f);
        var seen = new List<(Tensor Value, float[] Copy, string How)>();
        ScopedSteps(v, optimizer, 8, between: k =>
        {
            if (k == 1)
            {
                var outside = v.Value; // no scope: valid for good
                seen.Add((outside, outside.ToArray(), "read outside a scope"));
            }
            if (k == 3)
            {
                using var scope = TensorScope.Begin();
                var kept = scope.Keep(v.Value);
                seen.Add((kept, kept.ToArray(), "read in a scope and kept"));
            }
            if (k == 5)
            {
                var replica = v.Replicas[0];
                seen.Add((replica, replica.ToArray(), "Replicas"));
            }
        });
        foreach (var (value, copy, how) in seen) CollectionAssert.AreEqual(copy, value.ToArray(), $"a value {how} keeps its elements after later steps");
    }

    [TestMethod]
    public void GetWeights_AndAnotherVariablesCopy_MadeInsideAScope_AreNeverRecycled()
    {
        // EarlyStopping keeps GetWeights' tensors across epochs, and SyncBatchNormalization copies one variable into
        // another: inside a user's scope (a Fit inside TensorScope.Begin()) neither may be recycled by later updates.
        var x = Tensor.FromFunction([4, 8], i => MathF.Cos(i));
        var y = Tensor.FromFunction([4, Big / 8], i => MathF.Sin(i));
        foreach (var how in new[] { "GetWeights", "another variable" })
        {
            var model = new Sequential([new Dense(Big / 8, useBias: false, kernelInitializer: Initializers.GlorotUniform(seed: 1))], inputShape: [8]);
            model.Compile(new Adam(0.01f), new MeanSquaredError());
            var other = new Variable(Tensor.Zeros([8, Big / 8]), "copy");
            using (TensorScope.Begin())
            {
                for (int k = 0; k < 3; k++) model.TrainStep(x, y);
                Tensor held;
                if (how == "GetWeights") held = model.GetWeights()[0];
                else
                {
                    other.Assign(model.Weights[0].Value);
                    held = other.Value;
                }
                var copy = held.ToArray();
                for (int k = 0; k < 6; k++) model.TrainStep(x, y);
                CollectionAssert.AreEqual(copy, held.ToArray(), $"{how} after later steps");
                CollectionAssert.AreNotEqual(copy, model.Weights[0].Value.ToArray(), "the steps trained");
            }
        }
    }

    [TestMethod]
    public void RestoringAValueTheOptimizerGaveToTheScope_TakesItBack()
    {
        // What a training step does when it fails after its optimizer update (Model's replica step): put the previous
        // weights back inside the step's scope. The scope must then not return them to the pool.
        var v = new Variable(Ramp(Big), "w");
        var optimizer = new Adam(0.01f);
        ScopedSteps(v, optimizer, 2); // from here on the weights are storage the optimizer made
        var before = v.Capture();
        var expected = before[0].ToArray();
        using (TensorScope.Begin())
        {
            optimizer.ApplyGradients([Gradients[9]], [v]);
            v.Restore(before);
        }
        using (TensorScope.Begin())
        {
            for (int j = 0; j < 4; j++) GC.KeepAlive(Gradients[j] * -1f);
        }
        CollectionAssert.AreEqual(expected, v.Value.ToArray(), "the restored weights");
    }

    [TestMethod]
    public void DisposingOutOfOrderOrOnAnotherThread_Throws()
    {
        var outer = TensorScope.Begin();
        var inner = TensorScope.Begin();
        var e = Assert.ThrowsExactly<InvalidOperationException>(outer.Dispose);
        StringAssert.Contains(e.Message, "innermost first");
        Exception? fromOtherThread = null;
        var t = new Thread(() => { try { inner.Dispose(); } catch (Exception ex) { fromOtherThread = ex; } });
        t.Start();
        t.Join();
        Assert.IsInstanceOfType<InvalidOperationException>(fromOtherThread);
        inner.Dispose();
        outer.Dispose();
        outer.Dispose(); // twice is harmless
        Assert.IsFalse(TensorScope.IsActive);
        Assert.ThrowsExactly<ObjectDisposedException>(() => outer.Keep(Ramp(4)));
    }

    [TestMethod]
    public void BatchNormForwardBackward_InAScope_AllocatesNoTensorSizedMemoryInSteadyState()
    {
        // 16×16×16×32 floats = 512 KiB per tensor; the call's own bookkeeping (statistics, tape records) is O(C).
        var x = Tensor.FromFunction([16, 16, 16, 32], i => MathF.Sin(i * 0.37f));
        var dy = Tensor.FromFunction([16, 16, 16, 32], i => MathF.Cos(i * 0.11f));
        var bn = new BatchNormalization();
        bn.EnsureBuilt(x.Shape);
        long Step()
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            using (TensorScope.Begin())
            using (var tape = new GradientTape())
            {
                tape.Watch(x);
                var y = bn.Call(x, training: true);
                var dx = tape.Gradient(y, [x, .. bn.TrainableWeights], dy)[0];
                Assert.IsNotNull(dx);
            }
            return GC.GetAllocatedBytesForCurrentThread() - before;
        }
        for (int i = 0; i < 3; i++) Step();
        long steady = Step();
        Assert.IsTrue(steady < 64 * 1024, $"{steady} bytes allocated per call in a scope (one tensor is {x.Size * 4} bytes)");
    }

    /// <summary>
    /// A small CNN on 12×12×1 inputs, built and compiled (Adam) under <paramref name="strategy"/>: activations of 16
    /// channels (8×12×12×16 = 18,432 floats ≥ MinPooledElements for 8 samples) and a 576×8 dense kernel, so that its
    /// updates and Adam slots are computed in the scope too.
    /// </summary>
    private static Sequential PooledCnn(MirroredStrategy strategy)
    {
        using (strategy.Scope())
        {
            var model = new Sequential(
            [
                new Conv2D(16, [3, 3], padding: "same", useBias: false, kernelInitializer: Initializers.GlorotUniform(seed: 1)),
                new SyncBatchNormalization(momentum: 0.9f), new ReLU(), new MaxPooling2D([2, 2]), new Flatten(),
                new Dense(8, kernelInitializer: Initializers.GlorotUniform(seed: 2)), new ReLU(),
                new Dense(3, kernelInitializer: Initializers.GlorotUniform(seed: 3)),
            ], inputShape: [12, 12, 1]);
            model.Compile(new Adam(learningRate: 0.01f), new SparseCategoricalCrossentropy(fromLogits: true));
            return model;
        }
    }

    [TestMethod]
    [Timeout(60000)]
    public void TrainSteps_WithPooledStorage_AreBitwiseTheStepsWithout()
    {
        // PooledCnn on 2 replicas: every step reuses the storage of the previous one. A tensor used after its scope
        // ended, or a variable left holding pooled storage, would change the weights or losses.
        var rng = new Random(7);
        var x = Tensor.FromFunction([16, 12, 12, 1], _ => (float)rng.NextDouble());
        var y = Tensor.FromFunction([16], i => i % 3);
        (double[] Losses, float[][] Weights) Train()
        {
            using var strategy = new MirroredStrategy(2);
            var model = PooledCnn(strategy);
            var losses = Enumerable.Range(0, 6).Select(_ =>
            {
                model.ResetMetrics(); // the loss of this step alone, not the running mean
                return model.TrainStep(x, y)["loss"];
            }).ToArray();
            var weights = model.Weights.SelectMany(w => w.Replicas).Select(t => t.ToArray()).ToArray();
            return (losses, weights);
        }
        var pooled = AssertPooledRunIsTheUnpooledRun(Train);
        Assert.IsTrue(pooled.Losses[^1] < pooled.Losses[0], $"the steps trained: {string.Join(", ", pooled.Losses)}");
    }

    /// <summary>
    /// Runs <paramref name="train"/> with pooling off, then on: the pooled run must reuse storage and give the same losses
    /// and weight copies bit for bit. Returns the pooled run.
    /// </summary>
    private static (double[] Losses, float[][] Weights) AssertPooledRunIsTheUnpooledRun(Func<(double[] Losses, float[][] Weights)> train)
    {
        var reference = Unpooled(train);
        long reusesBefore = TensorScope.Reuses;
        var pooled = train();
        Assert.IsTrue(TensorScope.Reuses - reusesBefore >= 10, $"the pooled run reused storage ({TensorScope.Reuses - reusesBefore} times)");
        CollectionAssert.AreEqual(reference.Losses, pooled.Losses, "losses");
        Assert.AreEqual(reference.Weights.Length, pooled.Weights.Length);
        for (int i = 0; i < reference.Weights.Length; i++) CollectionAssert.AreEqual(reference.Weights[i], pooled.Weights[i], $"weight copy {i}");
        return pooled;
    }

    [TestMethod]
    [Timeout(60000)]
    public void Fit_WithShuffledPooledBatches_IsBitwiseTheFitWithoutPooling()
    {
        // Fit slices each shuffled global batch inside a scope of its own and the optimizer recycles what it replaces:
        // two epochs of PooledCnn on 2 replicas (global batches of 32×12×12 = 4,608 floats: pooled) must give the weights
        // and history of the same Fit with pooling off.
        var rng = new Random(5);
        var x = Tensor.FromFunction([80, 12, 12, 1], _ => (float)rng.NextDouble());
        var y = Tensor.FromFunction([80], i => i % 3);
        (double[] Losses, float[][] Weights) Train()
        {
            using var strategy = new MirroredStrategy(2);
            var model = PooledCnn(strategy);
            var history = model.Fit(x, y, batchSize: 32, epochs: 2, shuffle: true, seed: 3, verbose: 0);
            return ([.. history.Values["loss"]], model.Weights.SelectMany(w => w.Replicas).Select(t => t.ToArray()).ToArray());
        }
        AssertPooledRunIsTheUnpooledRun(Train);
    }

    [TestMethod]
    [Timeout(60000)]
    public void ReadmeCustomLoop_InAScopePerStep_EqualsTheLoopWithoutScopes()
    {
        // The custom loop of README's "Memory: TensorScope" section, against the same loop without scopes.
        var rng = new Random(11);
        var batches = Enumerable.Range(0, 5).Select(_ => (
            Tensor.FromFunction([8, 16, 16, 1], _ => (float)rng.NextDouble()),
            Tensor.FromFunction([8], i => i % 4))).ToArray();
        (List<float> Losses, float[][] Weights) Run(bool scoped)
        {
            var model = new Sequential(
            [
                new Conv2D(8, [3, 3], padding: "same", useBias: false, kernelInitializer: Initializers.GlorotUniform(seed: 4)),
                new BatchNormalization(), new ReLU(), new Flatten(),
                new Dense(4, kernelInitializer: Initializers.GlorotUniform(seed: 5)),
            ], inputShape: [16, 16, 1]);
            var lossFn = new SparseCategoricalCrossentropy(fromLogits: true);
            var optimizer = new SGD(learningRate: 0.05f, momentum: 0.9f);
            var losses = new List<float>();
            foreach (var (xb, yb) in batches)
            {
                using var scope = scoped ? TensorScope.Begin() : null;
                using var tape = new GradientTape();
                var loss = lossFn.Call(yb, model.Call(xb, training: true));
                optimizer.ApplyGradients(tape.Gradient(loss, model.TrainableWeights), model.TrainableWeights);
                losses.Add(loss.ToScalar());
            }
            return (losses, model.Weights.Select(w => w.Value.ToArray()).ToArray());
        }
        var plain = Run(scoped: false);
        long reusesBefore = TensorScope.Reuses;
        var scopedRun = Run(scoped: true);
        Assert.IsTrue(TensorScope.Reuses > reusesBefore, "the scoped loop reused storage");
        CollectionAssert.AreEqual(plain.Losses, scopedRun.Losses);
        for (int i = 0; i < plain.Weights.Length; i++) CollectionAssert.AreEqual(plain.Weights[i], scopedRun.Weights[i], $"weight {i}");
    }

    [TestMethod]
    [Timeout(60000)]
    public void PredictAndEvaluate_RecycleActivations_ButTheirResultsStay()
    {
        // Outputs of 16×8×8×32 floats: above MinPooledElements, so the replicas' scopes pool them.
        var rng = new Random(3);
        var x = Tensor.FromFunction([16, 8, 8, 2], _ => (float)rng.NextDouble());
        var y = Tensor.FromFunction([16], i => i % 2);
        using var strategy = new MirroredStrategy(2);
        Sequential model;
        using (strategy.Scope())
        {
            model = new Sequential([new Conv2D(32, [3, 3], padding: "same", kernelInitializer: Initializers.GlorotUniform(seed: 6)), new ReLU(),
                new Flatten()], inputShape: [8, 8, 2]); // Flatten's output is a view sharing the ReLU's storage
            model.Compile(new SGD(learningRate: 0.1f), new SparseCategoricalCrossentropy(fromLogits: true), ["accuracy"]);
        }
        var (reference, referenceLogs) = Unpooled(() => (model.Predict(x, batchSize: 8), model.Evaluate(x, y, batchSize: 8)));
        var first = model.Predict(x, batchSize: 8);
        var copy = first.ToArray();
        var logs = model.Evaluate(x, y, batchSize: 8);
        for (int i = 0; i < 3; i++) GC.KeepAlive(model.Predict(x, batchSize: 8)); // reuse whatever the pools hold
        CollectionAssert.AreEqual(reference.ToArray(), copy, "pooled predictions equal unpooled ones");
        CollectionAssert.AreEqual(copy, first.ToArray(), "a prediction stays valid after later scoped work");
        CollectionAssert.AreEqual(referenceLogs.ToArray(), logs.ToArray(), "Evaluate");
    }
}
