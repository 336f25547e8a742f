using TfSyncBN.Keras;
using TfSyncBN.Tensors;
using TfSyncBN.Tests.TestUtil;

namespace TfSyncBN.Tests.Keras.Losses;

[TestClass]
public sealed class LossTests
{
    /// <summary>log Σ exp(x) − x[k] per row, in float64.</summary>
    private static double[] ReferenceSparse(float[] logits, int classes, int[] labels)
    {
        var result = new double[labels.Length];
        for (int r = 0; r < labels.Length; r++)
        {
            double max = double.NegativeInfinity;
            for (int c = 0; c < classes; c++) max = Math.Max(max, logits[r * classes + c]);
            double sum = 0;
            for (int c = 0; c < classes; c++) sum += Math.Exp(logits[r * classes + c] - max);
            result[r] = max + Math.Log(sum) - logits[r * classes + labels[r]];
        }
        return result;
    }

    [TestMethod]
    public void SparseFromLogits_MatchesFloat64Reference_IncludingExtremeLogits()
    {
        float[] logits = [1f, 2f, 3f, 0.5f, -1f, 4f, 1000f, -1000f, 0f, -50f, 60f, 59f];
        int[] labels = [0, 2, 1, 2];
        var loss = new SparseCategoricalCrossentropy(fromLogits: true);
        var perExample = loss.Unreduced(Tensor.FromArray([0f, 2f, 1f, 2f]), Tensor.FromArray(logits, [4, 3]));
        var expected = ReferenceSparse(logits, 3, labels);
        CollectionAssert.AreEqual(new[] { 4 }, perExample.Shape.ToArray());
        for (int i = 0; i < 4; i++) Assert.AreEqual(expected[i], perExample.AsSpan()[i], 1e-5 * Math.Max(1, expected[i]), $"example {i}");
        Assert.AreEqual(2000.0, expected[2], 1e-9); // a confident wrong answer costs its margin, not +inf
        Assert.AreEqual(expected.Average(), loss.Call(Tensor.FromArray([0f, 2f, 1f, 2f]), Tensor.FromArray(logits, [4, 3])).ToScalar(), 1e-3);
    }

    [TestMethod]
    public void KerasDocumentationValues()
    {
        // keras.losses.SparseCategoricalCrossentropy / CategoricalCrossentropy / MeanSquaredError docstrings.
        var probs = Tensor.FromArray([0.05f, 0.95f, 0f, 0.1f, 0.8f, 0.1f], [2, 3]);
        Assert.AreEqual(1.177, new SparseCategoricalCrossentropy().Call(Tensor.FromArray([1f, 2f]), probs).ToScalar(), 1e-3);
        Assert.AreEqual(1.177, new CategoricalCrossentropy().Call(Tensor.FromArray([0f, 1f, 0f, 0f, 0f, 1f], [2, 3]), probs).ToScalar(), 1e-3);
        Assert.AreEqual(0.5f, new MeanSquaredError().Call(Tensor.FromArray([0f, 1f, 0f, 0f], [2, 2]), Tensor.FromArray([1f, 1f, 1f, 0f], [2, 2])).ToScalar(), 1e-7);
        // The exact value is (−log 0.95 − log 0.1)/2 = 1.17694...
        double exact = (-Math.Log(0.95) - Math.Log(0.1)) / 2;
        Assert.AreEqual(exact, new SparseCategoricalCrossentropy().Call(Tensor.FromArray([1f, 2f]), probs).ToScalar(), 1e-6);
    }

    [TestMethod]
    public void CategoricalFromLogits_WithLabelSmoothing_MatchesFloat64Reference()
    {
        var rnd = TestData.NewRandom();
        var logits = TestData.Uniform(rnd, [5, 4], -3f, 3f);
        var labels = Tensor.FromFunction([5, 4], i => i % 4 == (i / 4) % 4 ? 1f : 0f);
        var loss = new CategoricalCrossentropy(fromLogits: true, labelSmoothing: 0.2f).Unreduced(labels, logits);
        var x = logits.ToArray();
        var y = labels.ToArray();
        for (int r = 0; r < 5; r++)
        {
            double max = Enumerable.Range(0, 4).Max(c => (double)x[r * 4 + c]);
            double lse = max + Math.Log(Enumerable.Range(0, 4).Sum(c => Math.Exp(x[r * 4 + c] - max)));
            double expected = Enumerable.Range(0, 4).Sum(c => -(y[r * 4 + c] * 0.8 + 0.05) * (x[r * 4 + c] - lse));
            Assert.AreEqual(expected, loss.AsSpan()[r], 1e-5, $"row {r}");
        }
    }

