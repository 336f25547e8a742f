namespace TfSyncBN.Gpu.Tests;

/// <summary>Opening devices and rejecting bad arguments with exceptions that name them.</summary>
[TestClass]
public sealed class DeviceTests
{
    [TestMethod]
    public void NoCudaDeviceFailsClearly()
    {
        // This machine has no NVIDIA GPU or driver: opening cuda:0 must fail with a message that says so.
        var e = Assert.ThrowsExactly<InvalidOperationException>(() => IlgpuDevice.Create("cuda:0"));
        StringAssert.Contains(e.Message, "CUDA device 0");
    }

    [TestMethod]
    [DataRow("gpu")]
    [DataRow("cuda")]
    [DataRow("cuda:-1")]
    [DataRow("ilgpu-cpu:x")]
    [DataRow("cpu")]
    public void BadDeviceNamesAreRejected(string name)
    {
        var e = Assert.ThrowsExactly<ArgumentException>(() => IlgpuDevice.Create(name));
        Assert.AreEqual("device", e.ParamName);
    }

    [TestMethod]
    public void BadArgumentsNameTheParameter()
    {
        var d = Device.Cpu;
        using var scope = new DeviceScope();
        var x = d.Upload(new float[12], [2, 3, 2]);
        Assert.AreEqual("values", Assert.ThrowsExactly<ArgumentException>(() => d.Upload(new float[5], [2, 3])).ParamName);
        Assert.AreEqual("b", Assert.ThrowsExactly<ArgumentException>(() => d.Add(x, d.Upload(new float[6], [6, 1]))).ParamName);
        Assert.AreEqual("b", Assert.ThrowsExactly<ArgumentException>(() => d.MatMul(d.Upload(new float[6], [2, 3]), d.Upload(new float[6], [2, 3]))).ParamName);
        Assert.AreEqual("bias", Assert.ThrowsExactly<ArgumentException>(() => d.BiasAdd(x, d.Upload(new float[3], [3]))).ParamName);
        Assert.AreEqual("axis", Assert.ThrowsExactly<ArgumentException>(() => d.BatchNormTraining(x, 3)).ParamName);
        Assert.AreEqual("gamma", Assert.ThrowsExactly<ArgumentException>(() => d.BatchNormTraining(x, 1, d.Upload(new float[2], [2]))).ParamName);
        Assert.AreEqual("epsilon", Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => d.BatchNormTraining(x, 1, epsilon: 0f)).ParamName);
        Assert.AreEqual("allReduce", Assert.ThrowsExactly<ArgumentException>(() => d.BatchNormTraining(x, 1, allReduce: b => [1.0])).ParamName);
        Assert.AreEqual("labels", Assert.ThrowsExactly<ArgumentException>(() => d.SparseSoftmaxCrossEntropy(d.Upload(new float[6], [2, 3]), [0, 3])).ParamName);
        Assert.AreEqual("padding", Assert.ThrowsExactly<ArgumentException>(() => d.MaxPool2D(d.Upload(new float[16], [1, 4, 4, 1]), [2], null, "full")).ParamName);
        Assert.AreEqual("kernel", Assert.ThrowsExactly<ArgumentException>(() => d.Conv2D(d.Upload(new float[16], [1, 4, 4, 1]), d.Upload(new float[18], [3, 3, 2, 1]))).ParamName);
        Assert.AreEqual("rate", Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => d.Dropout(x, 1f, 0)).ParamName);
        Assert.AreEqual("momentumSlot", Assert.ThrowsExactly<ArgumentException>(() => d.SgdUpdate(x, x, null, 0.1f, 0.9f)).ParamName);
    }
}
