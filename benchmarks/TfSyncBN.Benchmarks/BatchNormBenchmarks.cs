using BenchmarkDotNet.Attributes;
using TfSyncBN.Tensors;

namespace TfSyncBN.Benchmarks;

/// <summary>
/// One job for both layers: training forward, training forward+backward and inference against a copy of the same
/// tensor on the same threads (ordinary and non-temporal stores), for each shape (N x H x W x C), layout and thread
/// count (<see cref="KernelOptions.MaxThreads"/>). The parameter sets live here once, so the BN and SyncBN rows of
/// the report are always the same cases.
/// </summary>
public abstract class LayerBenchmarks
{
    private BatchNormCase bn = null!;
    private float[] copyDestination = [];

    /// <summary>Whether the layer is SyncBatchNormalization (called outside any Run: one replica, no communication).</summary>
    protected abstract bool Synchronized { get; }

    [Params("32x32x32x64", "128x32x32x64", "128x32x32x3")]
    public string Shape { get; set; } = "";

    [Params("NHWC", "NCHW")]
    public string Layout { get; set; } = "";

    [Params(1, 2)]
    public int Threads { get; set; }

    [GlobalSetup]
    public void Setup() => (bn, copyDestination) = BatchNormSetup.Create(Shape, Layout, Threads, Synchronized);

    [GlobalCleanup]
    public void Cleanup() => BatchNormSetup.Cleanup();

    [Benchmark(Baseline = true)]
    public void CopyTensor() => Copy.Run(bn.X.Data, copyDestination, Threads);

    [Benchmark]
    public void CopyTensorNonTemporal() => Copy.Run(bn.X.Data, copyDestination, Threads, nonTemporal: true);

    [Benchmark]
    public float TrainForward() => bn.TrainForward();

    [Benchmark]
    public float TrainForwardBackward() => bn.TrainForwardBackward();

    [Benchmark]
    public float Inference() => bn.Inference();
}

/// <summary><see cref="LayerBenchmarks"/> for BatchNormalization.</summary>
public class BatchNormBenchmarks : LayerBenchmarks
{
    protected override bool Synchronized => false;
}
