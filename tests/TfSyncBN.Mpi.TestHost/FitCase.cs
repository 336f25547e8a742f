using TfSyncBN.Keras;
using TfSyncBN.Tensors;

namespace TfSyncBN.Mpi.TestHost;

/// <summary>The Fit test: a small classifier with SyncBatchNormalization, trained the same way everywhere.</summary>
public static class FitCase
{
    public const int Samples = 40, Features = 6, Classes = 3, BatchSize = 10, Epochs = 2, ShuffleSeed = 7;

    public static Tensor Inputs() => Tensor.FromFunction([Samples, Features], i => 2 * MpiTestData.Value(3, i) + (i % Features) * 0.5f);

    /// <summary>Labels from a fixed linear rule of the inputs, so the task is learnable.</summary>
    public static Tensor Labels()
    {
        var x = Inputs().ToArray();
        return Tensor.FromFunction([Samples], s =>
        {
            double score = 0;
            for (int f = 0; f < Features; f++) score += x[s * Features + f] * (f % 2 == 0 ? 1 : -1);
            return score < -1 ? 0 : score < 1 ? 1 : 2;
        });
    }

    /// <summary>Dense → SyncBatchNormalization → Dense(softmax), seeded, compiled with SGD; or, when
    /// <paramref name="functional"/>, a functional model whose last Dense also reads the inputs (a Concatenate).</summary>
    public static Model Model(bool functional = false)
    {
        Model model;
        if (functional)
        {
            var x = Keras.Model.Input([Features]);
            var h = new SyncBatchNormalization(momentum: 0.9f).Call(new Dense(8, activation: "relu", kernelInitializer: new GlorotUniform(seed: 1)).Call(x));
            var y = new Dense(Classes, activation: "softmax", kernelInitializer: new GlorotUniform(seed: 2)).Call(new Concatenate().Call([h, x]));
            model = new Functional([x], [y]);
        }
        else
        {
            model = new Sequential(
            [
                new Dense(8, activation: "relu", kernelInitializer: new GlorotUniform(seed: 1)),
                new SyncBatchNormalization(momentum: 0.9f),
                new Dense(Classes, activation: "softmax", kernelInitializer: new GlorotUniform(seed: 2)),
            ]);
        }
        model.Compile(new SGD(learningRate: 0.1f, momentum: 0.5f), "sparse_categorical_crossentropy");
        return model;
    }

    /// <summary>Trains <paramref name="model"/> on the first 28 samples, validating on the last 12; the loss and validation loss of each epoch.</summary>
    public static (double[] Loss, double[] ValidationLoss) Train(Model model)
    {
        var history = model.Fit(Inputs(), Labels(), batchSize: BatchSize, epochs: Epochs, verbose: 0, seed: ShuffleSeed, validationSplit: 0.3f);
        return ([.. history["loss"]], [.. history["val_loss"]]);
    }
}
