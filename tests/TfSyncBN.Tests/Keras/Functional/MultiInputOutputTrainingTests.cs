using TfSyncBN.Distribute;
using TfSyncBN.Keras;
using TfSyncBN.Tensors;
using TfSyncBN.Tests.Keras.Training;
using TfSyncBN.Tests.TestUtil;
using FunctionalModel = TfSyncBN.Keras.Functional;

namespace TfSyncBN.Tests.Keras.Functional;

/// <summary>Fit, Evaluate, Predict and TrainStep of models with several inputs and outputs (Keras' lists of x and y,
/// per-output losses, loss weights and metrics), against float64 hand computations and single-device training.</summary>
[TestClass]
public sealed class MultiInputOutputTrainingTests
{
    private const int N = 10;

    /// <summary>Inputs a [3] and b [2]; output "logits" = Dense(3)(concat(a, b)), output "value" = Dense(1)(b).</summary>
    private static (FunctionalModel Model, Dense Head, Dense Value) TwoByTwo()
    {
        var a = Model.Input([3], name: "a");
        var b = Model.Input([2], name: "b");
        var head = new Dense(3, kernelInitializer: Initializers.GlorotUniform(seed: 11), biasInitializer: Initializers.RandomUniform(-0.5f, 0.5f, seed: 12), name: "logits");
        var value = new Dense(1, kernelInitializer: Initializers.GlorotUniform(seed: 13), biasInitializer: Initializers.RandomUniform(-0.5f, 0.5f, seed: 14), name: "value");
        var o1 = head.Call(new Concatenate().Call([a, b]));
        var o2 = value.Call(b);
        return (new FunctionalModel([a, b], [o1, o2]), head, value);
    }

    private static (Tensor A, Tensor B, Tensor Labels, Tensor Targets) Data(int seed, int n = N)
    {
        var rng = TestData.NewRandom(seed);
        var xa = TestData.Uniform(rng, [n, 3]);
        var xb = TestData.Uniform(rng, [n, 2]);
        var labels = Tensor.FromArray(Enumerable.Range(0, n).Select(_ => (float)rng.Next(3)).ToArray());
        var targets = TestData.Uniform(rng, [n, 1], -2f, 2f);
        return (xa, xb, labels, targets);
    }

    /// <summary>In float64 from the current weights: per-sample cross-entropy of "logits" (from logits), squared error
    /// of "value", whether argmax(logits) is the label, and |value - target|.</summary>
    private static (double[] Ce, double[] Se, double[] Hit, double[] Ae, double[][] Logits, double[] Values) Hand(
        Dense head, Dense value, Tensor xa, Tensor xb, Tensor labels, Tensor targets)
    {
        var a = xa.ToArray(); var b = xb.ToArray(); var l = labels.ToArray(); var t = targets.ToArray();
        var k1 = head.Kernel!.Value.ToArray(); var b1 = head.Bias!.Value.ToArray();
        var k2 = value.Kernel!.Value.ToArray(); var b2 = value.Bias!.Value.ToArray();
        int n = l.Length;
        var ce = new double[n]; var se = new double[n]; var hit = new double[n]; var ae = new double[n];
        var logits = new double[n][]; var values = new double[n];
        for (int i = 0; i < n; i++)
        {
            double[] cat = [a[3 * i], a[3 * i + 1], a[3 * i + 2], b[2 * i], b[2 * i + 1]];
            var z = new double[3];
            for (int j = 0; j < 3; j++)
            {
                z[j] = b1[j];
                for (int q = 0; q < 5; q++) z[j] += cat[q] * k1[q * 3 + j];
            }
            double max = z.Max();
            double lse = max + Math.Log(z.Sum(v => Math.Exp(v - max)));
            ce[i] = lse - z[(int)l[i]];
            hit[i] = Array.IndexOf(z, max) == (int)l[i] ? 1 : 0;
            double p = b2[0] + b[2 * i] * k2[0] + b[2 * i + 1] * k2[1];
            se[i] = (p - t[i]) * (p - t[i]);
            ae[i] = Math.Abs(p - t[i]);
            logits[i] = z;
            values[i] = p;
        }
        return (ce, se, hit, ae, logits, values);
    }

