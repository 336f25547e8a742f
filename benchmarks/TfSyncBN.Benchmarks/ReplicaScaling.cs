using System.Diagnostics;
using System.Text.Json;

namespace TfSyncBN.Benchmarks;

/// <summary>
/// The CNN's training step on one replica and on two, measured in one process and interleaved, so that both see the
/// same machine: the ratio of their images per second is the scaling that issue #15 asks for (two replicas at least
/// 1.8 times one), which two BenchmarkDotNet cases measured minutes apart cannot give on a host whose speed drifts
/// by tens of percent over minutes.
/// </summary>
/// <remarks>
/// Both models (<see cref="TrainingBenchmarks"/> with 1 and with 2 replicas, each with its own strategy) are built and
/// trained for <see cref="TrainingBenchmarks.WarmupSeconds"/> first. Then each round times a batch of <c>steps</c>
/// steps of each, alternating which goes first (no forced collection: a training loop's own allocations trigger the
/// collections they need). Reported: the median and quartiles of the per-batch ms per step of each, and of the
/// per-round ratio (1-replica ms / 2-replica ms, which is the ratio of images per second). The paired ratio removes the
/// drift between minutes, not the host's contention within a round, which slows the two-replica step (both cores in
/// lockstep) more than the one-replica step. Before each round every core's in-cache product rate is taken
/// (<see cref="CoreCheck.PerCore"/>) and written with the round's ratio, so that the report can tell a slow phase of
/// one vCPU from a slow step (<c>report.py</c>'s <c>core_note</c>).
/// </remarks>
internal static class ReplicaScaling
{
    public static void Write(string path, int rounds, int steps)
    {
        var one = new TrainingBenchmarks { Replicas = 1 };
        var two = new TrainingBenchmarks { Replicas = 2 };
        one.Setup();
        two.Setup();
        CoreCheck.WarmUp();
        double Batch(TrainingBenchmarks bench)
        {
            long t0 = Stopwatch.GetTimestamp();
            for (int i = 0; i < steps; i++) bench.TrainStep();
            return Stopwatch.GetElapsedTime(t0).TotalMilliseconds / steps;
        }
        var oneMs = new List<double>();
        var twoMs = new List<double>();
        var ratios = new List<double>();
        var coreRates = new List<double[]>();
        for (int r = 0; r < rounds; r++)
        {
            coreRates.Add(CoreCheck.PerCore());
            bool oneFirst = r % 2 == 0;
            double first = Batch(oneFirst ? one : two), second = Batch(oneFirst ? two : one);
            var (a, b) = oneFirst ? (first, second) : (second, first);
            oneMs.Add(a);
            twoMs.Add(b);
            ratios.Add(a / b);
        }
        one.Cleanup();
        two.Cleanup();
        var slower = coreRates.Where(rates => rates.Length > 0).Select(rates => rates.Min()).DefaultIfEmpty(0).ToList();
        var row = new Dictionary<string, object>
        {
            ["rounds"] = rounds, ["stepsPerBatch"] = steps, ["batch"] = TrainingBenchmarks.Batch,
            ["oneReplicaMs"] = SyncStep.Quartiles(oneMs), ["twoReplicasMs"] = SyncStep.Quartiles(twoMs), ["speedup"] = SyncStep.Quartiles(ratios),
            ["roundRatios"] = ratios, ["coreGemmGflops"] = coreRates,
        };
        Console.WriteLine($"CNN step: 1 replica {SyncStep.Show(oneMs)} ms, 2 replicas {SyncStep.Show(twoMs)} ms, speedup {SyncStep.Show(ratios)}; " +
            $"the slower core's in-cache rate per round {slower.Min():F0}-{slower.Max():F0} GFLOP/s");
        File.WriteAllText(path, JsonSerializer.Serialize(row, new JsonSerializerOptions { WriteIndented = true }));
    }
}
