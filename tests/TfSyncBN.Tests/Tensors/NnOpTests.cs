using TfSyncBN.Tensors;
using TfSyncBN.Tests.TestUtil;

namespace TfSyncBN.Tests.Tensors;

[TestClass]
public sealed class NnOpTests
{
    private static Tensor Rand(Random r, params int[] shape) => TestData.Uniform(r, shape);

    private static double[] D(float[] v) => v.Select(x => (double)x).ToArray();

    [TestMethod]
    [DataRow(false, false)]
    [DataRow(true, false)]
    [DataRow(false, true)]
    [DataRow(true, true)]
    public void MatMul_MatchesFloat64_AcrossBlocksAndEdges(bool ta, bool tb)
    {
        var r = TestData.NewRandom();
        // k = 300 crosses the K block (256); m = 131 crosses the M block (120) and leaves an edge of 5 rows; n = 37 an edge column panel.
        foreach (var (m, n, k) in new[] { (131, 37, 300), (1, 1, 1), (7, 1030, 3), (5, 3, 0) })
        {
            var a = Rand(r, ta ? [k, m] : [m, k]);
            var b = Rand(r, tb ? [n, k] : [k, n]);
            var y = a.MatMul(b, ta, tb);
            CollectionAssert.AreEqual(new[] { m, n }, y.Shape.ToArray());
            TestData.AssertClose(y.AsSpan(), ReferenceNn.MatMul(a.ToArray(), b.ToArray(), m, n, k, ta, tb), 1e-4, 1e-5, $"MatMul {m}x{n}x{k} ta={ta} tb={tb}");
        }
    }

    [TestMethod]
    [DataRow(false, false)]
    [DataRow(true, false)]
    [DataRow(false, true)]
    [DataRow(true, true)]
    public void MatMul_GradientsMatchFiniteDifferences(bool ta, bool tb)
    {
        var r = TestData.NewRandom(7);
        int m = 4, n = 5, k = 3;
        var a = Rand(r, ta ? [k, m] : [m, k]);
        var b = Rand(r, tb ? [n, k] : [k, n]);
        GradientCheck.AssertGradients(xs => xs[0].MatMul(xs[1], ta, tb), [a, b], message: $"MatMul ta={ta} tb={tb}");
    }

    [TestMethod]
    public void MatMul_RejectsBadShapes_NamingTheArgument()
    {
        var e = Assert.ThrowsExactly<ArgumentException>(() => Tensor.Zeros([2, 3]).MatMul(Tensor.Zeros([4, 2])));
        Assert.AreEqual("other", e.ParamName);
        StringAssert.Contains(e.Message, "inner dimensions");
        e = Assert.ThrowsExactly<ArgumentException>(() => Tensor.Zeros([2, 3]).MatMul(Tensor.Zeros([3])));
        Assert.AreEqual("other", e.ParamName);
        Assert.ThrowsExactly<ArgumentNullException>(() => Tensor.Zeros([2, 3]).MatMul(null!));
    }

    [TestMethod]
    public void Activations_MatchFloat64AndFiniteDifferences()
    {
        var r = TestData.NewRandom(3);
        var x = TestData.AwayFromZero(r, [3, 7], 0.05f, 3f);
        var xs = x.ToArray();
        TestData.AssertClose(x.Relu().AsSpan(), xs.Select(v => Math.Max(v, 0.0)).ToArray(), 0, 0, "relu");
        TestData.AssertClose(x.Sigmoid().AsSpan(), xs.Select(v => 1 / (1 + Math.Exp(-v))).ToArray(), 1e-6, 1e-6, "sigmoid");
        TestData.AssertClose(x.Tanh().AsSpan(), xs.Select(v => Math.Tanh(v)).ToArray(), 1e-6, 1e-6, "tanh");
        GradientCheck.AssertGradient(t => t.Relu(), x, message: "Relu");
        GradientCheck.AssertGradient(t => t.Sigmoid(), x, message: "Sigmoid");
        GradientCheck.AssertGradient(t => t.Tanh(), x, message: "Tanh");
        // ReLU's gradient at exactly 0 is 0, as in TensorFlow.
        using var tape = new GradientTape();
        var z = Tensor.FromArray([0f, -1f, 2f]);
        tape.Watch(z);
        var g = tape.Gradient(z.Relu(), [z])[0]!;
        CollectionAssert.AreEqual(new[] { 0f, 0f, 1f }, g.ToArray());
    }

