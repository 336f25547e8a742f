using TfSyncBN.Distribute;
using TfSyncBN.Keras;
using TfSyncBN.Tensors;
using TfSyncBN.Tests.TestUtil;

namespace TfSyncBN.Tests.Keras.Models;

[TestClass]
public sealed class SequentialTests
{
    private static Sequential Cnn() => new(
        [new Conv2D(8, [3, 3], name: "conv"), new SyncBatchNormalization(name: "bn"), new ReLU(name: "relu"),
         new MaxPooling2D([2, 2], name: "pool"), new Flatten(name: "flatten"), new Dense(10, name: "logits")],
        inputShape: [28, 28, 1], name: "cnn");

    [TestMethod]
    public void Summary_ListsLayersShapesAndExactParameterCounts()
    {
        // Conv2D: 3·3·1·8 + 8 = 80; BN: 4·8 = 32 (γ, β trainable; moving mean/variance not);
        // 28−2 = 26 → pool 13 → 13·13·8 = 1352 → Dense: 1352·10 + 10 = 13530.
        // Total 13642 = 54568 bytes = 53.29 KB; trainable 13626 (53.23 KB); non-trainable 16 (64 B).
        string expected = string.Join("\n",
            "Model: \"cnn\"",
            new string('_', 65),
            " Layer (type)                Output Shape              Param #",
            new string('=', 65),
            " conv (Conv2D)               (None, 26, 26, 8)         80",
            "",
            " bn (SyncBatchNormalization) (None, 26, 26, 8)         32",
            "",
            " relu (ReLU)                 (None, 26, 26, 8)         0",
            "",
            " pool (MaxPooling2D)         (None, 13, 13, 8)         0",
            "",
            " flatten (Flatten)           (None, 1352)              0",
            "",
            " logits (Dense)              (None, 10)                13,530",
            new string('=', 65),
            "Total params: 13,642 (53.29 KB)",
            "Trainable params: 13,626 (53.23 KB)",
            "Non-trainable params: 16 (64.00 B)",
            new string('_', 65));
        var model = Cnn();
        var printed = new List<string>();
        Assert.AreEqual(expected, model.Summary(printed.Add));
        CollectionAssert.AreEqual(expected.Split('\n'), printed);
        Assert.AreEqual(13642, model.CountParams());
        Assert.AreEqual(13626, model.TrainableWeights.Sum(w => w.Shape.Aggregate(1, (a, b) => a * b)));
    }

    [TestMethod]
    public void Weights_AreTrainableThenNonTrainable_InLayerOrder()
    {
        var model = Cnn();
        CollectionAssert.AreEqual(new[] { "conv/kernel", "conv/bias", "bn/gamma", "bn/beta", "logits/kernel", "logits/bias" },
            model.TrainableWeights.Select(w => w.Name).ToArray());
        CollectionAssert.AreEqual(new[] { "bn/moving_mean", "bn/moving_variance" }, model.NonTrainableWeights.Select(w => w.Name).ToArray());
        Assert.AreEqual(8, model.Weights.Count);
        Assert.AreEqual(6, model.Layers.Count);
        model.Layers[0].Trainable = false;
        Assert.AreEqual(4, model.TrainableWeights.Count);
        Assert.AreEqual(4, model.NonTrainableWeights.Count);
    }

