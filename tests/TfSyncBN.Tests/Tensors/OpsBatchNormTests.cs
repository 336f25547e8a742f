using TfSyncBN.Tensors;

namespace TfSyncBN.Tests.Tensors;

[TestClass]
public sealed class OpsBatchNormTests
{
    [TestMethod]
    public void Inference_ReproducesMindSporeExample()
    {
        var x = Tensor.FromArray([1, 2, 3, 4], [2, 2]);
        var mean = new Variable(Tensor.FromArray([0.5f, 1.5f]), trainable: false);
        var variance = new Variable(Tensor.FromArray([0.1f, 0.2f]), trainable: false);
        var y = Ops.BatchNorm(x, mean, variance, Tensor.FromArray([2f, 2f]), Tensor.FromArray([-1f, -1f]));
        float[] expected = [2.1621194f, 1.2360122f, 14.810596f, 10.180061f];
        var actual = y.ToArray();
        for (int i = 0; i < 4; i++) Assert.AreEqual(expected[i], actual[i], 2e-6f * Math.Abs(expected[i]), $"element {i}");
    }
}
