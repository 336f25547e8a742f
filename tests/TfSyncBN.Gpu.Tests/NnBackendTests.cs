using TfSyncBN.Keras;
using TfSyncBN.Tensors;
using TDevice = TfSyncBN.Tensors.Device;

namespace TfSyncBN.Gpu.Tests;

/// <summary>
/// The conformance suite of the neural-network members of <see cref="IBackend"/>: every tensor op the Fashion-MNIST CNN
/// uses, run through <see cref="Tensor"/> (forward, and backward through the tape) on the cpu backend and on
/// <c>ilgpu-cpu:0</c> with the same inputs, and each backend member called directly on both backends.
/// </summary>
/// <remarks>
/// Tolerances. Bitwise where the device kernel does the cpu kernel's float32 operations in the same order: ReLU and its
/// gradient, the sigmoid/tanh gradients, bias add, max pooling forward and backward, the dropout mask (the same
/// Philox words), arg-max, equality counts, reshape and scalar operands. Elsewhere the two backends add the same
/// terms in another order or with another rounding, and the bound is the classic one for a sum of K terms,
/// <c>|Δ| ≤ 2·K·u·Σ|term|</c> with u = 2⁻²⁴ (each backend within γ_K of the exact sum): matrix products and
/// convolutions (the cpu's blocked SIMD GEMM with fused multiply-adds against the device's tiled GEMM in index order),
/// the bias gradient and full sums (float32 SIMD partial sums against the device's float64 tiles, rounded once). Exp,
/// log and tanh come from different libraries (TensorPrimitives' vectorized forms against MathF through ILGPU's
/// XMath): each result within a few ulps, so sigmoid, tanh, softmax and the cross-entropy allow a relative 1e-5
/// (about 170 ulps, covering a row of ≤ 16 terms) plus 1e-6 absolute near 0.
/// </remarks>
[TestClass]
public sealed class NnBackendTests
{
    private const float U = 1f / (1 << 24);

    private static TDevice Dev;

    [ClassInitialize]
    public static void Attach(TestContext _) => Dev = Device.Cpu.AttachToTensors();

    private static float[] Random(int seed, int n, float scale = 4f) => TensorBackendTests.Random(seed, n, scale);

    private static int[] Bits(float[] v) => [.. v.Select(BitConverter.SingleToInt32Bits)];

    private static void AssertBitwise(Tensor expected, Tensor actual, string what)
    {
        Assert.AreEqual(Dev, actual.Device, what);
        CollectionAssert.AreEqual(expected.Shape.ToArray(), actual.Shape.ToArray(), what + " shape");
        CollectionAssert.AreEqual(Bits(expected.ToArray()), Bits(actual.ToArray()), what);
    }

    /// <summary>|e − a| ≤ bound[i] elementwise (bound from <see cref="SumBound"/>), or ≤ rtol·|e| + atol.</summary>
    private static void AssertClose(Tensor expected, Tensor actual, string what, float[]? bound = null, float rtol = 1e-5f, float atol = 1e-6f)
    {
        Assert.AreEqual(Dev, actual.Device, what);
        CollectionAssert.AreEqual(expected.Shape.ToArray(), actual.Shape.ToArray(), what + " shape");
        var e = expected.ToArray();
        var a = actual.ToArray();
        for (int i = 0; i < e.Length; i++)
        {
            float tol = bound is null ? rtol * Math.Abs(e[i]) + atol : bound[i];
            Assert.IsTrue(Math.Abs(e[i] - a[i]) <= tol, $"{what}[{i}]: cpu {e[i]:R}, device {a[i]:R}, |Δ| {Math.Abs(e[i] - a[i]):R} > {tol:R}");
        }
    }

    /// <summary>2·K·u·Σ|term| per element: <paramref name="sumOfAbs"/> holds Σ|term| (the op applied to |inputs|).</summary>
    private static float[] SumBound(Tensor sumOfAbs, int k) => [.. sumOfAbs.ToArray().Select(s => 2f * k * U * s + 1e-30f)];