    [TestMethod]
    public void FusedKernelGradients_MatchSoftmaxMinusOneHot_AndFiniteDifferences()
    {
        var rnd = TestData.NewRandom();
        var logits = TestData.Uniform(rnd, [3, 5], -2f, 2f);
        var labels = Tensor.FromArray([4f, 0f, 2f]);
        var loss = new SparseCategoricalCrossentropy(fromLogits: true);
        using (var tape = new GradientTape())
        {
            tape.Watch(logits);
            var l = loss.Unreduced(labels, logits);
            var upstream = Tensor.FromArray([0.5f, -1f, 2f]);
            var g = tape.Gradient(l, [logits], upstream)[0]!.ToArray();
            var x = logits.ToArray();
            for (int r = 0; r < 3; r++)
            {
                double sum = Enumerable.Range(0, 5).Sum(c => Math.Exp(x[r * 5 + c]));
                for (int c = 0; c < 5; c++)
                {
                    double expected = upstream.AsSpan()[r] * (Math.Exp(x[r * 5 + c]) / sum - (c == (int)labels.AsSpan()[r] ? 1 : 0));
                    Assert.AreEqual(expected, g[r * 5 + c], 1e-6, $"row {r} class {c}");
                }
            }
        }
        GradientCheck.AssertGradients(t => loss.Unreduced(labels, t[0]), [logits], message: "sparse CE logits");
        var dense = Tensor.FromArray([0.1f, 0.2f, 0.3f, 0.4f, 0f, 1f, 0f, 0f, 0f, 0f, 0.5f, 0.5f, 0f, 0f, 0f], [3, 5]);
        var ce = new CategoricalCrossentropy(fromLogits: true, labelSmoothing: 0.1f);
        GradientCheck.AssertGradients(t => ce.Unreduced(t[0], t[1]), [dense, logits], message: "CE labels and logits");
        var probs = TestData.Uniform(rnd, [3, 5], 0.1f, 1f);
        GradientCheck.AssertGradients(t => new CategoricalCrossentropy().Unreduced(dense, t[0]), [probs], step: 1e-3f, message: "CE probabilities");
        GradientCheck.AssertGradients(t => new SparseCategoricalCrossentropy().Unreduced(labels, t[0]), [probs], step: 1e-3f, message: "sparse CE probabilities");
        var target = TestData.Uniform(rnd, [3, 5]);
        GradientCheck.AssertGradients(t => new MeanSquaredError().Unreduced(target, t[0]), [probs], message: "MSE");
    }

    [TestMethod]
    public void Reduction_IsSumOverBatchSize_AndZeroForAnEmptyBatch()
    {
        var pred = Tensor.FromArray([1f, 2f, 3f, 4f, 5f, 6f], [3, 2]);
        var truth = Tensor.FromArray([0f, 0f, 0f, 0f, 0f, 0f], [3, 2]);
        var mse = new MeanSquaredError();
        CollectionAssert.AreEqual(new[] { 2.5f, 12.5f, 30.5f }, mse.Unreduced(truth, pred).ToArray());
        Assert.AreEqual(15.1666667f, mse.Call(truth, pred).ToScalar(), 1e-5f);
        Assert.AreEqual(0f, mse.Call(Tensor.Zeros([0, 2]), Tensor.Zeros([0, 2])).ToScalar());
        // [N] labels against [N, 1] predictions are aligned, as in Keras.
        CollectionAssert.AreEqual(new[] { 1f, 4f }, mse.Unreduced(Tensor.FromArray([0f, 0f]), Tensor.FromArray([1f, 2f], [2, 1])).ToArray());
        Assert.AreEqual(0f, new SparseCategoricalCrossentropy(fromLogits: true).Call(Tensor.Zeros([0]), Tensor.Zeros([0, 3])).ToScalar());
    }

