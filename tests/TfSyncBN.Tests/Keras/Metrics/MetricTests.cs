using TfSyncBN.Distribute;
using TfSyncBN.Keras;
using TfSyncBN.Tensors;

namespace TfSyncBN.Tests.Keras.Metrics;

[TestClass]
public sealed class MetricTests
{
    [TestMethod]
    public void KerasDocumentationValues()
    {
        var acc = new Accuracy();
        acc.Update(Tensor.FromArray([1f, 2f, 3f, 4f], [4, 1]), Tensor.FromArray([0f, 2f, 3f, 4f], [4, 1]));
        Assert.AreEqual(0.75, acc.Result());
        var sparse = new SparseCategoricalAccuracy();
        sparse.Update(Tensor.FromArray([2f, 1f], [2, 1]), Tensor.FromArray([0.1f, 0.6f, 0.3f, 0.05f, 0.95f, 0f], [2, 3]));
        Assert.AreEqual(0.5, sparse.Result());
        var cat = new CategoricalAccuracy();
        cat.Update(Tensor.FromArray([0f, 0f, 1f, 0f, 1f, 0f], [2, 3]), Tensor.FromArray([0.1f, 0.9f, 0.8f, 0.05f, 0.95f, 0f], [2, 3]));
        Assert.AreEqual(0.5, cat.Result());
        var mean = new Mean();
        mean.Update(1);
        mean.Update(3);
        mean.Update(5, sampleWeight: 2);
        Assert.AreEqual((1 + 3 + 10) / 4.0, mean.Result());
    }

    [TestMethod]
    public void State_AccumulatesAcrossUpdates_AndResets()
    {
        var m = new SparseCategoricalAccuracy();
        Assert.AreEqual(0, m.Result()); // nothing counted: 0, not NaN
        m.Update(Tensor.FromArray([0f]), Tensor.FromArray([0.9f, 0.1f], [1, 2]));
        m.Update(Tensor.FromArray([0f, 1f, 1f]), Tensor.FromArray([0.2f, 0.8f, 0.3f, 0.7f, 0.6f, 0.4f], [3, 2]));
        Assert.AreEqual(2.0 / 4, m.Result());
        Assert.AreEqual(4, m.Count);
        m.Reset();
        Assert.AreEqual(0, m.Count);
        Assert.AreEqual(0, m.Result());
        Assert.ThrowsExactly<ArgumentException>(() => m.Update(Tensor.FromArray([0f, 1f]), Tensor.FromArray([0.2f, 0.8f], [1, 2])));
    }

    [TestMethod]
    public void ContributionsOfUnevenReplicaBatches_CombineCountWeighted()
    {
        // 5 samples split 3-1-1 over replicas (an unweighted mean of per-replica accuracies would be (2/3 + 0 + 1)/3).
        var labels = Tensor.FromArray([0f, 1f, 2f, 0f, 1f]);
        var pred = Tensor.FromArray([1f, 0f, 0f, 0f, 1f, 0f, 1f, 0f, 0f, 0f, 0f, 1f, 0f, 1f, 0f], [5, 3]);
        var whole = new SparseCategoricalAccuracy();
        whole.Update(labels, pred);
        var merged = new SparseCategoricalAccuracy();
        int[] sizes = [3, 1, 1, 0];
        for (int r = 0, start = 0; r < sizes.Length; start += sizes[r], r++)
        {
            var c = merged.Contribution(labels.Slice(0, start, sizes[r]), pred.Slice(0, start, sizes[r]));
            merged.Merge(c.Total, c.Count);
        }
        Assert.AreEqual(whole.Result(), merged.Result());
        Assert.AreEqual(3.0 / 5, merged.Result());
    }

    [TestMethod]
    [Timeout(10000)]
    public void Fit_AccuracyOnReplicas_EqualsCountWeightedSingleDeviceAccuracy()
    {
        // Evaluate over 3 replicas with batches of 4 (2-1-1) and a last batch of 2 (1-1-0) equals a single-device count.
        var x = Tensor.FromFunction([10, 2], i => (i * 7 % 5) - 2f);
        var y = Tensor.FromFunction([10], i => i % 3);
        Sequential Build() => new([new Dense(3, kernelInitializer: Initializers.GlorotUniform(seed: 9))]);
        var single = Build();
        single.Compile("sgd", new SparseCategoricalCrossentropy(fromLogits: true), ["accuracy"]);
        var expected = single.Evaluate(x, y, batchSize: 4);
        var reference = new SparseCategoricalAccuracy();
        reference.Update(y, single.Predict(x));
        Assert.AreEqual(reference.Result(), expected["accuracy"], 1e-12);
        using var strategy = new MirroredStrategy(3);
        Sequential model;
        using (strategy.Scope())
        {
            model = Build();
            model.Compile("sgd", new SparseCategoricalCrossentropy(fromLogits: true), ["accuracy", new CategoricalAccuracy("cat")]);
        }
        Assert.ThrowsExactly<ArgumentException>(() => model.Evaluate(x, y, batchSize: 4)); // "cat" needs one-hot targets
        model.Compile("sgd", new SparseCategoricalCrossentropy(fromLogits: true), ["accuracy"]);
        var logs = model.Evaluate(x, y, batchSize: 4);
        Assert.AreEqual(expected["accuracy"], logs["accuracy"], 1e-12);
        Assert.AreEqual(expected["loss"], logs["loss"], 1e-6);
    }

    [TestMethod]
    public void Registry_AndCompileResolveAccuracyByLoss()
    {
        Assert.IsInstanceOfType<Accuracy>(TfSyncBN.Keras.Metrics.Get("accuracy"));
        Assert.IsInstanceOfType<SparseCategoricalAccuracy>(TfSyncBN.Keras.Metrics.Get("sparse_categorical_accuracy"));
        Assert.IsInstanceOfType<Mean>(TfSyncBN.Keras.Metrics.Get("mean"));
        Assert.ThrowsExactly<ArgumentException>(() => TfSyncBN.Keras.Metrics.Get("auc"));
        var model = new Sequential([new Dense(2)]);
        model.Compile("adam", "sparse_categorical_crossentropy", ["accuracy"]);
        Assert.IsInstanceOfType<SparseCategoricalAccuracy>(model.Metrics[1]);
        Assert.AreEqual("accuracy", model.Metrics[1].Name);
        model.Compile("adam", "categorical_crossentropy", ["acc"]);
        Assert.IsInstanceOfType<CategoricalAccuracy>(model.Metrics[1]);
        model.Compile("adam", "mse", ["accuracy"]);
        Assert.IsInstanceOfType<Accuracy>(model.Metrics[1]);
        Assert.AreEqual("loss", model.Metrics[0].Name);
        Assert.ThrowsExactly<ArgumentException>(() => model.Compile("adam", "mse", ["mean"]));
    }
}