    /// <summary>Runs <paramref name="op"/> on the cpu and on the device with a tape over the inputs, seeded with <paramref name="seed"/>.</summary>
    private static (Tensor Y, Tensor?[] Grads) Run(Func<Tensor[], Tensor> op, float[][] inputs, int[][] shapes, float[] seed, TDevice device)
    {
        var xs = inputs.Select((v, i) => Tensor.FromArray(v, shapes[i], device)).ToArray();
        using var tape = new GradientTape();
        foreach (var x in xs) tape.Watch(x);
        var y = op(xs);
        var grads = tape.Gradient(y, xs.Select(x => (ITensorLike)x).ToArray(), Tensor.FromArray(seed, y.Shape, device));
        return (y, [.. grads]);
    }

    private static (Tensor Y, Tensor?[] Grads) Cpu(Func<Tensor[], Tensor> op, float[][] inputs, int[][] shapes, float[] seed) =>
        Run(op, inputs, shapes, seed, TDevice.Cpu);

    private static (Tensor Y, Tensor?[] Grads) OnDevice(Func<Tensor[], Tensor> op, float[][] inputs, int[][] shapes, float[] seed) =>
        Run(op, inputs, shapes, seed, Dev);

    [TestMethod]
    public void Relu_ForwardAndBackward_Bitwise()
    {
        float[] x = [.. Random(1, 200), 0f, -0f, float.NaN, float.PositiveInfinity, float.NegativeInfinity, 1e-40f];
        var dy = Random(2, x.Length);
        var c = Cpu(t => t[0].Relu(), [x], [[x.Length]], dy);
        var d = OnDevice(t => t[0].Relu(), [x], [[x.Length]], dy);
        AssertBitwise(c.Y, d.Y, "relu");
        AssertBitwise(c.Grads[0]!, d.Grads[0]!, "relu dx");
        // Negative control: the device result is not trivially equal to its input.
        CollectionAssert.AreNotEqual(Bits(x), Bits(d.Y.ToArray()));
    }

    [TestMethod]
    public void SigmoidAndTanh_WithinFewUlps()
    {
        var x = Random(3, 300, 12f);
        var dy = Random(4, x.Length);
        foreach (var (name, f) in new (string, Func<Tensor[], Tensor>)[] { ("sigmoid", t => t[0].Sigmoid()), ("tanh", t => t[0].Tanh()) })
        {
            var c = Cpu(f, [x], [[3, 100]], dy);
            var d = OnDevice(f, [x], [[3, 100]], dy);
            AssertClose(c.Y, d.Y, name);
            AssertClose(c.Grads[0]!, d.Grads[0]!, name + " dx");
        }
    }

    [TestMethod]
    public void SoftmaxAndLogSoftmax_AnyAxis_WithinTolerance()
    {
        var x = Random(5, 2 * 5 * 3, 10f);
        var dy = Random(6, x.Length);
        foreach (int axis in new[] { -1, 1, 0 })
        {
            foreach (bool log in new[] { false, true })
            {
                Func<Tensor[], Tensor> f = t => log ? t[0].LogSoftmax(axis) : t[0].Softmax(axis);
                var c = Cpu(f, [x], [[2, 5, 3]], dy);
                var d = OnDevice(f, [x], [[2, 5, 3]], dy);
                AssertClose(c.Y, d.Y, $"softmax axis {axis} log {log}");
                AssertClose(c.Grads[0]!, d.Grads[0]!, $"softmax dx axis {axis} log {log}");
            }
        }
    }

    [TestMethod]
    [DataRow(false, false)]
    [DataRow(true, false)]
    [DataRow(false, true)]
    [DataRow(true, true)]
    public void MatMul_AllTransposes_WithinTheSummationBound(bool ta, bool tb)
    {
        int m = 7, k = 13, n = 5;
        var a = Random(7, m * k);
        var b = Random(8, k * n);
        int[] sa = ta ? [k, m] : [m, k], sb = tb ? [n, k] : [k, n];
        var dy = Random(9, m * n);
        Func<Tensor[], Tensor> f = t => t[0].MatMul(t[1], ta, tb);
        var c = Cpu(f, [a, b], [sa, sb], dy);
        var d = OnDevice(f, [a, b], [sa, sb], dy);
        var abs = Cpu(f, [[.. a.Select(Math.Abs)], [.. b.Select(Math.Abs)]], [sa, sb], [.. dy.Select(Math.Abs)]);
        AssertClose(c.Y, d.Y, "matmul", SumBound(abs.Y, k));
        AssertClose(c.Grads[0]!, d.Grads[0]!, "matmul da", SumBound(abs.Grads[0]!, n));
        AssertClose(c.Grads[1]!, d.Grads[1]!, "matmul db", SumBound(abs.Grads[1]!, m));
    }

