using System.Text.RegularExpressions;
using TfSyncBN.Distribute;
using TfSyncBN.Keras;
using TfSyncBN.Tensors;
using static TfSyncBN.Tests.Keras.Training.TrainingFixtures;

namespace TfSyncBN.Tests.Keras.Training;

[TestClass]
public sealed class FitAndCallbackTests
{
    [TestMethod]
    [Timeout(20000)]
    public void Fit_WithoutShuffle_IsTheLoopOfTrainSteps_AndLogsEpochMeans()
    {
        var (x, y) = Data([5], seed: 1);
        x = x.Slice(0, 0, 30);
        y = y.Slice(0, 0, 30);
        var fitted = Mlp(sync: true);
        Compile(fitted, "sgd");
        var history = fitted.Fit(x, y, batchSize: 8, epochs: 2, verbose: 0, shuffle: false);

        var manual = Mlp(sync: true);
        Compile(manual, "sgd");
        var expectedLoss = new List<double>();
        for (int epoch = 0; epoch < 2; epoch++)
        {
            manual.ResetMetrics();
            double weighted = 0;
            for (int start = 0; start < 30; start += 8)
            {
                int n = Math.Min(8, 30 - start);
                manual.ResetMetrics();
                weighted += manual.TrainStep(x.Slice(0, start, n), y.Slice(0, start, n))["loss"] * n;
            }
            expectedLoss.Add(weighted / 30); // the loss mean is weighted by batch size (8, 8, 8, 6)
        }
        CollectionAssert.AreEqual(new[] { 0, 1 }, history.Epochs.ToArray());
        CollectionAssert.AreEquivalent(new[] { "loss", "accuracy" }, history.Values.Keys.ToArray());
        for (int e = 0; e < 2; e++) Assert.AreEqual(expectedLoss[e], history["loss"][e], 1e-6, $"epoch {e}");
        for (int i = 0; i < manual.Weights.Count; i++) KerasAssert.Identical(manual.Weights[i].Value, fitted.Weights[i].Value, manual.Weights[i].Name);
    }

    [TestMethod]
    [Timeout(20000)]
    public void Fit_OnThreeReplicas_WithShuffleAndValidationSplit_EqualsSingleDevice()
    {
        var (x, y) = Data([5], seed: 2);
        var single = Mlp(sync: true);
        Compile(single, "sgd");
        var expected = single.Fit(x, y, batchSize: 10, epochs: 3, verbose: 0, validationSplit: 0.25f, seed: 42);
        using var strategy = new MirroredStrategy(3);
        Sequential model;
        using (strategy.Scope()) model = Mlp(sync: true);
        Compile(model, "sgd"); // compiled outside the scope: the model keeps the strategy it was created under
        var history = model.Fit(x, y, batchSize: 10, epochs: 3, verbose: 0, validationSplit: 0.25f, seed: 42);
        CollectionAssert.AreEquivalent(new[] { "loss", "accuracy", "val_loss", "val_accuracy" }, history.Values.Keys.ToArray());
        foreach (var key in history.Values.Keys)
            for (int e = 0; e < 3; e++) Assert.AreEqual(expected[key][e], history[key][e], 1e-4 * Math.Max(1, Math.Abs(expected[key][e])), $"{key} epoch {e}");
        for (int i = 0; i < model.Weights.Count; i++) Close(single.Weights[i].Value, model.Weights[i].Replicas[1], 1e-4, model.Weights[i].Name);
        DataParallelTrainingTests.AssertReplicasBitwiseIdentical(model);
        // validationSplit holds out the last quarter: val_loss is the model's loss there after the epoch.
        int n = x.Shape[0], split = (int)(n * 0.75);
        var val = model.Evaluate(x.Slice(0, split, n - split), y.Slice(0, split, n - split), batchSize: 10);
        Assert.AreEqual(val["loss"], history["val_loss"][2], 1e-6);
    }

