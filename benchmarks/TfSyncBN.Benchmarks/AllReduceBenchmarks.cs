using BenchmarkDotNet.Attributes;
using TfSyncBN.Distribute;

namespace TfSyncBN.Benchmarks;

/// <summary>
/// The in-process all-reduce(SUM) of one layer's statistics: the float64 buffer of 2C + 1 values (C = 64) that a
/// SyncBatchNormalization forward pass reduces, on 1-4 replicas; time per all-reduce, every replica taking part.
/// </summary>
public class AllReduceBenchmarks
{
    private const int Channels = 64, PerRun = 200;
    private MirroredStrategy strategy = null!;
    private double[][] buffers = [];

    [Params(1, 2, 3, 4)]
    public int Replicas { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        strategy = new MirroredStrategy(Replicas);
        buffers = Enumerable.Range(0, Replicas).Select(_ => new double[2 * Channels + 1]).ToArray();
    }

    [GlobalCleanup]
    public void Cleanup() => strategy.Dispose();

    /// <summary>One Run of <see cref="PerRun"/> all-reduces, so the Run's own start and join are amortized.</summary>
    [Benchmark(OperationsPerInvoke = PerRun)]
    public void AllReduceStatistics() => strategy.Run(ctx =>
    {
        var b = buffers[ctx.ReplicaId];
        for (int i = 0; i < PerRun; i++)
        {
            b[0] = 1;
            ctx.AllReduceInPlace(ReduceOp.Sum, b, "benchmark");
        }
        return 0;
    });
}
