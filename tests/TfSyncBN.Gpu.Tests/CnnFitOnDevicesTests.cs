using TfSyncBN.Distribute;
using TfSyncBN.Keras;
using TfSyncBN.Tensors;

namespace TfSyncBN.Gpu.Tests;

/// <summary>
/// The Fashion-MNIST CNN of <c>examples/FashionMnist</c> (<c>FashionMnistCnn</c>, linked from the example: its layers,
/// SyncBatchNormalization included, seeds, loss, optimizer and metric; a quarter of its widths because ILGPU's CPU
/// accelerator is slow) trained with
/// <c>Fit</c> on two replicas, each on its own ILGPU CPU accelerator, equals the same training on two host replicas,
/// and the two device replicas' copies of every weight stay bitwise identical.
/// </summary>
/// <remarks>
/// The devices are <c>ilgpu-cpu:3</c> and <c>ilgpu-cpu:4</c> so that they are not the accelerators other tests of this
/// assembly attach (<c>:0</c>) or open (<c>:1</c>, <c>:2</c>). Tolerance <c>1e-4·(1 + |cpu|)</c>: the CNN's op
/// differences (below 7e-7 relative, <see cref="CnnOnDeviceTests"/>) and the batch norms' statistics (a few ulps,
/// <see cref="SyncBatchNormDeviceTests"/>) carried through two Adam steps, whose first steps move each weight by about
/// the learning rate 1e-3 whatever the gradient's size.
/// </remarks>
[TestClass]
public sealed class CnnFitOnDevicesTests
{
    private static Sequential Build() => FashionMnistCnn.Build(widthDivisor: 4);

    private static void AssertClose(float[] expected, float[] actual, string what)
    {
        Assert.AreEqual(expected.Length, actual.Length, what);
        for (int i = 0; i < expected.Length; i++)
            Assert.IsTrue(Math.Abs(expected[i] - actual[i]) <= 1e-4f * (1 + Math.Abs(expected[i])), $"{what}[{i}]: device {actual[i]:R}, cpu {expected[i]:R}");
    }

    [TestMethod]
    public void Fit_OnTwoIlgpuCpuReplicas_MatchesHostReplicas_AndTheCopiesStayBitwiseIdentical()
    {
        const int n = 8;
        var data = FashionMnist.Load(subset: true);
        var x = Tensor.FromArray(data.TrainImages.ToArray()[..(n * 28 * 28)], [n, 28, 28, 1]);
        var y = Tensor.FromArray([.. data.TrainLabels[..n].Select(l => (float)l)], [n]);

        (Sequential Model, History History) Train(MirroredStrategy strategy)
        {
            Sequential model;
            using (strategy.Scope())
            {
                model = Build();
                model.Compile(new Adam(learningRate: 1e-3f), new SparseCategoricalCrossentropy(fromLogits: true), ["accuracy"]);
            }
            return (model, model.Fit(x, y, batchSize: 4, epochs: 1, verbose: 0, shuffle: false));
        }

        using var host = new MirroredStrategy(2);
        using var dev = new MirroredStrategy(devices: ["ilgpu-cpu:3", "ilgpu-cpu:4"]);
        var a = Train(host);
        var b = Train(dev);
        AssertClose([.. a.History.Values["loss"].Select(v => (float)v)], [.. b.History.Values["loss"].Select(v => (float)v)], "loss");
        CollectionAssert.AreEqual(a.History.Values["accuracy"].ToArray(), b.History.Values["accuracy"].ToArray(), "accuracy");
        int moved = 0;
        for (int w = 0; w < a.Model.Weights.Count; w++)
        {
            var hv = a.Model.Weights[w];
            var dv = b.Model.Weights[w];
            var first = dv.Replicas[0].ToArray();
            for (int r = 0; r < 2; r++)
            {
                Assert.AreEqual(dev.Devices[r], dv.Replicas[r].Device, $"{dv.Name} copy {r} lives on its device");
                CollectionAssert.AreEqual(first, dv.Replicas[r].ToArray(), $"{dv.Name}: the replicas' copies are bitwise identical");
                AssertClose(hv.Replicas[r].ToArray(), dv.Replicas[r].ToArray(), $"{dv.Name} copy {r}");
            }
            var built = Build().Weights[w].Value.ToArray();
            if (!built.AsSpan().SequenceEqual(hv.Replicas[0].ToArray())) moved++;
        }
        // Negative control: training changed the weights (every trainable one; the moving statistics too).
        Assert.IsTrue(moved >= a.Model.TrainableWeights.Count, $"only {moved} of {a.Model.Weights.Count} weights changed");
    }
}
