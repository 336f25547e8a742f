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
    }

    [GlobalCleanup]
    public void Cleanup() => strategy.Dispose();

    [Benchmark]
    public int TrainStep() => model.TrainStep(images, labels).Count;
}

/// <summary>The model of examples/FashionMnist (same layers, sizes and initializers).</summary>
internal static class FashionMnistCnn
{
    public static Sequential Build() => new(
    [
        new Conv2D(32, [3, 3], padding: "same", useBias: false, kernelInitializer: Initializers.GlorotUniform(seed: 1)),
        new SyncBatchNormalization(momentum: 0.9f),
        new ReLU(),
        new MaxPooling2D([2, 2]),
        new Conv2D(64, [3, 3], padding: "same", useBias: false, kernelInitializer: Initializers.GlorotUniform(seed: 2)),
        new SyncBatchNormalization(momentum: 0.9f),
        new ReLU(),
        new MaxPooling2D([2, 2]),
        new Flatten(),
        new Dense(128, useBias: false, kernelInitializer: Initializers.GlorotUniform(seed: 3)),
        new SyncBatchNormalization(momentum: 0.9f),
        new ReLU(),
        new Dropout(0.3f, seed: 4),
        new Dense(10, kernelInitializer: Initializers.GlorotUniform(seed: 5)),
    ], inputShape: [28, 28, 1], name: "fashion_mnist_cnn");
}
