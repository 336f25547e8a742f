using TfSyncBN.Keras;
using TfSyncBN.Tensors;

namespace TfSyncBN.Tests.Keras.Layers;

/// <summary>
/// Keras' defaults and config forms of the image layers (values from the Keras 3 / tf.keras documentation), the
/// forms of Keras JSON they accept, and their argument checks.
/// </summary>
[TestClass]
public sealed class KerasDefaultsTests
{
    private static Layer FromJson(string className, Dictionary<string, object?> config) =>
        TfSyncBN.Keras.Layers.Deserialize(new Dictionary<string, object?> { ["class_name"] = className, ["config"] = config });

    [TestMethod]
    public void Defaults_AreKeras()
    {
        var conv = new Conv2D(4, [3]);
        CollectionAssert.AreEqual(new[] { 1, 1 }, conv.DilationRate.ToArray());
        Assert.AreEqual(1, conv.Groups);
        Assert.AreEqual("channels_last", conv.DataFormat);
        var dw = new DepthwiseConv2D([3]);
        Assert.AreEqual(1, dw.DepthMultiplier);
        Assert.AreEqual("valid", dw.Padding);
        Assert.IsTrue(dw.UseBias);
        var avg = new AveragePooling2D();
        CollectionAssert.AreEqual(new[] { 2, 2 }, avg.PoolSize.ToArray());
        CollectionAssert.AreEqual(new[] { 2, 2 }, avg.Strides.ToArray());
        Assert.AreEqual("valid", avg.Padding);
        CollectionAssert.AreEqual(new[] { 1, 1, 1, 1 }, new ZeroPadding2D().Padding.ToArray());
        CollectionAssert.AreEqual(new[] { 2, 2 }, new UpSampling2D().Size.ToArray());
        Assert.AreEqual("nearest", new UpSampling2D().Interpolation);
        Assert.AreEqual(0.3f, new LeakyReLU().NegativeSlope);
        var ln = new LayerNormalization();
        CollectionAssert.AreEqual(new[] { -1 }, ln.Axis.ToArray());
        Assert.AreEqual(1e-3f, ln.Epsilon);
        Assert.IsTrue(ln.Center && ln.Scale);
        Assert.IsFalse(new GlobalMaxPooling2D().KeepDims);
    }

    [TestMethod]
    public void ZeroPadding2D_AcceptsIntPairAndPairOfPairs_AndPadsTheRightSides()
    {
        CollectionAssert.AreEqual(new[] { 2, 2, 2, 2 }, new ZeroPadding2D([2]).Padding.ToArray());
        CollectionAssert.AreEqual(new[] { 1, 1, 3, 3 }, new ZeroPadding2D([1, 3]).Padding.ToArray());
        CollectionAssert.AreEqual(new[] { 1, 2, 3, 4 }, new ZeroPadding2D([1, 2, 3, 4]).Padding.ToArray());
        // Keras JSON: an int, a pair and a pair of pairs (as parsed: lists of longs).
        Assert.AreEqual(2, ((ZeroPadding2D)FromJson("ZeroPadding2D", new() { ["padding"] = 2L })).Padding[3]);
        CollectionAssert.AreEqual(new[] { 1, 1, 3, 3 }, ((ZeroPadding2D)FromJson("ZeroPadding2D", new() { ["padding"] = new List<object?> { 1L, 3L } })).Padding.ToArray());
        CollectionAssert.AreEqual(new[] { 1, 2, 3, 4 }, ((ZeroPadding2D)FromJson("ZeroPadding2D", new()
        {
            ["padding"] = new List<object?> { new List<object?> { 1L, 2L }, new List<object?> { 3L, 4L } },
        })).Padding.ToArray());
        // x[n, h, w, c] = 1 + index: the output holds it at [n, h + top, w + left, c] and zeros elsewhere.
        var x = Tensor.FromFunction([1, 2, 3, 2], i => 1 + i);
        var y = new ZeroPadding2D([1, 2, 3, 4]).Call(x);
        CollectionAssert.AreEqual(new[] { 1, 5, 10, 2 }, y.Shape.ToArray());
        var ys = y.ToArray();
        var expected = new float[ys.Length];
        for (int h = 0; h < 2; h++) for (int w = 0; w < 3; w++) for (int c = 0; c < 2; c++) expected[((h + 1) * 10 + w + 3) * 2 + c] = 1 + (h * 3 + w) * 2 + c;
        CollectionAssert.AreEqual(expected, ys);
        var nchw = new ZeroPadding2D([1, 2, 3, 4], "channels_first").Call(x.Transpose([0, 3, 1, 2]));
        CollectionAssert.AreEqual(ys, nchw.Transpose([0, 2, 3, 1]).ToArray());
    }