    [TestMethod]
    public void BuildRules_AndErrors()
    {
        var model = new Sequential(name: "m");
        Assert.IsFalse(model.Built);
        Assert.ThrowsExactly<InvalidOperationException>(() => model.Summary());
        var dense = new Dense(2);
        model.Add(dense);
        Assert.ThrowsExactly<ArgumentException>(() => model.Add(dense));
        var y = model.Call(Tensor.Ones([3, 4]));
        CollectionAssert.AreEqual(new[] { 3, 2 }, y.Shape.ToArray());
        Assert.IsTrue(model.Built);
        Assert.ThrowsExactly<InvalidOperationException>(() => model.Add(new Dense(1)));
        Assert.ThrowsExactly<InvalidOperationException>(() => model.Fit(Tensor.Ones([3, 4]), Tensor.Ones([3, 2]), verbose: 0));
        model.Compile("sgd", "mse");
        Assert.ThrowsExactly<ArgumentException>(() => model.Fit(Tensor.Ones([3, 4]), Tensor.Ones([2, 2]), verbose: 0));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => model.Fit(Tensor.Ones([3, 4]), Tensor.Ones([3, 2]), batchSize: 0, verbose: 0));
        Assert.ThrowsExactly<ArgumentException>(() => model.Compile(42, "mse"));
        Assert.ThrowsExactly<ArgumentException>(() => model.Compile("sgd", "hinge"));
        Assert.ThrowsExactly<ArgumentException>(() => model.Compile("sgd", "mse", ["accuracy", "accuracy"]));
    }

    [TestMethod]
    public void Call_ChainsTheLayers_AndPredictMatchesCallOnReplicas()
    {
        var rnd = TestData.NewRandom();
        var x = TestData.Uniform(rnd, [7, 5]);
        var d1 = new Dense(4, activation: "relu", kernelInitializer: Initializers.GlorotUniform(seed: 1));
        var d2 = new Dense(2, kernelInitializer: Initializers.GlorotUniform(seed: 2));
        var model = new Sequential([d1, d2]);
        var expected = d2.Call(d1.Call(x));
        KerasAssert.Identical(expected, model.Call(x));
        KerasAssert.Identical(expected, model.Predict(x, batchSize: 3));

        using var strategy = new MirroredStrategy(3);
        Sequential mirrored;
        using (strategy.Scope())
        {
            mirrored = new Sequential([new Dense(4, activation: "relu", kernelInitializer: Initializers.GlorotUniform(seed: 1)),
                new Dense(2, kernelInitializer: Initializers.GlorotUniform(seed: 2))]);
        }
        // Batches of 4 over 3 replicas (2-1-1), then a last batch of 3 (1-1-1); rows come back in order.
        var predicted = mirrored.Predict(x, batchSize: 4);
        TfSyncBN.Tests.Keras.Training.TrainingFixtures.Close(expected, predicted, 1e-6, "prediction");
    }

    [TestMethod]
    public void GetWeightsAndSetWeights_RoundTrip()
    {
        var model = Cnn();
        var saved = model.GetWeights();
        model.SetWeights(model.Weights.Select(w => Tensor.Zeros(w.Shape)).ToArray());
        Assert.IsTrue(model.Weights.All(w => w.Value.AsSpan().ToArray().All(v => v == 0)));
        model.SetWeights(saved);
        for (int i = 0; i < saved.Count; i++) KerasAssert.Identical(saved[i], model.Weights[i].Value);
        Assert.ThrowsExactly<ArgumentException>(() => model.SetWeights(saved.Take(3).ToArray()));
    }

    [TestMethod]
    [Timeout(10000)]
    public void AModelCompiledInsideAScope_AdoptsThatStrategy_IfItHasNoWeightsYet()
    {
        using var strategy = new MirroredStrategy(2);
        var model = new Sequential([new Dense(2)]);
        Assert.AreSame(Strategy.Default, model.Strategy);
        using (strategy.Scope()) model.Compile("sgd", "mse");
        Assert.AreSame(strategy, model.Strategy);
        model.Fit(Tensor.Ones([4, 3]), Tensor.Zeros([4, 2]), batchSize: 4, verbose: 0);
        Assert.IsTrue(model.Weights.All(w => w.Replicas.Count == 2), "weights built under the adopted strategy are mirrored");

        var built = new Sequential([new Dense(2)], inputShape: [3]);
        using (strategy.Scope()) built.Compile("sgd", "mse");
        Assert.AreSame(Strategy.Default, built.Strategy, "a built model keeps its single-copy weights and its strategy");
    }
}
