using TfSyncBN.Keras;

/// <summary>
/// The example's model, shared with the training benchmark (linked into benchmarks/TfSyncBN.Benchmarks) so that both
/// time the same network.
/// </summary>
internal static class FashionMnistCnn
{
    /// <summary>Creates the model with seeded initializers; call it inside <c>strategy.Scope()</c> to mirror its weights.</summary>
    /// <param name="widthDivisor">Divides the widths 32/64/128 (tests on ILGPU's slow CPU accelerator use 4); 1 is the example's model.</param>
    public static Sequential Build(int widthDivisor = 1) => new(
    [
        new Conv2D(32 / widthDivisor, [3, 3], padding: "same", useBias: false, kernelInitializer: Initializers.GlorotUniform(seed: 1)),
        new SyncBatchNormalization(momentum: 0.9f),
        new ReLU(),
        new MaxPooling2D([2, 2]),
        new Conv2D(64 / widthDivisor, [3, 3], padding: "same", useBias: false, kernelInitializer: Initializers.GlorotUniform(seed: 2)),
        new SyncBatchNormalization(momentum: 0.9f),
        new ReLU(),
        new MaxPooling2D([2, 2]),
        new Flatten(),
        new Dense(128 / widthDivisor, useBias: false, kernelInitializer: Initializers.GlorotUniform(seed: 3)),
        new SyncBatchNormalization(momentum: 0.9f),
        new ReLU(),
        new Dropout(0.3f, seed: 4),
        new Dense(10, kernelInitializer: Initializers.GlorotUniform(seed: 5)),
    ], inputShape: [28, 28, 1], name: "fashion_mnist_cnn");
}
