using Microsoft.ML.OnnxRuntime;
using DenseTensorF = Microsoft.ML.OnnxRuntime.Tensors.DenseTensor<float>;
using TfSyncBN.Keras;
using Tensor = TfSyncBN.Tensors.Tensor;
using TfSyncBN.Tests.TestUtil;

namespace TfSyncBN.Tests.Keras.Interop;

/// <summary>ExportOnnx: the exported file run by ONNX Runtime 1.32.0 (CPU) against Predict, max |diff| &lt;= 1e-4.</summary>
[TestClass]
public sealed class OnnxExportTests
{
    private string dir = "";

    [TestInitialize]
    public void Setup() => dir = Directory.CreateTempSubdirectory("tfsyncbn-onnx-").FullName;

    [TestCleanup]
    public void Cleanup() => Directory.Delete(dir, recursive: true);

    /// <summary>Exports, runs ONNX Runtime on <paramref name="x"/>, and returns max |ORT − Predict|.</summary>
    private double MaxDiff(Model model, Tensor x)
    {
        var path = Path.Combine(dir, "model.onnx");
        model.ExportOnnx(path);
        using var session = new InferenceSession(path);
        var input = new DenseTensorF(x.ToArray(), x.Shape.ToArray());
        using var results = session.Run([NamedOnnxValue.CreateFromTensor("input_0", input)]);
        var got = results.First().AsEnumerable<float>().ToArray();
        var want = model.Predict(x).ToArray();
        Assert.AreEqual(want.Length, got.Length, "output size");
        return want.Zip(got, (a, b) => (double)Math.Abs(a - b)).Max();
    }

    [TestMethod]
    public void SequentialNhwcFromKeras2H5MatchesPredict()
    {
        var model = Model.LoadModel(KerasFixtures.Path("tfkeras2_sequential.h5"));
        var x = TestData.Uniform(TestData.NewRandom(1), [5, 6, 6, 2]);
        var diff = MaxDiff(model, x);
        Assert.IsTrue(diff <= 1e-4, $"max |diff| = {diff}");
    }

    [TestMethod]
    public void FunctionalResidualFromKeras3MatchesPredict()
    {
        var model = TfSyncBN.Keras.Functional.FromJson(KerasFixtures.Text("keras3_functional.json"));
        model.LoadWeights(KerasFixtures.Path("keras3_functional.weights.h5"));
        var x = TestData.Uniform(TestData.NewRandom(2), [3, 6, 6, 2]);
        var diff = MaxDiff(model, x);
        Assert.IsTrue(diff <= 1e-4, $"max |diff| = {diff}");
    }

    /// <summary>NCHW (channels_first) Functional model with a Concatenate branch, strided conv, average pooling and non-trivial BN statistics.</summary>
    [TestMethod]
    public void FunctionalNchwMatchesPredict()
    {
        var input = Model.Input([3, 8, 8]);
        var a = new Conv2D(4, [3, 3], strides: [2, 2], padding: "same", dataFormat: "channels_first", activation: "relu").Call(input);
        var bnLayer = new BatchNormalization(axis: [1]);
        var b = bnLayer.Call(a);
        var c = new Conv2D(2, [1, 1], dataFormat: "channels_first", activation: "tanh").Call(a);
        var m = new Concatenate(axis: 1).Call([b, c]);
        var p = new AveragePooling2D([2, 2], dataFormat: "channels_first").Call(m);
        var g = new GlobalAveragePooling2D(dataFormat: "channels_first").Call(p);
        var o = new Dense(3, activation: "softmax").Call(g);
        var model = new TfSyncBN.Keras.Functional([input], [o]);
        var rng = TestData.NewRandom(7);
        foreach (var w in bnLayer.Weights) w.Assign(TestData.Uniform(rng, [.. w.Shape], 0.2f, 1.5f));
        var x = TestData.Uniform(TestData.NewRandom(3), [4, 3, 8, 8]);
        var diff = MaxDiff(model, x);
        Assert.IsTrue(diff <= 1e-4, $"max |diff| = {diff}");
    }

    /// <summary>NHWC depthwise convolution (multiplier 2, strided, same padding) with a Reshape and global max pooling.</summary>
    [TestMethod]
    public void DepthwiseSequentialMatchesPredict()
    {
        var model = new Sequential(
        [
            new DepthwiseConv2D([3, 3], strides: [2, 2], padding: "same", depthMultiplier: 2, activation: "relu"),
            new GlobalMaxPooling2D(),
            new Reshape([3, 2]),
            new Flatten(),
            new Dense(2),
        ], inputShape: [7, 7, 3], name: "dw");
        var x = TestData.Uniform(TestData.NewRandom(9), [3, 7, 7, 3]);
        var diff = MaxDiff(model, x);
        Assert.IsTrue(diff <= 1e-4, $"max |diff| = {diff}");
    }

    [TestMethod]
    public void LayerWithoutOnnxFormIsRejected()
    {
        var model = new Sequential([new Dense(4), new LayerNormalization()], inputShape: [3], name: "m");
        var e = Assert.ThrowsExactly<NotSupportedException>(() => model.ExportOnnx(Path.Combine(dir, "x.onnx")));
        StringAssert.Contains(e.Message, "LayerNormalization");
    }
}
