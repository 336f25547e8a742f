using BenchmarkDotNet.Attributes;
using TfSyncBN.Tensors;

namespace TfSyncBN.Benchmarks;

/// <summary>
/// BatchNormalization followed by a ReLU, training forward and forward+backward, as the fused op (what a Sequential
/// model runs) and as the layer then <see cref="Tensor.Relu"/>, against a copy of the same tensor on the same threads.
/// The PyTorch peer is <c>BnReluForwardBackward</c> in benchmarks/pytorch/bench_torch.py (BatchNorm2d then ReLU).
/// </summary>
public class BatchNormReluBenchmarks
{
    private BatchNormCase bn = null!;
    private float[] copyDestination = [];

    [Params("32x32x32x64", "128x32x32x64")]
    public string Shape { get; set; } = "";

    [Params("NHWC", "NCHW")]
    public string Layout { get; set; } = "";

    [Params(1, 2)]
    public int Threads { get; set; }

    [GlobalSetup]
    public void Setup() => (bn, copyDestination) = BatchNormSetup.Create(Shape, Layout, Threads);

    [GlobalCleanup]
    public void Cleanup() => BatchNormSetup.Cleanup();

    [Benchmark(Baseline = true)]
    public void CopyTensor() => Copy.Run(bn.X.Data, copyDestination, Threads);

    [Benchmark]
    public float UnfusedForward() => bn.ReluForward(fused: false);

    [Benchmark]
    public float FusedForward() => bn.ReluForward(fused: true);

    [Benchmark]
    public float UnfusedForwardBackward() => bn.ReluForwardBackward(fused: false);

    [Benchmark]
    public float FusedForwardBackward() => bn.ReluForwardBackward(fused: true);
}
