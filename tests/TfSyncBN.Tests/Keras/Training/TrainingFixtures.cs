using TfSyncBN.Keras;
using TfSyncBN.Tensors;
using TfSyncBN.Tests.TestUtil;

namespace TfSyncBN.Tests.Keras.Training;

/// <summary>Small seeded models and data for the data-parallel training tests.</summary>
internal static class TrainingFixtures
{
    /// <summary>Dense(6) → BN → ReLU → Dense(3), seeded, so two calls give identical initial weights.</summary>
    public static Sequential Mlp(bool sync, IRegularizer? regularizer = null) => new(
    [
        new Dense(6, kernelInitializer: Initializers.GlorotUniform(seed: 11), biasInitializer: Initializers.RandomUniform(-0.1f, 0.1f, seed: 12),
            kernelRegularizer: regularizer),
        sync ? new SyncBatchNormalization(momentum: 0.8f) : new BatchNormalization(momentum: 0.8f),
        new ReLU(),
        new Dense(3, kernelInitializer: Initializers.GlorotUniform(seed: 13)),
    ]);

    /// <summary>Conv2D(4, 3×3) → SyncBN → ReLU → MaxPool(2) → Flatten → Dense(3) on 6×6×2 images.</summary>
    public static Sequential Cnn(bool sync) => new(
    [
        // No bias before BN: its true gradient is 0, and Adam would turn the rounding noise of that 0 into ±lr steps.
        new Conv2D(4, [3, 3], useBias: false, kernelInitializer: Initializers.GlorotUniform(seed: 21)),
        sync ? new SyncBatchNormalization(momentum: 0.7f) : new BatchNormalization(momentum: 0.7f),
        new ReLU(),
        new MaxPooling2D([2, 2]),
        new Flatten(),
        new Dense(3, kernelInitializer: Initializers.GlorotUniform(seed: 22)),
    ]);

    /// <summary>The global batch sizes of the 20 steps: mostly 8 (3-3-2 on 3 replicas), some 7 and 5, and a last batch
    /// of 2, which leaves replicas empty on 3 and 4 replicas.</summary>
    public static readonly int[] BatchSizes = [8, 8, 7, 8, 5, 8, 8, 8, 7, 8, 8, 5, 8, 8, 8, 7, 8, 8, 8, 2];

    /// <summary>Features with class-dependent means (so training makes progress) and their labels.</summary>
    public static (Tensor X, Tensor Y) Data(int[] sampleShape, int seed)
    {
        int n = BatchSizes.Sum();
        var rnd = TestData.NewRandom(seed);
        int size = sampleShape.Aggregate(1, (a, b) => a * b);
        var labels = Enumerable.Range(0, n).Select(_ => rnd.Next(3)).ToArray();
        var x = Tensor.FromFunction([n, .. sampleShape], i => (float)(rnd.NextDouble() * 2 - 1 + 0.7 * labels[i / size] * ((i % size) % 3 == 0 ? 1 : -0.5) + 1.5));
        return (x, Tensor.FromArray(labels.Select(l => (float)l).ToArray()));
    }

    /// <summary>Consecutive global batches of <see cref="BatchSizes"/>.</summary>
    public static IEnumerable<(Tensor X, Tensor Y)> Batches(Tensor x, Tensor y)
    {
        int start = 0;
        foreach (int b in BatchSizes)
        {
            yield return (x.Slice(0, start, b), y.Slice(0, start, b));
            start += b;
        }
    }

    public static void Compile(Model model, string optimizer) =>
        model.Compile(optimizer == "adam" ? new Adam(learningRate: 0.01f) : new SGD(learningRate: 0.1f, momentum: 0.9f),
            new SparseCategoricalCrossentropy(fromLogits: true), ["accuracy"]);

    /// <summary>Trains 20 steps and returns each step's logs (metrics reset before every step, so they are per step).</summary>
    public static List<IReadOnlyDictionary<string, double>> Train(Model model, Tensor x, Tensor y)
    {
        var logs = new List<IReadOnlyDictionary<string, double>>();
        foreach (var (xb, yb) in Batches(x, y))
        {
            model.ResetMetrics();
            logs.Add(model.TrainStep(xb, yb));
        }
        return logs;
    }

    /// <summary>Asserts |a − e| ≤ rtol·max(1, |e|) element-wise.</summary>
    /// <remarks>
    /// A mixed tolerance: relative (rtol·|e|) for |e| ≥ 1, absolute (rtol) below. The "~1e-4 relative" cannot
    /// be applied as purely relative: weights, biases and moving means near 0 (a moving mean after a few steps, a bias
    /// that barely moved) carry float32 rounding noise of the summation order, which differs between R replicas and one
    /// device, and relative to a value of 1e-6 that noise is arbitrarily large. The absolute floor rtol is the same size
    /// as the relative bound at |e| = 1, so it never loosens the check for values of ordinary size.
    /// </remarks>
    public static void Close(Tensor expected, Tensor actual, double rtol, string what)
    {
        CollectionAssert.AreEqual(expected.Shape.ToArray(), actual.Shape.ToArray(), $"shape of {what}");
        var e = expected.AsSpan();
        var a = actual.AsSpan();
        for (int i = 0; i < e.Length; i++)
        {
            if (Math.Abs(a[i] - e[i]) > rtol * Math.Max(1, Math.Abs(e[i])))
                Assert.Fail($"{what}[{i}]: expected {e[i]}, got {a[i]} (rtol {rtol})");
        }
    }

    /// <summary>The largest |a − e| / max(1, |e|) over all elements (the measure <see cref="Close"/> bounds).</summary>
    public static double MaxRelative(Tensor expected, Tensor actual)
    {
        var e = expected.AsSpan();
        var a = actual.AsSpan();
        double worst = 0;
        for (int i = 0; i < e.Length; i++) worst = Math.Max(worst, Math.Abs(a[i] - e[i]) / Math.Max(1, Math.Abs(e[i])));
        return worst;
    }
}
