using TfSyncBN.Distribute;
using TfSyncBN.Tensors;
using TDevice = TfSyncBN.Tensors.Device;

namespace TfSyncBN.Gpu.Tests;

/// <summary>
/// <see cref="MirroredStrategy"/> over a device list, on ILGPU CPU accelerators <c>ilgpu-cpu:1..3</c> (each its own
/// accelerator, opened by the strategy): replica r runs on device r, mirrored variables keep one copy per replica on its
/// device, and collectives of device tensors stage through the host with the host's bits.
/// </summary>
[TestClass]
public sealed class PlacementTests
{
    private static float[] Random(int seed, int n)
    {
        var rng = new Random(seed);
        return [.. Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 4 - 2))];
    }

    [TestMethod]
    public void EachReplicaRunsOnItsDevice_AndEachOrdinalIsItsOwnAccelerator()
    {
        using var s = new MirroredStrategy(devices: ["ilgpu-cpu:1", "ilgpu-cpu:2", "ilgpu-cpu:1"]);
        Assert.AreEqual(3, s.NumReplicasInSync);
        CollectionAssert.AreEqual(new[] { "ilgpu-cpu:1", "ilgpu-cpu:2", "ilgpu-cpu:1" }, s.Devices.Select(d => d.ToString()).ToArray());
        var seen = s.Run(ctx => ctx.Device).Values;
        CollectionAssert.AreEqual(s.Devices.ToArray(), seen.ToArray());
        var owner1 = ((IlgpuBackend)Backends.For(TDevice.Parse("ilgpu-cpu:1"))).Owner;
        var owner2 = ((IlgpuBackend)Backends.For(TDevice.Parse("ilgpu-cpu:2"))).Owner;
        Assert.AreNotSame(owner1, owner2);
        Assert.AreNotSame(owner1.Pool, owner2.Pool);
        Assert.AreEqual("ilgpu-cpu:2", owner2.Name);
        // A replica's tensor lives on its device's accelerator.
        var storages = s.Run(ctx => Tensor.FromArray([1f, 2f], [2], ctx.Device).Storage).Values;
        Assert.AreSame(owner1, ((IlgpuStorage)storages[0]).Owner);
        Assert.AreSame(owner2, ((IlgpuStorage)storages[1]).Owner);
        Assert.AreSame(owner1, ((IlgpuStorage)storages[2]).Owner);
        using var host = new MirroredStrategy(2);
        CollectionAssert.AreEqual(new[] { TDevice.Cpu, TDevice.Cpu }, host.Run(ctx => ctx.Device).Values.ToArray());
    }

    [TestMethod]
    [DataRow("gpu:0")]
    [DataRow("ilgpu-cpu:-1")]
    [DataRow("cuda:x")]
    [DataRow("")]
    public void BadDeviceNamesNameTheArgumentAndTheAcceptedForms(string name)
    {
        var e = Assert.ThrowsExactly<ArgumentException>(() => new MirroredStrategy(devices: ["ilgpu-cpu:1", name]));
        Assert.AreEqual("devices", e.ParamName);
        StringAssert.Contains(e.Message, "devices[1]");
        StringAssert.Contains(e.Message, "ilgpu-cpu:N");
        StringAssert.Contains(e.Message, "cuda:N");
        Assert.AreEqual("devices", Assert.ThrowsExactly<ArgumentException>(() => new MirroredStrategy(devices: Array.Empty<string>())).ParamName);
        Assert.AreEqual("devices", Assert.ThrowsExactly<ArgumentNullException>(() => new MirroredStrategy(devices: [null!])).ParamName);
        // No GPU here: cuda:0 cannot be opened, and the strategy says so.
        Assert.ThrowsExactly<InvalidOperationException>(() => new MirroredStrategy(devices: ["cuda:0"]));
    }

    [TestMethod]
    public void MirroredVariableCopiesLiveOnTheirDevices_AndAssignmentsStayThere()
    {
        using var s = new MirroredStrategy(devices: ["ilgpu-cpu:1", "ilgpu-cpu:2", "ilgpu-cpu:3"]);
        var init = Random(5, 6);
        Variable v;
        using (s.Scope()) v = new Variable(Tensor.FromArray(init, [2, 3]), "w", aggregation: VariableAggregation.Mean);
        for (int r = 0; r < 3; r++)
        {
            Assert.AreEqual(s.Devices[r], v.Replicas[r].Device);
            CollectionAssert.AreEqual(init, v.Replicas[r].ToArray());
        }
        // Each replica adds the same device tensor to its own copy; the copies stay on their devices, bitwise equal.
        var delta = Random(6, 6);
        s.Run(ctx =>
        {
            v.AssignAdd(Tensor.FromArray(delta, [2, 3], ctx.Device));
            Assert.AreEqual(ctx.Device, v.Value.Device);
            return 0;
        });
        var expected = init.Zip(delta, (a, b) => a + b).ToArray();
        for (int r = 0; r < 3; r++)
        {
            Assert.AreEqual(s.Devices[r], v.Replicas[r].Device);
            CollectionAssert.AreEqual(expected, v.Replicas[r].ToArray());
        }
        // A host value assigned in cross-replica code is moved to every copy's device; the Mean read combines on the host.
        using (s.Scope()) v.Assign(Tensor.FromArray(init, [2, 3]));
        for (int r = 0; r < 3; r++) Assert.AreEqual(s.Devices[r], v.Replicas[r].Device);
        using var hostStrategy = new MirroredStrategy(3);
        Variable hv;
        using (hostStrategy.Scope()) hv = new Variable(Tensor.FromArray(init, [2, 3]), "w", aggregation: VariableAggregation.Mean);
        hostStrategy.Run(ctx => { hv.AssignAdd(Tensor.FromArray(delta, [2, 3])); return 0; });
        s.Run(ctx => { v.AssignAdd(Tensor.FromArray(delta, [2, 3], ctx.Device)); return 0; });
        float[] hostMean;
        using (hostStrategy.Scope()) hostMean = hv.Value.ToArray();
        using (s.Scope())
        {
            var mean = v.Value;
            Assert.IsTrue(mean.Device.IsHost);
            CollectionAssert.AreEqual(hostMean, mean.ToArray());
        }
    }

    [TestMethod]
    public void AllReduceOfDeviceTensorsEqualsTheHostAllReduce_OnEveryReplicasDevice()
    {
        const int n = 3, len = 50;
        var inputs = Enumerable.Range(0, n).Select(r => Random(10 + r, len)).ToArray();
        using var host = new MirroredStrategy(n);
        var expected = host.Run(ctx => ctx.AllReduce(ReduceOp.Mean, Tensor.FromArray(inputs[ctx.ReplicaId])).ToArray()).Values;
        // The host sum itself, in replica order, as a check of the reference.
        var sum = new float[len];
        for (int r = 0; r < n; r++) for (int i = 0; i < len; i++) sum[i] += inputs[r][i];
        CollectionAssert.AreEqual(sum, host.Run(ctx => ctx.AllReduce(ReduceOp.Sum, Tensor.FromArray(inputs[ctx.ReplicaId])).ToArray()).Values[0]);

        using var s = new MirroredStrategy(devices: ["ilgpu-cpu:1", "ilgpu-cpu:2", "ilgpu-cpu:3"]);
        var got = s.Run(ctx =>
        {
            var x = Tensor.FromArray(inputs[ctx.ReplicaId], [len], ctx.Device);
            var one = ctx.AllReduce(ReduceOp.Mean, x);
            var many = ctx.AllReduce(ReduceOp.Sum, [x, Tensor.FromArray([1f, 2f], [2], ctx.Device)]);
            Assert.AreEqual(ctx.Device, one.Device);
            Assert.AreEqual(ctx.Device, many[0].Device);
            Assert.AreEqual(ctx.Device, many[1].Device);
            return (One: one.ToArray(), Sum: many[0].ToArray(), Small: many[1].ToArray());
        }).Values;
        for (int r = 0; r < n; r++)
        {
            CollectionAssert.AreEqual(expected[0], got[r].One, $"replica {r}");
            CollectionAssert.AreEqual(sum, got[r].Sum, $"replica {r}");
            CollectionAssert.AreEqual(new[] { 3f, 6f }, got[r].Small);
        }
        // Strategy.Reduce of per-replica device tensors combines them on the host.
        var per = s.Run(ctx => Tensor.FromArray(inputs[ctx.ReplicaId], [len], ctx.Device));
        CollectionAssert.AreEqual(sum, s.Reduce(ReduceOp.Sum, per).ToArray());
    }
}
