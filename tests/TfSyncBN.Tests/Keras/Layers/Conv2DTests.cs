using TfSyncBN.Keras;
using TfSyncBN.Tensors;
using TfSyncBN.Tests.TestUtil;

namespace TfSyncBN.Tests.Keras.Layers;

[TestClass]
public sealed class Conv2DTests
{
    [TestMethod]
    [DataRow(3, 3, 2, 2, "same")]
    [DataRow(3, 3, 2, 2, "valid")]
    [DataRow(2, 4, 1, 3, "same")]
    [DataRow(1, 1, 1, 1, "valid")]
    public void Forward_WithBiasAndRelu_MatchesFloat64(int kh, int kw, int sh, int sw, string padding)
    {
        var r = TestData.NewRandom(kh * 10 + kw);
        int n = 2, h = 7, w = 9, c = 3, f = 4;
        var k = TestData.Uniform(r, [kh, kw, c, f]).ToArray();
        var b = TestData.Uniform(r, [f]).ToArray();
        var layer = new Conv2D(f, [kh, kw], [sh, sw], padding, activation: "relu",
            kernelInitializer: new FixedInitializer(k), biasInitializer: new FixedInitializer(b));
        var x = TestData.Uniform(r, [n, h, w, c]);
        var y = layer.Call(x);
        var z = ReferenceNn.Conv2D(x.ToArray(), n, h, w, c, k, kh, kw, f, sh, sw, padding == "same", out var shape);
        CollectionAssert.AreEqual(shape, y.Shape.ToArray());
        CollectionAssert.AreEqual(shape, layer.ComputeOutputShape([n, h, w, c]).ToArray());
        TestData.AssertClose(y.AsSpan(), z.Select((v, i) => Math.Max(v + b[i % f], 0)).ToArray(), 1e-5, 1e-5, "conv layer");
        Assert.AreEqual(kh * kw * c * f + f, layer.CountParams());
    }

    [TestMethod]
    [DataRow(2, "same")]
    [DataRow(1, "valid")]
    public void Gradients_OfInputKernelAndBias_MatchFiniteDifferences(int stride, string padding)
    {
        var r = TestData.NewRandom(9);
        var layer = new Conv2D(3, [3, 2], [stride, stride], padding, activation: "tanh",
            kernelInitializer: Initializers.GlorotUniform(seed: 1), biasInitializer: Initializers.RandomUniform(-0.3f, 0.3f, seed: 2));
        LayerGradientCheck.Assert(layer, TestData.Uniform(r, [2, 5, 4, 2]), message: $"Conv2D stride {stride} {padding}");
    }

    [TestMethod]
    public void Defaults_AreKeras()
    {
        var layer = new Conv2D(8, [3]);
        CollectionAssert.AreEqual(new[] { 3, 3 }, layer.KernelSize.ToArray());
        CollectionAssert.AreEqual(new[] { 1, 1 }, layer.Strides.ToArray());
        Assert.AreEqual("valid", layer.Padding);
        Assert.AreEqual("channels_last", layer.DataFormat);
        Assert.AreEqual("linear", layer.Activation);
        Assert.IsTrue(layer.UseBias);
        Assert.IsInstanceOfType<GlorotUniform>(layer.KernelInitializer);
        layer.EnsureBuilt([1, 28, 28, 1]);
        CollectionAssert.AreEqual(new[] { 3, 3, 1, 8 }, layer.Kernel!.Shape.ToArray(), "Keras kernel layout [kh, kw, in, out]");
        CollectionAssert.AreEqual(new[] { 1, 26, 26, 8 }, layer.ComputeOutputShape([1, 28, 28, 1]).ToArray());
        CollectionAssert.AreEqual(new[] { 5, 14, 14, 8 }, new Conv2D(8, [3], [2], "same").ComputeOutputShape([5, 28, 28, 1]).ToArray());
        CollectionAssert.AreEqual(new[] { 5, 13, 13, 8 }, new Conv2D(8, [3], [2]).ComputeOutputShape([5, 28, 28, 1]).ToArray());
    }

