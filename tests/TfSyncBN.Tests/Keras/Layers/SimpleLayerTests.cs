using TfSyncBN.Keras;
using TfSyncBN.Tensors;
using TfSyncBN.Tests.TestUtil;

namespace TfSyncBN.Tests.Keras.Layers;

/// <summary>The weightless layers: pooling, flatten, rescaling and the activation layers.</summary>
[TestClass]
public sealed class SimpleLayerTests
{
    [TestMethod]
    [DataRow(3, 3, 2, 2, "same")]
    [DataRow(2, 2, 2, 2, "valid")]
    [DataRow(2, 3, 1, 2, "same")]
    public void MaxPooling2D_MatchesFloat64_AndGradient(int ph, int pw, int sh, int sw, string padding)
    {
        var r = TestData.NewRandom(ph + 10 * pw);
        var x = Tensor.FromArray(ReferenceNn.Distinct(r, 2 * 7 * 5 * 3), [2, 7, 5, 3]);
        var layer = new MaxPooling2D([ph, pw], [sh, sw], padding);
        var y = layer.Call(x);
        var expected = ReferenceNn.MaxPool(x.ToArray(), 2, 7, 5, 3, ph, pw, sh, sw, padding == "same", out var shape);
        CollectionAssert.AreEqual(shape, y.Shape.ToArray());
        CollectionAssert.AreEqual(shape, layer.ComputeOutputShape([2, 7, 5, 3]).ToArray());
        TestData.AssertClose(y.AsSpan(), expected, 0, 0, "max pool layer");
        LayerGradientCheck.Assert(layer, x);
    }

    [TestMethod]
    public void MaxPooling2D_DefaultsAndBadArguments()
    {
        var layer = new MaxPooling2D();
        CollectionAssert.AreEqual(new[] { 2, 2 }, layer.PoolSize.ToArray());
        CollectionAssert.AreEqual(new[] { 2, 2 }, layer.Strides.ToArray(), "strides default to the pool size");
        Assert.AreEqual("valid", layer.Padding);
        CollectionAssert.AreEqual(new[] { 3, 3 }, new MaxPooling2D([3]).Strides.ToArray(), "one value means both axes");
        CollectionAssert.AreEqual(new[] { 8, 14, 14, 4 }, layer.ComputeOutputShape([8, 28, 29, 4]).ToArray());
        Assert.AreEqual("poolSize", Assert.ThrowsExactly<ArgumentException>(() => new MaxPooling2D([0])).ParamName);
        Assert.AreEqual("strides", Assert.ThrowsExactly<ArgumentException>(() => new MaxPooling2D(strides: [1, 2, 3])).ParamName);
        Assert.AreEqual("padding", Assert.ThrowsExactly<ArgumentException>(() => new MaxPooling2D(padding: "full")).ParamName);
        Assert.AreEqual("dataFormat", Assert.ThrowsExactly<ArgumentException>(() => new MaxPooling2D(dataFormat: "NCHW")).ParamName);
        Assert.AreEqual("inputs", Assert.ThrowsExactly<ArgumentException>(() => layer.Call(Tensor.Zeros([2, 4, 4]))).ParamName);
    }

    [TestMethod]
    public void GlobalAveragePooling2D_MatchesFloat64_AndGradient()
    {
        var r = TestData.NewRandom(4);
        var x = TestData.Uniform(r, [2, 3, 5, 4]);
        var xs = x.ToArray();
        var expected = new double[2 * 4];
        for (int n = 0; n < 2; n++)
            for (int i = 0; i < 15; i++)
                for (int c = 0; c < 4; c++) expected[n * 4 + c] += xs[(n * 15 + i) * 4 + c] / 15.0;
        var layer = new GlobalAveragePooling2D();
        var y = layer.Call(x);
        CollectionAssert.AreEqual(new[] { 2, 4 }, y.Shape.ToArray());
        TestData.AssertClose(y.AsSpan(), expected, 1e-6, 1e-6, "gap");
        CollectionAssert.AreEqual(new[] { 2, 1, 1, 4 }, new GlobalAveragePooling2D(keepDims: true).Call(x).Shape.ToArray());
        CollectionAssert.AreEqual(new[] { 9, 1, 1, 4 }, new GlobalAveragePooling2D(keepDims: true).ComputeOutputShape([9, 3, 5, 4]).ToArray());
        CollectionAssert.AreEqual(new[] { 9, 4 }, layer.ComputeOutputShape([9, 3, 5, 4]).ToArray());
        LayerGradientCheck.Assert(new GlobalAveragePooling2D(), x);
        Assert.AreEqual("inputShape", Assert.ThrowsExactly<ArgumentException>(() => layer.ComputeOutputShape([9, 4])).ParamName);
        Assert.AreEqual("dataFormat", Assert.ThrowsExactly<ArgumentException>(() => new GlobalAveragePooling2D("channels_middle")).ParamName);
        Assert.AreEqual("inputs", Assert.ThrowsExactly<ArgumentException>(() => new GlobalAveragePooling2D().Call(Tensor.Zeros([2, 3]))).ParamName);
    }

