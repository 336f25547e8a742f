using System.Security.Cryptography;
using System.Runtime.InteropServices;
using System.Text.Json;
using TfSyncBN.Keras;
using TfSyncBN.Mpi.TestHost;
using TfSyncBN.Tensors;

namespace TfSyncBN.Mpi.Tests;

/// <summary>
/// SyncBatchNormalization, ReplicaContext.AllReduce and Strategy.Reduce across mpirun workers, against single-process
/// batch normalization of the concatenated batch and against all-reduce sums computed here in the documented order.
/// </summary>
[TestClass]
public sealed class MultiWorkerSyncBnTests
{
    private const int Channels = 4, SmallLength = 37, LargeLength = 40_000;
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(60);

    [TestMethod]
    [Timeout(90_000, CooperativeCancellation = true)]
    public void TwoWorkersTimesTwoReplicas_UnevenBatchesWithAnEmptyReplica_EqualSingleProcessBatchNorm() =>
        CheckAgainstSingleProcess(workers: 2, localReplicas: 2, sizes: [5, 0, 3, 4], useMpirun: true);

    [TestMethod]
    [Timeout(90_000, CooperativeCancellation = true)]
    public void ThreeWorkers_UnevenBatchesWithAnEmptyRank_EqualSingleProcessBatchNorm() =>
        CheckAgainstSingleProcess(workers: 3, localReplicas: 1, sizes: [5, 0, 3], useMpirun: true);

    [TestMethod]
    [Timeout(60_000, CooperativeCancellation = true)]
    public void WithoutMpirun_TheProgramRunsAsOneWorker() =>
        CheckAgainstSingleProcess(workers: 1, localReplicas: 2, sizes: [6, 3], useMpirun: false);

    private static void CheckAgainstSingleProcess(int workers, int localReplicas, int[] sizes, bool useMpirun)
    {
        var dir = MpiJob.NewOutputDirectory();
        var prefix = Path.Combine(dir, "syncbn");
        string[] args = ["syncbn", prefix, localReplicas.ToString(), string.Join(",", sizes)];
        var job = useMpirun ? MpiJob.RunMpi(workers, Limit, args) : MpiJob.RunAlone(Limit, args);
        Assert.IsFalse(job.TimedOut, $"the job did not finish within {Limit}:\n{job.Output}");
        Assert.AreEqual(0, job.ExitCode, $"the job failed:\n{job.Output}");

        var results = Enumerable.Range(0, workers)
            .Select(w => JsonSerializer.Deserialize<HostResult>(File.ReadAllText($"{prefix}.{w}.json"))!).ToArray();
        var replicas = results.SelectMany(r => r.Replicas).OrderBy(r => r.ReplicaId).ToArray();
        for (int w = 0; w < workers; w++)
        {
            Assert.AreEqual(w, results[w].Rank);
            Assert.AreEqual(workers, results[w].Workers);
            Assert.AreEqual(workers * localReplicas, results[w].NumReplicasInSync);
            Assert.AreEqual(useMpirun, results[w].IsMpi);
            CollectionAssert.AreEqual(Enumerable.Range(w * localReplicas, localReplicas).ToArray(),
                results[w].Replicas.Select(r => r.ReplicaId).ToArray(), $"worker {w} runs global replicas w*L .. w*L+L-1");
        }

        // Single-process batch normalization of the concatenated batch.
        int n = sizes.Sum();
        var x = MpiTestData.Input(n, Channels);
        var dy = MpiTestData.UpstreamGradient(n, Channels);
        var bn = new BatchNormalization(momentum: 0.9f);
        Tensor y;
        IReadOnlyList<Tensor?> grads;
        using (var tape = new GradientTape())
        {
            tape.Watch(x);
            y = bn.Call(x, training: true);
            grads = tape.Gradient(y, [x, bn.Gamma!, bn.Beta!], dy);
        }

        AssertClose(y.ToArray(), replicas.SelectMany(r => r.Y).ToArray(), 2e-5, "outputs (concatenated over replicas)");
        AssertClose(grads[0]!.ToArray(), replicas.SelectMany(r => r.Dx).ToArray(), 2e-5, "input gradients");
        AssertClose(grads[1]!.ToArray(), SumOver(replicas.Select(r => r.DGamma)), 1e-4, "γ gradient summed over replicas");
        AssertClose(grads[2]!.ToArray(), SumOver(replicas.Select(r => r.DBeta)), 1e-4, "β gradient summed over replicas");
        var batchMean = x.Mean([0]).ToArray();
        foreach (var result in results)
        {
            AssertClose(bn.MovingMean!.Value.ToArray(), result.MovingMean, 1e-6, $"worker {result.Rank} moving mean");
            AssertClose(bn.MovingVariance!.Value.ToArray(), result.MovingVariance, 1e-6, $"worker {result.Rank} moving variance");
            AssertClose(batchMean, result.ReducedMeanOverBatch, 1e-6, $"worker {result.Rank} Strategy.Reduce(Mean, axis 0)");
        }

        // All-reduce: the same bits on every replica of every worker, equal to the documented order of additions:
        // replicas in order within a worker, then workers in rank order, then one division for a mean.
        var (smallSum, smallMean) = Hierarchical(workers, localReplicas, SmallLength);
        var (largeSum, largeMean) = Hierarchical(workers, localReplicas, LargeLength);
        foreach (var r in replicas)
        {
            CollectionAssert.AreEqual(smallSum, r.SmallSum, $"replica {r.ReplicaId}: small all-reduce sum, bit for bit");
            CollectionAssert.AreEqual(smallMean, r.SmallMean, $"replica {r.ReplicaId}: small all-reduce mean, bit for bit");
            Assert.AreEqual(Sha256(largeSum), r.LargeSumSha256, $"replica {r.ReplicaId}: large all-reduce sum, bit for bit");
            Assert.AreEqual(Sha256(largeMean), r.LargeMeanSha256, $"replica {r.ReplicaId}: large all-reduce mean, bit for bit");
        }
    }