    [TestMethod]
    public void EarlyStopping_FollowsKerasRules_AndRestoresTheBestWeights()
    {
        var model = new Sequential([new Dense(1, kernelInitializer: Initializers.Zeros())], inputShape: [1]);
        var stop = new EarlyStopping(monitor: "val_loss", minDelta: 0.01, patience: 2, restoreBestWeights: true) { Model = model };
        stop.OnTrainBegin(new Dictionary<string, double>());
        double[] losses = [1.0, 0.8, 0.795, 0.79, 0.5];
        int stoppedAt = -1;
        for (int epoch = 0; epoch < losses.Length && !model.StopTraining; epoch++)
        {
            model.SetWeights([Tensor.FromArray([epoch + 1f], [1, 1]), Tensor.FromArray([0f])]);
            stop.OnEpochEnd(epoch, new Dictionary<string, double> { ["val_loss"] = losses[epoch] });
            stoppedAt = epoch;
        }
        // 0.795 and 0.79 improve on 0.8 by less than minDelta: two epochs without improvement stop training at epoch 3.
        Assert.IsTrue(model.StopTraining);
        Assert.AreEqual(3, stoppedAt);
        Assert.AreEqual(3, stop.StoppedEpoch);
        Assert.AreEqual(1, stop.BestEpoch);
        Assert.AreEqual(0.8, stop.Best);
        Assert.AreEqual(2f, model.Weights[0].Value.ToScalar(), "weights of epoch 1 restored");
        Assert.AreEqual("max", new EarlyStopping(monitor: "val_accuracy").Mode);
        Assert.AreEqual("min", new EarlyStopping().Mode);
        Assert.ThrowsExactly<ArgumentException>(() => new EarlyStopping(mode: "up"));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new EarlyStopping(patience: -1));
    }

    [TestMethod]
    [Timeout(20000)]
    public void EarlyStopping_EndsFit_AndHistoryHasOnlyTheEpochsRun()
    {
        var (x, y) = Data([5], seed: 3);
        var model = Mlp(sync: false);
        Compile(model, "sgd");
        var seen = new EpochCounter();
        var history = model.Fit(x, y, batchSize: 50, epochs: 10, verbose: 0, seed: 1,
            callbacks: [new EarlyStopping(monitor: "loss", minDelta: 1e9, patience: 1), seen]);
        Assert.AreEqual(2, history.Epochs.Count);
        Assert.AreEqual(2, seen.Ends);
        Assert.AreEqual(1, seen.TrainBegins);
        Assert.AreEqual(1, seen.TrainEnds);
        Assert.AreEqual(2 * 3, seen.Batches); // 145 samples in batches of 50
        Assert.AreSame(model, seen.Model);
        Assert.AreEqual(new TrainingParameters(10, 3, 145, 0), seen.Parameters);
    }

    private sealed class EpochCounter : Callback
    {
        public int Ends, Batches, TrainBegins, TrainEnds;
        public override void OnTrainBegin(IReadOnlyDictionary<string, double> logs) => TrainBegins++;
        public override void OnTrainEnd(IReadOnlyDictionary<string, double> logs) => TrainEnds++;
        public override void OnEpochEnd(int epoch, IReadOnlyDictionary<string, double> logs) => Ends++;
        public override void OnTrainBatchEnd(int batch, IReadOnlyDictionary<string, double> logs) => Batches++;
    }

    [TestMethod]
    [Timeout(20000)]
    public void ProgressBar_PlainLinesWhenNotInteractive_BarWhenInteractive()
    {
        var (x, y) = Data([5], seed: 4);
        var model = Mlp(sync: false);
        Compile(model, "sgd");
        var plain = new StringWriter();
        model.Fit(x, y, batchSize: 50, epochs: 2, verbose: 0, validationSplit: 0.2f, seed: 1, callbacks: [new ProgressBar(plain, interactive: false)]);
        var lines = plain.ToString().Split(Environment.NewLine, StringSplitOptions.RemoveEmptyEntries);
        Assert.IsFalse(plain.ToString().Contains('\r'));
        Assert.AreEqual(4, lines.Length, plain.ToString());
        Assert.AreEqual("Epoch 1/2", lines[0]);
        StringAssert.Matches(lines[1], new Regex(@"^3/3 - \d+s \d+ms/step - loss: \d+\.\d{4} - accuracy: \d\.\d{4} - val_loss: \d+\.\d{4} - val_accuracy: \d\.\d{4} - \d+ images/s$"));
        Assert.AreEqual("Epoch 2/2", lines[2]);

        var bar = new StringWriter();
        model.Fit(x, y, batchSize: 50, epochs: 1, verbose: 0, seed: 1, callbacks: [new ProgressBar(bar, interactive: true)]);
        StringAssert.Contains(bar.ToString(), "\r3/3 [==============================] - ");
        Assert.IsTrue(new ProgressBar(new StringWriter()).Interactive == false, "an explicit writer is not a console");
    }

    [TestMethod]
    [DataRow(true, false, null, null, true, DisplayName = "console, no CI, TERM unset: bar")]
    [DataRow(true, false, "", "xterm-256color", true, DisplayName = "empty CI is unset: bar")]
    [DataRow(true, false, null, "xterm", true, DisplayName = "xterm: bar")]
    [DataRow(false, false, null, "xterm", false, DisplayName = "explicit writer: lines")]
    [DataRow(true, true, null, "xterm", false, DisplayName = "redirected: lines")]
    [DataRow(true, false, "true", "xterm", false, DisplayName = "CI=true: lines")]
    [DataRow(true, false, "1", null, false, DisplayName = "CI=1: lines")]
    [DataRow(true, false, null, "dumb", false, DisplayName = "TERM=dumb: lines")]
    [DataRow(true, true, "true", "dumb", false, DisplayName = "everything against: lines")]
    public void ProgressBar_AutomaticChoice(bool toConsole, bool redirected, string? ci, string? term, bool expected) =>
        Assert.AreEqual(expected, ProgressBar.AutoInteractive(toConsole, redirected, ci, term));

    [TestMethod]
    public void ProgressBar_Constructor_UsesTheAutomaticChoiceOnlyWhenNotTold()
    {
        // With no writer and no flag, the choice is the function of this process's console and environment.
        bool auto = ProgressBar.AutoInteractive(true, Console.IsOutputRedirected, Environment.GetEnvironmentVariable("CI"), Environment.GetEnvironmentVariable("TERM"));
        Assert.AreEqual(auto, new ProgressBar().Interactive);
        // An explicit flag wins over everything; an explicit writer is never a console.
        Assert.IsTrue(new ProgressBar(new StringWriter(), interactive: true).Interactive);
        Assert.IsFalse(new ProgressBar(interactive: false).Interactive);
        Assert.IsFalse(new ProgressBar(new StringWriter()).Interactive);
    }
}

[TestClass]
public sealed class FitValidationSplitTests
{
    private sealed class Params : Callback { }

    [TestMethod]
    [Timeout(20000)]
    public void ValidationSplit_KeepsFloorOfSamplesTimesOneMinusSplit_AsKeras()
    {
        // 0.2f is 0.2000000030 as a float; Keras (float64 0.2) keeps floor(600·0.8) = 480 samples, and so do we.
        var x = Tensor.Zeros([600, 2]);
        var y = Tensor.Zeros([600, 1]);
        var model = new Sequential([new Dense(1)]);
        model.Compile("sgd", "mse");
        var p = new Params();
        model.Fit(x, y, batchSize: 600, epochs: 1, verbose: 0, validationSplit: 0.2f, callbacks: [p]);
        Assert.AreEqual(480, p.Parameters!.Samples);
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => model.Fit(x, y, verbose: 0, validationSplit: 1f));
    }
}
