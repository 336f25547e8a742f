using System.Text.Json;
using TfSyncBN.Distribute;
using TfSyncBN.Keras;
using TfSyncBN.Tensors;
using TfSyncBN.Tests.TestUtil;
using FunctionalModel = TfSyncBN.Keras.Functional;

namespace TfSyncBN.Tests.Keras.Functional;

/// <summary>Functional models: graph wiring against hand computations, shared layers, several inputs and outputs,
/// nested models, JSON and weights round trips, conversion to SyncBN, and the summary.</summary>
[TestClass]
public sealed class FunctionalModelTests
{
    internal static Dense SeededDense(int units, int seed, string? name = null) =>
        new(units, kernelInitializer: Initializers.GlorotUniform(seed: seed), biasInitializer: Initializers.RandomUniform(-0.5f, 0.5f, seed: seed + 100), name: name);

    /// <summary>x·K + b in float64 for x [n, k], K [k, m], b [m].</summary>
    private static double[] Affine(float[] x, float[] k, float[] b, int n, int kk, int m)
    {
        var y = new double[n * m];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < m; j++)
            {
                double s = b[j];
                for (int t = 0; t < kk; t++) s += (double)x[i * kk + t] * k[t * m + j];
                y[i * m + j] = s;
            }
        return y;
    }

    private static void Close(IReadOnlyList<double> expected, Tensor actual, double tol, string what)
    {
        var a = actual.ToArray();
        Assert.AreEqual(expected.Count, a.Length, $"{what}: size");
        for (int i = 0; i < a.Length; i++) Assert.AreEqual(expected[i], a[i], tol * Math.Max(1, Math.Abs(expected[i])), $"{what}[{i}]");
    }

    [TestMethod]
    public void ResidualBlock_EqualsTheHandComputation()
    {
        var x = Model.Input([5, 5, 3]);
        var conv = new Conv2D(3, [3, 3], padding: "same", kernelInitializer: Initializers.GlorotUniform(seed: 7));
        var y = new ReLU().Call(new Add().Call([x, conv.Call(x)]));
        var model = new FunctionalModel([x], [y]);
        CollectionAssert.AreEqual(new[] { -1, 5, 5, 3 }, y.Shape.ToArray());
        Assert.AreEqual(4, model.Layers.Count, "InputLayer, Conv2D, Add, ReLU");
        Assert.IsInstanceOfType<InputLayer>(model.Layers[0]);

        var data = TestData.Uniform(TestData.NewRandom(1), [2, 5, 5, 3]);
        var xs = data.ToArray();
        var c = ReferenceNn.Conv2D(xs, 2, 5, 5, 3, conv.Kernel!.Value.ToArray(), 3, 3, 3, 1, 1, same: true, out var shape);
        var bias = conv.Bias!.Value.ToArray();
        var expected = new double[c.Length];
        for (int i = 0; i < c.Length; i++) expected[i] = Math.Max(0, xs[i] + c[i] + bias[i % 3]);
        Close(expected, model.Call(data), 1e-5, "relu(x + conv(x))");
        Close(expected, model.Predict(data, batchSize: 1), 1e-5, "Predict");
        // Negative control: without the skip connection the result differs.
        var plain = new double[c.Length];
        for (int i = 0; i < c.Length; i++) plain[i] = Math.Max(0, c[i] + bias[i % 3]);
        Assert.IsTrue(plain.Zip(model.Call(data).ToArray()).Any(p => Math.Abs(p.First - p.Second) > 1e-2));
    }

    [TestMethod]
    public void SharedLayer_HasOneSetOfWeights_AndItsGradientSumsBothUses()
    {
        var a = Model.Input([4]);
        var b = Model.Input([4]);
        var shared = SeededDense(3, 1);
        var y = new Multiply().Call([shared.Call(a), shared.Call(b)]);
        var model = new FunctionalModel([a, b], [y]);
        Assert.AreEqual(2, model.TrainableWeights.Count, "kernel and bias once");
        Assert.AreEqual(2, shared.InboundNodes.Count);

        var rng = TestData.NewRandom(2);
        var xa = TestData.Uniform(rng, [3, 4]);
        var xb = TestData.Uniform(rng, [3, 4]);
        var u = TestData.Uniform(rng, [3, 3]);
        double Loss()
        {
            using var pause = GradientTape.Pause();
            var o = model.Call([xa, xb])[0].ToArray();
            var w = u.ToArray();
            return o.Select((v, i) => (double)v * w[i]).Sum();
        }
        IReadOnlyList<Tensor?> grads;
        using (var tape = new GradientTape())
        {
            var o = model.Call([xa, xb])[0];
            grads = tape.Gradient((o * u).Sum(), model.TrainableWeights);
        }
        // Finite differences on every kernel and bias element.
        const float h = 1e-2f;
        foreach (var (variable, grad) in model.TrainableWeights.Zip(grads))
        {
            var values = variable.Value.ToArray();
            var g = grad!.ToArray();
            for (int e = 0; e < values.Length; e++)
            {
                var plus = (float[])values.Clone();
                plus[e] += h;
                variable.Assign(Tensor.FromArray(plus, [.. variable.Shape]));
                double lp = Loss();
                var minus = (float[])values.Clone();
                minus[e] -= h;
                variable.Assign(Tensor.FromArray(minus, [.. variable.Shape]));
                double lm = Loss();
                variable.Assign(Tensor.FromArray(values, [.. variable.Shape]));
                double numeric = (lp - lm) / ((double)plus[e] - minus[e]);
                Assert.AreEqual(numeric, g[e], 2e-3 + 1e-2 * Math.Abs(numeric), $"{variable.Name}[{e}]");
            }
        }
        // Negative control: the gradient of one use only (b's branch cut off) differs from the tape's.
        using (var tape = new GradientTape())
        {
            var o = shared.Call(xa) * shared.Call(xb).StopGradient();
            var one = tape.Gradient((o * u).Sum(), model.TrainableWeights);
            Assert.IsTrue(one[0]!.ToArray().Zip(grads[0]!.ToArray()).Any(p => Math.Abs(p.First - p.Second) > 1e-2));
        }
    }

    [TestMethod]
    public void TwoInputsTwoOutputs_EqualTheHandComputation()
    {
        var a = Model.Input([3], name: "a");
        var b = Model.Input([2], name: "b");
        var d1 = SeededDense(2, 3);
        var d2 = SeededDense(3, 4);
        var o1 = d1.Call(new Concatenate().Call([a, b]));
        var o2 = new Subtract().Call([a, d2.Call(b)]);
        var model = new FunctionalModel([a, b], [o1, o2]);
        var rng = TestData.NewRandom(5);
        var xa = TestData.Uniform(rng, [4, 3]);
        var xb = TestData.Uniform(rng, [4, 2]);
        var outputs = model.Call([xa, xb]);
        Assert.AreEqual(2, outputs.Count);
        var cat = new float[4 * 5];
        for (int i = 0; i < 4; i++)
        {
            Array.Copy(xa.ToArray(), i * 3, cat, i * 5, 3);
            Array.Copy(xb.ToArray(), i * 2, cat, i * 5 + 3, 2);
        }
        Close(Affine(cat, d1.Kernel!.Value.ToArray(), d1.Bias!.Value.ToArray(), 4, 5, 2), outputs[0], 1e-6, "output 0");
        var p = Affine(xb.ToArray(), d2.Kernel!.Value.ToArray(), d2.Bias!.Value.ToArray(), 4, 2, 3);
        Close(xa.ToArray().Select((v, i) => v - p[i]).ToArray(), outputs[1], 1e-6, "output 1");

        Assert.ThrowsExactly<ArgumentException>(() => model.Call(xa), "one tensor for a two-input model");
        Assert.ThrowsExactly<ArgumentException>(() => model.Call([xb, xa]), "inputs swapped: shapes do not match");
        model.Compile("sgd", "mse");
        var e = Assert.ThrowsExactly<ArgumentException>(() => model.Fit(xa, xa, verbose: 0));
        StringAssert.Contains(e.Message, "2 inputs");
    }

    [TestMethod]
    public void BadGraphs_AreRejected()
    {
        var a = Model.Input([3]);
        var b = Model.Input([3]);
        var y = new Add().Call([a, b]);
        var e = Assert.ThrowsExactly<ArgumentException>(() => new FunctionalModel([a], [y]));
        StringAssert.Contains(e.Message, "Graph disconnected");
        e = Assert.ThrowsExactly<ArgumentException>(() => new FunctionalModel([a, a], [a]));
        StringAssert.Contains(e.Message, "twice");
        e = Assert.ThrowsExactly<ArgumentException>(() => new FunctionalModel([y], [y]));
        StringAssert.Contains(e.Message, "InputLayer");
        var twin = new Dense(2, name: "twin").Call(new Dense(3, name: "twin").Call(a));
        e = Assert.ThrowsExactly<ArgumentException>(() => new FunctionalModel([a], [twin]));
        StringAssert.Contains(e.Message, "unique");
        Assert.ThrowsExactly<ArgumentException>(() => new FunctionalModel([], [y]));
    }

    private static (FunctionalModel Inner, FunctionalModel Outer) Nested(bool batchNorm = false)
    {
        var i = Model.Input([4], name: "inner_in");
        var h = SeededDense(4, 11, name: "inner_dense").Call(i);
        if (batchNorm) h = new BatchNormalization(momentum: 0.5f, name: "inner_bn").Call(h);
        var inner = new FunctionalModel([i], [new ReLU(name: "inner_relu").Call(h)], name: "inner");
        var x = Model.Input([4], name: "outer_in");
        var z = inner.Call(x);
        var y = SeededDense(2, 12, name: "outer_dense").Call(new Add(name: "outer_add").Call([z, inner.Call(z)]));
        return (inner, new FunctionalModel([x], [y], name: "outer"));
    }

    [TestMethod]
    public void NestedModel_IsALayerSharingItsWeights()
    {
        var (inner, outer) = Nested();
        var modelLayer = outer.Layers.OfType<ModelLayer>().Single();
        Assert.AreSame(inner, modelLayer.Model);
        Assert.AreEqual("Functional", modelLayer.ClassName);
        Assert.AreEqual(4, outer.TrainableWeights.Count, "inner kernel and bias once, outer kernel and bias");
        var x = TestData.Uniform(TestData.NewRandom(6), [3, 4]);
        var z = inner.Call(x);
        var expected = outer.Layers.OfType<Dense>().Single().Call(z.Add(inner.Call(z)));
        Close(expected.ToArray().Select(v => (double)v).ToArray(), outer.Call(x), 1e-6, "outer(x)");
        // Gradients reach the inner weights through both uses.
        using var tape = new GradientTape();
        var grads = tape.Gradient(outer.Call(x).Sum(), inner.TrainableWeights);
        Assert.IsTrue(grads.All(g => g is not null && g.ToArray().Any(v => v != 0)));
    }

    [TestMethod]
    public void Json_RoundTripsInKerasLayout_AndGivesTheSamePredictions()
    {
        var (_, outer) = Nested(batchNorm: true);
        var json = outer.ToJson();
        using (var doc = JsonDocument.Parse(json))
        {
            var root = doc.RootElement;
            Assert.AreEqual("Functional", root.GetProperty("class_name").GetString());
            var config = root.GetProperty("config");
            Assert.AreEqual("outer", config.GetProperty("name").GetString());
            var layers = config.GetProperty("layers").EnumerateArray().ToArray();
            Assert.AreEqual("InputLayer", layers[0].GetProperty("class_name").GetString());
            Assert.AreEqual(0, layers[0].GetProperty("inbound_nodes").GetArrayLength());
            var innerEntry = layers.Single(l => l.GetProperty("name").GetString() == "inner");
            Assert.AreEqual("Functional", innerEntry.GetProperty("class_name").GetString());
            Assert.AreEqual("[[[\"outer_in\",0,0,{}]],[[\"inner\",0,0,{}]]]", innerEntry.GetProperty("inbound_nodes").GetRawText());
            var add = layers.Single(l => l.GetProperty("name").GetString() == "outer_add");
            Assert.AreEqual("[[[\"inner\",0,0,{}],[\"inner\",1,0,{}]]]", add.GetProperty("inbound_nodes").GetRawText());
            Assert.AreEqual("[[\"outer_in\",0,0]]", config.GetProperty("input_layers").GetRawText());
            Assert.AreEqual("[[\"outer_dense\",0,0]]", config.GetProperty("output_layers").GetRawText());
        }
        var rebuilt = FunctionalModel.FromJson(json);
        Assert.AreEqual(json, rebuilt.ToJson(), "a round trip is a fixed point");
        var x = TestData.Uniform(TestData.NewRandom(7), [5, 4]);
        rebuilt.SetWeights(rebuilt.GetWeights().Select(w => w + 0.5f).ToArray());
        Assert.IsTrue(outer.Predict(x).ToArray().Zip(rebuilt.Predict(x).ToArray()).Any(p => Math.Abs(p.First - p.Second) > 1e-3),
            "other weights predict differently (negative control)");
        var path = Path.GetTempFileName();
        try
        {
            outer.SaveWeights(path);
            rebuilt.LoadWeights(path);
        }
        finally
        {
            File.Delete(path);
        }
        CollectionAssert.AreEqual(outer.Predict(x).ToArray(), rebuilt.Predict(x).ToArray(), "same weights, same predictions");
        Assert.AreEqual(outer.SavedWeights.Count, rebuilt.SavedWeights.Count);
    }

    [TestMethod]
    public void FromJson_ReadsTfKerasAndKeras3Layouts()
    {
        const string tfKeras = """
            {"class_name": "Functional", "config": {"name": "model", "layers": [
              {"class_name": "InputLayer", "config": {"batch_input_shape": [null, 4], "dtype": "float32", "sparse": false, "ragged": false, "name": "input_1"}, "name": "input_1", "inbound_nodes": []},
              {"class_name": "Dense", "config": {"name": "dense", "trainable": true, "dtype": "float32", "units": 4, "activation": "relu", "use_bias": true,
                "kernel_initializer": {"class_name": "GlorotUniform", "config": {"seed": null}}, "bias_initializer": {"class_name": "Zeros", "config": {}},
                "kernel_regularizer": null, "bias_regularizer": null, "kernel_constraint": null, "bias_constraint": null},
               "name": "dense", "inbound_nodes": [[["input_1", 0, 0, {}]]]},
              {"class_name": "Add", "config": {"name": "add", "trainable": true, "dtype": "float32"}, "name": "add",
               "inbound_nodes": [[["input_1", 0, 0, {}], ["dense", 0, 0, {}]]]}],
             "input_layers": [["input_1", 0, 0]], "output_layers": [["add", 0, 0]]}, "keras_version": "2.11.0", "backend": "tensorflow"}
            """;
        var model = FunctionalModel.FromJson(tfKeras);
        Assert.AreEqual("model", model.Name);
        CollectionAssert.AreEqual(new[] { "input_1", "dense", "add" }, model.Layers.Select(l => l.Name).ToArray());
        var x = TestData.Uniform(TestData.NewRandom(8), [2, 4]);
        var dense = (Dense)model.Layers[1];
        var d = Affine(x.ToArray(), dense.Kernel!.Value.ToArray(), dense.Bias!.Value.ToArray(), 2, 4, 4);
        Close(x.ToArray().Select((v, i) => v + Math.Max(0, d[i])).ToArray(), model.Call(x), 1e-6, "x + relu(dense(x))");

        const string keras3 = """
            {"class_name": "Functional", "config": {"name": "k3", "layers": [
              {"class_name": "InputLayer", "config": {"batch_shape": [null, 3], "dtype": "float32", "sparse": false, "name": "input_layer"}, "name": "input_layer", "inbound_nodes": []},
              {"class_name": "Concatenate", "config": {"name": "concatenate", "trainable": true, "dtype": "float32", "axis": -1}, "name": "concatenate",
               "inbound_nodes": [{"args": [[{"class_name": "__keras_tensor__", "config": {"shape": [null, 3], "dtype": "float32", "keras_history": ["input_layer", 0, 0]}},
                                            {"class_name": "__keras_tensor__", "config": {"shape": [null, 3], "dtype": "float32", "keras_history": ["input_layer", 0, 0]}}]], "kwargs": {}}]}],
             "input_layers": ["input_layer", 0, 0], "output_layers": ["concatenate", 0, 0]}}
            """;
        var k3 = FunctionalModel.FromJson(keras3);
        var x3 = TestData.Uniform(TestData.NewRandom(9), [2, 3]);
        CollectionAssert.AreEqual(Tensor.Concat([x3, x3], 1).ToArray(), k3.Call(x3).ToArray());

        var e = Assert.ThrowsExactly<ArgumentException>(() => FunctionalModel.FromJson(tfKeras.Replace("[[\"input_1\", 0, 0, {}]]]}", "[[\"nowhere\", 0, 0, {}]]]}")));
        StringAssert.Contains(e.Message, "dense");
        Assert.AreEqual("json", e.ParamName);
        e = Assert.ThrowsExactly<ArgumentException>(() => FunctionalModel.FromJson("""{"class_name": "Sequential", "config": {"layers": []}}"""));
        StringAssert.Contains(e.Message, "Sequential.FromJson");
    }

    [TestMethod]
    public void ConvertSyncBatchNorm_ReachesBatchNormInANestedModel()
    {
        var (inner, outer) = Nested(batchNorm: true);
        var x = TestData.Uniform(TestData.NewRandom(10), [6, 4]);
        outer.Call(x, training: true); // moving statistics away from their initial values
        var converted = SyncBatchNormConversion.ConvertSyncBatchNorm(outer);
        Assert.AreEqual("outer", converted.Name);
        var nested = converted.Layers.OfType<ModelLayer>().Single().Model;
        Assert.AreNotSame(inner, nested);
        Assert.AreEqual(1, nested.Layers.OfType<SyncBatchNormalization>().Count(), "the nested BN became SyncBN");
        Assert.IsFalse(nested.Layers.Any(l => l.GetType() == typeof(BatchNormalization)));
        Assert.AreEqual(1, inner.Layers.Count(l => l.GetType() == typeof(BatchNormalization)), "the original is unchanged");
        CollectionAssert.AreEqual(outer.Predict(x).ToArray(), converted.Predict(x).ToArray(), "same computation without a strategy");
        CollectionAssert.AreEqual(
            outer.Call(x, training: true).ToArray(), converted.Call(x, training: true).ToArray(), "same training-mode computation");
    }

    [TestMethod]
    [Timeout(30000)]
    public void Fit_OfAFunctionalModelWithSyncBN_OnTwoReplicas_EqualsSingleDevice()
    {
        static FunctionalModel Build()
        {
            var x = Model.Input([5]);
            var h = new Dense(6, useBias: false, kernelInitializer: Initializers.GlorotUniform(seed: 31)).Call(x);
            h = new ReLU().Call(new SyncBatchNormalization(momentum: 0.8f).Call(h));
            var skip = new Dense(6, kernelInitializer: Initializers.GlorotUniform(seed: 32)).Call(x);
            var y = new Dense(3, kernelInitializer: Initializers.GlorotUniform(seed: 33)).Call(new Add().Call([h, skip]));
            var model = new FunctionalModel([x], [y]);
            model.Compile(new SGD(learningRate: 0.1f, momentum: 0.9f), new SparseCategoricalCrossentropy(fromLogits: true), ["accuracy"]);
            return model;
        }
        var (xs, ys) = Training.TrainingFixtures.Data([5], seed: 5);
        var single = Build();
        var expected = single.Fit(xs, ys, batchSize: 8, epochs: 2, verbose: 0, shuffle: false);
        using var strategy = new MirroredStrategy(2);
        FunctionalModel model;
        using (strategy.Scope()) model = Build();
        Assert.AreSame(strategy, model.Strategy);
        var history = model.Fit(xs, ys, batchSize: 8, epochs: 2, verbose: 0, shuffle: false);
        for (int e = 0; e < 2; e++)
        {
            Assert.AreEqual(expected["loss"][e], history["loss"][e], 1e-4 * Math.Max(1, expected["loss"][e]), $"loss of epoch {e}");
            Assert.AreEqual(expected["accuracy"][e], history["accuracy"][e], 1e-12, $"accuracy of epoch {e}");
        }
        var sw = single.Weights;
        var mw = model.Weights;
        Assert.AreEqual(sw.Count, mw.Count);
        for (int i = 0; i < sw.Count; i++)
        {
            Assert.AreEqual(2, mw[i].Replicas.Count, mw[i].Name);
            for (int r = 0; r < 2; r++) Training.TrainingFixtures.Close(sw[i].Value, mw[i].Replicas[r], 1e-4, $"{mw[i].Name} on replica {r}");
        }
        Assert.IsTrue(sw.Any(w => w.Name.Contains("moving_mean") && w.Value.ToArray().Any(v => Math.Abs(v) > 1e-2)), "moving statistics moved");
        var eval = model.Evaluate(xs, ys, batchSize: 8);
        Assert.AreEqual(single.Evaluate(xs, ys, batchSize: 8)["loss"], eval["loss"], 1e-4);
    }

    [TestMethod]
    public void Summary_HasAConnectedToColumn_AndPrintsToTheConsoleByDefault()
    {
        var (_, outer) = Nested();
        var lines = new List<string>();
        var text = outer.Summary(lines.Add);
        Assert.AreEqual(text, string.Join("\n", lines));
        Assert.AreEqual(98, lines[1].Length, "Keras' functional width");
        StringAssert.Contains(lines[2], "Connected to");
        // Keras' functional columns end at 33%, 55% and 67% of the width: 32, 53 and 65 of 98.
        static string Row(string a, string b, string c, string d) => a.PadRight(32) + b.PadRight(21) + c.PadRight(12) + d;
        Assert.AreEqual(Row(" Layer (type)", "Output Shape", "Param #", "Connected to"), lines[2]);
        int add = lines.FindIndex(l => l.StartsWith(" outer_add (Add)", StringComparison.Ordinal));
        Assert.AreEqual(Row(" outer_add (Add)", "(None, 4)", "0", "inner[0][0]"), lines[add]);
        Assert.AreEqual(Row("", "", "", "inner[1][0]"), lines[add + 1]);
        Assert.AreEqual(Row(" outer_in (InputLayer)", "(None, 4)", "0", "").TrimEnd(), lines[4]);
        int inner = lines.FindIndex(l => l.StartsWith(" inner (Functional)", StringComparison.Ordinal));
        StringAssert.Contains(lines[inner], "20");
        StringAssert.Contains(lines[inner], "outer_in[0][0]");
        StringAssert.Contains(text, "Total params: 30 (120.00 B)");
        var html = TfSyncBN.Display.Html.Model(outer);
        StringAssert.Contains(html, "<td>outer_add (Add)</td><td>(None, 4)</td><td>0</td>");

        var console = new StringWriter();
        var previous = Console.Out;
        Console.SetOut(console);
        try
        {
            outer.Summary();
        }
        finally
        {
            Console.SetOut(previous);
        }
        StringAssert.Contains(console.ToString(), lines[add + 1]);
    }

    [TestMethod]
    [Timeout(30000)]
    public void ReadmeExample_BuildsTrainsAndSummarizes()
    {
        var x = Model.Input([8, 8, 16]);
        var y = new ReLU().Call(new Add().Call([x, new Conv2D(16, [3, 3], padding: "same").Call(x)]));
        var block = new FunctionalModel([x], [y], name: "residual");
        var z = Model.Input([8, 8, 16]);
        var logits = new Dense(10).Call(new Flatten().Call(block.Call(block.Call(z))));
        var model = new FunctionalModel([z], [logits]);
        model.Compile("adam", "sparse_categorical_crossentropy", ["accuracy"]);
        var lines = new List<string>();
        model.Summary(lines.Add);
        Assert.IsTrue(lines.Any(l => l.Contains("residual (Functional)") && l.Contains("2,320") && l.Contains("input_layer")));
        var images = TestData.Uniform(TestData.NewRandom(12), [4, 8, 8, 16]);
        var history = model.Fit(images, Tensor.FromArray([1f, 2f, 3f, 4f]), batchSize: 2, epochs: 1, verbose: 0);
        Assert.AreEqual(1, history["loss"].Count);
        CollectionAssert.AreEqual(new[] { 4, 10 }, model.Predict(images).Shape.ToArray());
        Assert.AreEqual(2, block.TrainableWeights.Count, "the block used twice holds one kernel and one bias");
    }

    [TestMethod]
    public void NestedSequential_RoundTripsThroughJson_AndConverts()
    {
        var seq = new Sequential([SeededDense(3, 41), new BatchNormalization(name: "seq_bn")], name: "stack");
        var x = Model.Input([2]);
        var model = new FunctionalModel([x], [new Concatenate().Call([x, seq.Call(x)])]);
        Assert.IsTrue(seq.Built, "calling an unbuilt Sequential on a symbolic tensor builds it");
        var json = model.ToJson();
        StringAssert.Contains(json, "\"class_name\":\"Sequential\"");
        var rebuilt = FunctionalModel.FromJson(json);
        Assert.AreEqual(json, rebuilt.ToJson());
        var nested = rebuilt.Layers.OfType<ModelLayer>().Single().Model;
        Assert.IsInstanceOfType<Sequential>(nested);
        rebuilt.SetWeights(model.GetWeights());
        var data = TestData.Uniform(TestData.NewRandom(13), [3, 2]);
        CollectionAssert.AreEqual(model.Predict(data).ToArray(), rebuilt.Predict(data).ToArray());
        var converted = SyncBatchNormConversion.ConvertSyncBatchNorm(model);
        var convertedSeq = (Sequential)converted.Layers.OfType<ModelLayer>().Single().Model;
        Assert.IsInstanceOfType<SyncBatchNormalization>(convertedSeq.Layers[1]);
        CollectionAssert.AreEqual(model.Predict(data).ToArray(), converted.Predict(data).ToArray());
    }

    [TestMethod]
    public void ALayerCalledInTwoModels_IsNumberedPerModelInJson()
    {
        var shared = SeededDense(2, 51, name: "shared_dense");
        var a = Model.Input([3], name: "in_a");
        var first = new FunctionalModel([a], [shared.Call(a)], name: "first");
        var b = Model.Input([3], name: "in_b");
        var second = new FunctionalModel([b], [new ReLU(name: "relu_b").Call(shared.Call(b))], name: "second");
        Assert.AreEqual(2, shared.InboundNodes.Count);
        using var doc = JsonDocument.Parse(second.ToJson());
        var config = doc.RootElement.GetProperty("config");
        var dense = config.GetProperty("layers").EnumerateArray().Single(l => l.GetProperty("name").GetString() == "shared_dense");
        Assert.AreEqual("[[[\"in_b\",0,0,{}]]]", dense.GetProperty("inbound_nodes").GetRawText(), "the layer's only call in this model is node 0");
        var relu = config.GetProperty("layers").EnumerateArray().Single(l => l.GetProperty("name").GetString() == "relu_b");
        Assert.AreEqual("[[[\"shared_dense\",0,0,{}]]]", relu.GetProperty("inbound_nodes").GetRawText());
        var rebuilt = FunctionalModel.FromJson(second.ToJson());
        rebuilt.SetWeights(second.GetWeights());
        var data = TestData.Uniform(TestData.NewRandom(14), [4, 3]);
        CollectionAssert.AreEqual(second.Predict(data).ToArray(), rebuilt.Predict(data).ToArray());
        Assert.AreSame(first.TrainableWeights[0], second.TrainableWeights[0], "one layer, one kernel, in both models");
    }
}
