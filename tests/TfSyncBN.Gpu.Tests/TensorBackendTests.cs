using TfSyncBN.Keras;
using TfSyncBN.Tensors;
using TDevice = TfSyncBN.Tensors.Device;

namespace TfSyncBN.Gpu.Tests;

/// <summary>
/// The ILGPU backend behind <see cref="Tensor"/> (<see cref="IlgpuBackend"/>, <see cref="IlgpuStorage"/>), run on ILGPU's
/// CPU accelerator: every op the seam has equals the cpu backend on the same inputs. Tolerance: bit-exact, because each
/// kernel does the cpu backend's float32 operations in the same order with one rounding each (ILGPU's CPU accelerator
/// runs the kernels as .NET code, which does not contract a·b + c into a fused multiply-add).
/// </summary>
[TestClass]
public sealed class TensorBackendTests
{
    private static TDevice Dev;

    [ClassInitialize]
    public static void Attach(TestContext _) => Dev = Device.Cpu.AttachToTensors();

    /// <summary>n seeded values uniform in [−scale/2, scale/2) (shared with the other backend suites).</summary>
    internal static float[] Random(int seed, int n, float scale = 4f)
    {
        var rng = new Random(seed);
        return [.. Enumerable.Range(0, n).Select(_ => (float)((rng.NextDouble() - 0.5) * scale))];
    }

    [TestMethod]
    public void FromArrayToAndToArray_MoveValuesExactly()
    {
        var values = Random(1, 37);
        var d = Tensor.FromArray(values, [37], Dev);
        Assert.AreEqual("ilgpu-cpu:0", d.Device.ToString());
        Assert.IsInstanceOfType<IlgpuStorage>(d.Storage);
        CollectionAssert.AreEqual(values, d.ToArray());
        CollectionAssert.AreEqual(new[] { 37 }, d.Shape.ToArray());
        var host = Tensor.FromArray(values, [37]);
        var moved = host.To(Dev);
        Assert.AreEqual(Dev, moved.Device);
        CollectionAssert.AreEqual(values, moved.ToArray());
        var back = moved.To(TDevice.Cpu);
        Assert.IsTrue(back.Device.IsHost);
        CollectionAssert.AreEqual(values, back.AsSpan().ToArray());
        Assert.AreEqual(0, Tensor.FromArray([], [0, 3], Dev).ToArray().Length);
        var dest = new float[40];
        moved.CopyTo(dest);
        CollectionAssert.AreEqual(values, dest[..37]);
    }

    [TestMethod]
    public void BinaryOps_EqualTheCpuBackendBitForBit()
    {
        // Random values plus the IEEE corner cases: signed zeros, infinities, NaN, division by zero.
        float[] special = [0f, -0f, 0f, -0f, float.PositiveInfinity, float.NegativeInfinity, float.NaN, 1f, 3f, float.NaN, 1e-38f, -5f];
        float[] special2 = [-0f, 0f, 0f, -0f, 1f, float.NegativeInfinity, 2f, float.NaN, 0f, -0f, 1e38f, -5f];
        var a = Tensor.FromArray([.. Random(2, 1000), .. special], [1012]);
        var b = Tensor.FromArray([.. Random(3, 1000), .. special2], [1012]);
        var ops = new (string Name, Func<Tensor, Tensor, Tensor> Op)[]
        {
            ("add", (x, y) => x + y), ("subtract", (x, y) => x - y), ("multiply", (x, y) => x * y),
            ("divide", (x, y) => x / y), ("maximum", (x, y) => x.Maximum(y)), ("minimum", (x, y) => x.Minimum(y)),
        };
        var da = a.To(Dev);
        var db = b.To(Dev);
        foreach (var (name, op) in ops)
        {
            var expected = op(a, b).ToArray();
            var actual = op(da, db);
            Assert.AreEqual(Dev, actual.Device, name);
            CollectionAssert.AreEqual(expected.Select(BitConverter.SingleToInt32Bits).ToArray(),
                actual.ToArray().Select(BitConverter.SingleToInt32Bits).ToArray(), name);
        }
        // Negative control: max and min differ on these inputs, so the comparison above can fail.
        CollectionAssert.AreNotEqual(da.Maximum(db).ToArray(), da.Minimum(db).ToArray());
    }

    [TestMethod]
    public void FillAndGradients_RunOnTheDevice()
    {
        var backend = Backends.For(Dev);
        var s = backend.Allocate(5);
        backend.Fill(s, -2.5f);
        var filled = new float[5];
        s.CopyTo(filled);
        CollectionAssert.AreEqual(new[] { -2.5f, -2.5f, -2.5f, -2.5f, -2.5f }, filled);

        // d(a·b + a)/da = b + 1, seeded by a device fill of ones (the backward of subtract needs Negate, not on the device yet).
        var a = Tensor.FromArray(Random(4, 6), [2, 3], Dev);
        var bValues = Random(5, 6);
        var b = Tensor.FromArray(bValues, [2, 3], Dev);
        using var tape = new GradientTape();
        tape.Watch(a);
        var y = a * b + a;
        var grad = tape.Gradient(y, [a])[0]!;
        Assert.AreEqual(Dev, grad.Device);
        CollectionAssert.AreEqual(bValues.Select(v => v + 1f).ToArray(), grad.ToArray());
    }

    [TestMethod]
    public void UnsupportedOp_ThrowsNamingTheOpAndTheDevice()
    {
        var x = Tensor.FromArray(Random(6, 8), [2, 4], Dev);
        var e = Assert.ThrowsExactly<NotSupportedException>(() => x.Exp());
        StringAssert.Contains(e.Message, "Exp");
        StringAssert.Contains(e.Message, "ilgpu-cpu:0");
        e = Assert.ThrowsExactly<NotSupportedException>(() => x.Sum([1]));
        StringAssert.Contains(e.Message, "Sum");
        StringAssert.Contains(e.Message, "ilgpu-cpu:0");
    }

