using TfSyncBN.Keras;
using TfSyncBN.Tensors;
using TfSyncBN.Tests.TestUtil;
using G = TfSyncBN.Tests.Keras.Layers.LayersGolden;

namespace TfSyncBN.Tests.Keras.Layers;

/// <summary>
/// Outputs and gradients of the activations and of the image layers against PyTorch 1.13 in float64
/// (<c>tests/reference/layers_golden.py</c>, which writes <c>LayersGolden.g.cs</c>). Inputs are closed-form: element i
/// of a tensor with phase p and scale s is <c>s·(float)sin(0.37·i + p)</c>; every gradient is the vector-Jacobian
/// product with the upstream <c>u = Seq(output shape, 3)</c>.
/// </summary>
/// <remarks>Tolerances: 1e-5 absolute plus 1e-5 relative, a few float32 roundings of O(1)..O(10) values (the
/// computations here are float32, the references float64); a wrong index, padding or count is off by O(0.1) or more.</remarks>
[TestClass]
public sealed class LayersGoldenTests
{
    private const double Tol = 1e-5;

    internal static Tensor Seq(int[] shape, double phase, float scale = 1f) =>
        Tensor.FromArray(Enumerable.Range(0, shape.Aggregate(1, (a, b) => a * b)).Select(i => scale * (float)Math.Sin(0.37 * i + phase)).ToArray(), shape);

    private static float[] Values(int[] shape, double phase) => Seq(shape, phase).ToArray();

    private static void Close(Tensor actual, double[] expected, string what, double tol = Tol) =>
        TestData.AssertClose(actual.ToArray(), expected, tol, tol, what);

    /// <summary>Runs f on x under a tape and returns y and the gradients of [x, ..extra] for the upstream Seq(y.shape, 3).</summary>
    private static (Tensor Y, IReadOnlyList<Tensor?> Grads) Run(Tensor x, Func<Tensor, Tensor> f, params ITensorLike[] extra)
    {
        using var tape = new GradientTape();
        tape.Watch(x);
        var y = f(x);
        return (y, tape.Gradient(y, [x, .. extra], Seq([.. y.Shape], 3.0)));
    }

    [TestMethod]
    [DataRow("relu", "Relu")]
    [DataRow("relu6", "Relu6")]
    [DataRow("leaky_relu", "LeakyRelu")]
    [DataRow("elu", "Elu")]
    [DataRow("gelu", "Gelu")]
    [DataRow("swish", "Silu")]
    [DataRow("silu", "Silu")]
    [DataRow("sigmoid", "Sigmoid")]
    [DataRow("tanh", "Tanh")]
    [DataRow("softmax", "Softmax")]
    public void ActivationLayer_ByKerasName_MatchesPyTorch(string name, string golden)
    {
        var (y, g) = Run(Seq([2, 3, 5], 0.0, 8f), x => new Activation(name).Call(x));
        Close(y, (double[])typeof(G).GetField(golden + "Y")!.GetValue(null)!, name + " y");
        Close(g[0]!, (double[])typeof(G).GetField(golden + "Dx")!.GetValue(null)!, name + " dx");
    }

    [TestMethod]
    public void GeluApproximate_And_LeakyReLULayerDefault_MatchPyTorch()
    {
        var (y, g) = Run(Seq([2, 3, 5], 0.0, 8f), x => x.Gelu(approximate: true));
        Close(y, G.GeluTanhY, "gelu tanh y");
        Close(g[0]!, G.GeluTanhDx, "gelu tanh dx");
        // The layer's Keras default slope is 0.3, the activation's 0.2.
        Assert.AreEqual(0.3f, new LeakyReLU().NegativeSlope);
        Close(new LeakyReLU().Call(Seq([2, 3, 5], 0.0, 8f)), G.LeakyRelu03Y, "LeakyReLU() y");
    }

    [TestMethod]
    public void Conv2D_Groups2Stride2Same_MatchesPyTorch()
    {
        var layer = new Conv2D(6, [3, 3], [2, 2], "same", groups: 2,
            kernelInitializer: new FixedInitializer(Values([3, 3, 2, 6], 1.0)), biasInitializer: new FixedInitializer(Values([6], 2.0)));
        var x = Seq([2, 7, 6, 4], 0.0);
        layer.EnsureBuilt(x.Shape);
        var (y, g) = Run(x, v => layer.Call(v), layer.Kernel!, layer.Bias!);
        CollectionAssert.AreEqual(new[] { 2, 4, 3, 6 }, y.Shape.ToArray());
        Close(y, G.ConvGroupsY, "y");
        Close(g[0]!, G.ConvGroupsDx, "dx");
        Close(g[1]!, G.ConvGroupsDk, "dk");
        Close(g[2]!, G.ConvGroupsDb, "db");
    }