    [TestMethod]
    public void LeakyReLU_AcceptsKeras3AndTfKerasKeys()
    {
        Assert.AreEqual(0.1f, ((LeakyReLU)FromJson("LeakyReLU", new() { ["negative_slope"] = 0.1 })).NegativeSlope);
        Assert.AreEqual(0.2f, ((LeakyReLU)FromJson("LeakyReLU", new() { ["alpha"] = 0.2 })).NegativeSlope);
        Assert.AreEqual(0.3f, ((LeakyReLU)FromJson("LeakyReLU", [])).NegativeSlope);
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => FromJson("LeakyReLU", new() { ["alpha"] = 0.2, ["negative_slope"] = 0.1 })).Message, "alpha");
        Assert.AreEqual("negativeSlope", Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new LeakyReLU(-0.1f)).ParamName);
        CollectionAssert.AreEqual(new[] { -0.5f, 0f, 2f }, new LeakyReLU(0.25f).Call(Tensor.FromArray([-2f, 0f, 2f])).ToArray());
    }

    [TestMethod]
    public void Reshape_InfersOneEntry_AndRejectsBadTargets()
    {
        var x = Tensor.FromFunction([2, 3, 4], i => i);
        var y = new Reshape([4, -1]).Call(x);
        CollectionAssert.AreEqual(new[] { 2, 4, 3 }, y.Shape.ToArray());
        CollectionAssert.AreEqual(x.ToArray(), y.ToArray());
        CollectionAssert.AreEqual(new[] { -1, 6, 2 }, new Reshape([6, 2]).ComputeOutputShape([-1, 3, 4]).ToArray());
        Assert.AreEqual("targetShape", Assert.ThrowsExactly<ArgumentException>(() => new Reshape([-1, -1])).ParamName);
        Assert.AreEqual("targetShape", Assert.ThrowsExactly<ArgumentException>(() => new Reshape([0, 2])).ParamName);
        Assert.AreEqual("inputs", Assert.ThrowsExactly<ArgumentException>(() => new Reshape([5, -1]).Call(x)).ParamName);
        Assert.AreEqual("inputs", Assert.ThrowsExactly<ArgumentException>(() => new Reshape([5]).Call(x)).ParamName);
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => FromJson("Reshape", [])).Message, "target_shape");
    }

    [TestMethod]
    public void BadArguments_NameTheArgument()
    {
        Assert.AreEqual("depthMultiplier", Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new DepthwiseConv2D([3], depthMultiplier: 0)).ParamName);
        Assert.AreEqual("dataFormat", Assert.ThrowsExactly<ArgumentException>(() => new DepthwiseConv2D([3], dataFormat: "NHWC")).ParamName);
        Assert.AreEqual("padding", Assert.ThrowsExactly<ArgumentException>(() => new ZeroPadding2D([1, 2, 3])).ParamName);
        Assert.AreEqual("padding", Assert.ThrowsExactly<ArgumentException>(() => new ZeroPadding2D([-1])).ParamName);
        Assert.AreEqual("size", Assert.ThrowsExactly<ArgumentException>(() => new UpSampling2D([0])).ParamName);
        Assert.AreEqual("interpolation", Assert.ThrowsExactly<ArgumentException>(() => new UpSampling2D(interpolation: "bilinear")).ParamName);
        Assert.AreEqual("axis", Assert.ThrowsExactly<ArgumentException>(() => new LayerNormalization([1, 1])).ParamName);
        Assert.AreEqual("epsilon", Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new LayerNormalization(epsilon: 0f)).ParamName);
        Assert.AreEqual("axis", Assert.ThrowsExactly<ArgumentException>(() => new LayerNormalization([0]).Call(Tensor.Zeros([2, 3]))).ParamName);
        Assert.AreEqual("poolSize", Assert.ThrowsExactly<ArgumentException>(() => new AveragePooling2D([3]).Call(Tensor.Zeros([1, 2, 2, 1]))).ParamName);
        Assert.AreEqual("dataFormat", Assert.ThrowsExactly<ArgumentException>(() => Tensor.Zeros([1, 2, 2, 1]).AvgPool2D([1], dataFormat: "channels_last")).ParamName);
        Assert.AreEqual("kernel", Assert.ThrowsExactly<ArgumentException>(() => Tensor.Zeros([1, 2, 2, 4]).Conv2D(Tensor.Zeros([1, 1, 4, 3]), groups: 3)).ParamName);
        Assert.AreEqual("after", Assert.ThrowsExactly<ArgumentException>(() => Tensor.Zeros([2, 2]).Pad([0, 0], [0])).ParamName);
        Assert.AreEqual("repeats", Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => Tensor.Zeros([2, 2]).Repeat(0, 1)).ParamName);
        Assert.AreEqual("inputs", Assert.ThrowsExactly<ArgumentException>(() => new GlobalMaxPooling2D().Call(Tensor.Zeros([1, 0, 2, 1]))).ParamName);
        Assert.AreEqual("activation", Assert.ThrowsExactly<ArgumentException>(() => new Activation("Relu")).ParamName);
    }
}

