using TfSyncBN.Tensors;

namespace TfSyncBN.Tests.Tensors;

/// <summary>Device names, and tensors whose storage is not host memory (a test double standing in for a GPU backend's storage).</summary>
[TestClass]
public sealed class DeviceTests
{
    [TestMethod]
    [DataRow("cpu", DeviceKind.Cpu, 0, "cpu")]
    [DataRow("cpu:0", DeviceKind.Cpu, 0, "cpu")]
    [DataRow("CPU", DeviceKind.Cpu, 0, "cpu")]
    [DataRow("cuda", DeviceKind.Cuda, 0, "cuda:0")]
    [DataRow("cuda:0", DeviceKind.Cuda, 0, "cuda:0")]
    [DataRow("cuda:7", DeviceKind.Cuda, 7, "cuda:7")]
    [DataRow("Cuda:12", DeviceKind.Cuda, 12, "cuda:12")]
    [DataRow("ilgpu-cpu", DeviceKind.IlgpuCpu, 0, "ilgpu-cpu:0")]
    [DataRow("ilgpu-cpu:3", DeviceKind.IlgpuCpu, 3, "ilgpu-cpu:3")]
    public void Parse_ReadsEveryForm_AndToStringWritesTheCanonicalName(string name, DeviceKind kind, int ordinal, string canonical)
    {
        var d = Device.Parse(name);
        Assert.AreEqual(kind, d.Kind);
        Assert.AreEqual(ordinal, d.Ordinal);
        Assert.AreEqual(canonical, d.ToString());
        Assert.AreEqual(d, Device.Parse(d.ToString()), "ToString round-trips through Parse");
        Assert.AreEqual(new Device(kind, ordinal), d);
    }

    [TestMethod]
    [DataRow("")]
    [DataRow("gpu")]
    [DataRow("cuda:")]
    [DataRow("cuda:-1")]
    [DataRow("cuda:+1")]
    [DataRow("cuda: 1")]
    [DataRow("cuda:1:2")]
    [DataRow("cuda:x")]
    [DataRow("cuda:99999999999")]
    [DataRow("cpu:1")]
    [DataRow(" cpu")]
    [DataRow("ilgpu")]
    public void Parse_RejectsOtherNames_NamingTheAcceptedForms(string name)
    {
        var e = Assert.ThrowsExactly<ArgumentException>(() => Device.Parse(name));
        Assert.AreEqual("name", e.ParamName);
        StringAssert.Contains(e.Message, "'cpu'");
        StringAssert.Contains(e.Message, "'cuda:N'");
        StringAssert.Contains(e.Message, "'ilgpu-cpu:N'");
        Assert.AreEqual("name", Assert.ThrowsExactly<ArgumentNullException>(() => Device.Parse(null!)).ParamName);
    }

    [TestMethod]
    public void Constructor_ValidatesKindAndOrdinal_AndTheDefaultIsTheCpu()
    {
        Assert.AreEqual(Device.Cpu, default(Device));
        Assert.AreEqual("cpu", default(Device).ToString());
        Assert.IsTrue(Device.Cpu.IsHost);
        Assert.IsFalse(new Device(DeviceKind.Cuda, 0).IsHost);
        Assert.AreNotEqual(new Device(DeviceKind.Cuda, 0), new Device(DeviceKind.Cuda, 1));
        Assert.AreNotEqual(new Device(DeviceKind.Cuda, 0), new Device(DeviceKind.IlgpuCpu, 0));
        Assert.AreEqual("ordinal", Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new Device(DeviceKind.Cuda, -1)).ParamName);
        Assert.AreEqual("ordinal", Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new Device(DeviceKind.Cpu, 1)).ParamName);
        Assert.AreEqual("kind", Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new Device((DeviceKind)42)).ParamName);
    }

    [TestMethod]
    public void HostTensors_AreOnTheCpu_AndCopyToCopiesTheirElements()
    {
        var t = Tensor.FromArray([1f, 2f, 3f, 4f, 5f, 6f], [2, 3]);
        Assert.AreEqual(Device.Cpu, t.Device);
        Assert.AreEqual(Device.Cpu, (t * 2f).Device);
        var dest = new float[8];
        t.CopyTo(dest);
        CollectionAssert.AreEqual(new[] { 1f, 2f, 3f, 4f, 5f, 6f, 0f, 0f }, dest);
        Assert.AreEqual("destination", Assert.ThrowsExactly<ArgumentException>(() => t.CopyTo(new float[5])).ParamName);
        Assert.AreSame(t.Data, t.HostArray);
        CollectionAssert.AreEqual(t.Data, ((HostStorage)t.Storage).Array);
    }

    [TestMethod]
    public void DeviceTensors_ReadThroughSyncPointsOnly()
    {
        var storage = new FakeDeviceStorage([1.5f, -2f, 3f, 4f], new Device(DeviceKind.IlgpuCpu, 1));
        var t = new Tensor(storage, [2, 2]);
        Assert.AreEqual(new Device(DeviceKind.IlgpuCpu, 1), t.Device);
        Assert.AreEqual(4, t.Size);
        CollectionAssert.AreEqual(new[] { 1.5f, -2f, 3f, 4f }, t.ToArray());
        var dest = new float[4];
        t.CopyTo(dest);
        CollectionAssert.AreEqual(new[] { 1.5f, -2f, 3f, 4f }, dest);
        Assert.AreEqual("Tensor[2, 2] [1.5, -2, 3, 4]", t.ToString());
        Assert.IsNull(t.HostArray);
        Assert.AreSame(storage, t.Storage);
        var e = Assert.ThrowsExactly<NotSupportedException>(() => t.Data);
        StringAssert.Contains(e.Message, "ilgpu-cpu:1");
        Assert.ThrowsExactly<NotSupportedException>(() => t.AsSpan().Length);
        Assert.AreEqual(7f, new Tensor(new FakeDeviceStorage([7f], new Device(DeviceKind.Cuda, 0)), []).ToScalar());
        var view = t.ShareStorage([4]);
        Assert.AreSame(storage, view.Storage);
        using (var scope = TensorScope.Begin()) Assert.AreSame(t, scope.Keep(t), "a scope pools host storage only");
    }

    /// <summary>Storage "on a device": host memory that only <see cref="CopyTo"/> reads, counting the copies.</summary>
    private sealed class FakeDeviceStorage(float[] values, Device device) : TensorStorage
    {
        public int CopyCount { get; private set; }

        public override Device Device => device;

        public override int Length => values.Length;

        public override void CopyTo(Span<float> destination)
        {
            CopyCount++;
            values.CopyTo(destination);
        }
    }
}
