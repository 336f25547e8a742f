using TfSyncBN.Keras;
using TfSyncBN.Tensors;
using TfSyncBN.Tests.TestUtil;

namespace TfSyncBN.Tests.Keras.Saving;

[TestClass]
public sealed class ModelCheckpointTests
{
    private string dir = "";

    [TestInitialize]
    public void Setup()
    {
        dir = Path.Combine(Path.GetTempPath(), "tfsyncbn-ckpt-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
    }

    [TestCleanup]
    public void Cleanup() => Directory.Delete(dir, recursive: true);

    private static Sequential Tiny() => new([new Dense(2, kernelInitializer: Initializers.GlorotUniform(seed: 5))], inputShape: [3], name: "ckpt_model");

    private static Dictionary<string, double> Logs(double valLoss, double valAccuracy) => new() { ["loss"] = 1.0, ["val_loss"] = valLoss, ["val_accuracy"] = valAccuracy };

    /// <summary>Sets the single Dense kernel to a recognizable value, so each saved file can be told apart.</summary>
    private static void Mark(Sequential model, float value) => model.Layers[0].Weights[0].Assign(Tensor.Fill([3, 2], value));

    private static float SavedMark(string path) => WeightsFile.Read(path)[0].Values[0];

    [TestMethod]
    public void SaveBestOnly_Min_SavesOnlyImprovements()
    {
        var model = Tiny();
        var path = Path.Combine(dir, "best.weights");
        var ckpt = new ModelCheckpoint(path, monitor: "val_loss", saveBestOnly: true) { Model = model };
        Assert.AreEqual("min", ckpt.Mode);
        Assert.AreEqual(double.PositiveInfinity, ckpt.Best);
        double[] losses = [0.9, 0.7, 0.8, 0.7, 0.5, double.NaN];
        float[] expectedMark = [1, 2, 2, 2, 5, 5]; // 0.8 is worse, 0.7 only ties, NaN never improves
        for (int epoch = 0; epoch < losses.Length; epoch++)
        {
            Mark(model, epoch + 1);
            ckpt.OnEpochEnd(epoch, Logs(losses[epoch], 0));
            Assert.AreEqual(expectedMark[epoch], SavedMark(path), $"epoch {epoch}");
        }
        Assert.AreEqual(0.5, ckpt.Best);
    }

    [TestMethod]
    public void SaveBestOnly_AutoIsMaxForAccuracy()
    {
        var model = Tiny();
        var path = Path.Combine(dir, "acc.weights");
        var ckpt = new ModelCheckpoint(path, monitor: "val_accuracy", saveBestOnly: true) { Model = model };
        Assert.AreEqual("max", ckpt.Mode);
        double[] acc = [0.5, 0.4, 0.8];
        float[] expectedMark = [1, 1, 3];
        for (int epoch = 0; epoch < acc.Length; epoch++)
        {
            Mark(model, epoch + 1);
            ckpt.OnEpochEnd(epoch, Logs(0, acc[epoch]));
            Assert.AreEqual(expectedMark[epoch], SavedMark(path), $"epoch {epoch}");
        }
        Assert.AreEqual("min", new ModelCheckpoint(path, monitor: "val_accuracy", mode: "min").Mode);
    }

    [TestMethod]
    public void WithoutSaveBestOnly_SavesEveryEpoch_WithPlaceholders()
    {
        var model = Tiny();
        var ckpt = new ModelCheckpoint(Path.Combine(dir, "sub", "w-{epoch:02d}-{val_loss:.2f}.weights")) { Model = model };
        Mark(model, 7);
        ckpt.OnEpochEnd(0, Logs(0.91234, 0));
        Mark(model, 8);
        ckpt.OnEpochEnd(8, Logs(1.5, 0));
        CollectionAssert.AreEquivalent(new[] { "w-01-0.91.weights", "w-09-1.50.weights" },
            Directory.GetFiles(Path.Combine(dir, "sub")).Select(Path.GetFileName).ToArray());
        Assert.AreEqual(7f, SavedMark(Path.Combine(dir, "sub", "w-01-0.91.weights")));
        Assert.AreEqual(8f, SavedMark(Path.Combine(dir, "sub", "w-09-1.50.weights")));
        Assert.AreEqual(Path.Combine(dir, "sub", "w-09-1.50.weights"), ckpt.LastSavedPath);
    }

    [TestMethod]
    public void MissingMonitor_SkipsTheSave()
    {
        var model = Tiny();
        var path = Path.Combine(dir, "skip.weights");
        var ckpt = new ModelCheckpoint(path, monitor: "val_auc", saveBestOnly: true) { Model = model };
        var error = new StringWriter();
        var saved = Console.Error;
        Console.SetError(error);
        try
        {
            ckpt.OnEpochEnd(0, Logs(0.1, 0.9));
        }
        finally
        {
            Console.SetError(saved);
        }
        Assert.IsFalse(File.Exists(path));
        StringAssert.Contains(error.ToString(), "'val_auc'");
    }

    [TestMethod]
    public void Errors()
    {
        Assert.AreEqual("mode", Assert.ThrowsExactly<ArgumentException>(() => new ModelCheckpoint("x", mode: "best")).ParamName);
        Assert.ThrowsExactly<ArgumentException>(() => new ModelCheckpoint(""));
        Assert.AreEqual("filepath", Assert.ThrowsExactly<ArgumentException>(() => new ModelCheckpoint("w-{epoch:xyz}")).ParamName);
        var noModel = new ModelCheckpoint(Path.Combine(dir, "a"));
        StringAssert.Contains(Assert.ThrowsExactly<InvalidOperationException>(() => noModel.OnEpochEnd(0, Logs(0, 0))).Message, "no model");
        var badKey = new ModelCheckpoint(Path.Combine(dir, "w-{val_f1}")) { Model = Tiny() };
        StringAssert.Contains(Assert.ThrowsExactly<InvalidOperationException>(() => badKey.OnEpochEnd(0, Logs(0, 0))).Message, "names 'val_f1', which is not in the logs");
    }

    [TestMethod]
    [Timeout(10000, CooperativeCancellation = true)]
    public void InFit_KeepsTheBestEpochsWeights()
    {
        var model = Tiny();
        model.Compile(new SGD(learningRate: 0.05f), new MeanSquaredError());
        var x = TestData.Uniform(TestData.NewRandom(1), [16, 3]);
        var y = TestData.Uniform(TestData.NewRandom(2), [16, 2]);
        var path = Path.Combine(dir, "fit.weights");
        var snapshots = new SnapshotCallback();
        var ckpt = new ModelCheckpoint(path, monitor: "val_loss", saveBestOnly: true);
        var history = model.Fit(x, y, batchSize: 8, epochs: 4, verbose: 0, callbacks: [snapshots, ckpt], validationData: new ValidationData(x, y), seed: 0);
        var valLoss = history["val_loss"];
        int best = Enumerable.Range(0, valLoss.Count).MinBy(i => valLoss[i]);
        Assert.AreEqual(valLoss[best], ckpt.Best);
        CollectionAssert.AreEqual(snapshots.Kernels[best], WeightsFile.Read(path)[0].Values);
    }

    private sealed class SnapshotCallback : Callback
    {
        public List<float[]> Kernels { get; } = [];
        public override void OnEpochEnd(int epoch, IReadOnlyDictionary<string, double> logs) => Kernels.Add(Model!.Layers[0].Weights[0].Value.ToArray());
    }
}
