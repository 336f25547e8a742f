using System.Text.Json;
using TfSyncBN.Mpi.TestHost;

namespace TfSyncBN.Mpi.Tests;

/// <summary>
/// <c>Model.Fit</c> (with validation, so <c>Evaluate</c> too) and <c>Predict</c> unchanged under MultiWorkerMirroredStrategy
/// (2 workers × 2 replicas) against training in one process; and the same job with each worker's replicas on ILGPU CPU
/// accelerator devices (never a GPU here) against the job on host replicas.
/// </summary>
[TestClass]
public sealed class MultiWorkerFitTests
{
    /// <summary>
    /// Device against host replicas: 1e-5·(1 + |host|). The device replicas run the same float32 model with ILGPU kernels
    /// (GEMM and batch-norm statistics in another order of additions, a few ulp per op; see SyncBatchNormDeviceTests and
    /// CnnOnDeviceTests in TfSyncBN.Gpu.Tests), and SGD with momentum carries those differences through the 6 steps
    /// (2 epochs of 3); measured: at most 8e-8 relative on the weights. Training itself moves the weights by ~1e-1.
    /// </summary>
    private const double DeviceTolerance = 1e-5;

    /// <summary>Runs the test host's <c>fit</c> mode on 2 workers × 2 replicas placed by <paramref name="devices"/> (its [devices] argument); every worker's result.</summary>
    private static FitResult[] RunFit(bool functional, string devices)
    {
        var prefix = Path.Combine(MpiJob.NewOutputDirectory(), "fit");
        var job = MpiJob.RunMpi(2, TimeSpan.FromSeconds(60), "fit", prefix, "2", functional ? "functional" : "sequential", devices);
        Assert.IsFalse(job.TimedOut, $"the job ({devices}) hung:\n{job.Output}");
        Assert.AreEqual(0, job.ExitCode, $"the job ({devices}) failed:\n{job.Output}");
        return [.. Enumerable.Range(0, 2).Select(w => JsonSerializer.Deserialize<FitResult>(File.ReadAllText($"{prefix}.{w}.json"))!)];
    }

    private static void AssertClose(IReadOnlyList<double> expected, IReadOnlyList<double> actual, string what)
    {
        Assert.AreEqual(expected.Count, actual.Count, $"{what}: length");
        for (int i = 0; i < expected.Count; i++)
            Assert.IsTrue(Math.Abs(expected[i] - actual[i]) <= DeviceTolerance * (1 + Math.Abs(expected[i])), $"{what}[{i}]: host replicas {expected[i]:R}, device replicas {actual[i]:R}");
    }

    private static double[] Doubles(float[] values) => [.. values.Select(v => (double)v)];