    [TestMethod]
    [DataRow(-1)]
    [DataRow(1)]
    [DataRow(0)]
    public void Softmax_And_LogSoftmax_MatchFloat64_AndGradients(int axis)
    {
        var r = TestData.NewRandom(11);
        var x = TestData.Uniform(r, [3, 4, 5], -3f, 3f);
        int ax = axis < 0 ? axis + 3 : axis;
        int outer = x.Shape.Take(ax).Aggregate(1, (p, d) => p * d), inner = x.Shape.Skip(ax + 1).Aggregate(1, (p, d) => p * d);
        TestData.AssertClose(x.Softmax(axis).AsSpan(), ReferenceNn.Softmax(x.ToArray(), outer, x.Shape[ax], inner, log: false), 1e-6, 1e-5, "softmax");
        TestData.AssertClose(x.LogSoftmax(axis).AsSpan(), ReferenceNn.Softmax(x.ToArray(), outer, x.Shape[ax], inner, log: true), 1e-5, 1e-5, "log_softmax");
        GradientCheck.AssertGradient(t => t.Softmax(axis), x, message: $"Softmax axis {axis}");
        GradientCheck.AssertGradient(t => t.LogSoftmax(axis), x, message: $"LogSoftmax axis {axis}");
    }

    [TestMethod]
    public void Softmax_LargeLogits_StayFinite()
    {
        var x = Tensor.FromArray([1000f, 999f, -1000f, 0f, 1000f, 1000f], [2, 3]);
        var expected = ReferenceNn.Softmax(x.ToArray(), 2, 3, 1, log: false);
        TestData.AssertClose(x.Softmax().AsSpan(), expected, 1e-7, 1e-6, "softmax(1000)");
        TestData.AssertClose(x.LogSoftmax().AsSpan(), ReferenceNn.Softmax(x.ToArray(), 2, 3, 1, log: true), 1e-4, 1e-6, "log_softmax(1000)");
        Assert.AreEqual(-2000 - Math.Log(1 + Math.Exp(-1)), x.LogSoftmax().AsSpan()[2], 1e-3, "log-softmax of a logit 2000 below the max is finite");
        // Same along a strided axis.
        TestData.AssertClose(x.Softmax(0).AsSpan(), ReferenceNn.Softmax(x.ToArray(), 1, 2, 3, log: false), 1e-7, 1e-6, "softmax axis 0");
        var e = Assert.ThrowsExactly<ArgumentException>(() => x.Softmax(2));
        Assert.AreEqual("axis", e.ParamName);
    }

    [TestMethod]
    public void BiasAdd_MatchesAndDifferentiates()
    {
        var r = TestData.NewRandom(5);
        var x = Rand(r, 2, 3, 4);
        var b = Rand(r, 4);
        var y = x.BiasAdd(b);
        var xs = x.ToArray();
        var bs = b.ToArray();
        TestData.AssertClose(y.AsSpan(), xs.Select((v, i) => (double)v + bs[i % 4]).ToArray(), 1e-7, 0, "bias add");
        GradientCheck.AssertGradients(t => t[0].BiasAdd(t[1]), [x, b], message: "BiasAdd");
        var e = Assert.ThrowsExactly<ArgumentException>(() => x.BiasAdd(Tensor.Zeros([3])));
        Assert.AreEqual("bias", e.ParamName);
    }

    [TestMethod]
    // n, h, w, c, kh, kw, f, sh, sw, same
    [DataRow(2, 7, 9, 3, 3, 3, 5, 2, 2, true)]
    [DataRow(2, 7, 9, 3, 3, 3, 5, 2, 2, false)]
    [DataRow(1, 8, 6, 2, 4, 2, 3, 3, 1, true)]
    [DataRow(3, 5, 5, 4, 1, 1, 6, 1, 1, false)]
    [DataRow(3, 5, 5, 4, 1, 1, 6, 2, 2, true)]
    [DataRow(1, 4, 4, 1, 5, 5, 2, 1, 1, true)]
    [DataRow(3, 32, 32, 40, 3, 3, 2, 1, 1, true)] // 368,640 floats of im2col per image: processed in chunks of 2 images
    public void Conv2D_MatchesFloat64(int n, int h, int w, int c, int kh, int kw, int f, int sh, int sw, bool same)
    {
        var r = TestData.NewRandom(n * 100 + h);
        var x = Rand(r, n, h, w, c);
        var k = Rand(r, kh, kw, c, f);
        var y = x.Conv2D(k, [sh, sw], same ? "same" : "valid");
        var expected = ReferenceNn.Conv2D(x.ToArray(), n, h, w, c, k.ToArray(), kh, kw, f, sh, sw, same, out var shape);
        CollectionAssert.AreEqual(shape, y.Shape.ToArray());
        TestData.AssertClose(y.AsSpan(), expected, 1e-5, 1e-5, "conv2d");
    }

