using System.Text.Json;
using TfSyncBN.Distribute;
using TfSyncBN.Keras;
using TfSyncBN.Tensors;
using TfSyncBN.Tests.TestUtil;

namespace TfSyncBN.Tests.Keras.Saving;

/// <summary>Model JSON, weights on models, and ConvertSyncBatchNorm on a Sequential model.</summary>
[TestClass]
public sealed class ModelSavingTests
{
    private string dir = "";

    [TestInitialize]
    public void Setup()
    {
        dir = Path.Combine(Path.GetTempPath(), "tfsyncbn-model-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
    }

    [TestCleanup]
    public void Cleanup() => Directory.Delete(dir, recursive: true);

    /// <summary>A small CNN touching every kind of layer the example uses, with non-default options.</summary>
    private static Sequential SmallCnn(string name, bool sync = true) => new(
    [
        new Conv2D(4, [3, 3], padding: "same", kernelInitializer: Initializers.GlorotUniform(seed: 11), kernelRegularizer: Regularizers.L2(0.001f)),
        sync ? new SyncBatchNormalization(momentum: 0.9f, gammaConstraint: Constraints.NonNeg()) : new BatchNormalization(momentum: 0.9f, gammaConstraint: Constraints.NonNeg()),
        new ReLU(),
        new MaxPooling2D([2, 2]),
        new Flatten(),
        new Dense(6, activation: "relu", kernelInitializer: Initializers.GlorotUniform(seed: 12)),
        sync ? new SyncBatchNormalization(epsilon: 0.01f) : new BatchNormalization(epsilon: 0.01f),
        new Dropout(0.25f, seed: 3),
        new Dense(3, kernelInitializer: Initializers.GlorotUniform(seed: 13)),
    ], inputShape: [6, 6, 2], name: name);

    private static Tensor Images(int n, int seed) => TestData.Uniform(TestData.NewRandom(seed), [n, 6, 6, 2]);

    /// <summary>A few training steps so that every weight, including the moving statistics, leaves its initial value.</summary>
    private static void Train(Model model)
    {
        model.Compile(new Adam(learningRate: 0.01f), new SparseCategoricalCrossentropy(fromLogits: true));
        var y = Tensor.FromArray([0f, 1f, 2f, 1f, 0f, 2f, 1f, 1f]);
        model.Fit(Images(8, 1), y, batchSize: 4, epochs: 2, verbose: 0, seed: 0);
    }

    private static int[] Bits(Tensor t) => t.ToArray().Select(BitConverter.SingleToInt32Bits).ToArray();

    [TestMethod]
    public void ToJson_HasTheKerasShape()
    {
        var model = SmallCnn("json_shape");
        using var doc = JsonDocument.Parse(model.ToJson());
        var root = doc.RootElement;
        Assert.AreEqual("Sequential", root.GetProperty("class_name").GetString());
        var config = root.GetProperty("config");
        Assert.AreEqual("json_shape", config.GetProperty("name").GetString());
        var layers = config.GetProperty("layers").EnumerateArray().ToArray();
        Assert.HasCount(10, layers);
        Assert.AreEqual("InputLayer", layers[0].GetProperty("class_name").GetString());
        Assert.AreEqual("[null,6,6,2]", layers[0].GetProperty("config").GetProperty("batch_input_shape").GetRawText());
        CollectionAssert.AreEqual(
            new[] { "Conv2D", "SyncBatchNormalization", "ReLU", "MaxPooling2D", "Flatten", "Dense", "SyncBatchNormalization", "Dropout", "Dense" },
            layers.Skip(1).Select(l => l.GetProperty("class_name").GetString()).ToArray());
        var bn = layers[2].GetProperty("config");
        Assert.IsTrue(bn.GetProperty("synchronized").GetBoolean());
        Assert.AreEqual("0.9", bn.GetProperty("momentum").GetRawText(), "floats are written in their shortest decimal form");
        Assert.AreEqual("NonNeg", bn.GetProperty("gamma_constraint").GetProperty("class_name").GetString());
        Assert.AreEqual(JsonValueKind.Null, bn.GetProperty("beta_regularizer").ValueKind);
        var conv = layers[1].GetProperty("config");
        Assert.AreEqual(4, conv.GetProperty("filters").GetInt32());
        Assert.AreEqual("same", conv.GetProperty("padding").GetString());
        Assert.AreEqual("L2", conv.GetProperty("kernel_regularizer").GetProperty("class_name").GetString());
    }

    [TestMethod]
    public void JsonRoundTrip_RebuildsTheSameConfigs()
    {
        var model = SmallCnn("json_round_trip");
        var rebuilt = Sequential.FromJson(model.ToJson(indented: true));
        Assert.AreEqual("json_round_trip", rebuilt.Name);
        Assert.IsTrue(rebuilt.Built);
        CollectionAssert.AreEqual(new[] { -1, 6, 6, 2 }, rebuilt.BuiltInputShape!.ToArray());
        Assert.HasCount(model.Layers.Count, rebuilt.Layers);
        for (int i = 0; i < model.Layers.Count; i++)
        {
            Assert.AreEqual(model.Layers[i].GetType(), rebuilt.Layers[i].GetType());
            KerasAssert.ConfigsEqual(model.Layers[i].GetConfig(), rebuilt.Layers[i].GetConfig(), $"layer {i}");
        }
        Assert.AreEqual(model.ToJson(), rebuilt.ToJson(), "a second round trip is a fixed point");
    }

    [TestMethod]
    [Timeout(10000, CooperativeCancellation = true)]
    public void RebuiltFromJsonPlusWeights_PredictsBitwiseIdentically()
    {
        var model = SmallCnn("json_weights");
        Train(model);
        var json = model.ToJson();
        var path = Path.Combine(dir, "m.weights");
        model.SaveWeights(path);

        var rebuilt = Sequential.FromJson(json);
        var x = Images(5, 42);
        CollectionAssert.AreNotEqual(Bits(model.Predict(x)), Bits(rebuilt.Predict(x)), "fresh weights must differ, or the test proves nothing");
        rebuilt.LoadWeights(path);
        CollectionAssert.AreEqual(Bits(model.Predict(x)), Bits(rebuilt.Predict(x)));
        for (int i = 0; i < model.Weights.Count; i++)
            CollectionAssert.AreEqual(Bits(model.Weights[i].Value), Bits(rebuilt.Weights[i].Value), model.Weights[i].Name);
    }

    [TestMethod]
    public void SaveAndLoad_NeedABuiltModel()
    {
        var unbuilt = new Sequential([new Dense(2)], name: "unbuilt_save");
        var e = Assert.ThrowsExactly<InvalidOperationException>(() => unbuilt.SaveWeights(Path.Combine(dir, "x")));
        StringAssert.Contains(e.Message, "not built");
        e = Assert.ThrowsExactly<InvalidOperationException>(() => unbuilt.LoadWeights(Path.Combine(dir, "x")));
        StringAssert.Contains(e.Message, "not built");
    }

    [TestMethod]
    public void LoadWeights_IntoADifferentArchitecture_ChangesNothing()
    {
        var a = new Sequential([new Dense(3), new Dense(2)], inputShape: [4], name: "arch_a");
        var b = new Sequential([new Dense(3), new Dense(5)], inputShape: [4], name: "arch_b");
        var path = Path.Combine(dir, "a.weights");
        a.SaveWeights(path);
        var before = b.Weights.Select(w => Bits(w.Value)).ToArray();
        var e = Assert.ThrowsExactly<InvalidDataException>(() => b.LoadWeights(path));
        StringAssert.Contains(e.Message, "has shape [3, 2], but 'dense");
        for (int i = 0; i < before.Length; i++) CollectionAssert.AreEqual(before[i], Bits(b.Weights[i].Value));
    }

    [TestMethod]
    public void FreezingALayerAfterSaving_DoesNotReorderTheFile()
    {
        var a = new Sequential([new Dense(3, kernelInitializer: Initializers.GlorotUniform(seed: 1)), new BatchNormalization(), new Dense(2, kernelInitializer: Initializers.GlorotUniform(seed: 2))], inputShape: [4], name: "freeze_a");
        var b = new Sequential([new Dense(3), new BatchNormalization(), new Dense(2)], inputShape: [4], name: "freeze_b");
        CollectionAssert.AreEqual(new[] { "kernel", "bias", "gamma", "beta", "moving_mean", "moving_variance", "kernel", "bias" },
            a.SavedWeights.Select(w => w.Name.Split('/')[^1]).ToArray(), "layer by layer");
        var path = Path.Combine(dir, "freeze.weights");
        a.SaveWeights(path);
        b.Layers[0].Trainable = false; // Model.Weights would now list dense_1's kernel before dense's
        b.LoadWeights(path);
        for (int i = 0; i < a.SavedWeights.Count; i++)
            CollectionAssert.AreEqual(Bits(a.SavedWeights[i].Value), Bits(b.SavedWeights[i].Value), a.SavedWeights[i].Name);
    }

    [TestMethod]
    public void FromJson_Errors()
    {
        void Fails(string json, string fragment)
        {
            var e = Assert.ThrowsExactly<ArgumentException>(() => Sequential.FromJson(json));
            Assert.AreEqual("json", e.ParamName);
            StringAssert.Contains(e.Message, fragment);
        }
        Fails("{", "not valid JSON");
        Fails("[1]", "must be an object");
        Fails("""{"class_name":"Functional","config":{"layers":[]}}""", "describes a 'Functional', but only 'Sequential'");
        Fails("""{"class_name":"Sequential","config":{"name":"m"}}""", "no 'layers' list");
        Fails("""{"class_name":"Sequential","config":{"layers":[{"class_name":"LSTM","config":{}}]}}""", "Layer entry 0 of the model JSON: Unknown layer 'LSTM'");
        Fails("""{"class_name":"Sequential","config":{"layers":[{"class_name":"Dense","config":{"units":2,"colour":"red"}}]}}""", "unknown key 'colour'");
        Fails("""{"class_name":"Sequential","config":{"layers":[{"class_name":"InputLayer","config":{"batch_input_shape":[null,null]}}]}}""", "only the batch dimension may be unknown");
        Assert.ThrowsExactly<ArgumentNullException>(() => Sequential.FromJson(null!));
    }

    [TestMethod]
    public void FromJson_ReadsTfKerasJson()
    {
        // The shape tf.keras 2.x writes for Sequential([Dense(3, input_shape=(4,)), BatchNormalization()]), trimmed to
        // the keys this library knows (initializer configs as Keras writes them).
        var json = """
        {"class_name": "Sequential", "config": {"name": "sequential_7", "layers": [
          {"class_name": "InputLayer", "config": {"batch_input_shape": [null, 4], "dtype": "float32", "sparse": false, "ragged": false, "name": "dense_input"}},
          {"class_name": "Dense", "config": {"name": "dense_9", "trainable": true, "dtype": "float32", "units": 3, "activation": "linear", "use_bias": true,
            "kernel_initializer": {"class_name": "GlorotUniform", "config": {"seed": null}}, "bias_initializer": {"class_name": "Zeros", "config": {}},
            "kernel_regularizer": null, "bias_regularizer": null, "kernel_constraint": null, "bias_constraint": null}},
          {"class_name": "BatchNormalization", "config": {"name": "batch_normalization_2", "trainable": true, "dtype": "float32", "axis": [1],
            "momentum": 0.99, "epsilon": 0.001, "center": true, "scale": true}}]},
         "keras_version": "2.13.1", "backend": "tensorflow"}
        """;
        var model = Sequential.FromJson(json);
        Assert.AreEqual("sequential_7", model.Name);
        CollectionAssert.AreEqual(new[] { -1, 4 }, model.BuiltInputShape!.ToArray());
        var dense = (Dense)model.Layers[0];
        Assert.AreEqual(3, dense.Units);
        var bn = (BatchNormalization)model.Layers[1];
        Assert.IsFalse(bn.Synchronized);
        CollectionAssert.AreEqual(new[] { 1 }, bn.Axis.ToArray());
        CollectionAssert.AreEqual(new[] { 3 }, bn.MovingMean!.Shape.ToArray());
    }

    [TestMethod]
    public void FromJson_Keras3ScalarAxis_IsAxisMinusOne()
    {
        // Keras 3 writes axis as a plain int ("axis": -1) and keeps "synchronized"; on a [N, 3, 3, 2] input -1 is axis 3.
        var json = """
        {"class_name": "Sequential", "config": {"name": "k3", "layers": [
          {"class_name": "InputLayer", "config": {"batch_shape": [null, 3, 3, 2], "name": "input_layer"}},
          {"class_name": "BatchNormalization", "config": {"name": "batch_normalization", "trainable": true, "axis": -1,
            "momentum": 0.9, "epsilon": 0.001, "center": true, "scale": true, "synchronized": true}}]}}
        """;
        var model = Sequential.FromJson(json);
        var bn = (BatchNormalization)model.Layers[0];
        Assert.IsTrue(bn.Synchronized);
        CollectionAssert.AreEqual(new[] { 3 }, bn.Axis.ToArray(), "-1 resolved against rank 4");
        CollectionAssert.AreEqual(new[] { 2 }, bn.MovingMean!.Shape.ToArray(), "one statistic per channel of the last axis");

        // Training-mode output and moving mean against an independent float64 computation over N, H, W per channel.
        var x = TestData.Uniform(TestData.NewRandom(8), [4, 3, 3, 2]);
        var y = bn.Call(x, training: true).ToArray();
        var data = x.ToArray();
        var expected = new double[data.Length];
        var movingMean = new double[2];
        for (int c = 0; c < 2; c++)
        {
            var idx = Enumerable.Range(0, data.Length).Where(i => i % 2 == c).ToArray();
            double mean = idx.Average(i => (double)data[i]);
            double var = idx.Average(i => (data[i] - mean) * (data[i] - mean));
            foreach (int i in idx) expected[i] = (data[i] - mean) / Math.Sqrt(var + 1e-3);
            movingMean[c] = 0.1 * mean;
        }
        TestData.AssertClose(y, expected, 1e-5, 1e-5, "y");
        TestData.AssertClose(bn.MovingMean.Value.AsSpan(), movingMean, 1e-6, 1e-5, "moving_mean");

        // Written back as the resolved list, which reads back to the same layer.
        var again = Sequential.FromJson(model.ToJson());
        CollectionAssert.AreEqual(new[] { 3 }, ((BatchNormalization)again.Layers[0]).Axis.ToArray());
    }

    [TestMethod]
    [Timeout(10000, CooperativeCancellation = true)]
    public void ConvertSyncBatchNorm_ReplacesEveryBatchNorm_AndPredictsIdentically()
    {
        var model = SmallCnn("convert_model", sync: false);
        Train(model);
        var converted = SyncBatchNormConversion.ConvertSyncBatchNorm(model);
        Assert.AreEqual("convert_model", converted.Name);
        Assert.IsTrue(converted.Built);
        Assert.IsFalse(converted.IsCompiled);
        for (int i = 0; i < model.Layers.Count; i++)
        {
            if (model.Layers[i] is BatchNormalization bn)
            {
                var sync = (SyncBatchNormalization)converted.Layers[i];
                Assert.AreEqual(bn.Momentum, sync.Momentum);
                Assert.AreEqual(bn.Epsilon, sync.Epsilon);
                Assert.AreSame(bn.GammaConstraint, sync.GammaConstraint);
            }
            else
            {
                Assert.AreSame(model.Layers[i], converted.Layers[i], "other layers are kept");
            }
        }
        Assert.HasCount(model.Weights.Count, converted.Weights);
        for (int i = 0; i < model.Weights.Count; i++)
        {
            Assert.AreEqual(model.Weights[i].Name, converted.Weights[i].Name);
            CollectionAssert.AreEqual(Bits(model.Weights[i].Value), Bits(converted.Weights[i].Value), model.Weights[i].Name);
        }
        var x = Images(4, 9);
        CollectionAssert.AreEqual(Bits(model.Predict(x)), Bits(converted.Predict(x)));
    }

    [TestMethod]
    [Timeout(20000, CooperativeCancellation = true)]
    public void MirroredModel_SavesReplicaZero_AndLoadsIntoEveryReplica()
    {
        using var strategy = new MirroredStrategy(2);
        Sequential model, other;
        using (strategy.Scope())
        {
            model = new Sequential([new Dense(3, kernelInitializer: Initializers.GlorotUniform(seed: 1)), new SyncBatchNormalization()], inputShape: [4], name: "mirrored_save");
            other = new Sequential([new Dense(3, kernelInitializer: Initializers.GlorotUniform(seed: 2)), new SyncBatchNormalization()], inputShape: [4], name: "mirrored_load");
        }
        model.Compile(new SGD(learningRate: 0.1f), new MeanSquaredError());
        model.Fit(TestData.Uniform(TestData.NewRandom(3), [8, 4]), TestData.Uniform(TestData.NewRandom(4), [8, 3]), batchSize: 8, epochs: 2, verbose: 0, seed: 0);
        var path = Path.Combine(dir, "mirrored.weights");
        model.SaveWeights(path);
        var saved = WeightsFile.Read(path);
        for (int i = 0; i < saved.Count; i++)
        {
            CollectionAssert.AreEqual(model.Weights[i].Replicas[0].ToArray(), saved[i].Values, saved[i].Name);
            CollectionAssert.AreEqual(model.Weights[i].Replicas[1].ToArray(), saved[i].Values, "synchronized training keeps the copies equal");
        }
        other.LoadWeights(path);
        for (int i = 0; i < saved.Count; i++)
            foreach (var copy in other.Weights[i].Replicas) CollectionAssert.AreEqual(saved[i].Values, copy.ToArray(), other.Weights[i].Name);
    }
}