    private static void Compile(Model model, float lr = 0.1f) =>
        model.Compile(new SGD(learningRate: lr), new object[] { new SparseCategoricalCrossentropy(fromLogits: true), "mse" },
            metrics: [new object[] { "accuracy" }, new object[] { new MeanAbsoluteError("mae") }], lossWeights: [0.5f, 2f]);

    [TestMethod]
    public void Evaluate_AndOneFitStep_LogTheWeightedSumOfThePerOutputLosses_AsComputedByHand()
    {
        var (model, head, value) = TwoByTwo();
        Compile(model);
        var (xa, xb, labels, targets) = Data(1);
        var h = Hand(head, value, xa, xb, labels, targets);
        double ce = h.Ce.Average(), se = h.Se.Average();
        var expected = new Dictionary<string, double>
        {
            ["loss"] = 0.5 * ce + 2 * se,
            ["logits_loss"] = ce,
            ["value_loss"] = se,
            ["logits_accuracy"] = h.Hit.Average(),
            ["value_mae"] = h.Ae.Average(),
        };

        var eval = model.Evaluate([xa, xb], [labels, targets], batchSize: 4);
        CollectionAssert.AreEquivalent(expected.Keys.ToArray(), eval.Keys.ToArray(), "Keras 3 names: loss, <output>_loss, <output>_<metric>");
        foreach (var (k, v) in expected) Assert.AreEqual(v, eval[k], 1e-5 * Math.Max(1, Math.Abs(v)), $"Evaluate {k}");

        // One step on the whole batch logs the losses at the weights before the update.
        var weightsBefore = model.GetWeights();
        var history = model.Fit([xa, xb], [labels, targets], batchSize: N, epochs: 1, verbose: 0, shuffle: false);
        foreach (var (k, v) in expected) Assert.AreEqual(v, history[k][0], 1e-5 * Math.Max(1, Math.Abs(v)), $"Fit {k}");

        // The update is SGD on the gradient of 0.5·CE + 2·MSE, computed here by a tape over the mean-reduced losses.
        var twin = TwoByTwo().Model;
        twin.SetWeights(weightsBefore);
        Tensor[] grads;
        using (var tape = new GradientTape())
        {
            var outs = twin.Call([xa, xb], training: true);
            var total = new SparseCategoricalCrossentropy(fromLogits: true).Call(labels, outs[0]) * 0.5f
                + new MeanSquaredError().Call(targets, outs[1]) * 2f;
            grads = tape.Gradient(total, twin.TrainableWeights).Select(g => g!).ToArray();
        }
        var after = model.TrainableWeights;
        var start = twin.TrainableWeights;
        for (int i = 0; i < after.Count; i++)
        {
            var w0 = start[i].Value.ToArray();
            var g = grads[i].ToArray();
            TestData.AssertClose(w0.Select((w, j) => w - 0.1f * g[j]).ToArray(), after[i].Value, 1e-5f, what: after[i].Name);
        }
    }

    [TestMethod]
    public void Predict_ReturnsOneTensorPerOutput_InSampleOrder()
    {
        var (model, head, value) = TwoByTwo();
        var (xa, xb, labels, targets) = Data(2, n: 7);
        var h = Hand(head, value, xa, xb, labels, targets);
        var outputs = model.Predict([xa, xb], batchSize: 3);
        Assert.AreEqual(2, outputs.Count);
        CollectionAssert.AreEqual(new[] { 7, 3 }, outputs[0].ShapeArray);
        CollectionAssert.AreEqual(new[] { 7, 1 }, outputs[1].ShapeArray);
        var p0 = outputs[0].ToArray();
        var p1 = outputs[1].ToArray();
        for (int i = 0; i < 7; i++)
        {
            for (int j = 0; j < 3; j++) Assert.AreEqual(h.Logits[i][j], p0[3 * i + j], 1e-5, $"logits[{i},{j}]");
            Assert.AreEqual(h.Values[i], p1[i], 1e-5, $"value[{i}]");
        }
        var e = Assert.ThrowsExactly<ArgumentException>(() => model.Predict(xa));
        Assert.AreEqual("x", e.ParamName);
        StringAssert.Contains(e.Message, "2 outputs");
    }