    [TestMethod]
    public void BadInputs_ThrowNamingTheArgument()
    {
        var logits = Tensor.Zeros([2, 3]);
        var sparse = new SparseCategoricalCrossentropy(fromLogits: true);
        Assert.ThrowsExactly<ArgumentException>(() => sparse.Call(Tensor.FromArray([0f, 3f]), logits));
        Assert.ThrowsExactly<ArgumentException>(() => sparse.Call(Tensor.FromArray([0f, 0.5f]), logits));
        Assert.ThrowsExactly<ArgumentException>(() => sparse.Call(Tensor.FromArray([0f]), logits));
        Assert.ThrowsExactly<ArgumentException>(() => new SparseCategoricalCrossentropy().Call(Tensor.FromArray([0f, -1f]), logits));
        Assert.ThrowsExactly<ArgumentException>(() => new CategoricalCrossentropy().Call(Tensor.Zeros([2, 2]), logits));
        Assert.ThrowsExactly<ArgumentException>(() => new MeanSquaredError().Call(Tensor.Zeros([2, 2]), logits));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new CategoricalCrossentropy(labelSmoothing: 1.5f));
        Assert.ThrowsExactly<ArgumentNullException>(() => sparse.Call(null!, logits));
    }

    [TestMethod]
    public void Registry_ResolvesKerasNames_AndRoundTripsConfigs()
    {
        Assert.IsInstanceOfType<SparseCategoricalCrossentropy>(TfSyncBN.Keras.Losses.Get("sparse_categorical_crossentropy"));
        Assert.IsInstanceOfType<CategoricalCrossentropy>(TfSyncBN.Keras.Losses.Get("categorical_crossentropy"));
        Assert.IsInstanceOfType<MeanSquaredError>(TfSyncBN.Keras.Losses.Get("mse"));
        Assert.IsInstanceOfType<MeanSquaredError>(TfSyncBN.Keras.Losses.Get("MeanSquaredError"));
        Assert.IsFalse(((SparseCategoricalCrossentropy)TfSyncBN.Keras.Losses.Get("sparse_categorical_crossentropy")).FromLogits);
        var e = Assert.ThrowsExactly<ArgumentException>(() => TfSyncBN.Keras.Losses.Get("hinge"));
        StringAssert.Contains(e.Message, "sparse_categorical_crossentropy");
        var copy = KerasAssert.RoundTrip<TfSyncBN.Keras.Loss>(new CategoricalCrossentropy(fromLogits: true, labelSmoothing: 0.1f), TfSyncBN.Keras.Losses.FromConfig, TfSyncBN.Keras.Losses.Serialize);
        Assert.IsTrue(((CategoricalCrossentropy)copy).FromLogits);
        Assert.AreEqual(0.1f, ((CategoricalCrossentropy)copy).LabelSmoothing);
        KerasAssert.RoundTrip<TfSyncBN.Keras.Loss>(new SparseCategoricalCrossentropy(fromLogits: true), TfSyncBN.Keras.Losses.FromConfig, TfSyncBN.Keras.Losses.Serialize);
    }

    [TestMethod]
    public void SparseLabels_MayHaveATrailingAxisOfOne_AndRank3PredictionsGivePerPositionLosses()
    {
        var rnd = TestData.NewRandom(3);
        var logits = TestData.Uniform(rnd, [4, 3]);
        var loss = new SparseCategoricalCrossentropy(fromLogits: true);
        KerasAssert.Identical(loss.Unreduced(Tensor.FromArray([0f, 2f, 1f, 1f]), logits),
            loss.Unreduced(Tensor.FromArray([0f, 2f, 1f, 1f], [4, 1]), logits));
        // [2, 2, 3] logits: one loss per (sample, position); Call averages all four.
        var perPosition = loss.Unreduced(Tensor.FromArray([0f, 2f, 1f, 1f], [2, 2]), logits.Reshape([2, 2, 3]));
        CollectionAssert.AreEqual(new[] { 2, 2 }, perPosition.Shape.ToArray());
        CollectionAssert.AreEqual(loss.Unreduced(Tensor.FromArray([0f, 2f, 1f, 1f]), logits).ToArray(), perPosition.ToArray());
    }
}
