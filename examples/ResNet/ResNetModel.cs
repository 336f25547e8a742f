using TfSyncBN.Keras;

/// <summary>A small ResNet for 28×28×1 images, built with the Functional API.</summary>
internal static class ResNetModel
{
    /// <summary>
    /// Stem (Conv2D 16 3×3 → SyncBN → ReLU), three stages of <paramref name="blocksPerStage"/> residual blocks with 16,
    /// 32 and 64 filters (28×28, 14×14, 7×7; the first block of stages 2 and 3 has stride 2 and a 1×1 projection
    /// shortcut), global average pooling, Dense 10 (logits). Seeded initializers; call it inside <c>strategy.Scope()</c>.
    /// </summary>
    public static Functional Build(int blocksPerStage)
    {
        int seed = 0;
        Conv2D Conv(int filters, int kernel, int stride) => new(filters, [kernel, kernel], strides: [stride, stride], padding: "same",
            useBias: false, kernelInitializer: Initializers.HeNormal(seed: ++seed));
        // Momentum 0.9 (PyTorch's 0.1), as in the FashionMnist example: short runs need moving statistics that forget
        // their initial values.
        SyncBatchNormalization Bn() => new(momentum: 0.9f);

        var input = Model.Input([28, 28, 1]);
        var x = new ReLU().Call(Bn().Call(Conv(16, 3, 1).Call(input)));
        int[] filters = [16, 32, 64];
        for (int stage = 0; stage < filters.Length; stage++)
        {
            for (int block = 0; block < blocksPerStage; block++)
            {
                int stride = stage > 0 && block == 0 ? 2 : 1;
                var y = new ReLU().Call(Bn().Call(Conv(filters[stage], 3, stride).Call(x)));
                y = Bn().Call(Conv(filters[stage], 3, 1).Call(y));
                var shortcut = stride == 1 ? x : Bn().Call(Conv(filters[stage], 1, stride).Call(x));   // identity when shapes agree
                x = new ReLU().Call(new Add().Call([y, shortcut]));
            }
        }
        var pooled = new GlobalAveragePooling2D().Call(x);
        var logits = new Dense(10, kernelInitializer: Initializers.GlorotUniform(seed: ++seed)).Call(pooled);
        return new Functional([input], [logits], name: $"resnet_{6 * blocksPerStage + 2}");
    }
}
