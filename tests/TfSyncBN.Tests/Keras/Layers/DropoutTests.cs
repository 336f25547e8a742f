using TfSyncBN.Distribute;
using TfSyncBN.Keras;
using TfSyncBN.Tensors;
using TfSyncBN.Tests.Distribute;
using TfSyncBN.Tests.TestUtil;

namespace TfSyncBN.Tests.Keras.Layers;

[TestClass]
public sealed class DropoutTests
{
    [TestMethod]
    public void Inference_IsTheIdentity()
    {
        var x = TestData.Uniform(TestData.NewRandom(), [4, 5]);
        var layer = new Dropout(0.5f, seed: 1);
        CollectionAssert.AreEqual(x.ToArray(), layer.Call(x).ToArray());
        CollectionAssert.AreEqual(x.ToArray(), layer.Call(x, training: false).ToArray());
        CollectionAssert.AreEqual(x.ToArray(), new Dropout(0f, seed: 1).Call(x, training: true).ToArray(), "rate 0 keeps everything");
    }

    [TestMethod]
    [DataRow(0.1f)]
    [DataRow(0.5f)]
    [DataRow(0.8f)]
    public void Training_KeepsAboutOneMinusRate_ScaledByItsInverse(float rate)
    {
        const int n = 200_000;
        var x = Tensor.Ones([n]);
        var y = new Dropout(rate, seed: 42).Call(x, training: true).ToArray();
        float scale = 1f / (1f - rate);
        int kept = 0;
        foreach (var v in y)
        {
            if (v == 0f) continue;
            Assert.AreEqual(scale, v, 1e-6f, "kept elements are scaled by 1/(1 - rate)");
            kept++;
        }
        double p = 1 - rate, sigma = Math.Sqrt(n * p * (1 - p));
        Assert.AreEqual(n * p, kept, 5 * sigma, "kept count within 5 sigma of n(1 - rate)");
        Assert.AreEqual(1.0, y.Average(v => (double)v), 5 * sigma / n * scale, "the mean is preserved");
    }

    [TestMethod]
    public void Seeded_IsDeterministic_SuccessiveCallsDiffer_SeedsDiffer()
    {
        var x = Tensor.Ones([1000]);
        var a = new Dropout(0.5f, seed: 7);
        var b = new Dropout(0.5f, seed: 7);
        var a1 = a.Call(x, training: true).ToArray();
        var a2 = a.Call(x, training: true).ToArray();
        CollectionAssert.AreEqual(a1, b.Call(x, training: true).ToArray(), "same seed, same first mask");
        CollectionAssert.AreEqual(a2, b.Call(x, training: true).ToArray(), "same seed, same second mask");
        CollectionAssert.AreNotEqual(a1, a2, "a second call draws a new mask");
        CollectionAssert.AreNotEqual(a1, new Dropout(0.5f, seed: 8).Call(x, training: true).ToArray(), "another seed, another mask");
        CollectionAssert.AreNotEqual(new Dropout(0.5f).Call(x, training: true).ToArray(), new Dropout(0.5f).Call(x, training: true).ToArray(), "unseeded instances differ");
    }

    [TestMethod]
    public void Gradient_IsTheMask()
    {
        var x = TestData.Uniform(TestData.NewRandom(), [3, 40]);
        var layer = new Dropout(0.3f, seed: 3);
        using var tape = new GradientTape();
        tape.Watch(x);
        var y = layer.Call(x, training: true);
        var g = tape.Gradient(y, [x])[0]!.ToArray();
        var ys = y.ToArray();
        var xs = x.ToArray();
        for (int i = 0; i < g.Length; i++) Assert.AreEqual(ys[i] == 0 ? 0f : 1f / 0.7f, g[i], 1e-6f, $"element {i}");
        Assert.AreEqual(xs.Length, ys.Length);
    }

    [TestMethod]
    public void Replicas_DrawDifferentMasks_Deterministically() => Bounded.Run(() =>
    {
        using var strategy = new MirroredStrategy(2);
        var x = Tensor.Ones([500]);
        float[][] Draw()
        {
            var layer = new Dropout(0.5f, seed: 11);
            return strategy.Run(_ => layer.Call(x, training: true).ToArray()).ToArray();
        }
        var first = Draw();
        CollectionAssert.AreNotEqual(first[0], first[1], "each replica draws its own mask");
        var again = Draw();
        CollectionAssert.AreEqual(first[0], again[0], "replica 0's mask depends only on the seed and the call");
        CollectionAssert.AreEqual(first[1], again[1], "replica 1's mask depends only on the seed and the call");
    });

    [TestMethod]
    public void BadRate_NamesTheArgument()
    {
        Assert.AreEqual("rate", Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new Dropout(1f)).ParamName);
        Assert.AreEqual("rate", Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new Dropout(-0.1f)).ParamName);
        Assert.AreEqual("rate", Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new Dropout(float.NaN)).ParamName);
    }
}