    [TestMethod]
    [DataRow(2, 2, true)]
    [DataRow(1, 1, true)]
    [DataRow(2, 1, false)]
    public void Conv2D_GradientsMatchFiniteDifferences(int sh, int sw, bool same)
    {
        var r = TestData.NewRandom(21);
        var x = Rand(r, 2, 5, 4, 2);
        var k = Rand(r, 3, 2, 2, 3);
        GradientCheck.AssertGradients(t => t[0].Conv2D(t[1], [sh, sw], same ? "same" : "valid"), [x, k], message: $"Conv2D s={sh}x{sw} same={same}");
    }

    [TestMethod]
    public void Conv2D_GradientsOfAChunkedBatch_EqualThePerImageGradients()
    {
        // 3 images whose im2col rows do not fit one buffer: the kernel gradient accumulates over chunks.
        var r = TestData.NewRandom(23);
        var x = Rand(r, 3, 32, 32, 40);
        var k = Rand(r, 3, 3, 40, 2);
        var u = Rand(r, 3, 32, 32, 2);
        IReadOnlyList<Tensor?> Grads(Tensor xs, Tensor us)
        {
            using var tape = new GradientTape();
            tape.Watch(xs);
            tape.Watch(k);
            return tape.Gradient(xs.Conv2D(k, padding: "same"), [xs, k], us);
        }
        var whole = Grads(x, u);
        var dk = new double[k.Size];
        for (int n = 0; n < 3; n++)
        {
            var part = Grads(x.Slice(0, n, 1), u.Slice(0, n, 1));
            TestData.AssertClose(whole[0]!.Slice(0, n, 1).AsSpan(), part[0]!.AsSpan(), 1e-5, 1e-5, $"dx of image {n}");
            var g = part[1]!.ToArray();
            for (int i = 0; i < g.Length; i++) dk[i] += g[i];
        }
        TestData.AssertClose(whole[1]!.AsSpan(), dk, 1e-3, 1e-4, "dk summed over images");
    }

    [TestMethod]
    public void Conv2D_PointwiseGradients()
    {
        var r = TestData.NewRandom(22);
        GradientCheck.AssertGradients(t => t[0].Conv2D(t[1]), [Rand(r, 2, 3, 2, 3), Rand(r, 1, 1, 3, 2)], message: "Conv2D 1x1");
    }

    [TestMethod]
    public void Conv2D_RejectsBadArguments_NamingThem()
    {
        var x = Tensor.Zeros([1, 4, 4, 2]);
        Assert.AreEqual("kernel", Assert.ThrowsExactly<ArgumentException>(() => x.Conv2D(Tensor.Zeros([3, 3, 3, 1]))).ParamName);
        Assert.AreEqual("strides", Assert.ThrowsExactly<ArgumentException>(() => x.Conv2D(Tensor.Zeros([3, 3, 2, 1]), [0, 1])).ParamName);
        var e = Assert.ThrowsExactly<ArgumentException>(() => x.Conv2D(Tensor.Zeros([3, 3, 2, 1]), padding: "full"));
        Assert.AreEqual("padding", e.ParamName);
        StringAssert.Contains(e.Message, "\"same\"");
        Assert.AreEqual("kernel", Assert.ThrowsExactly<ArgumentException>(() => x.Conv2D(Tensor.Zeros([5, 1, 2, 1]))).ParamName);
        Assert.AreEqual("input", Assert.ThrowsExactly<ArgumentException>(() => Tensor.Zeros([4, 4, 2]).Conv2D(Tensor.Zeros([1, 1, 2, 1]))).ParamName);
    }