    [TestMethod]
    public void Regularizers_AndConstraints_AreAttached()
    {
        var layer = new Conv2D(2, [2, 2], kernelInitializer: Initializers.Constant(-0.5f), biasInitializer: Initializers.Constant(3f),
            kernelRegularizer: Regularizers.L1(0.1f), biasRegularizer: Regularizers.L2(0.5f), kernelConstraint: Constraints.NonNeg());
        layer.EnsureBuilt([1, 3, 3, 3]);
        Assert.AreEqual(2, layer.Losses.Count);
        Assert.AreEqual(0.1 * (2 * 2 * 3 * 2) * 0.5, layer.Losses[0].ToScalar(), 1e-6, "L1 on the kernel");
        Assert.AreEqual(0.5 * 2 * 9, layer.Losses[1].ToScalar(), 1e-5, "L2 on the bias");
        Assert.IsTrue(layer.Kernel!.Constraint!(layer.Kernel.Value).ToArray().All(v => v == 0f), "NonNeg projects the kernel");
        Assert.IsNull(layer.Bias!.Constraint);
    }

    [TestMethod]
    public void BadArguments_NameTheArgument()
    {
        Assert.AreEqual("filters", Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new Conv2D(0, [3])).ParamName);
        Assert.AreEqual("kernelSize", Assert.ThrowsExactly<ArgumentException>(() => new Conv2D(1, [3, 0])).ParamName);
        Assert.AreEqual("kernelSize", Assert.ThrowsExactly<ArgumentException>(() => new Conv2D(1, [3, 3, 3])).ParamName);
        Assert.AreEqual("kernelSize", Assert.ThrowsExactly<ArgumentNullException>(() => new Conv2D(1, null!)).ParamName);
        Assert.AreEqual("strides", Assert.ThrowsExactly<ArgumentException>(() => new Conv2D(1, [3], [-1])).ParamName);
        Assert.AreEqual("padding", Assert.ThrowsExactly<ArgumentException>(() => new Conv2D(1, [3], padding: "causal")).ParamName);
        var e = Assert.ThrowsExactly<ArgumentException>(() => new Conv2D(1, [3], dataFormat: "NCHW"));
        Assert.AreEqual("dataFormat", e.ParamName);
        StringAssert.Contains(e.Message, "channels_first");
        Assert.AreEqual("activation", Assert.ThrowsExactly<ArgumentException>(() => new Conv2D(1, [3], activation: "gelu_new")).ParamName);
        Assert.AreEqual("dilationRate", Assert.ThrowsExactly<ArgumentException>(() => new Conv2D(1, [3], dilationRate: [0])).ParamName);
        Assert.AreEqual("groups", Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new Conv2D(2, [3], groups: 0)).ParamName);
        Assert.AreEqual("groups", Assert.ThrowsExactly<ArgumentException>(() => new Conv2D(3, [3], groups: 2)).ParamName);
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => new Conv2D(2, [1], groups: 2).Call(Tensor.Zeros([1, 2, 2, 3]))).Message, "groups = 2");
        var layer = new Conv2D(2, [3]);
        Assert.AreEqual("inputs", Assert.ThrowsExactly<ArgumentException>(() => layer.Call(Tensor.Zeros([4, 4, 1]))).ParamName);
        layer.Call(Tensor.Zeros([1, 4, 4, 1]));
        Assert.AreEqual("inputs", Assert.ThrowsExactly<ArgumentException>(() => layer.Call(Tensor.Zeros([1, 4, 4, 2]))).ParamName);
        Assert.AreEqual("inputShape", Assert.ThrowsExactly<ArgumentException>(() => layer.ComputeOutputShape([1, 2, 2, 1])).ParamName);
    }
}