    [TestMethod]
    public void Conv2D_DilatedSameNoBias_MatchesPyTorch()
    {
        var layer = new Conv2D(3, [3, 2], padding: "same", dilationRate: [2, 3], useBias: false,
            kernelInitializer: new FixedInitializer(Values([3, 2, 2, 3], 1.5)));
        var x = Seq([1, 7, 8, 2], 0.5);
        layer.EnsureBuilt(x.Shape);
        Assert.IsNull(layer.Bias);
        var (y, g) = Run(x, v => layer.Call(v), layer.Kernel!);
        CollectionAssert.AreEqual(new[] { 1, 7, 8, 3 }, y.Shape.ToArray());
        Close(y, G.ConvDilatedY, "y");
        Close(g[0]!, G.ConvDilatedDx, "dx");
        Close(g[1]!, G.ConvDilatedDk, "dk");
    }

    [TestMethod]
    public void DepthwiseConv2D_Multiplier2Stride2Same_MatchesPyTorch()
    {
        var layer = new DepthwiseConv2D([3, 3], [2, 2], "same", depthMultiplier: 2,
            depthwiseInitializer: new FixedInitializer(Values([3, 3, 3, 2], 1.25)), biasInitializer: new FixedInitializer(Values([6], 2.25)));
        var x = Seq([2, 6, 5, 3], 0.25);
        layer.EnsureBuilt(x.Shape);
        CollectionAssert.AreEqual(new[] { 3, 3, 3, 2 }, layer.Kernel!.Value.Shape.ToArray());
        var (y, g) = Run(x, v => layer.Call(v), layer.Kernel!, layer.Bias!);
        CollectionAssert.AreEqual(new[] { 2, 3, 3, 6 }, y.Shape.ToArray());
        Close(y, G.DepthwiseY, "y");
        Close(g[0]!, G.DepthwiseDx, "dx");
        Close(g[1]!, G.DepthwiseDk, "dk");
        Close(g[2]!, G.DepthwiseDb, "db");
    }

    [TestMethod]
    public void DepthwiseConv2D_DilatedValid_MatchesPyTorch()
    {
        var layer = new DepthwiseConv2D([2, 2], dilationRate: [2], useBias: false, depthwiseInitializer: new FixedInitializer(Values([2, 2, 2, 1], 1.75)));
        var x = Seq([1, 7, 7, 2], 0.75);
        layer.EnsureBuilt(x.Shape);
        var (y, g) = Run(x, v => layer.Call(v), layer.Kernel!);
        CollectionAssert.AreEqual(new[] { 1, 5, 5, 2 }, y.Shape.ToArray());
        Close(y, G.DepthwiseDilatedY, "y");
        Close(g[0]!, G.DepthwiseDilatedDx, "dx");
        Close(g[1]!, G.DepthwiseDilatedDk, "dk");
    }

    [TestMethod]
    public void AveragePooling2D_SameExcludesPadding_ValidRectangular_MatchPyTorch()
    {
        var (y, g) = Run(Seq([2, 5, 7, 3], 0.1), x => new AveragePooling2D([3, 3], [2, 2], "same").Call(x));
        CollectionAssert.AreEqual(new[] { 2, 3, 4, 3 }, y.Shape.ToArray());
        Close(y, G.AvgSameY, "same y");
        Close(g[0]!, G.AvgSameDx, "same dx");
        (y, g) = Run(Seq([1, 5, 6, 2], 0.2), x => new AveragePooling2D([2, 3], [1, 2]).Call(x));
        CollectionAssert.AreEqual(new[] { 1, 4, 2, 2 }, y.Shape.ToArray());
        Close(y, G.AvgValidY, "valid y");
        Close(g[0]!, G.AvgValidDx, "valid dx");
    }