    /// <summary>FitCase's Sequential model (its functional variant needs Concatenate, which has no device kernel yet).</summary>
    [TestMethod]
    [Timeout(90_000, CooperativeCancellation = true)]
    public void FitOnTwoWorkersTimesTwoIlgpuCpuReplicas_EqualsHostReplicas_AndEveryCopyIsBitwiseIdentical()
    {
        var host = RunFit(functional: false, "host");
        var dev = RunFit(functional: false, "ilgpu-cpu:0,ilgpu-cpu:1");

        // Every copy of every weight on every worker: on its replica's device, and the same bits as worker 0's first copy.
        int weights = host[0].Weights.Length;
        Assert.AreEqual(weights, dev[0].WeightCopies.Length, "weight count");
        for (int w = 0; w < 2; w++)
        {
            for (int i = 0; i < weights; i++)
            {
                CollectionAssert.AreEqual(new[] { "cpu", "cpu" }, host[w].WeightCopyDevices[i], $"worker {w}, host job: weight {i}'s copies");
                CollectionAssert.AreEqual(new[] { "ilgpu-cpu:0", "ilgpu-cpu:1" }, dev[w].WeightCopyDevices[i], $"worker {w}, device job: weight {i}'s copies live on their replicas' devices");
                for (int l = 0; l < 2; l++)
                    CollectionAssert.AreEqual(dev[0].WeightCopies[i][0], dev[w].WeightCopies[i][l], $"device job: worker {w} replica {l}'s copy of weight {i}, bit for bit");
            }
        }

        // The device job against the host job: the same global batches, seeds and replica split.
        Assert.IsTrue(host[0].EpochLosses[^1] < host[0].EpochLosses[0], $"training must reduce the loss: {string.Join(", ", host[0].EpochLosses)}");
        AssertClose(host[0].EpochLosses, dev[0].EpochLosses, "epoch losses");
        AssertClose(host[0].ValidationLosses, dev[0].ValidationLosses, "validation losses");
        AssertClose(Doubles(host[0].Predictions), Doubles(dev[0].Predictions), "predictions");
        for (int i = 0; i < weights; i++)
            AssertClose(Doubles(host[0].WeightCopies[i][0]), Doubles(dev[0].WeightCopies[i][0]), $"weight {i}");
        for (int w = 0; w < 2; w++)
        {
            foreach (var (job, result) in new[] { ("host", host[w]), ("device", dev[w]) })
            {
                CollectionAssert.AreEqual(new[] { 0, FitCase.Classes }, result.EmptyPredictionShape, $"{job} job: worker {w}'s Predict of no samples");
                Assert.AreEqual("cpu", result.EmptyPredictionDevice, $"{job} job: worker {w}'s Predict of no samples returns a host tensor");
            }
        }
        for (int w = 1; w < 2; w++)
        {
            CollectionAssert.AreEqual(dev[0].EpochLosses, dev[w].EpochLosses, $"device job: worker {w}'s loss history");
            CollectionAssert.AreEqual(dev[0].Predictions, dev[w].Predictions, $"device job: worker {w}'s predictions");
        }
    }
    [TestMethod]
    [Timeout(90_000, CooperativeCancellation = true)]
    [DataRow(false)]
    [DataRow(true)]
    public void FitOnTwoWorkersTimesTwoReplicas_EqualsSingleProcessTraining(bool functional)
    {
        var workers = RunFit(functional, "host");

        // Single process, no strategy: the whole batch of each step on one device.
        var model = FitCase.Model(functional);
        var (losses, validationLosses) = FitCase.Train(model);
        var weights = model.GetWeights().Select(w => w.ToArray()).ToArray();
        var predictions = model.Predict(FitCase.Inputs(), batchSize: 19).ToArray();

        Assert.AreEqual(FitCase.Epochs, workers[0].EpochLosses.Length);
        for (int e = 0; e < losses.Length; e++)
            Assert.AreEqual(losses[e], workers[0].EpochLosses[e], 1e-5 * Math.Max(1, Math.Abs(losses[e])), $"epoch {e} loss");
        for (int e = 0; e < validationLosses.Length; e++)
            Assert.AreEqual(validationLosses[e], workers[0].ValidationLosses[e], 1e-5 * Math.Max(1, Math.Abs(validationLosses[e])), $"epoch {e} validation loss (Evaluate over all workers)");
        Assert.AreEqual(predictions.Length, workers[0].Predictions.Length, "Predict returns every row on every worker");
        for (int i = 0; i < predictions.Length; i++)
            Assert.AreEqual(predictions[i], workers[0].Predictions[i], 1e-4, $"prediction {i}");
        Assert.IsTrue(losses[^1] < losses[0], $"training must reduce the loss: {string.Join(", ", losses)}");
        Assert.AreEqual(weights.Length, workers[0].Weights.Length, "weight count");
        for (int i = 0; i < weights.Length; i++)
        {
            Assert.AreEqual(weights[i].Length, workers[0].Weights[i].Length, $"weight {i} size");
            for (int j = 0; j < weights[i].Length; j++)
                Assert.AreEqual(weights[i][j], workers[0].Weights[i][j], 1e-4 * Math.Max(1, Math.Abs(weights[i][j])), $"weight {i}[{j}]");
        }

        // Every worker ends with the same bits, and an unseeded variable created in the scope started from worker 0's value.
        CollectionAssert.AreEqual(workers[0].EpochLosses, workers[1].EpochLosses, "loss history on both workers");
        CollectionAssert.AreEqual(workers[0].ValidationLosses, workers[1].ValidationLosses, "validation loss history on both workers");
        CollectionAssert.AreEqual(workers[0].Predictions, workers[1].Predictions, "predictions on both workers");
        for (int i = 0; i < weights.Length; i++) CollectionAssert.AreEqual(workers[0].Weights[i], workers[1].Weights[i], $"weight {i} on both workers");
        CollectionAssert.AreEqual(workers[0].UnseededVariable, workers[1].UnseededVariable, "an unseeded initial value is broadcast from worker 0");
        Assert.IsTrue(workers[0].UnseededVariable.Distinct().Count() > 1, "the unseeded variable holds random values");
    }
}
