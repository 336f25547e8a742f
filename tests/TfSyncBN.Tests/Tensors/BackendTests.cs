using TfSyncBN.Tensors;

namespace TfSyncBN.Tests.Tensors;

/// <summary>
/// The backend seam: ops on tensors of a non-host device run that device's <see cref="IBackend"/> kernels. The device
/// here is a test double (<see cref="ScalarBackend"/>: plain scalar loops, written independently of the SIMD kernels)
/// registered as ilgpu-cpu:9; its results must equal the cpu backend's.
/// </summary>
[TestClass]
[DoNotParallelize]
public sealed partial class BackendTests
{
    private static readonly Device Dev = new(DeviceKind.IlgpuCpu, 9);

    [TestInitialize]
    public void Register() => Backends.Register(new ScalarBackend(Dev));

    [TestCleanup]
    public void Unregister() => Backends.Unregister(Dev);

    private static Tensor Random(int seed, params int[] shape)
    {
        var rng = new Random(seed);
        return Tensor.FromFunction(shape, _ => (float)(rng.NextDouble() * 4 - 2));
    }

    [TestMethod]
    public void To_CopiesToTheDeviceAndBack()
    {
        var x = Random(1, 3, 5);
        var d = x.To(Dev);
        Assert.AreEqual(Dev, d.Device);
        Assert.IsNull(d.HostArray, "the copy lives in the device's storage");
        Assert.IsInstanceOfType<ScalarBackend.Storage>(d.Storage);
        CollectionAssert.AreEqual(x.ToArray(), d.ToArray());
        Assert.AreSame(d, d.To(Dev));
        Assert.AreSame(x, x.To(Device.Cpu));
        var back = d.To(Device.Cpu);
        Assert.AreEqual(Device.Cpu, back.Device);
        CollectionAssert.AreEqual(x.ToArray(), back.ToArray());
        var e = Assert.ThrowsExactly<InvalidOperationException>(() => x.To(new Device(DeviceKind.Cuda, 3)));
        StringAssert.Contains(e.Message, "cuda:3");
    }

    [TestMethod]
    public void BinaryOps_OnTheDevice_EqualTheCpuResultsBitForBit()
    {
        var a = Random(2, 4, 6);
        var b = Random(3, 4, 6);
        var ops = new (string Name, Func<Tensor, Tensor, Tensor> Op)[]
        {
            ("add", (x, y) => x + y), ("subtract", (x, y) => x - y), ("multiply", (x, y) => x * y),
            ("divide", (x, y) => x / y), ("maximum", (x, y) => x.Maximum(y)), ("minimum", (x, y) => x.Minimum(y)),
        };
        foreach (var (name, op) in ops)
        {
            var host = op(a, b);
            var device = op(a.To(Dev), b.To(Dev));
            Assert.AreEqual(Dev, device.Device, name);
            CollectionAssert.AreEqual(host.Shape.ToArray(), device.Shape.ToArray(), name);
            CollectionAssert.AreEqual(host.ToArray(), device.ToArray(), name);
        }
        // Negative control: the ops differ from each other on these inputs.
        CollectionAssert.AreNotEqual((a + b).ToArray(), (a.To(Dev) - b.To(Dev)).ToArray());
    }

    [TestMethod]
    public void MixedDevicesAndBroadcasting_AreRejectedClearly()
    {
        var a = Random(4, 2, 3);
        var e = Assert.ThrowsExactly<ArgumentException>(() => a.To(Dev) + a);
        StringAssert.Contains(e.Message, "ilgpu-cpu:9");
        StringAssert.Contains(e.Message, "'cpu'");
        Assert.AreEqual("other", e.ParamName);
        Assert.ThrowsExactly<NotSupportedException>(() => a.To(Dev) * Random(5, 1, 3).To(Dev));
    }

    [TestMethod]
    public void Gradients_FlowThroughDeviceOpsAndCopies()
    {
        var x = Random(6, 2, 5);
        var w = Random(7, 2, 5);
        var dy = Random(8, 2, 5);
        // Add and Multiply only: their backward passes are device binary ops too (unary ops run on the host only).
        Tensor Loss(Tensor xs, Tensor ws) => (xs * ws) + (xs * xs);
        using var hostTape = new GradientTape();
        hostTape.Watch(x);
        var expected = hostTape.Gradient(Loss(x, w), [x], dy)[0]!;
        using var tape = new GradientTape();
        tape.Watch(x);
        var y = Loss(x.To(Dev), w.To(Dev));
        Assert.AreEqual(Dev, y.Device);
        var grad = tape.Gradient(y, [x], dy.To(Dev))[0]!;
        Assert.AreEqual(Device.Cpu, grad.Device, "the gradient of a host tensor is copied back to the host");
        CollectionAssert.AreEqual(expected.ToArray(), grad.ToArray());
        using var seeded = new GradientTape();
        seeded.Watch(x);
        var ones = seeded.Gradient(x.To(Dev) * w.To(Dev), [x])[0]!;
        CollectionAssert.AreEqual(w.ToArray(), ones.ToArray(), "the default seed (ones) is made on the output's device");
    }