    /// <summary>Two inputs and two outputs with a SyncBatchNormalization on one path: the inputs and targets are split
    /// over the replicas the same way, so two replicas train as one device does on the whole batch.</summary>
    [TestMethod]
    [Timeout(60000)]
    public void Fit_OnTwoReplicas_EqualsSingleDevice_WithValidationLists()
    {
        static FunctionalModel Build()
        {
            var a = Model.Input([3], name: "a");
            var b = Model.Input([2], name: "b");
            var h = new Dense(4, useBias: false, kernelInitializer: Initializers.GlorotUniform(seed: 21)).Call(new Concatenate().Call([a, b]));
            h = new ReLU().Call(new SyncBatchNormalization(momentum: 0.8f).Call(h));
            var o1 = new Dense(3, kernelInitializer: Initializers.GlorotUniform(seed: 22), name: "logits").Call(h);
            var o2 = new Dense(1, kernelInitializer: Initializers.GlorotUniform(seed: 23), name: "value").Call(new Add().Call([h, new Dense(4, kernelInitializer: Initializers.GlorotUniform(seed: 24)).Call(b)]));
            var model = new FunctionalModel([a, b], [o1, o2]);
            model.Compile(new SGD(learningRate: 0.05f, momentum: 0.9f), new object[] { new SparseCategoricalCrossentropy(fromLogits: true), "mse" },
                metrics: ["accuracy"], lossWeights: [1f, 0.5f]);
            return model;
        }
        var (xa, xb, labels, targets) = Data(3, n: 37);
        var (va, vb, vl, vt) = Data(4, n: 9);
        var validation = new ValidationData([va, vb], [vl, vt]);
        var single = Build();
        var expected = single.Fit([xa, xb], [labels, targets], batchSize: 8, epochs: 2, verbose: 0, shuffle: true, seed: 7, validationData: validation);
        using var strategy = new MirroredStrategy(2);
        FunctionalModel model;
        using (strategy.Scope()) model = Build();
        var history = model.Fit([xa, xb], [labels, targets], batchSize: 8, epochs: 2, verbose: 0, shuffle: true, seed: 7, validationData: validation);

        string[] keys = ["loss", "logits_loss", "value_loss", "logits_accuracy", "value_accuracy",
            "val_loss", "val_logits_loss", "val_value_loss", "val_logits_accuracy", "val_value_accuracy"];
        CollectionAssert.AreEquivalent(keys, expected.Values.Keys.ToArray(), "a flat metrics list applies to every output");
        foreach (var k in keys)
            for (int e = 0; e < 2; e++)
                Assert.AreEqual(expected[k][e], history[k][e], 1e-4 * Math.Max(1, Math.Abs(expected[k][e])), $"{k} of epoch {e}");
        var sw = single.Weights;
        var mw = model.Weights;
        for (int i = 0; i < sw.Count; i++)
            for (int r = 0; r < 2; r++) TrainingFixtures.Close(sw[i].Value, mw[i].Replicas[r], 1e-4, $"{mw[i].Name} on replica {r}");
        Assert.IsTrue(sw.Any(w => w.Name.Contains("moving_mean") && w.Value.ToArray().Any(v => Math.Abs(v) > 1e-2)), "moving statistics moved");

        // The validation logs are Evaluate on the validation lists after the last epoch, on both models.
        var eval = model.Evaluate([va, vb], [vl, vt], batchSize: 8);
        foreach (var k in keys.Where(k => k.StartsWith("val_")))
            Assert.AreEqual(history[k][1], eval[k[4..]], 1e-9, $"{k} equals Evaluate after training");
        var p = model.Predict([va, vb]);
        var ps = single.Predict([va, vb]);
        for (int k = 0; k < 2; k++) TrainingFixtures.Close(ps[k], p[k], 1e-4, $"prediction {k}");
    }

