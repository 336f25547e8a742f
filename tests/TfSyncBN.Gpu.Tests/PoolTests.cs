using TfSyncBN.GpuCheck;

namespace TfSyncBN.Gpu.Tests;

/// <summary>Device memory comes from the per-device pool, goes back with the scope, and variables own theirs.</summary>
[TestClass]
public sealed class PoolTests
{
    [TestMethod]
    [Timeout(600_000, CooperativeCancellation = true)]
    public void ThousandTrainingStepsAllocateNothingAfterTheFirst()
    {
        using var d = IlgpuDevice.Create("ilgpu-cpu:0");
        // Results do not depend on the GEMM tile (DeterminismTests); tile 1 keeps group barriers cheapest on the simulator.
        d.GemmTile = 1;
        int batch = 2, size = 4, filters = 2, features = 2 * 2 * filters;
        using var kernel = d.CreateVariable(Conformance.Random(9 * filters, 81, 0.5f), [3, 3, 1, filters]);
        using var gamma = d.CreateVariable([1f, 1f], [filters]);
        using var beta = d.CreateVariable([0f, 0f], [filters]);
        using var dense = d.CreateVariable(Conformance.Random(features * 2, 82, 0.1f), [features, 2]);
        using var bias = d.CreateVariable([0f, 0f], [2]);
        float[] images = Conformance.Random(batch * size * size, 83);
        int[] labels = [0, 1];
        long allocationsAfterFirst = 0, heldAfterFirst = 0;
        for (int step = 0; step < 1000; step++)
        {
            using (new DeviceScope())
                Assert.IsTrue(float.IsFinite(Checks.Step(d, images, labels, batch, size, filters, features, kernel, gamma, beta, dense, bias)));
            Assert.AreEqual(0, d.Pool.Outstanding, $"step {step}: buffers not returned");
            if (step == 0)
            {
                allocationsAfterFirst = d.Pool.Allocations;
                heldAfterFirst = d.Pool.HeldBytes;
                Assert.IsTrue(allocationsAfterFirst > 10);
            }
        }
        Assert.AreEqual(allocationsAfterFirst, d.Pool.Allocations, "the pool allocated after the first step");
        Assert.AreEqual(heldAfterFirst, d.Pool.HeldBytes, "the pool grew after the first step");
    }

    [TestMethod]
    public void WithoutAScopeNothingReturnsAndTheCountShowsIt()
    {
        // Negative control for the test above: results outside a scope stay out of the pool until disposed.
        var d = Device.Cpu;
        int before = d.Pool.Outstanding;
        var t = d.Upload([1f, 2f], [2]);
        var y = d.Relu(t);
        Assert.AreEqual(before + 2, d.Pool.Outstanding);
        t.Dispose();
        y.Dispose();
        Assert.AreEqual(before, d.Pool.Outstanding);
    }

    [TestMethod]
    public void ScopeReturnsBuffersKeepMovesOutVariablesStay()
    {
        var d = Device.Cpu;
        using var variable = d.CreateVariable([3f, -4f], [2]);
        int before = d.Pool.Outstanding;
        GpuTensor kept;
        GpuTensor dropped;
        using (var scope = new DeviceScope())
        {
            dropped = d.Relu(variable);
            kept = scope.Keep(d.Scale(variable, 2f));
            Assert.AreEqual(before + 2, d.Pool.Outstanding);
        }
        Assert.AreEqual(before + 1, d.Pool.Outstanding);
        Assert.IsTrue(dropped.IsDisposed);
        Assert.ThrowsExactly<ObjectDisposedException>(() => dropped.ToArray());
        CollectionAssert.AreEqual(new[] { 6f, -8f }, kept.ToArray());
        CollectionAssert.AreEqual(new[] { 3f, -4f }, variable.ToArray());
        kept.Dispose();
        Assert.AreEqual(before, d.Pool.Outstanding);
        // A reused buffer: the same shape again allocates nothing new.
        long allocations = d.Pool.Allocations;
        using (new DeviceScope()) d.Scale(variable, 2f);
        Assert.AreEqual(allocations, d.Pool.Allocations);
    }
}
