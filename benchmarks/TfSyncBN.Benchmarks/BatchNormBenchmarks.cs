using BenchmarkDotNet.Attributes;
using TfSyncBN.Tensors;

namespace TfSyncBN.Benchmarks;

/// <summary>
/// BatchNormalization (training forward, training forward+backward, inference) against a copy of the same tensor on
/// the same threads, for each shape (N x H x W x C), layout and thread count (<see cref="KernelOptions.MaxThreads"/>).
/// </summary>
public class BatchNormBenchmarks
{
    private BatchNormCase bn = null!;
    private float[] copyDestination = [];

    [Params("32x32x32x64", "128x32x32x64", "128x32x32x3")]
    public string Shape { get; set; } = "";

    [Params("NHWC", "NCHW")]
    public string Layout { get; set; } = "";

    [Params(1, 2)]
    public int Threads { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        KernelOptions.MaxThreads = Threads;
        bn = new BatchNormCase(Shape, Layout);
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

    [Benchmark]
    public Tensor Inference() => bn.Inference();
}