    [TestMethod]
    public void BiasAdd_ForwardBitwise_BiasGradientWithinTheSummationBound()
    {
        var x = Random(10, 6 * 4);
        var bias = Random(11, 4);
        var dy = Random(12, x.Length);
        Func<Tensor[], Tensor> f = t => t[0].BiasAdd(t[1]);
        var c = Cpu(f, [x, bias], [[2, 3, 4], [4]], dy);
        var d = OnDevice(f, [x, bias], [[2, 3, 4], [4]], dy);
        AssertBitwise(c.Y, d.Y, "bias add");
        AssertBitwise(c.Grads[0]!, d.Grads[0]!, "bias add dx");
        var abs = Cpu(f, [x, bias], [[2, 3, 4], [4]], [.. dy.Select(Math.Abs)]);
        AssertClose(c.Grads[1]!, d.Grads[1]!, "bias add dbias", SumBound(abs.Grads[1]!, 6));
    }

    [TestMethod]
    [DataRow("same", 1)]
    [DataRow("valid", 1)]
    [DataRow("same", 2)]
    [DataRow("valid", 2)]
    public void Conv2D_ForwardAndBothGradients_WithinTheSummationBound(string padding, int stride)
    {
        int[] xs = [2, 7, 6, 3], ks = [3, 3, 3, 4];
        var x = Random(13, xs.Aggregate(1, (p, v) => p * v));
        var k = Random(14, ks.Aggregate(1, (p, v) => p * v));
        Func<Tensor[], Tensor> f = t => t[0].Conv2D(t[1], [stride, stride], padding);
        var probe = Tensor.FromArray(x, xs).Conv2D(Tensor.FromArray(k, ks), [stride, stride], padding);
        var dy = Random(15, probe.Size);
        var c = Cpu(f, [x, k], [xs, ks], dy);
        var d = OnDevice(f, [x, k], [xs, ks], dy);
        var abs = Cpu(f, [[.. x.Select(Math.Abs)], [.. k.Select(Math.Abs)]], [xs, ks], [.. dy.Select(Math.Abs)]);
        int rows = probe.Shape[0] * probe.Shape[1] * probe.Shape[2];
        AssertClose(c.Y, d.Y, "conv", SumBound(abs.Y, 3 * 3 * 3));
        AssertClose(c.Grads[0]!, d.Grads[0]!, "conv dx", SumBound(abs.Grads[0]!, 3 * 3 * 4));
        AssertClose(c.Grads[1]!, d.Grads[1]!, "conv dkernel", SumBound(abs.Grads[1]!, rows));
    }

    [TestMethod]
    public void Conv2D_UnsupportedOptionsOnTheDevice_ThrowNamingOpOptionAndDevice()
    {
        var x = Tensor.FromArray(Random(16, 2 * 5 * 5 * 2), [2, 5, 5, 2], Dev);
        var k = Tensor.FromArray(Random(17, 3 * 3 * 2 * 2), [3, 3, 2, 2], Dev);
        var e = Assert.ThrowsExactly<NotSupportedException>(() => x.Conv2D(k, dilations: [2, 2], padding: "same"));
        StringAssert.Contains(e.Message, "Conv2D");
        StringAssert.Contains(e.Message, "dilations");
        StringAssert.Contains(e.Message, "ilgpu-cpu:0");
        e = Assert.ThrowsExactly<NotSupportedException>(() => x.Conv2D(Tensor.FromArray(Random(18, 3 * 3 * 1 * 2), [3, 3, 1, 2], Dev), groups: 2));
        StringAssert.Contains(e.Message, "groups = 2");
        e = Assert.ThrowsExactly<NotSupportedException>(() => x.Conv2D(k, dataFormat: "NCHW"));
        StringAssert.Contains(e.Message, "NCHW");
        e = Assert.ThrowsExactly<NotSupportedException>(() => x.MaxPool2D([2, 2], dataFormat: "NCHW"));
        StringAssert.Contains(e.Message, "MaxPool2D");
    }

