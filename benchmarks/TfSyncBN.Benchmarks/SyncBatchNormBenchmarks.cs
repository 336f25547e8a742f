using BenchmarkDotNet.Attributes;
using TfSyncBN.Tensors;

namespace TfSyncBN.Benchmarks;

/// <summary>
/// SyncBatchNormalization called outside any Run (one replica, no communication) at the memory-bound shape: the
/// synchronized layer's own overhead over <see cref="BatchNormBenchmarks"/>, against a copy on the same threads.
/// </summary>
public class SyncBatchNormBenchmarks
{
    private BatchNormCase bn = null!;
    private float[] copyDestination = [];

    [Params("128x32x32x64")]
    public string Shape { get; set; } = "";

    [Params("NHWC", "NCHW")]
    public string Layout { get; set; } = "";

    [Params(1, 2)]
    public int Threads { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        KernelOptions.MaxThreads = Threads;
        bn = new BatchNormCase(Shape, Layout, synchronized: true);
        copyDestination = new float[bn.Elements];
    }

    [GlobalCleanup]
    public void Cleanup() => KernelOptions.MaxThreads = 1;

    [Benchmark(Baseline = true)]
    public void CopyTensor() => Copy.Run(bn.X.Data, copyDestination, Threads);

    [Benchmark]
    public Tensor TrainForward() => bn.TrainForward();

    [Benchmark]
    public Tensor? TrainForwardBackward() => bn.TrainForwardBackward();
}
