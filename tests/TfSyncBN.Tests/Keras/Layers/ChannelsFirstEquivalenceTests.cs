using TfSyncBN.Keras;
using TfSyncBN.Tensors;
using TfSyncBN.Tests.TestUtil;

namespace TfSyncBN.Tests.Keras.Layers;

/// <summary>
/// The same network built channels last (NHWC) and channels first (NCHW), with the same weights, computes the same
/// outputs and gradients up to the transpose: every spatial layer honours <c>data_format</c>.
/// </summary>
[TestClass]
public sealed class ChannelsFirstEquivalenceTests
{
    private sealed record Result(Tensor Features, Tensor Dense, Tensor Gap, Tensor Gmp, Tensor Dx, IReadOnlyList<Tensor?> Dw);

    /// <summary>
    /// ZeroPadding2D → Conv2D (strides, groups, bias) → BN → ReLU → DepthwiseConv2D (dilation, multiplier 2) →
    /// MaxPooling2D → UpSampling2D → Conv2D (dilation, gelu) → AveragePooling2D ("same"), then three heads:
    /// Flatten → Dense, GlobalAveragePooling2D, GlobalMaxPooling2D. Seeded initializers give both layouts the same
    /// weights (kernels are HWIO in both). The loss is Σ u·head over the three heads.
    /// </summary>
    private static Result Run(bool channelsFirst, Tensor xNhwc, bool flattenChannelsLast = false)
    {
        string? f = channelsFirst ? "channels_first" : null;
        Layer[] body =
        [
            new ZeroPadding2D([1, 0, 2, 1], f),
            new Conv2D(8, [3, 3], [2, 1], "same", f, groups: 2, kernelInitializer: Initializers.GlorotUniform(seed: 1), biasInitializer: Initializers.RandomNormal(seed: 2)),
            new BatchNormalization(axis: [channelsFirst ? 1 : -1], gammaInitializer: Initializers.RandomUniform(0.5f, 1.5f, seed: 7)),
            new ReLU(),
            new DepthwiseConv2D([3, 3], padding: "same", depthMultiplier: 2, dataFormat: f, dilationRate: [2, 2],
                depthwiseInitializer: Initializers.GlorotUniform(seed: 3), biasInitializer: Initializers.RandomNormal(seed: 4)),
            new MaxPooling2D([2, 2], dataFormat: f),
            new UpSampling2D([2, 1], f),
            new Conv2D(6, [3, 3], dataFormat: f, dilationRate: [1, 2], activation: "gelu", kernelInitializer: Initializers.GlorotUniform(seed: 5)),
            new AveragePooling2D([2, 2], [1, 2], "same", f),
        ];
        var flatten = new Flatten(flattenChannelsLast ? null : f);
        var dense = new Dense(5, kernelInitializer: Initializers.GlorotUniform(seed: 6));
        var x = channelsFirst ? xNhwc.Transpose([0, 3, 1, 2]) : xNhwc;
        using var tape = new GradientTape();
        tape.Watch(x);
        var h = x;
        foreach (var layer in body) h = layer.Call(h, training: true);
        var yDense = dense.Call(flatten.Call(h));
        var yGap = new GlobalAveragePooling2D(f).Call(h);
        var yGmp = new GlobalMaxPooling2D(f).Call(h);
        var r = TestData.NewRandom(11);
        var loss = (yDense * TestData.Uniform(r, [.. yDense.Shape])).Sum() + (yGap * TestData.Uniform(r, [.. yGap.Shape])).Sum()
            + (yGmp * TestData.Uniform(r, [.. yGmp.Shape])).Sum();
        var weights = body.Append(dense).SelectMany(l => l.TrainableWeights).ToArray();
        var grads = tape.Gradient(loss, [x, .. weights]);
        var features = channelsFirst ? h.Transpose([0, 2, 3, 1]) : h;
        var dx = channelsFirst ? grads[0]!.Transpose([0, 2, 3, 1]) : grads[0]!;
        return new Result(features, yDense, yGap, yGmp, dx, grads.Skip(1).ToArray());
    }

    private static void Same(Tensor expected, Tensor actual, string what)
    {
        CollectionAssert.AreEqual(expected.Shape.ToArray(), actual.Shape.ToArray(), $"{what}: shape");
        TestData.AssertClose(actual.ToArray(), expected.ToArray(), 1e-5, 1e-4, what);
    }

    [TestMethod]
    public void NhwcAndNchwNetworks_GiveTheSameOutputsAndGradients_UpToTheTranspose()
    {
        var x = TestData.Uniform(TestData.NewRandom(3), [2, 12, 14, 4]);
        var nhwc = Run(false, x);
        var nchw = Run(true, x);
        CollectionAssert.AreEqual(new[] { 2, 4, 2, 6 }, nhwc.Features.Shape.ToArray());
        Same(nhwc.Features, nchw.Features, "features");
        Same(nhwc.Dense, nchw.Dense, "Flatten → Dense");
        Same(nhwc.Gap, nchw.Gap, "GlobalAveragePooling2D");
        Same(nhwc.Gmp, nchw.Gmp, "GlobalMaxPooling2D");
        Same(nhwc.Dx, nchw.Dx, "input gradient");
        Assert.AreEqual(nhwc.Dw.Count, nchw.Dw.Count);
        Assert.AreEqual(10, nhwc.Dw.Count, "conv k, b; BN γ, β; depthwise k, b; conv k, b; dense k, b");
        for (int i = 0; i < nhwc.Dw.Count; i++) Same(nhwc.Dw[i]!, nchw.Dw[i]!, $"weight gradient {i}");
    }

    [TestMethod]
    public void NegativeControl_AChannelsLastFlattenInTheNchwNetwork_ChangesTheDenseOutput()
    {
        var x = TestData.Uniform(TestData.NewRandom(3), [2, 12, 14, 4]);
        var nhwc = Run(false, x);
        var wrong = Run(true, x, flattenChannelsLast: true);
        Same(nhwc.Gap, wrong.Gap, "GlobalAveragePooling2D (unaffected)");
        Assert.IsTrue(TestData.MaxAbsDiff(nhwc.Dense.ToArray(), wrong.Dense.ToArray()) > 1e-2, "Flatten order must matter");
    }
}