    /// <summary>Σ_w (Σ_l v[w·L + l]) in order, in float32, and that divided by W·L.</summary>
    private static (float[] Sum, float[] Mean) Hierarchical(int workers, int localReplicas, int length)
    {
        var total = new float[length];
        for (int w = 0; w < workers; w++)
        {
            var local = MpiTestData.ReplicaBuffer(w * localReplicas, length);
            for (int l = 1; l < localReplicas; l++)
            {
                var v = MpiTestData.ReplicaBuffer(w * localReplicas + l, length);
                for (int i = 0; i < length; i++) local[i] += v[i];
            }
            for (int i = 0; i < length; i++) total[i] = w == 0 ? local[i] : total[i] + local[i];
        }
        float count = workers * localReplicas;
        return (total, total.Select(v => v / count).ToArray());
    }

    private static float[] SumOver(IEnumerable<float[]> parts)
    {
        double[]? sum = null;
        foreach (var p in parts)
        {
            sum ??= new double[p.Length];
            for (int i = 0; i < p.Length; i++) sum[i] += p[i];
        }
        return sum!.Select(v => (float)v).ToArray();
    }

    private static string Sha256(float[] values) => Convert.ToHexString(SHA256.HashData(MemoryMarshal.AsBytes(values.AsSpan())));

    private static void AssertClose(float[] expected, float[] actual, double tolerance, string what)
    {
        Assert.AreEqual(expected.Length, actual.Length, $"{what}: length");
        for (int i = 0; i < expected.Length; i++)
        {
            double bound = tolerance * Math.Max(1, Math.Abs(expected[i]));
            Assert.IsTrue(Math.Abs(expected[i] - actual[i]) <= bound, $"{what}[{i}]: expected {expected[i]}, got {actual[i]}");
        }
    }
}