/// <summary>A model of every new layer, channels first, through model JSON and a weights file.</summary>
[TestClass]
public sealed class NewLayersSavingTests
{
    [TestMethod]
    public void ModelJsonPlusWeights_RebuildsTheModel_AndPredictsIdentically()
    {
        var model = new Sequential(
        [
            new ZeroPadding2D([1, 0, 2, 1], "channels_first"),
            new Conv2D(4, [3, 3], [2, 1], "same", "channels_first", [1, 1], groups: 2, activation: "relu6", kernelInitializer: Initializers.GlorotUniform(seed: 1)),
            new DepthwiseConv2D([3, 3], padding: "same", depthMultiplier: 2, dataFormat: "channels_first", dilationRate: [2, 2], activation: "gelu",
                depthwiseInitializer: Initializers.GlorotUniform(seed: 2), biasInitializer: Initializers.RandomNormal(seed: 3)),
            new LeakyReLU(0.1f),
            new AveragePooling2D([2, 2], padding: "same", dataFormat: "channels_first"),
            new UpSampling2D([1, 2], "channels_first"),
            new LayerNormalization([1], gammaInitializer: Initializers.RandomNormal(1f, 0.2f, seed: 4), betaInitializer: Initializers.RandomNormal(seed: 5)),
            new GlobalMaxPooling2D("channels_first", keepDims: true),
            new Reshape([-1]),
            new Activation("silu"),
            new Dense(3, kernelInitializer: Initializers.GlorotUniform(seed: 6)),
        ], inputShape: [2, 7, 6]);
        var x = TfSyncBN.Tests.TestUtil.TestData.Uniform(TfSyncBN.Tests.TestUtil.TestData.NewRandom(8), [3, 2, 7, 6]);
        var expected = model.Predict(x).ToArray();
        var path = Path.Combine(Path.GetTempPath(), $"tfsyncbn-layers-{Guid.NewGuid():N}.weights");
        try
        {
            model.SaveWeights(path);
            var rebuilt = Sequential.FromJson(model.ToJson());
            rebuilt.LoadWeights(path);
            Assert.AreEqual(model.ToJson(), rebuilt.ToJson());
            Assert.HasCount(model.Weights.Count, rebuilt.Weights);
            CollectionAssert.AreEqual(expected, rebuilt.Predict(x).ToArray());
        }
        finally
        {
            File.Delete(path);
        }
    }
}
