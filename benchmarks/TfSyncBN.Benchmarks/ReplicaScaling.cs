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
/// (<see cref="CoreCheck.PerCore"/>); the report also gives the speedup over the rounds in which every core ran at
/// least <see cref="QuietShare"/> of the best rate any core reached in the run, so that a reader can tell a slow phase
/// of one vCPU from a slow step.
/// </remarks>
internal static class ReplicaScaling
{
    /// <summary>The share of the run's best per-core rate that every core must reach for a round to count as quiet.</summary>
    public const double QuietShare = 0.9;

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
        double best = coreRates.SelectMany(rates => rates).DefaultIfEmpty(0).Max();
        var quiet = Enumerable.Range(0, rounds).Where(r => coreRates[r].Length > 0 && coreRates[r].Min() >= QuietShare * best).ToList();
        var quietRatios = quiet.Select(r => ratios[r]).ToList();
        var row = new Dictionary<string, object>
        {
            ["rounds"] = rounds, ["stepsPerBatch"] = steps, ["batch"] = TrainingBenchmarks.Batch,
            ["oneReplicaMs"] = SyncStep.Quartiles(oneMs), ["twoReplicasMs"] = SyncStep.Quartiles(twoMs), ["speedup"] = SyncStep.Quartiles(ratios),
            ["coreGemmGflops"] = coreRates, ["quietShare"] = QuietShare, ["quietRounds"] = quiet.Count,
            ["quietSpeedup"] = quietRatios.Count > 0 ? SyncStep.Quartiles(quietRatios) : null!,
        };
        Console.WriteLine($"CNN step: 1 replica {SyncStep.Show(oneMs)} ms, 2 replicas {SyncStep.Show(twoMs)} ms, speedup {SyncStep.Show(ratios)}; " +
            $"{quiet.Count} of {rounds} rounds with every core ≥ {QuietShare:P0} of the best in-cache rate ({best:F0} GFLOP/s)" +
            (quietRatios.Count > 0 ? $", speedup there {SyncStep.Show(quietRatios)}" : ""));
        File.WriteAllText(path, JsonSerializer.Serialize(row, new JsonSerializerOptions { WriteIndented = true }));
    }
}