    [TestMethod]
    public void ValidationSplit_HoldsOutTheLastSamplesOfEveryInputAndTarget()
    {
        var (model, _, _) = TwoByTwo();
        Compile(model, lr: 0.05f);
        var (xa, xb, labels, targets) = Data(5, n: 20);
        var history = model.Fit([xa, xb], [labels, targets], batchSize: 4, epochs: 1, verbose: 0, validationSplit: 0.25f, seed: 1);
        var eval = model.Evaluate([xa.Slice(0, 15, 5), xb.Slice(0, 15, 5)], [labels.Slice(0, 15, 5), targets.Slice(0, 15, 5)], batchSize: 4);
        foreach (var (k, v) in eval) Assert.AreEqual(v, history["val_" + k][0], 1e-12, $"val_{k}");
    }

    [TestMethod]
    public void WrongCountsAndLengths_ThrowNamingTheArgument()
    {
        var (model, _, _) = TwoByTwo();
        var (xa, xb, labels, targets) = Data(6);

        var e = Assert.ThrowsExactly<ArgumentException>(() => model.Compile("sgd", new[] { "mse", "mse", "mse" }));
        Assert.AreEqual("loss", e.ParamName);
        StringAssert.Contains(e.Message, "2 outputs (logits, value)");
        e = Assert.ThrowsExactly<ArgumentException>(() => model.Compile("sgd", "mse", lossWeights: [1f]));
        Assert.AreEqual("lossWeights", e.ParamName);
        e = Assert.ThrowsExactly<ArgumentException>(() => model.Compile("sgd", "mse", lossWeights: [1f, float.NaN]));
        Assert.AreEqual("lossWeights", e.ParamName);
        e = Assert.ThrowsExactly<ArgumentException>(() => model.Compile("sgd", "mse", metrics: [new object[] { "mae" }]));
        Assert.AreEqual("metrics", e.ParamName);
        e = Assert.ThrowsExactly<ArgumentException>(() => model.Compile("sgd", "mse", metrics: [new MeanAbsoluteError()]));
        Assert.AreEqual("metrics", e.ParamName);
        StringAssert.Contains(e.Message, "several outputs");
        Assert.IsFalse(model.IsCompiled, "a failed Compile leaves the model uncompiled");

        Compile(model);
        e = Assert.ThrowsExactly<ArgumentException>(() => model.Fit(xa, labels, verbose: 0));
        Assert.AreEqual("x", e.ParamName);
        StringAssert.Contains(e.Message, "2 inputs (a, b)");
        e = Assert.ThrowsExactly<ArgumentException>(() => model.Fit([xa, xb], [labels], verbose: 0));
        Assert.AreEqual("y", e.ParamName);
        StringAssert.Contains(e.Message, "2 outputs");
        e = Assert.ThrowsExactly<ArgumentException>(() => model.Fit([xa, xb.Slice(0, 0, N - 1)], [labels, targets], verbose: 0));
        Assert.AreEqual("x", e.ParamName);
        e = Assert.ThrowsExactly<ArgumentException>(() => model.Evaluate([xa, xb], [labels, targets.Slice(0, 0, N - 1)]));
        Assert.AreEqual("y", e.ParamName);
        StringAssert.Contains(e.Message, "y[1]");
        e = Assert.ThrowsExactly<ArgumentException>(() => model.TrainStep([xa], [labels, targets]));
        Assert.AreEqual("x", e.ParamName);
        e = Assert.ThrowsExactly<ArgumentException>(() => model.Fit([xa, xb], [labels, targets], verbose: 0, validationData: new ValidationData(xa, labels)));
        Assert.AreEqual("validationData.Inputs", e.ParamName);
        Assert.ThrowsExactly<ArgumentNullException>(() => model.Predict([xa, null!]));
    }
}
