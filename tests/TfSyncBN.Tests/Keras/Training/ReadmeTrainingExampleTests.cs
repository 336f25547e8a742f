using TfSyncBN.Distribute;
using TfSyncBN.Keras;
using TfSyncBN.Tensors;

namespace TfSyncBN.Tests.Keras.Training;

/// <summary>
/// Issue #16, item 12: README's training example (section "Training models") is seeded, so the output it documents is
/// what every run prints. The model and data below are the README's, line for line.
/// </summary>
[TestClass]
public sealed class ReadmeTrainingExampleTests
{
    private static History RunReadmeExample()
    {
        var rnd = new System.Random(0);
        var labels = Enumerable.Range(0, 600).Select(_ => (float)rnd.Next(3)).ToArray();
        var x = Tensor.FromFunction([600, 8, 8, 1], i =>
        {
            int n = i / 64, row = i % 64 / 8, col = i % 8;
            bool hot = (int)labels[n] == (row < 4 ? 0 : col < 4 ? 1 : 2);
            return (float)(rnd.NextDouble() + (hot ? 1.0 : 0.0));
        });
        var y = Tensor.FromArray(labels);
        using var strategy = new MirroredStrategy(4);
        Sequential model;
        using (strategy.Scope())
        {
            model = new Sequential(
            [
                new Conv2D(8, [3, 3], useBias: false, kernelInitializer: Initializers.GlorotUniform(seed: 1)),
                new SyncBatchNormalization(momentum: 0.9f),
                new ReLU(),
                new MaxPooling2D([2, 2]),
                new Flatten(),
                new Dense(3, kernelInitializer: Initializers.GlorotUniform(seed: 2)),
            ], inputShape: [8, 8, 1]);
            model.Compile(new Adam(learningRate: 0.01f), new SparseCategoricalCrossentropy(fromLogits: true), ["accuracy"]);
        }
        return model.Fit(x, y, batchSize: 64, epochs: 3, validationSplit: 0.2f, seed: 1, verbose: 0);
    }

    [TestMethod]
    public void ReadmeExample_PrintsTheDocumentedValues_EveryRun()
    {
        var first = RunReadmeExample();
        var second = RunReadmeExample();
        // README: "val_accuracy per epoch: 0.892, 1.000, 1.000" (107 of the 120 validation samples, then all).
        CollectionAssert.AreEqual(new[] { "0.892", "1.000", "1.000" }, first["val_accuracy"].Select(v => v.ToString("F3", System.Globalization.CultureInfo.InvariantCulture)).ToArray());
        Assert.AreEqual(107.0 / 120, first["val_accuracy"][0], 1e-6);
        // The epoch lines' losses, as printed (4 decimals).
        string F4(double v) => v.ToString("F4", System.Globalization.CultureInfo.InvariantCulture);
        CollectionAssert.AreEqual(new[] { "0.4061", "0.0239", "0.0048" }, first["loss"].Select(F4).ToArray());
        CollectionAssert.AreEqual(new[] { "0.4889", "0.0757", "0.0102" }, first["val_loss"].Select(F4).ToArray());
        foreach (var key in new[] { "loss", "accuracy", "val_loss", "val_accuracy" })
            CollectionAssert.AreEqual(first[key].ToArray(), second[key].ToArray(), $"{key}: a second run gives the same bits");
    }
}
