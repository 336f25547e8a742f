using BenchmarkDotNet.Attributes;
using TfSyncBN.Distribute;
using TfSyncBN.Keras;
using TfSyncBN.Tensors;

namespace TfSyncBN.Benchmarks;

/// <summary>
/// End to end: one TrainStep (forward, loss, backward, one fused gradient all-reduce, Adam update) of the
/// Fashion-MNIST example's CNN on a global batch of 128 28x28x1 images (synthetic pixels and labels: speed does not
/// depend on them). Images per second = 128 / time. "1" is one replica with single-threaded kernels, "2" two replicas
/// on two threads.
/// </summary>
/// <remarks>No forced full collection between iterations (as in any training loop: the step's own allocations trigger
/// the collections they need, and those count), and 15 measured iterations instead of 9.</remarks>
[GcForce(false)]
[IterationCount(15)]
public class TrainingBenchmarks
{
    public const int Batch = 128;
    private MirroredStrategy strategy = null!;
    private Sequential model = null!;
    private Tensor images = null!, labels = null!;

    [Params(1, 2)]
    public int Replicas { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        KernelOptions.MaxThreads = 1;
        strategy = new MirroredStrategy(Replicas);
        using (strategy.Scope())
        {
            model = FashionMnistCnn.Build();
            model.Compile(new Adam(learningRate: 0.001f), new SparseCategoricalCrossentropy(fromLogits: true));
        }
        images = BatchNormCase.Random([Batch, 28, 28, 1], 3, 0.5f, 0.5f);
        var rng = new Random(4);
        labels = Tensor.FromArray(Enumerable.Range(0, Batch).Select(_ => (float)rng.Next(10)).ToArray());
        // Tiered JIT keeps promoting the step's code for about 5 s after start-up (`probe-cnn` prints 2-second windows),
        // far longer than BenchmarkDotNet's warm-up iterations: train for WarmupSeconds first, as any real run would.
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (clock.Elapsed.TotalSeconds < WarmupSeconds) model.TrainStep(images, labels);
    }

    /// <summary>Seconds of training steps in <see cref="Setup"/> before measuring: <c>TFSYNCBN_BENCH_WARMUP_S</c>, default 8.</summary>
    public static double WarmupSeconds =>
        double.TryParse(Environment.GetEnvironmentVariable("TFSYNCBN_BENCH_WARMUP_S"), System.Globalization.CultureInfo.InvariantCulture, out var s) ? s : 8;

    /// <summary>The model being trained (for checksums of its weights).</summary>
    internal Sequential Model => model;

    [GlobalCleanup]
    public void Cleanup() => strategy.Dispose();

    [Benchmark]
    public int TrainStep() => model.TrainStep(images, labels).Count;
}
