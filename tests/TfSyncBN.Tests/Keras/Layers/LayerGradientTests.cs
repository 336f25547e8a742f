using TfSyncBN.Keras;
using TfSyncBN.Tensors;
using TfSyncBN.Tests.TestUtil;

namespace TfSyncBN.Tests.Keras.Layers;

/// <summary>
/// Input and weight gradients of the activations and image layers against central finite differences
/// (<see cref="GradientCheck"/>: h = 1e-2, rtol 1e-2, atol 1e-3 plus the float32 rounding bound; its remarks derive
/// the tolerance). Inputs stay away from kinks (0 and 6 for the ReLUs) and the max-pool data has no ties.
/// </summary>
[TestClass]
public sealed class LayerGradientTests
{
    private static readonly float[] KinkFree = [-7.5f, -2.3f, -0.7f, -0.25f, 0.3f, 0.9f, 1.7f, 3.2f, 5.5f, 6.6f, 7.4f, 2.6f];

    [TestMethod]
    [DataRow("relu")]
    [DataRow("relu6")]
    [DataRow("leaky_relu")]
    [DataRow("elu")]
    [DataRow("gelu")]
    [DataRow("swish")]
    [DataRow("sigmoid")]
    [DataRow("tanh")]
    [DataRow("softmax")]
    [DataRow("linear")]
    public void Activation_GradientMatchesFiniteDifferences(string name) =>
        GradientCheck.AssertGradient(x => new Activation(name).Call(x), Tensor.FromArray(KinkFree, [3, 4]), message: name);

    [TestMethod]
    public void GeluApproximate_And_LeakyReLU_GradientsMatchFiniteDifferences()
    {
        GradientCheck.AssertGradient(x => x.Gelu(approximate: true), Tensor.FromArray(KinkFree, [3, 4]), message: "gelu tanh");
        LayerGradientCheck.Assert(new LeakyReLU(), Tensor.FromArray(KinkFree, [3, 4]));
    }

    [TestMethod]
    public void Conv2D_GroupsDilationStridesBothFormats_GradientsMatchFiniteDifferences()
    {
        var r = TestData.NewRandom(21);
        LayerGradientCheck.Assert(new Conv2D(4, [3, 2], [2, 1], "same", groups: 2, kernelInitializer: Initializers.GlorotUniform(seed: 1),
            biasInitializer: Initializers.RandomNormal(seed: 2)), TestData.Uniform(r, [2, 5, 4, 4]));
        LayerGradientCheck.Assert(new Conv2D(3, [2, 2], dataFormat: "channels_first", dilationRate: [2, 1], kernelInitializer: Initializers.GlorotUniform(seed: 3),
            biasInitializer: Initializers.RandomNormal(seed: 4)), TestData.Uniform(r, [2, 2, 5, 4]));
    }

    [TestMethod]
    public void DepthwiseConv2D_BothFormats_GradientsMatchFiniteDifferences()
    {
        var r = TestData.NewRandom(22);
        LayerGradientCheck.Assert(new DepthwiseConv2D([3, 3], [2, 2], "same", depthMultiplier: 2, depthwiseInitializer: Initializers.GlorotUniform(seed: 1),
            biasInitializer: Initializers.RandomNormal(seed: 2)), TestData.Uniform(r, [2, 5, 4, 2]));
        LayerGradientCheck.Assert(new DepthwiseConv2D([2, 2], dataFormat: "channels_first", dilationRate: [2], depthwiseInitializer: Initializers.GlorotUniform(seed: 3),
            biasInitializer: Initializers.RandomNormal(seed: 4)), TestData.Uniform(r, [1, 3, 5, 5]));
    }

    [TestMethod]
    public void Pooling_Padding_Upsampling_GradientsMatchFiniteDifferences()
    {
        var r = TestData.NewRandom(23);
        // Distinct values a few h apart: no ties for the max-pool.
        Tensor Distinct(int[] shape)
        {
            int n = shape.Aggregate(1, (a, b) => a * b);
            var v = Enumerable.Range(0, n).Select(i => -1f + 2f * i / n).OrderBy(_ => r.Next()).ToArray();
            return Tensor.FromArray(v, shape);
        }
        LayerGradientCheck.Assert(new AveragePooling2D([3, 3], [2, 2], "same"), TestData.Uniform(r, [2, 5, 4, 2]));
        LayerGradientCheck.Assert(new AveragePooling2D([2, 2], dataFormat: "channels_first"), TestData.Uniform(r, [1, 2, 4, 5]));
        LayerGradientCheck.Assert(new MaxPooling2D([2, 2], [1, 1], "same", "channels_first"), Distinct([1, 2, 4, 4]));
        LayerGradientCheck.Assert(new GlobalMaxPooling2D("channels_first"), Distinct([2, 3, 3, 2]));
        LayerGradientCheck.Assert(new GlobalAveragePooling2D("channels_first", keepDims: true), TestData.Uniform(r, [2, 3, 3, 2]));
        LayerGradientCheck.Assert(new ZeroPadding2D([1, 0, 2, 1]), TestData.Uniform(r, [1, 3, 2, 2]));
        LayerGradientCheck.Assert(new UpSampling2D([2, 3], "channels_first"), TestData.Uniform(r, [1, 2, 2, 3]));
        LayerGradientCheck.Assert(new Reshape([-1]), TestData.Uniform(r, [2, 3, 2]));
        LayerGradientCheck.Assert(new Flatten("channels_first"), TestData.Uniform(r, [2, 3, 2, 2]));
    }

    [TestMethod]
    public void LayerNormalization_GradientsMatchFiniteDifferences()
    {
        var r = TestData.NewRandom(24);
        LayerGradientCheck.Assert(new LayerNormalization(gammaInitializer: Initializers.RandomNormal(1f, 0.3f, seed: 1),
            betaInitializer: Initializers.RandomNormal(seed: 2)), TestData.Uniform(r, [3, 2, 5], -2f, 2f));
        LayerGradientCheck.Assert(new LayerNormalization([1, 3], gammaInitializer: Initializers.RandomNormal(1f, 0.3f, seed: 3),
            betaInitializer: Initializers.RandomNormal(seed: 4)), TestData.Uniform(r, [2, 3, 2, 2], -2f, 2f));
    }
}
