// A small residual network (Functional API, SyncBatchNormalization) trained data-parallel on Fashion-MNIST with Fit
// under MirroredStrategy.
//
//   dotnet run --project examples/ResNet -c Release [-- --replicas 2 --epochs 3 --batch-size 128 --max-train 10000
//              --blocks 1 --lr 0.002 --augment --data DIR --subset --min-accuracy 0.0]
//
// The data: --data DIR, else the full data set of the Debian package dataset-fashion-mnist when it is installed
// (/usr/share/datasets/fashion-mnist), else the subset shipped in data/fashion-mnist-subset. --max-train N keeps the
// first N training images (0 = all 60,000); the test set is always used whole. The defaults (3 epochs on 10,000 images)
// are sized for about 2 minutes on 2 idle cores. The model: see ResNetModel.Build. Adam with a cosine decay of the learning rate
// to 0 over the run. --augment trains each epoch on a new random variant of the training images: each image flipped
// left-right with probability 1/2 and shifted by up to 2 pixels in each direction (zeros fill in), as in the usual
// CIFAR/Fashion-MNIST recipes; the test images are never changed. Prints "Test accuracy: NN.NN %"; exit code 0, or 1 when the test accuracy is below
// --min-accuracy (a fraction), 2 on bad arguments.
using System.Diagnostics;
using System.Globalization;
using TfSyncBN.Distribute;
using TfSyncBN.Keras;
using TfSyncBN.Tensors;

var options = Options.Parse(args);
if (options is null) return 2;

var clock = Stopwatch.StartNew();
var data = options.DataDirectory is not null ? FashionMnist.Load(options.DataDirectory) : FashionMnist.Load(subset: options.Subset);
int total = data.TrainLabels.Length;
int n = options.MaxTrain <= 0 ? total : Math.Min(options.MaxTrain, total);
var trainX = n == total ? data.TrainImages : data.TrainImages.Slice(0, 0, n);
var trainY = Labels(data.TrainLabels[..n]);
var testY = Labels(data.TestLabels);
Console.WriteLine($"Data: {data.Directory}{(data.IsSubset ? " (subset)" : "")}: {n} of {total} training images, {data.TestLabels.Length} test images");

using var strategy = new MirroredStrategy(options.Replicas);
Functional model;
using (strategy.Scope())
{
    model = ResNetModel.Build(options.Blocks);
    long steps = Math.Max(1L, (long)options.Epochs * ((n + options.BatchSize - 1) / options.BatchSize));
    model.Compile(new Adam(learningRate: options.LearningRate, schedule: new CosineDecay(options.LearningRate, steps)),
        new SparseCategoricalCrossentropy(fromLogits: true), ["accuracy"]);
}
model.Summary(Console.WriteLine);
Console.WriteLine($"Training on {strategy.NumReplicasInSync} replicas, global batch {options.BatchSize}, {options.Epochs} epochs, " +
    $"Adam lr {options.LearningRate.ToString(CultureInfo.InvariantCulture)} with cosine decay to 0");

if (!options.Augment)
    model.Fit(trainX, trainY, batchSize: options.BatchSize, epochs: options.Epochs, verbose: 2, seed: 0);
else
{
    // One Fit per epoch, each on its own augmented copy; the optimizer's step count (and so the schedule) carries on.
    var images = trainX.ToArray();
    for (int epoch = 0; epoch < options.Epochs; epoch++)
    {
        var epochClock = Stopwatch.StartNew();
        var augmented = Tensor.FromArray(Augmentation.FlipAndShift(images, n, 28, 28, maxShift: 2, seed: epoch), trainX.Shape);
        var history = model.Fit(augmented, trainY, batchSize: options.BatchSize, epochs: 1, verbose: 0, seed: epoch);
        double seconds = epochClock.Elapsed.TotalSeconds;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"Epoch {epoch + 1}/{options.Epochs} - {seconds:F0}s - loss: {history["loss"][0]:F4} - accuracy: {history["accuracy"][0]:F4} - {n / seconds:F0} images/s (augmented)"));
    }
}
var test = model.Evaluate(data.TestImages, testY, batchSize: 500);
double accuracy = test["accuracy"];
Console.WriteLine();
Console.WriteLine($"Test accuracy: {(100 * accuracy).ToString("F2", CultureInfo.InvariantCulture)} % (loss {test["loss"].ToString("F4", CultureInfo.InvariantCulture)})");
Console.WriteLine($"Wall time: {clock.Elapsed.TotalSeconds.ToString("F1", CultureInfo.InvariantCulture)} s (loading, training and testing)");
if (accuracy < options.MinAccuracy)
{
    Console.Error.WriteLine($"error: test accuracy {accuracy:F4} is below --min-accuracy {options.MinAccuracy.ToString(CultureInfo.InvariantCulture)}");
    return 1;
}
return 0;

static Tensor Labels(int[] labels) => Tensor.FromArray(Array.ConvertAll(labels, l => (float)l));

/// <summary>The command-line options.</summary>
sealed record Options(int Replicas, int Epochs, int BatchSize, int MaxTrain, int Blocks, float LearningRate, bool Augment, string? DataDirectory, bool Subset, double MinAccuracy)
{
    public static Options? Parse(string[] args)
    {
        var o = new Options(2, 3, 128, 10000, 1, 0.002f, false, null, false, 0);
        try
        {
            for (int i = 0; i < args.Length; i++)
            {
                string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value.");
                int Int(int min) => int.Parse(Next(), CultureInfo.InvariantCulture) is var v && v >= min ? v : throw new ArgumentException($"{args[i]} must be >= {min}.");
                double Fraction() => double.Parse(Next(), CultureInfo.InvariantCulture) is var v && v is >= 0 and <= 1 ? v : throw new ArgumentException($"{args[i]} must be in [0, 1].");
                float Positive() => float.Parse(Next(), CultureInfo.InvariantCulture) is var v && v > 0 && float.IsFinite(v) ? v : throw new ArgumentException($"{args[i]} must be positive.");
                o = args[i] switch
                {
                    "--replicas" => o with { Replicas = Int(1) },
                    "--epochs" => o with { Epochs = Int(1) },
                    "--batch-size" => o with { BatchSize = Int(1) },
                    "--max-train" => o with { MaxTrain = Int(0) },
                    "--blocks" => o with { Blocks = Int(1) },
                    "--lr" => o with { LearningRate = Positive() },
                    "--augment" => o with { Augment = true },
                    "--data" => o with { DataDirectory = Next() },
                    "--subset" => o with { Subset = true },
                    "--min-accuracy" => o with { MinAccuracy = Fraction() },
                    "-h" or "--help" => throw new ArgumentException(""),
                    _ => throw new ArgumentException($"Unknown option '{args[i]}'."),
                };
            }
            return o;
        }
        catch (Exception e) when (e is ArgumentException or FormatException or OverflowException)
        {
            if (e.Message.Length > 0) Console.Error.WriteLine($"error: {e.Message}");
            Console.Error.WriteLine("usage: ResNet [--replicas N (2)] [--epochs N (3)] [--batch-size N (128)] [--max-train N (10000; 0 = all)] " +
                "[--blocks N per stage (1)] [--lr X (0.002)] [--augment] [--data DIR] [--subset] [--min-accuracy F (0)]");
            return null;
        }
    }
}