    [TestMethod]
    public void OptimizerUpdates_OnTheDevice_MatchTheCpu()
    {
        var w = Random(9, 3, 7);
        var g = Random(10, 3, 7);
        var m = Random(11, 3, 7);
        var v = Random(12, 3, 7).Abs();
        foreach (bool nesterov in new[] { false, true })
        {
            var host = TrainingOps.SgdUpdate(w, g, m, 0.1f, 0.9f, nesterov, out var hostM);
            var dev = TrainingOps.SgdUpdate(w.To(Dev), g.To(Dev), m.To(Dev), 0.1f, 0.9f, nesterov, out var devM);
            Assert.AreEqual(Dev, dev.Device);
            AssertClose(host, dev, $"SGD weights, nesterov={nesterov}");
            AssertClose(hostM!, devM!, "SGD momentum");
        }
        var plain = TrainingOps.SgdUpdate(w.To(Dev), g.To(Dev), null, 0.1f, 0f, false, out var none);
        Assert.IsNull(none);
        AssertClose(TrainingOps.SgdUpdate(w, g, null, 0.1f, 0f, false, out _), plain, "SGD without momentum");
        var hw = TrainingOps.AdamUpdate(w, g, m, v, 0.01f, 0.9f, 0.999f, 1e-7f, out var hm, out var hv);
        var dw = TrainingOps.AdamUpdate(w.To(Dev), g.To(Dev), m.To(Dev), v.To(Dev), 0.01f, 0.9f, 0.999f, 1e-7f, out var dm, out var dv);
        AssertClose(hw, dw, "Adam weights");
        AssertClose(hm, dm, "Adam m");
        AssertClose(hv, dv, "Adam v");
        Assert.ThrowsExactly<ArgumentException>(() => TrainingOps.SgdUpdate(w.To(Dev), g, null, 0.1f, 0f, false, out _));
    }

    private static void AssertClose(Tensor expected, Tensor actual, string what)
    {
        var e = expected.ToArray();
        var a = actual.ToArray();
        Assert.AreEqual(e.Length, a.Length, what);
        for (int i = 0; i < e.Length; i++)
            Assert.AreEqual(e[i], a[i], 1e-6f * (1 + Math.Abs(e[i])), $"{what} [{i}]");
    }

    /// <summary>A device whose kernels are scalar loops over private arrays (float arithmetic, one element at a time).</summary>
    private sealed partial class ScalarBackend(Device device) : IBackend
    {
        public sealed class Storage(float[] values, Device device) : TensorStorage
        {
            public float[] Values { get; } = values;

            public override Device Device => device;

            public override int Length => Values.Length;

            public override void CopyTo(Span<float> destination) => Values.CopyTo(destination);
        }

        public Device Device => device;

        private static float[] V(TensorStorage s) => ((Storage)s).Values;

        public TensorStorage Allocate(int length) => new Storage(new float[length], device);

        public TensorStorage Upload(ReadOnlySpan<float> values) => new Storage(values.ToArray(), device);

        public void Fill(TensorStorage destination, float value) => Array.Fill(V(destination), value);

        public void Binary(BinaryOpKind op, TensorStorage x, TensorStorage y, TensorStorage destination)
        {
            float[] a = V(x), b = V(y), d = V(destination);
            for (int i = 0; i < d.Length; i++)
                d[i] = op switch
                {
                    BinaryOpKind.Add => a[i] + b[i],
                    BinaryOpKind.Subtract => a[i] - b[i],
                    BinaryOpKind.Multiply => a[i] * b[i],
                    BinaryOpKind.Divide => a[i] / b[i],
                    BinaryOpKind.Maximum => MathF.Max(a[i], b[i]),
                    _ => MathF.Min(a[i], b[i]),
                };
        }

        public void SgdUpdate(TensorStorage weights, TensorStorage gradient, TensorStorage? momentum, float learningRate, float mu,
            bool nesterov, TensorStorage newWeights, TensorStorage? newMomentum)
        {
            float[] w = V(weights), g = V(gradient), nw = V(newWeights);
            for (int i = 0; i < w.Length; i++)
            {
                if (momentum is null) { nw[i] = w[i] - learningRate * g[i]; continue; }
                float m = mu * V(momentum)[i] - learningRate * g[i];
                V(newMomentum!)[i] = m;
                nw[i] = nesterov ? w[i] + mu * m - learningRate * g[i] : w[i] + m;
            }
        }

        public void AdamUpdate(TensorStorage weights, TensorStorage gradient, TensorStorage m, TensorStorage v, float alpha, float beta1,
            float beta2, float epsilon, TensorStorage newWeights, TensorStorage newM, TensorStorage newV)
        {
            float[] w = V(weights), g = V(gradient), mo = V(m), vo = V(v);
            for (int i = 0; i < w.Length; i++)
            {
                float mn = mo[i] + (g[i] - mo[i]) * (1 - beta1);
                float vn = vo[i] + (g[i] * g[i] - vo[i]) * (1 - beta2);
                V(newM)[i] = mn;
                V(newV)[i] = vn;
                V(newWeights)[i] = w[i] - alpha * mn / (MathF.Sqrt(vn) + epsilon);
            }
        }
    }
}
