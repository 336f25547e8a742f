using System.Security.Cryptography;
using System.Runtime.InteropServices;
using System.Text.Json;
using TfSyncBN.Keras;
using TfSyncBN.Mpi.TestHost;
using TfSyncBN.Tensors;

namespace TfSyncBN.Mpi.Tests;

/// <summary>
/// SyncBatchNormalization, ReplicaContext.AllReduce and Strategy.Reduce across mpirun workers, against single-process
/// batch normalization of the concatenated batch and against all-reduce sums computed here in the documented order;
/// each worker's replicas on host threads or on ILGPU CPU accelerator devices (<c>ilgpu-cpu:N</c>, never a GPU here).
/// </summary>
/// <remarks>
/// Tolerances, the same for host and device replicas: outputs and input gradients 2e-5·max(1, |expected|), γ/β
/// gradients summed over replicas 1e-4·max(1, |expected|), moving statistics and Strategy.Reduce 1e-6·max(1, |expected|).
/// Host replicas compute each replica's float64 partial moments with float32 sums over short runs, where the reference
/// sums the whole batch; device replicas take their float32 shift from a Σx pass and sum in float64 on the device
/// (see SyncBatchNormDeviceTests). Either way the per-channel constants differ from the reference in the last float32
/// bit or two, a few ulp (~1e-7 relative) in each output; the summed γ/β gradients add up to 24 such terms per replica.
/// The all-reduce results are staged through the host for device tensors, so they are checked bit for bit in both cases.
/// </remarks>
[TestClass]
public sealed class MultiWorkerSyncBnTests
{
    private const int Channels = 4, SmallLength = 37, LargeLength = 40_000;
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(60);

    /// <summary>Where the job runs: its workers, each with <paramref name="LocalReplicas"/> replicas, under mpirun or as a
    /// plain process, and <paramref name="Devices"/>[w][l], the device of worker w's local replica l (null: host replicas).</summary>
    private sealed record Placement(int Workers, int LocalReplicas, bool UseMpirun, string[][]? Devices = null)
    {
        /// <summary>The device name of worker <paramref name="worker"/>'s local replica <paramref name="local"/>.</summary>
        public string DeviceOf(int worker, int local) => Devices?[worker][local] ?? "cpu";

        /// <summary>The host's [devices] argument: one comma-separated list per worker, separated by <c>/</c>.</summary>
        public string HostArgument => Devices is null ? "host" : string.Join("/", Devices.Select(d => string.Join(",", d)));
    }

    [TestMethod]
    [Timeout(90_000, CooperativeCancellation = true)]
    public void TwoWorkersTimesTwoReplicas_UnevenBatchesWithAnEmptyReplica_EqualSingleProcessBatchNorm() =>
        CheckAgainstSingleProcess(new Placement(Workers: 2, LocalReplicas: 2, UseMpirun: true), sizes: [5, 0, 3, 4]);

    /// <summary>Each rank's replicas on its own ILGPU CPU accelerators (rank 0: <c>ilgpu-cpu:0,1</c>, rank 1: <c>ilgpu-cpu:2,3</c>).</summary>
    [TestMethod]
    [Timeout(90_000, CooperativeCancellation = true)]
    public void TwoWorkersTimesTwoIlgpuCpuReplicas_UnevenBatchesWithAnEmptyReplica_EqualSingleProcessBatchNorm() =>
        CheckAgainstSingleProcess(new Placement(Workers: 2, LocalReplicas: 2, UseMpirun: true,
            Devices: [["ilgpu-cpu:0", "ilgpu-cpu:1"], ["ilgpu-cpu:2", "ilgpu-cpu:3"]]), sizes: [5, 0, 3, 4]);

    [TestMethod]
    [Timeout(90_000, CooperativeCancellation = true)]
    public void ThreeWorkers_UnevenBatchesWithAnEmptyRank_EqualSingleProcessBatchNorm() =>
        CheckAgainstSingleProcess(new Placement(Workers: 3, LocalReplicas: 1, UseMpirun: true), sizes: [5, 0, 3]);

    [TestMethod]
    [Timeout(60_000, CooperativeCancellation = true)]
    public void WithoutMpirun_TheProgramRunsAsOneWorker() =>
        CheckAgainstSingleProcess(new Placement(Workers: 1, LocalReplicas: 2, UseMpirun: false), sizes: [6, 3]);

    private static void CheckAgainstSingleProcess(Placement placement, int[] sizes)
    {
        var (workers, localReplicas, useMpirun, _) = placement;
        var dir = MpiJob.NewOutputDirectory();
        var prefix = Path.Combine(dir, "syncbn");
        string[] args = ["syncbn", prefix, localReplicas.ToString(), string.Join(",", sizes), placement.HostArgument];
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
            for (int l = 0; l < localReplicas; l++)
            {
                var replica = results[w].Replicas[l];
                string device = placement.DeviceOf(w, l);
                Assert.AreEqual(device, replica.Device, $"worker {w}'s local replica {l} runs on its device");
                Assert.IsTrue(replica.ResultDevices.All(d => d == device),
                    $"worker {w}'s local replica {l}: y, dx, dγ, dβ and the all-reduce results stay on {device}: {string.Join(", ", replica.ResultDevices)}");
            }
            string[] copyDevices = [.. Enumerable.Range(0, 2 * localReplicas).Select(i => placement.DeviceOf(w, i % localReplicas))];
            CollectionAssert.AreEqual(copyDevices, results[w].MovingStatisticCopyDevices, $"worker {w}: each moving-statistic copy lives on its replica's device");
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
            // Every replica of every worker updates its copy from the same all-reduced statistics: the same bits.
            for (int l = 0; l < localReplicas; l++)
            {
                CollectionAssert.AreEqual(results[0].MovingMeanCopies[0], result.MovingMeanCopies[l], $"worker {result.Rank} replica {l}: moving mean copy, bit for bit");
                CollectionAssert.AreEqual(results[0].MovingVarianceCopies[0], result.MovingVarianceCopies[l], $"worker {result.Rank} replica {l}: moving variance copy, bit for bit");
            }
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