    [TestMethod]
    [DataRow("valid", 2, 2)]
    [DataRow("same", 3, 2)]
    [DataRow("valid", 3, 1)]
    public void MaxPool2D_ForwardAndBackward_Bitwise(string padding, int pool, int stride)
    {
        int[] xs = [2, 6, 7, 3];
        var x = Random(19, xs.Aggregate(1, (p, v) => p * v));
        x[5] = x[8]; // a tie inside a window: the first position must win on both backends
        Func<Tensor[], Tensor> f = t => t[0].MaxPool2D([pool, pool], [stride, stride], padding);
        var dy = Random(20, Tensor.FromArray(x, xs).MaxPool2D([pool, pool], [stride, stride], padding).Size);
        var c = Cpu(f, [x], [xs], dy);
        var d = OnDevice(f, [x], [xs], dy);
        AssertBitwise(c.Y, d.Y, "maxpool");
        AssertBitwise(c.Grads[0]!, d.Grads[0]!, "maxpool dx");
    }

    [TestMethod]
    public void SumMeanReshapeAndScalarOperands_OnTheDevice()
    {
        var x = Random(21, 4 * 6);
        var dy = Random(22, 6);
        // Sum over the leading axis (the bias-gradient reduction), then reshape, scale by host scalars.
        Func<Tensor[], Tensor> f = t => (t[0].Reshape([4, 6]).Sum([0]) * 3f - 1f) / 2f;
        var c = Cpu(f, [x], [[2, 2, 6]], dy);
        var d = OnDevice(f, [x], [[2, 2, 6]], dy);
        var abs = Cpu(t => t[0].Reshape([4, 6]).Sum([0]) * 3f, [[.. x.Select(Math.Abs)]], [[2, 2, 6]], dy);
        AssertClose(c.Y, d.Y, "sum and scalars", SumBound(abs.Y, 4 * 3));
        AssertBitwise(c.Grads[0]!, d.Grads[0]!, "sum dx");
        // The scalar loss reduction: mean of all elements, and its gradient (the scalar broadcast back).
        var cm = Cpu(t => t[0].Mean(), [x], [[4, 6]], [1f]);
        var dm = OnDevice(t => t[0].Mean(), [x], [[4, 6]], [1f]);
        Assert.AreEqual(0, dm.Y.Rank);
        AssertClose(cm.Y, dm.Y, "mean", SumBound(Tensor.FromArray([x.Sum(Math.Abs) / 24f], []), 24));
        AssertBitwise(cm.Grads[0]!, dm.Grads[0]!, "mean dx");
        // Host scalar first, every binary kind, bitwise.
        var xd = Tensor.FromArray(x, [24], Dev);
        var xh = Tensor.FromArray(x, [24]);
        foreach (var (name, op) in new (string, Func<Tensor, Tensor, Tensor>)[] { ("+", (a, b) => a + b), ("-", (a, b) => a - b), ("*", (a, b) => a * b),
            ("/", (a, b) => a / b), ("max", (a, b) => a.Maximum(b)), ("min", (a, b) => a.Minimum(b)) })
        {
            AssertBitwise(op(Tensor.Scalar(0.7f), xh), op(Tensor.Scalar(0.7f), xd), "scalar " + name + " x");
            AssertBitwise(op(xh, Tensor.Scalar(0.7f)), op(xd, Tensor.Scalar(0.7f)), "x " + name + " scalar");
        }
        var e = Assert.ThrowsExactly<NotSupportedException>(() => xd.Reshape([4, 6]).Sum([1]));
        StringAssert.Contains(e.Message, "Sum");
        StringAssert.Contains(e.Message, "ilgpu-cpu:0");
    }

    [TestMethod]
    public void SparseSoftmaxCrossEntropy_LossAndGradient_WithinTolerance()
    {
        int rows = 6, classes = 10;
        var logits = Random(23, rows * classes, 20f);
        float[] labels = [0, 9, 3, 3, 7, 1];
        var loss = new SparseCategoricalCrossentropy(fromLogits: true);
        var lh = Tensor.FromArray(labels, [rows]);
        foreach (var labelsOnDevice in new[] { false, true })
        {
            Func<Tensor[], Tensor> f = t => loss.Call(labelsOnDevice && t[0].Device != TDevice.Cpu ? lh.To(Dev) : lh, t[0]);
            var c = Cpu(f, [logits], [[rows, classes]], [1f]);
            var d = OnDevice(f, [logits], [[rows, classes]], [1f]);
            AssertClose(c.Y, d.Y, "loss");
            AssertClose(c.Grads[0]!, d.Grads[0]!, "dlogits");
        }
        var bad = Assert.ThrowsExactly<ArgumentException>(() => loss.Call(Tensor.FromArray([0, 10, 0, 0, 0, 0], [rows]), Tensor.FromArray(logits, [rows, classes], Dev)));
        StringAssert.Contains(bad.Message, "[0, 10)");
    }