    [TestMethod]
    public void Flatten_KeepsRowMajorOrder()
    {
        var x = Tensor.FromFunction([2, 3, 2, 2], i => i);
        var layer = new Flatten();
        var y = layer.Call(x);
        CollectionAssert.AreEqual(new[] { 2, 12 }, y.Shape.ToArray());
        CollectionAssert.AreEqual(x.ToArray(), y.ToArray());
        CollectionAssert.AreEqual(new[] { -1, 12 }, layer.ComputeOutputShape([-1, 3, 2, 2]).ToArray(), "an unknown batch passes through");
        CollectionAssert.AreEqual(new[] { 5, 1 }, layer.ComputeOutputShape([5]).ToArray());
        CollectionAssert.AreEqual(new[] { 0, 12 }, layer.Call(Tensor.Zeros([0, 3, 2, 2])).Shape.ToArray());
        LayerGradientCheck.Assert(new Flatten(), TestData.Uniform(TestData.NewRandom(), [2, 2, 3]));
        // channels_first moves the channels last first (Keras), so NCHW flattens to the NHWC order.
        var nchw = x.Transpose([0, 3, 1, 2]);
        CollectionAssert.AreEqual(x.ToArray(), new Flatten("channels_first").Call(nchw).ToArray());
        CollectionAssert.AreEqual(new[] { 2, 3 }, new Flatten("channels_first").Call(Tensor.Zeros([2, 3])).Shape.ToArray());
        Assert.AreEqual("dataFormat", Assert.ThrowsExactly<ArgumentException>(() => new Flatten("NHWC")).ParamName);
    }

    [TestMethod]
    public void Rescaling_IsScaleThenOffset()
    {
        var x = Tensor.FromArray([0f, 127.5f, 255f]);
        var y = new Rescaling(1 / 127.5f, -1f).Call(x.Reshape([1, 3]));
        TestData.AssertClose(y.AsSpan(), new double[] { -1, 0, 1 }, 1e-6, 0, "rescaling");
        CollectionAssert.AreEqual(new[] { 0f, 0.5f, 1f }, new Rescaling(1 / 255f).Call(x).ToArray().Select(v => MathF.Round(v, 6)).ToArray());
        LayerGradientCheck.Assert(new Rescaling(3f, 1f), TestData.Uniform(TestData.NewRandom(), [2, 3]));
        Assert.AreEqual("scale", Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new Rescaling(float.NaN)).ParamName);
        Assert.AreEqual("offset", Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new Rescaling(1f, float.PositiveInfinity)).ParamName);
    }

    [TestMethod]
    [DataRow("relu")]
    [DataRow("sigmoid")]
    [DataRow("tanh")]
    [DataRow("softmax")]
    [DataRow("linear")]
    public void Activation_MatchesTheOp_AndDifferentiates(string name)
    {
        var x = TestData.AwayFromZero(TestData.NewRandom(6), [3, 4], 0.1f, 2f);
        var expected = name switch
        {
            "relu" => x.Relu(),
            "sigmoid" => x.Sigmoid(),
            "tanh" => x.Tanh(),
            "softmax" => Tensor.FromArray(ReferenceNn.Softmax(x.ToArray(), 3, 4, 1, false).Select(v => (float)v).ToArray(), [3, 4]),
            _ => x,
        };
        var layer = new Activation(name);
        TestData.AssertClose(layer.Call(x).AsSpan(), expected.AsSpan(), 1e-6, 1e-5, name);
        LayerGradientCheck.Assert(layer, x);
        Assert.AreEqual("activation", Assert.ThrowsExactly<ArgumentException>(() => new Activation("selu")).ParamName);
    }

    [TestMethod]
    public void Softmax_Layer_UsesItsAxis()
    {
        var x = TestData.Uniform(TestData.NewRandom(8), [2, 3, 4], -5f, 5f);
        TestData.AssertClose(new Softmax().Call(x).AsSpan(), ReferenceNn.Softmax(x.ToArray(), 6, 4, 1, false), 1e-6, 1e-5, "axis -1");
        TestData.AssertClose(new Softmax(1).Call(x).AsSpan(), ReferenceNn.Softmax(x.ToArray(), 2, 3, 4, false), 1e-6, 1e-5, "axis 1");
        LayerGradientCheck.Assert(new Softmax(1), x);
        Assert.AreEqual("axis", Assert.ThrowsExactly<ArgumentException>(() => new Softmax(3).Call(x)).ParamName);
    }

    [TestMethod]
    [DataRow(null, 0f, 0f)]
    [DataRow(1.5f, 0f, 0f)]
    [DataRow(null, 0.2f, 0f)]
    [DataRow(6f, 0.1f, 0.5f)]
    public void ReLU_MatchesKerasFormula_AndDifferentiates(float? maxValue, float slope, float threshold)
    {
        // Keep inputs 0.05 away from the kinks at the threshold and at the maximum.
        var x = Tensor.FromArray(ReferenceNn.Distinct(TestData.NewRandom(9), 40, 0.1f).Select(v => v + 0.025f).ToArray(), [4, 10]);
        var layer = new ReLU(maxValue, slope, threshold);
        var expected = x.ToArray().Select(v => v >= threshold ? Math.Min(v, maxValue ?? double.PositiveInfinity) : slope * (v - (double)threshold)).ToArray();
        TestData.AssertClose(layer.Call(x).AsSpan(), expected, 1e-6, 1e-6, "relu layer");
        LayerGradientCheck.Assert(layer, x);
    }

    [TestMethod]
    public void ReLU_BadArguments()
    {
        Assert.AreEqual("maxValue", Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new ReLU(-1f)).ParamName);
        Assert.AreEqual("negativeSlope", Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new ReLU(negativeSlope: -0.1f)).ParamName);
        Assert.AreEqual("threshold", Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new ReLU(threshold: float.NaN)).ParamName);
    }
}