    /// <summary>Regression: MaxPooling2D used to pool axes 1 and 2 of an NCHW tensor ([2, 3, 4, 4] → [2, 1, 2, 4]).</summary>
    [TestMethod]
    public void MaxPooling2D_ChannelsFirst_PoolsTheSpatialAxes()
    {
        var layer = new MaxPooling2D(dataFormat: "channels_first");
        CollectionAssert.AreEqual(new[] { 2, 3, 2, 2 }, layer.ComputeOutputShape([2, 3, 4, 4]).ToArray());
        var (y, g) = Run(Seq([2, 3, 4, 4], 0.3), v => layer.Call(v));
        CollectionAssert.AreEqual(new[] { 2, 3, 2, 2 }, y.Shape.ToArray());
        Close(y, G.MaxNchwY, "y");
        Close(g[0]!, G.MaxNchwDx, "dx");
    }

    [TestMethod]
    public void GlobalPooling_MatchesPyTorch_KeepDimsShapes()
    {
        var x = Seq([2, 3, 4, 5], 0.4);
        var (y, g) = Run(x, v => new GlobalMaxPooling2D().Call(v));
        CollectionAssert.AreEqual(new[] { 2, 5 }, y.Shape.ToArray());
        Close(y, G.GlobalMaxY, "max y");
        Close(g[0]!, G.GlobalMaxDx, "max dx");
        Close(new GlobalAveragePooling2D().Call(x), G.GlobalAvgY, "avg y", 1e-6);
        CollectionAssert.AreEqual(new[] { 2, 1, 1, 5 }, new GlobalMaxPooling2D(keepDims: true).Call(x).Shape.ToArray());
        var nchw = x.Transpose([0, 3, 1, 2]);
        CollectionAssert.AreEqual(new[] { 2, 5, 1, 1 }, new GlobalAveragePooling2D("channels_first", keepDims: true).Call(nchw).Shape.ToArray());
        Close(new GlobalMaxPooling2D("channels_first").Call(nchw), G.GlobalMaxY, "max y NCHW");
        Close(new GlobalAveragePooling2D("channels_first").Call(nchw), G.GlobalAvgY, "avg y NCHW", 1e-6);
    }

    [TestMethod]
    public void UpSampling2D_Nearest_MatchesPyTorch()
    {
        var (y, g) = Run(Seq([2, 3, 2, 2], 0.6), x => new UpSampling2D([2, 3]).Call(x));
        CollectionAssert.AreEqual(new[] { 2, 6, 6, 2 }, y.Shape.ToArray());
        Close(y, G.UpY, "y", 0);
        Close(g[0]!, G.UpDx, "dx");
        CollectionAssert.AreEqual(new[] { 1, 6, 4, 5 }, new UpSampling2D().ComputeOutputShape([1, 3, 2, 5]).ToArray());
        CollectionAssert.AreEqual(new[] { 1, 3, 4, 10 }, new UpSampling2D(dataFormat: "channels_first").Call(Tensor.Zeros([1, 3, 2, 5])).Shape.ToArray());
    }

    [TestMethod]
    public void LayerNormalization_LastAxis_And_TwoAxes_MatchPyTorch()
    {
        var layer = new LayerNormalization(gammaInitializer: new FixedInitializer(Values([5], 1.7)), betaInitializer: new FixedInitializer(Values([5], 2.7)));
        var x = Seq([3, 2, 5], 0.7, 2f);
        layer.EnsureBuilt(x.Shape);
        var (y, g) = Run(x, v => layer.Call(v), layer.Gamma!, layer.Beta!);
        Close(y, G.LayerNormY, "y");
        Close(g[0]!, G.LayerNormDx, "dx", 1e-4);
        Close(g[1]!, G.LayerNormDgamma, "dgamma");
        Close(g[2]!, G.LayerNormDbeta, "dbeta");

        var two = new LayerNormalization([1, 2], gammaInitializer: new FixedInitializer(Values([3, 4], 1.8)), betaInitializer: new FixedInitializer(Values([3, 4], 2.8)));
        x = Seq([2, 3, 4], 0.8, 2f);
        two.EnsureBuilt(x.Shape);
        CollectionAssert.AreEqual(new[] { 3, 4 }, two.Gamma!.Value.Shape.ToArray());
        (y, g) = Run(x, v => two.Call(v), two.Gamma!, two.Beta!);
        Close(y, G.LayerNorm2Y, "axis [1, 2] y");
        Close(g[0]!, G.LayerNorm2Dx, "axis [1, 2] dx", 1e-4);
        Close(g[1]!, G.LayerNorm2Dgamma, "axis [1, 2] dgamma");
        Close(g[2]!, G.LayerNorm2Dbeta, "axis [1, 2] dbeta");
    }
}
