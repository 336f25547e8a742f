using TfSyncBN.Distribute;
using TfSyncBN.Keras;
using TfSyncBN.Tensors;

namespace TfSyncBN.Gpu.Tests;

/// <summary>
/// Fit, Evaluate and Predict with replicas on ILGPU CPU accelerators match the same model on host replicas: a model of
/// SyncBatchNormalization layers (the layers that run on a device on this branch) with an MSE loss (computed on the host
/// from the copied prediction) and SGD. Tolerance 1e-4 absolute + relative after 6 steps: each step's device statistics
/// differ from the host's by a few float32 ulp (see <see cref="SyncBatchNormDeviceTests"/>), and SGD carries that on.
/// </summary>
[TestClass]
public sealed class FitOnDevicesTests
{
    private const double Tol = 1e-4;

    private static Sequential Model() => new([
        new SyncBatchNormalization(momentum: 0.9f, gammaInitializer: new Constant(1.5f)),
        new SyncBatchNormalization(momentum: 0.9f, center: true),
    ]);

    private static void AssertClose(float[] expected, float[] actual, string what)
    {
        Assert.AreEqual(expected.Length, actual.Length, what);
        for (int i = 0; i < expected.Length; i++)
            Assert.IsTrue(Math.Abs(expected[i] - actual[i]) <= Tol * (1 + Math.Abs(expected[i])), $"{what}[{i}]: {actual[i]} vs {expected[i]}");
    }

    [TestMethod]
    public void FitEvaluatePredict_OnTwoDeviceReplicas_MatchHostReplicas_AndCopiesStayIdentical()
    {
        var rng = new Random(5);
        int n = 24, f = 3;
        var x = Tensor.FromArray([.. Enumerable.Range(0, n * f).Select(_ => (float)(rng.NextDouble() * 4 + 1))], [n, f]);
        var y = Tensor.FromArray([.. Enumerable.Range(0, n * f).Select(_ => (float)(rng.NextDouble() - 0.5))], [n, f]);

        (Sequential Model, IReadOnlyDictionary<string, double> Eval, float[] Pred, History H) Train(MirroredStrategy s)
        {
            Sequential m;
            using (s.Scope())
            {
                m = Model();
                m.Compile(new SGD(learningRate: 0.1f), "mse");
            }
            var h = m.Fit(x, y, batchSize: 8, epochs: 2, verbose: 0, shuffle: false);
            var eval = m.Evaluate(x, y, batchSize: 8);
            var pred = m.Predict(x, batchSize: 8);
            Assert.IsTrue(pred.Device.IsHost, "predictions come back to the host");
            var none = m.Predict(x.Slice(0, 0, 0));
            CollectionAssert.AreEqual(new[] { 0, f }, none.Shape.ToArray(), "Predict of no samples");
            Assert.IsTrue(none.Device.IsHost, "Predict of no samples returns a host tensor");
            return (m, eval, pred.ToArray(), h);
        }

        using var host = new MirroredStrategy(2);
        using var dev = new MirroredStrategy(devices: ["ilgpu-cpu:1", "ilgpu-cpu:2"]);
        var a = Train(host);
        var b = Train(dev);
        AssertClose([.. a.H.Values["loss"].Select(v => (float)v)], [.. b.H.Values["loss"].Select(v => (float)v)], "loss history");
        AssertClose([(float)a.Eval["loss"]], [(float)b.Eval["loss"]], "evaluate loss");
        AssertClose(a.Pred, b.Pred, "predictions");
        Assert.AreNotEqual(1.5f, a.Model.Layers[0].Weights[0].Value.ToArray()[0], "training changed gamma");
        for (int w = 0; w < a.Model.Weights.Count; w++)
        {
            var hv = a.Model.Weights[w];
            var dv = b.Model.Weights[w];
            for (int r = 0; r < 2; r++)
            {
                Assert.AreEqual(dev.Devices[r], dv.Replicas[r].Device, $"{dv.Name} copy {r} lives on its device");
                CollectionAssert.AreEqual(dv.Replicas[0].ToArray(), dv.Replicas[r].ToArray(), $"{dv.Name} copies are bitwise identical");
                AssertClose(hv.Replicas[r].ToArray(), dv.Replicas[r].ToArray(), $"{dv.Name} copy {r}");
            }
        }
    }
}