    private static (float[] W, float[]? Slot0, float[]? Slot1) Step(Optimizer optimizer, TDevice device, int steps)
    {
        var w = new Variable(Tensor.FromArray(Random(7, 300), [300]).To(device), "w");
        for (int i = 0; i < steps; i++)
        {
            var g = Tensor.FromArray(Random(100 + i, 300), [300]).To(device);
            optimizer.ApplyGradients([g], [w]);
            Assert.AreEqual(device, w.Value.Device);
        }
        var slots = optimizer.Variables.Where(v => v.Shape.Count == 1).Select(v => v.Value.ToArray()).ToArray();
        return (w.Value.ToArray(), slots.ElementAtOrDefault(0), slots.ElementAtOrDefault(1));
    }

    [TestMethod]
    [DataRow(0f, false)]
    [DataRow(0.9f, false)]
    [DataRow(0.9f, true)]
    public void SgdSteps_OnAnIlgpuVariable_EqualTheCpuSteps(float momentum, bool nesterov)
    {
        var cpu = Step(new SGD(0.05f, momentum, nesterov), TDevice.Cpu, 3);
        var dev = Step(new SGD(0.05f, momentum, nesterov), Dev, 3);
        CollectionAssert.AreEqual(cpu.W, dev.W);
        if (momentum > 0) CollectionAssert.AreEqual(cpu.Slot0, dev.Slot0);
        // Negative control: fewer steps give other weights.
        CollectionAssert.AreNotEqual(cpu.W, Step(new SGD(0.05f, momentum, nesterov), Dev, 2).W);
    }

    [TestMethod]
    public void AdamSteps_OnAnIlgpuVariable_EqualTheCpuSteps()
    {
        var cpu = Step(new Adam(0.01f), TDevice.Cpu, 3);
        var dev = Step(new Adam(0.01f), Dev, 3);
        CollectionAssert.AreEqual(cpu.W, dev.W);
        CollectionAssert.AreEqual(cpu.Slot0, dev.Slot0);
        CollectionAssert.AreEqual(cpu.Slot1, dev.Slot1);
        CollectionAssert.AreNotEqual(cpu.W, Step(new Adam(0.01f), Dev, 2).W);
    }

    [TestMethod]
    public void ScopedOps_ReturnTheirStorageToThePool_WithoutGrowth()
    {
        var pool = Device.Cpu.Pool;
        var a = Tensor.FromArray(Random(8, 64), [8, 8], Dev);
        var b = Tensor.FromArray(Random(9, 64), [8, 8], Dev);
        float[] expected;
        using (TensorScope.Begin()) expected = ((a + b) * b - a).ToArray();
        void Iteration()
        {
            using var scope = TensorScope.Begin();
            var y = (a + b) * b - a;
            CollectionAssert.AreEqual(expected, y.ToArray());
        }
        Iteration();
        GC.Collect();
        GC.WaitForPendingFinalizers(); // unscoped storage of earlier tests goes back now, not during the loop
        long allocations = pool.Allocations, held = pool.HeldBytes;
        int outstanding = pool.Outstanding;
        for (int i = 0; i < 1000; i++) Iteration();
        Assert.AreEqual(allocations, pool.Allocations, "no device allocation after the first iteration");
        Assert.AreEqual(held, pool.HeldBytes);
        Assert.AreEqual(outstanding, pool.Outstanding, "every scoped buffer went back");

        // Kept storage and a variable's storage leave the scope; the rest goes back.
        Tensor kept;
        Variable v;
        using (var scope = TensorScope.Begin())
        {
            kept = scope.Keep(a + b);
            v = new Variable(a * b);
            _ = a - b;
        }
        Assert.AreEqual(outstanding + 2, pool.Outstanding);
        CollectionAssert.AreEqual((a + b).ToArray(), kept.ToArray());
        CollectionAssert.AreEqual((a * b).ToArray(), v.Value.ToArray());
    }

    [TestMethod]
    public void ReturnedStorage_IsNotReadSilently()
    {
        Tensor y;
        using (TensorScope.Begin()) y = Tensor.FromArray([1f, 2f], [2], Dev) + Tensor.FromArray([3f, 4f], [2], Dev);
        var e = Assert.ThrowsExactly<ObjectDisposedException>(() => y.ToArray());
        StringAssert.Contains(e.Message, "TensorScope");
    }

    [TestMethod]
    public void UnscopedStorage_GoesBackWhenCollected_AndIsReusedIntact()
    {
        var pool = Device.Cpu.Pool;
        static void Garbage()
        {
            for (int i = 0; i < 50; i++) _ = Tensor.FromArray(Random(i, 513), [513], Dev);
        }
        Garbage();
        GC.Collect();
        GC.WaitForPendingFinalizers();
        int outstanding = pool.Outstanding;
        long allocations = pool.Allocations;
        Garbage();
        GC.Collect();
        GC.WaitForPendingFinalizers();
        Assert.AreEqual(outstanding, pool.Outstanding, "collected storage went back to the pool");
        Assert.AreEqual(allocations, pool.Allocations, "the second round reused the first round's buffers");
        // Reused buffers are alive and hold what is written to them.
        var values = Random(99, 513);
        var x = Tensor.FromArray(values, [513], Dev);
        CollectionAssert.AreEqual(values.Select(v => v + v).ToArray(), (x + x).ToArray());
    }
}
