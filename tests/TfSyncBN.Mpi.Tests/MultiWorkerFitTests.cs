using System.Text.Json;
using TfSyncBN.Mpi.TestHost;

namespace TfSyncBN.Mpi.Tests;

/// <summary><c>Model.Fit</c> (with validation, so <c>Evaluate</c> too) and <c>Predict</c> unchanged under MultiWorkerMirroredStrategy (2 workers × 2 replicas) against training in one process.</summary>
[TestClass]
public sealed class MultiWorkerFitTests
{
    [TestMethod]
    [Timeout(90_000, CooperativeCancellation = true)]
    [DataRow(false)]
    [DataRow(true)]
    public void FitOnTwoWorkersTimesTwoReplicas_EqualsSingleProcessTraining(bool functional)
    {
        var prefix = Path.Combine(MpiJob.NewOutputDirectory(), "fit");
        var job = MpiJob.RunMpi(2, TimeSpan.FromSeconds(60), "fit", prefix, "2", functional ? "functional" : "sequential");
        Assert.IsFalse(job.TimedOut, $"the job hung:\n{job.Output}");
        Assert.AreEqual(0, job.ExitCode, $"the job failed:\n{job.Output}");
        var workers = Enumerable.Range(0, 2).Select(w => JsonSerializer.Deserialize<FitResult>(File.ReadAllText($"{prefix}.{w}.json"))!).ToArray();

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
