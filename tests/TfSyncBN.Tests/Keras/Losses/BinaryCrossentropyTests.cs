using TfSyncBN.Keras;
using TfSyncBN.Tensors;

namespace TfSyncBN.Tests.Keras.Losses;

/// <summary>BinaryCrossentropy against hand-written float64 Keras 3 formulas.</summary>
[TestClass]
public sealed class BinaryCrossentropyTests
{
    private static readonly double[] Labels = [1, 0, 1, 0, 0, 1];
    private static readonly double[] Logits = [2.5, -1.0, -0.3, 0.7, -40.0, 30.0];

    /// <summary>Keras 3 (TF backend): smoothed labels y·(1 − ls) + ls/2; per-example mean over the last axis of 3.</summary>
    private static double[] Expected(bool fromLogits, double ls)
    {
        var result = new double[2];
        for (int i = 0; i < 6; i++)
        {
            double y = Labels[i] * (1 - ls) + 0.5 * ls, x = Logits[i], e;
            if (fromLogits) e = Math.Max(x, 0) - x * y + Math.Log(1 + Math.Exp(-Math.Abs(x)));
            else
            {
                // Keras clips float32 predictions to [ε, 1 − ε] as float32 numbers (1 − 1e-7 rounds to 1 − 2^-23).
                double p = Math.Clamp(1 / (1 + Math.Exp(-x)), (double)1e-7f, (double)(float)(1 - 1e-7));
                e = -(y * Math.Log(p) + (1 - y) * Math.Log(1 - p));
            }
            result[i / 3] += e / 3;
        }
        return result;
    }

    [TestMethod]
    [DataRow(true, 0.0)]
    [DataRow(true, 0.2)]
    [DataRow(false, 0.0)]
    [DataRow(false, 0.1)]
    public void PerExampleLoss_MatchesKeras3Formula(bool fromLogits, double ls)
    {
        var y = Tensor.FromArray(Labels.Select(v => (float)v).ToArray(), [2, 3]);
        var logits = Tensor.FromArray(Logits.Select(v => (float)v).ToArray(), [2, 3]);
        var pred = fromLogits ? logits : logits.Sigmoid();
        var loss = new BinaryCrossentropy(fromLogits: fromLogits, labelSmoothing: (float)ls);
        var got = loss.Unreduced(y, pred).ToArray();
        var want = Expected(fromLogits, ls);
        CollectionAssert.AreEqual(new[] { 2 }, loss.Unreduced(y, pred).Shape.ToArray());
        for (int i = 0; i < 2; i++) Assert.AreEqual(want[i], got[i], 1e-5 * Math.Max(1, Math.Abs(want[i])), $"example {i}");
        Assert.AreEqual((want[0] + want[1]) / 2, loss.Call(y, pred).ToScalar(), 1e-5 * Math.Max(1, want.Max()));
    }

    [TestMethod]
    public void Gradient_FromLogits_IsSigmoidMinusLabelOverCount()
    {
        // d/dx of mean_last(max(x,0) − x·y + log(1 + e^−|x|)) = (σ(x) − y)/3.
        var y = Tensor.FromArray(Labels.Select(v => (float)v).ToArray(), [2, 3]);
        var x = Tensor.FromArray(Logits.Select(v => (float)v).ToArray(), [2, 3]);
        using var tape = new GradientTape();
        tape.Watch(x);
        var l = new BinaryCrossentropy(fromLogits: true).Unreduced(y, x).Sum();
        var g = tape.Gradient(l, [x])[0]!.ToArray();
        for (int i = 0; i < 6; i++) Assert.AreEqual((1 / (1 + Math.Exp(-Logits[i])) - Labels[i]) / 3, g[i], 1e-6, $"element {i}");
    }

    [TestMethod]
    public void Registry_Config_AndBadArguments()
    {
        var loss = (BinaryCrossentropy)TfSyncBN.Keras.Losses.Get("binary_crossentropy");
        Assert.IsFalse(loss.FromLogits);
        var back = (BinaryCrossentropy)TfSyncBN.Keras.Losses.FromConfig(TfSyncBN.Keras.Losses.Serialize(new BinaryCrossentropy(true, 0.3f)));
        Assert.IsTrue(back.FromLogits);
        Assert.AreEqual(0.3f, back.LabelSmoothing);
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new BinaryCrossentropy(labelSmoothing: 1.5f));
        Assert.ThrowsExactly<ArgumentException>(() => new BinaryCrossentropy().Unreduced(Tensor.Zeros([2, 3]), Tensor.Zeros([2, 2])));
    }
}