    [TestMethod]
    public void DropoutMask_IsMadeOnTheDevice_WithTheHostBits()
    {
        foreach (int size in new[] { 1, 7, 1000 })
        {
            var host = TrainingOps.DropoutMask(TDevice.Cpu, [size], 0x1234_5678_9ABCUL, 5, 1, 1288490189u, 1f / 0.7f);
            var dev = TrainingOps.DropoutMask(Dev, [size], 0x1234_5678_9ABCUL, 5, 1, 1288490189u, 1f / 0.7f);
            AssertBitwise(host, dev, $"mask {size}");
        }
        // Negative control: another call index gives another mask.
        CollectionAssert.AreNotEqual(TrainingOps.DropoutMask(Dev, [1000], 1, 5, 1, 1288490189u, 2f).ToArray(),
            TrainingOps.DropoutMask(Dev, [1000], 1, 6, 1, 1288490189u, 2f).ToArray());
        // Through the layer: a seeded Dropout on the device equals the host one, call for call.
        var x = Random(24, 3 * 50);
        var a = new Dropout(0.3f, seed: 4);
        var b = new Dropout(0.3f, seed: 4);
        for (int call = 0; call < 2; call++)
            AssertBitwise(a.Call(Tensor.FromArray(x, [3, 50]), training: true), b.Call(Tensor.FromArray(x, [3, 50], Dev), training: true), $"dropout call {call}");
    }

    [TestMethod]
    public void ArgMaxAndCountEqual_Bitwise()
    {
        float[] x = [.. Random(25, 40), 1f, 1f, 0f, 0f, float.NaN, 2f, 3f, 3f];
        var h = Tensor.FromArray(x, [12, 4]);
        var d = Tensor.FromArray(x, [12, 4], Dev);
        CollectionAssert.AreEqual(TrainingOps.ArgMaxLastAxis(h), TrainingOps.ArgMaxLastAxis(d));
        var y = Random(26, 48);
        Array.Copy(x, y, 20);
        y[3] = float.NaN;
        Assert.AreEqual(TrainingOps.CountEqual(h, Tensor.FromArray(y, [12, 4])), TrainingOps.CountEqual(d, Tensor.FromArray(y, [12, 4], Dev)));
        Assert.AreEqual(19, TrainingOps.CountEqual(d, Tensor.FromArray(y, [12, 4], Dev)));
    }

    [TestMethod]
    public void EveryBackendMember_CpuAndDevice_Agree()
    {
        // The members called directly at storage level, for the ones the ops above reach only in part.
        var cpu = Backends.For(TDevice.Cpu);
        var dev = Backends.For(Dev);
        var x = Random(27, 12);
        var y = Random(28, 12);
        float[] Call(IBackend b, Action<IBackend, TensorStorage, TensorStorage, TensorStorage> op, int outLength)
        {
            var sx = b.Upload(x);
            var sy = b.Upload(y);
            var so = b.Allocate(outLength);
            op(b, sx, sy, so);
            var r = new float[outLength];
            so.CopyTo(r);
            return r;
        }
        var cases = new (string Name, Action<IBackend, TensorStorage, TensorStorage, TensorStorage> Op, int Length)[]
        {
            ("broadcast", (b, a, _, o) => b.BroadcastScalar(a, o), 5),
            ("relu backward", (b, a, g, o) => b.ActivationBackward(ActivationKind.Relu, a, g, o), 12),
            ("sigmoid backward", (b, a, g, o) => b.ActivationBackward(ActivationKind.Sigmoid, a, g, o), 12),
            ("tanh backward", (b, a, g, o) => b.ActivationBackward(ActivationKind.Tanh, a, g, o), 12),
            ("argmax", (b, a, _, o) => b.ArgMax(a, 3, 4, o), 3),
            ("bias add", (b, a, g, o) => b.BiasAdd(a, b.Upload(y.AsSpan(0, 4)), o), 12),
        };
        foreach (var (name, op, length) in cases)
            CollectionAssert.AreEqual(Bits(Call(cpu, op, length)), Bits(Call(dev, op, length)), name);
    }
}