    [TestMethod]
    // n, h, w, c, ph, pw, sh, sw, same
    [DataRow(2, 7, 5, 3, 3, 3, 2, 2, true)]
    [DataRow(2, 7, 5, 3, 2, 2, 2, 2, false)]
    [DataRow(1, 6, 6, 9, 3, 2, 1, 2, true)]
    [DataRow(1, 5, 5, 1, 2, 2, 2, 2, true)]
    [DataRow(2, 8, 6, 20, 2, 2, 2, 2, false)]  // windows tile the input: the one-write path, vectors and a channel tail
    [DataRow(1, 6, 9, 33, 2, 3, 2, 3, true)]   // tiling under "same" (no padding needed), a window 2×3
    public void MaxPool2D_MatchesFloat64_AndGradients(int n, int h, int w, int c, int ph, int pw, int sh, int sw, bool same)
    {
        var r = TestData.NewRandom(h * 10 + c);
        var x = Tensor.FromArray(ReferenceNn.Distinct(r, n * h * w * c), [n, h, w, c]);
        var y = x.MaxPool2D([ph, pw], [sh, sw], same ? "same" : "valid");
        var expected = ReferenceNn.MaxPool(x.ToArray(), n, h, w, c, ph, pw, sh, sw, same, out var shape);
        CollectionAssert.AreEqual(shape, y.Shape.ToArray());
        TestData.AssertClose(y.AsSpan(), expected, 0, 0, "max pool");
        // Values are 0.05 apart, so a step of 0.01 never changes which element is the maximum.
        GradientCheck.AssertGradient(t => t.MaxPool2D([ph, pw], [sh, sw], same ? "same" : "valid"), x, message: "MaxPool2D");
    }

    [TestMethod]
    public void MaxPool2D_Ties_GradientGoesToTheFirstMaximum()
    {
        var x = Tensor.FromArray(Enumerable.Repeat(1f, 2 * 2 * 20).ToArray(), [1, 2, 2, 20]);
        using var tape = new GradientTape();
        tape.Watch(x);
        var y = x.MaxPool2D([2, 2]);
        var g = tape.Gradient(y, [x])[0]!.ToArray();
        for (int i = 0; i < g.Length; i++) Assert.AreEqual(i < 20 ? 1f : 0f, g[i], $"element {i}");
    }

    [TestMethod]
    public void MaxPool2D_TilingWindows_NaNPropagates_AndSignedZerosTieToTheFirstPosition()
    {
        // One 2×2 window per 2×2 block of a 2×4 image, 17 channels (a vector and a tail at every width).
        const int c = 17;
        var data = new float[2 * 4 * c];
        for (int ch = 0; ch < c; ch++)
        {
            data[0 * c + ch] = -0f;                          // window 0: −0, +0, −1, −2: maximum +0 (IEEE), the tie goes to −0 first
            data[1 * c + ch] = 0f;
            data[4 * c + ch] = -1f;
            data[5 * c + ch] = -2f;
            data[2 * c + ch] = 1f;                           // window 1: 1, NaN, 3, 2: NaN propagates
            data[3 * c + ch] = float.NaN;
            data[6 * c + ch] = 3f;
            data[7 * c + ch] = 2f;
        }
        var x = Tensor.FromArray(data, [1, 2, 4, c]);
        using var tape = new GradientTape();
        tape.Watch(x);
        var y = x.MaxPool2D([2, 2]);
        var yv = y.ToArray();
        var g = tape.Gradient(y, [x])[0]!.ToArray();
        for (int ch = 0; ch < c; ch++)
        {
            Assert.IsTrue(yv[ch] == 0f && !float.IsNegative(yv[ch]), $"channel {ch}: max(−0, +0) is +0");
            Assert.IsTrue(float.IsNaN(yv[c + ch]), $"channel {ch}: NaN propagates");
            Assert.AreEqual(1f, g[0 * c + ch], $"channel {ch}: the first of the tied zeros takes the gradient");
            Assert.AreEqual(0f, g[1 * c + ch]);
            Assert.AreEqual(0f, g[4 * c + ch] + g[5 * c + ch]);
            Assert.AreEqual(0f, g[2 * c + ch] + g[3 * c + ch] + g[6 * c + ch] + g[7 * c + ch], $"channel {ch}: no position equals NaN");
        }
    }

    [TestMethod]
    public void MaxPool2D_RejectsBadArguments_NamingThem()
    {
        var x = Tensor.Zeros([1, 4, 4, 2]);
        Assert.AreEqual("poolSize", Assert.ThrowsExactly<ArgumentException>(() => x.MaxPool2D([0, 2])).ParamName);
        Assert.AreEqual("poolSize", Assert.ThrowsExactly<ArgumentException>(() => x.MaxPool2D([5, 5])).ParamName);
        Assert.AreEqual("strides", Assert.ThrowsExactly<ArgumentException>(() => x.MaxPool2D([2, 2], [1, 2, 3])).ParamName);
        Assert.AreEqual("padding", Assert.ThrowsExactly<ArgumentException>(() => x.MaxPool2D([2, 2], padding: "causal")).ParamName);
    }
}
