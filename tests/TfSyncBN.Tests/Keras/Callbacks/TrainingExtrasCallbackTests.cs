using System.Globalization;
using TfSyncBN.Keras;
using TfSyncBN.Tensors;

namespace TfSyncBN.Tests.Keras.Callbacks;

/// <summary>TerminateOnNaN, CSVLogger, LearningRateScheduler and ReduceLROnPlateau, as Keras 3 defines them.</summary>
[TestClass]
public sealed class TrainingExtrasCallbackTests
{
    private static Sequential Compiled(Optimizer optimizer)
    {
        var model = new Sequential([new Dense(2, kernelInitializer: Initializers.GlorotUniform(seed: 1))], inputShape: [3]);
        model.Compile(optimizer, new SparseCategoricalCrossentropy(fromLogits: true), ["accuracy"]);
        return model;
    }

    private static (Tensor X, Tensor Y) Data(int n, bool nanInSecondBatch = false) =>
        (Tensor.FromFunction([n, 3], i => nanInSecondBatch && i / 3 >= 4 && i / 3 < 8 ? float.NaN : (float)Math.Sin(i)),
         Tensor.FromFunction([n], i => i % 2));

    [TestMethod]
    [Timeout(20000)]
    public void TerminateOnNaN_StopsAfterTheFirstBadBatch()
    {
        var sgd = new SGD(0.1f);
        var model = Compiled(sgd);
        var (x, y) = Data(16, nanInSecondBatch: true);
        var stop = new TerminateOnNaN();
        var history = model.Fit(x, y, batchSize: 4, epochs: 3, shuffle: false, verbose: 0, callbacks: [stop]);
        Assert.AreEqual(1, stop.TerminatedBatch);
        Assert.AreEqual(2L, sgd.Iterations, "batches 0 and 1 ran, then training stopped");
        Assert.AreEqual(1, history["loss"].Count, "one (partial) epoch");
        // Negative control: without the callback all 3 × 4 batches run.
        var other = new SGD(0.1f);
        Compiled(other).Fit(x, y, batchSize: 4, epochs: 3, shuffle: false, verbose: 0);
        Assert.AreEqual(12L, other.Iterations);
    }

    [TestMethod]
    [Timeout(20000)]
    public void CsvLogger_WritesHeaderAndOneRowPerEpoch_AppendAddsRows()
    {
        var path = Path.Combine(Path.GetTempPath(), $"csvlogger-{Guid.NewGuid():N}.csv");
        try
        {
            var model = Compiled(new SGD(0.1f));
            var (x, y) = Data(8);
            var history = model.Fit(x, y, batchSize: 4, epochs: 2, verbose: 0, seed: 0, callbacks: [new CSVLogger(path)]);
            var lines = File.ReadAllLines(path);
            Assert.AreEqual(3, lines.Length);
            Assert.AreEqual("epoch,accuracy,loss", lines[0]);
            for (int e = 0; e < 2; e++)
            {
                var f = lines[e + 1].Split(',');
                Assert.AreEqual(e.ToString(CultureInfo.InvariantCulture), f[0]);
                Assert.AreEqual(history["accuracy"][e], double.Parse(f[1], CultureInfo.InvariantCulture));
                Assert.AreEqual(history["loss"][e], double.Parse(f[2], CultureInfo.InvariantCulture));
            }
            model.Fit(x, y, batchSize: 4, epochs: 1, verbose: 0, callbacks: [new CSVLogger(path, append: true)]);
            lines = File.ReadAllLines(path);
            Assert.AreEqual(4, lines.Length, "appended one row, no second header");
            StringAssert.StartsWith(lines[3], "0,");
            model.Fit(x, y, batchSize: 4, epochs: 1, verbose: 0, callbacks: [new CSVLogger(path)]);
            Assert.AreEqual(2, File.ReadAllLines(path).Length, "overwritten");
        }
        finally
        {
            File.Delete(path);
        }
    }

    [TestMethod]
    [Timeout(20000)]
    public void LearningRateScheduler_SetsTheRateEachEpoch_AndTheStepsUseIt()
    {
        var sgd = new SGD(0.1f);
        var model = Compiled(sgd);
        var (x, y) = Data(4);
        var seen = new List<float>();
        var w0 = model.Layers[0].Weights[1].Value.ToArray();
        model.Fit(x, y, batchSize: 4, epochs: 1, verbose: 0, shuffle: false,
            callbacks: [new LearningRateScheduler((epoch, lr) => { seen.Add(lr); return 0.5f; })]);
        Assert.AreEqual(0.1f, seen[0], "the schedule sees the current rate");
        Assert.AreEqual(0.5f, sgd.LearningRate);
        // The same step with SGD(0.5) gives the same weights: the step used the scheduled rate.
        var reference = Compiled(new SGD(0.5f));
        reference.Fit(x, y, batchSize: 4, epochs: 1, verbose: 0, shuffle: false);
        CollectionAssert.AreEqual(reference.Layers[0].Weights[1].Value.ToArray(), model.Layers[0].Weights[1].Value.ToArray());
        CollectionAssert.AreNotEqual(w0, model.Layers[0].Weights[1].Value.ToArray());
        Assert.ThrowsExactly<InvalidOperationException>(() => new SGD(schedule: new ExponentialDecay(0.1f, 10, 0.5f)).LearningRate = 0.2f);
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => sgd.LearningRate = -1f);
    }

    [TestMethod]
    public void ReduceLROnPlateau_FollowsKeras3_PatienceCooldownAndMinimum()
    {
        // Worked through Keras 3's on_epoch_end by hand for patience 2, factor 0.5, cooldown 1, min_lr 0.2, min_delta 0.
        var sgd = new SGD(1f);
        var model = Compiled(sgd);
        var cb = new ReduceLROnPlateau(factor: 0.5f, patience: 2, minDelta: 0, cooldown: 1, minLearningRate: 0.2f) { Model = model };
        double[] valLoss = [1.0, 1.0, 1.0, 1.0, 1.0, 0.5, 0.6, 0.6, 0.6, 0.6];
        float[] expected = [1f, 1f, 0.5f, 0.5f, 0.25f, 0.25f, 0.25f, 0.2f, 0.2f, 0.2f];
        cb.OnTrainBegin(new Dictionary<string, double>());
        for (int e = 0; e < valLoss.Length; e++)
        {
            cb.OnEpochEnd(e, new Dictionary<string, double> { ["val_loss"] = valLoss[e] });
            Assert.AreEqual(expected[e], sgd.LearningRate, $"after epoch {e}");
        }
        Assert.AreEqual("max", new ReduceLROnPlateau(monitor: "val_accuracy").Mode);
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new ReduceLROnPlateau(factor: 1f));
        Assert.ThrowsExactly<ArgumentException>(() => new ReduceLROnPlateau(mode: "up"));
    }
}
