using BenchmarkDotNet.Attributes;
using TfSyncBN.Distribute;
using TfSyncBN.Keras;
using TfSyncBN.Tensors;

namespace TfSyncBN.Benchmarks;

/// <summary>
/// One training step (forward + backward) of SyncBatchNormalization on R in-process replicas against local
/// BatchNormalization on the same per-replica slices: the global batch 64x32x32x64 (NHWC) split R ways, the replicas
/// on R threads, kernels single-threaded. The ratio Sync / Local is the cost of synchronization per replica.
/// </summary>
public class SyncStepBenchmarks
{
    private MirroredStrategy strategy = null!;
    private Layer local = null!, synced = null!;
    private Tensor[] slices = [], upstream = [];

    [Params(2, 4)]
    public int Replicas { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        strategy = new MirroredStrategy(Replicas);
        int per = 64 / Replicas;
        slices = Enumerable.Range(0, Replicas).Select(r => BatchNormCase.Random([per, 32, 32, 64], 10 + r, 0.5f, 2f)).ToArray();
        upstream = Enumerable.Range(0, Replicas).Select(r => BatchNormCase.Random([per, 32, 32, 64], 20 + r, 0f, 1f)).ToArray();
        using (strategy.Scope())
        {
            local = new BatchNormalization();
            synced = new SyncBatchNormalization();
            local.EnsureBuilt([per, 32, 32, 64]);
            synced.EnsureBuilt([per, 32, 32, 64]);
        }
    }

    [GlobalCleanup]
    public void Cleanup() => strategy.Dispose();

    private int Step(Layer layer) => strategy.Run(ctx =>
    {
        var x = slices[ctx.ReplicaId];
        using var tape = new GradientTape();
        tape.Watch(x);
        var y = layer.Call(x, training: true);
        return tape.Gradient(y, [x, .. layer.TrainableWeights], upstream[ctx.ReplicaId]).Count;
    })[0];

    [Benchmark(Baseline = true)]
    public int LocalBatchNorm() => Step(local);

    [Benchmark]
    public int SyncBatchNorm() => Step(synced);
}
