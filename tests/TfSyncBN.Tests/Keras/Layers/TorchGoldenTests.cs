using TfSyncBN.Keras;
using TfSyncBN.Tensors;
using TfSyncBN.Tests.TestUtil;

namespace TfSyncBN.Tests.Keras.Layers;

/// <summary>
/// Golden vectors from PyTorch 1.13 (float64), produced by <c>tests/reference/nn_golden.py</c>; inputs are closed-form,
/// element i of a tensor with phase p being <c>(float)sin(0.37·i + p)</c>.
/// </summary>
[TestClass]
public sealed class TorchGoldenTests
{
    private static float[] Seq(int count, double phase) => Enumerable.Range(0, count).Select(i => (float)Math.Sin(0.37 * i + phase)).ToArray();

    private static Tensor Seq(int[] shape, double phase) => Tensor.FromArray(Seq(shape.Aggregate(1, (a, b) => a * b), phase), shape);

    private static readonly double[] ConvY =
    [
        0.167440022, 0.693134316, 1.12501613, 0.920477126, 0.778423471, 0.531013908, 1.71549418, 1.15367331, 0.435708197, 0.878017058, 0.410141952,
        -0.113243814, -0.0742395043, -0.365861475, -0.607965891, 1.35241574, 1.1186355, 0.733453091, -0.0595982875, 0.200664003, 0.433767291,
        1.8152389, 1.22370722, 0.466552553, 1.78936159, 1.72166174, 1.42094313,
    ];

    private static readonly double[] ConvDx =
    [
        -0.565873618, 0.0702762638, 0.62837193, 0.488549382, -2.80702682, -1.35185413, 1.99872594, 2.46838363, -1.56158146, -2.9783467, 1.14914114,
        1.70664111, 0.740155732, 0.80310142, -0.0259391344, -0.826169686, -0.261918722, 2.17246398, 1.31099748, -0.810739555, -2.37474748,
        -0.0416009437, 1.19183947, 0.105160397, 1.04966242, 0.0819658802, -0.976768279, -0.950628427, 2.82288743, 1.82502084, -2.01780368,
        -2.55205688, 1.09218229, 2.91989131, -0.817710999, -1.31897452, -0.75168089, -1.12754095, -0.251067251, 0.904261043, 0.729500862,
        -1.92332331, -1.41511935, 0.699019804, 2.49876078, 0.499004978, -1.00743099, -0.282606638, -1.49630111, -0.231307057, 1.29059442,
        1.37906242, -2.73883909, -2.23359557, 1.96546638, 2.54540653, -0.584128151, -2.75809379, 0.457340075, 0.884626222,
    ];

    private static readonly double[] ConvDk =
    [
        -0.265339706, -1.31115182, -2.17950562, 0.527347196, -0.682642913, -1.80024044, 1.24866011, 0.0382584879, -1.17732119, 1.80097278,
        0.753981816, -0.395057007, 1.15008797, 0.841252403, 0.418557258, 1.58147057, 1.50708797, 1.22872805, -2.97045661, -2.16942256, -1.0747674,
        -2.73544276, -2.51099926, -1.9467038, -2.13019962, -2.51272403, -2.55516299, -1.23664381, -2.17436325, -2.81779276, -1.6739232,
        -2.55258221, -3.08576117, -0.999390003, -1.94261148, -2.62290957, -0.290322699, 0.792238986, 1.7675748, -1.12623227, 0.0677887537,
        1.25263485, -1.80971157, -0.665836351, 0.56815666, -2.24825494, -1.30934366, -0.193218896, -1.24938274, -1.01580945, -0.644751107,
        -1.53657913, -1.57176769, -1.39422486,
    ];

    [TestMethod]
    public void Conv2D_Stride2Same_OutputAndGradients_MatchPyTorch()
    {
        var x = Seq([1, 5, 6, 2], 0.0);
        var layer = new Conv2D(3, [3, 3], [2, 2], "same",
            kernelInitializer: new FixedInitializer(Seq(3 * 3 * 2 * 3, 1.0)), biasInitializer: new FixedInitializer(Seq(3, 2.0)));
        using var tape = new GradientTape();
        tape.Watch(x);
        var y = layer.Call(x);
        CollectionAssert.AreEqual(new[] { 1, 3, 3, 3 }, y.Shape.ToArray());
        TestData.AssertClose(y.AsSpan(), ConvY, 1e-5, 1e-5, "conv y");
        var grads = tape.Gradient(y, [x, layer.Kernel!], Seq([1, 3, 3, 3], 3.0));
        TestData.AssertClose(grads[0]!.AsSpan(), ConvDx, 1e-5, 1e-5, "conv dx");
        TestData.AssertClose(grads[1]!.AsSpan(), ConvDk, 1e-5, 1e-5, "conv dk");
    }

    [TestMethod]
    public void DenseRelu_MatchesPyTorch()
    {
        var layer = new Dense(3, "relu", kernelInitializer: new FixedInitializer(Seq(12, 1.5)), biasInitializer: new FixedInitializer(Seq(3, 2.5)));
        var y = layer.Call(Seq([2, 4], 0.5));
        TestData.AssertClose(y.AsSpan(), [0, 0, 0, 1.59933539, 0.881371641, 0.0441183726], 1e-6, 1e-6, "dense relu");
    }

    [TestMethod]
    public void Softmax_OfLogitsInThousands_MatchesPyTorch()
    {
        var x = Seq([2, 5], 0.25) * 1000f;
        TestData.AssertClose(x.Softmax().AsSpan(), [4.39718425e-322, 3.45133684e-177, 1.90147983e-66, 7.56559915e-05, 0.999924344, 1, 2.21585335e-105, 1.30724601e-246, 0, 0],
            1e-7, 1e-4, "softmax");
        // Log-softmax of logits ~1000 apart: float32 rounding of the logits themselves (ulp 6e-5 at 1000) bounds the agreement.
        TestData.AssertClose(x.LogSoftmax().AsSpan(), [-739.949973, -406.3188, -151.327984, -9.48931392, -7.56588535e-05, 0, -240.975797, -566.16801, -931.56337, -1287.70733],
            2e-3, 1e-5, "log_softmax");
    }

    [TestMethod]
    public void MaxPooling2D_3x3Stride2Same_MatchesPyTorch()
    {
        var y = new MaxPooling2D([3, 3], [2, 2], "same").Call(Seq([1, 5, 6, 2], 4.0));
        TestData.AssertClose(y.AsSpan(), [0.833149314, 0.57677716, 0.626313031, 0.865833938, 0.98816824, 0.976758599, 0.975275278, 0.989190459, 0.990166783,
            0.973746657, 0.990166783, 0.973746657, 0.229095697, 0.314988077, 0.990166783, 0.973746657, 0.990166783, 0.973746657], 1e-7, 0, "max pool");
    }
}
