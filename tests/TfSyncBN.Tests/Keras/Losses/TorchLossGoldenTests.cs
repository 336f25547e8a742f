using TfSyncBN.Keras;
using TfSyncBN.Tensors;

namespace TfSyncBN.Tests.Keras.Losses;

/// <summary>Cross-entropy of logits and its gradient against PyTorch 1.13 float64 (tests/reference/loss_golden.py).</summary>
[TestClass]
public sealed class TorchLossGoldenTests
{
    private static readonly Tensor Logits = Tensor.FromFunction([4, 5], i => (float)(4 * Math.Sin(0.37 * i + 0.5)));
    private static readonly Tensor Labels = Tensor.FromArray([3f, 0f, 4f, 1f]);
    private static readonly Tensor OneHot = Tensor.FromFunction([4, 5], i => i % 5 == (int)Labels.AsSpan()[i / 5] ? 1f : 0f);

    private static readonly double[] Sparse = [1.11326517708, 0.330060717145, 0.708597591745, 3.77298482544];
    private static readonly double[] SparseGrad = [0.0102673750028, 0.0320913017886, 0.0663142685294, -0.167878838106, 0.0592058927857, -0.07027997906, 0.0536436709482, 0.0128299962568, 0.0029840737754, 0.000822238079545, 0.0364388107731, 0.0227012134687, 0.0241698160676, 0.043606617931, -0.12691645824, 0.00132129437492, -0.244254160128, 0.02320812022, 0.0720777007944, 0.147647044739];
    private static readonly double[] Smoothed = [1.25565719254, 0.863416209499, 0.931521070825, 3.54491366512];
    private static readonly double[] SmoothedGrad = [0.000267375002795, 0.0220913017886, 0.0563142685294, -0.127878838106, 0.0492058927857, -0.03027997906, 0.0436436709482, 0.00282999625683, -0.0070159262246, -0.00917776192046, 0.0264388107731, 0.0127012134687, 0.0141698160676, 0.033606617931, -0.0869164582403, -0.00867870562508, -0.204254160128, 0.01320812022, 0.0620777007944, 0.137647044739];

    private static void Check(Loss loss, Tensor labels, double[] expected, double[] expectedGrad)
    {
        var logits = Tensor.FromArray(Logits.ToArray(), [4, 5]);
        using var tape = new GradientTape();
        tape.Watch(logits);
        var per = loss.Unreduced(labels, logits);
        var mean = loss.Call(labels, logits);
        for (int i = 0; i < 4; i++) Assert.AreEqual(expected[i], per.AsSpan()[i], 2e-6 * Math.Max(1, expected[i]), $"{loss.Name} example {i}");
        Assert.AreEqual(expected.Average(), mean.ToScalar(), 2e-6);
        var g = tape.Gradient(mean, [logits])[0]!.AsSpan();
        for (int i = 0; i < 20; i++) Assert.AreEqual(expectedGrad[i], g[i], 1e-7, $"{loss.Name} gradient {i}");
    }

    [TestMethod]
    public void SparseFromLogits_MatchesTorch() => Check(new SparseCategoricalCrossentropy(fromLogits: true), Labels, Sparse, SparseGrad);

    [TestMethod]
    public void CategoricalFromLogits_MatchesTorch() => Check(new CategoricalCrossentropy(fromLogits: true), OneHot, Sparse, SparseGrad);

    [TestMethod]
    public void CategoricalWithLabelSmoothing_MatchesTorch() =>
        Check(new CategoricalCrossentropy(fromLogits: true, labelSmoothing: 0.2f), OneHot, Smoothed, SmoothedGrad);

    [TestMethod]
    public void OpsFunctions_GiveTheSameLossesAndGradients()
    {
        var logits = Tensor.FromArray(Logits.ToArray(), [4, 5]);
        var sparse = Ops.SparseSoftmaxCrossEntropyWithLogits(Labels, logits);
        var dense = Ops.SoftmaxCrossEntropyWithLogits(OneHot, logits);
        for (int i = 0; i < 4; i++)
        {
            Assert.AreEqual(Sparse[i], sparse.AsSpan()[i], 2e-6 * Math.Max(1, Sparse[i]));
            Assert.AreEqual(Sparse[i], dense.AsSpan()[i], 2e-6 * Math.Max(1, Sparse[i]));
        }
        Assert.ThrowsExactly<ArgumentNullException>(() => Ops.SoftmaxCrossEntropyWithLogits(null!, logits));
        Assert.ThrowsExactly<ArgumentException>(() => Ops.SparseSoftmaxCrossEntropyWithLogits(Labels, Tensor.Scalar(1f)));
    }
}
