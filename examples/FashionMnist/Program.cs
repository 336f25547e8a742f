// Fashion-MNIST with SyncBatchNormalization, trained data-parallel with Fit under MirroredStrategy.
//
//   dotnet run --project examples/FashionMnist -c Release [-- --device cpu|ilgpu-cpu|cuda --replicas 2 --epochs 3
//              --batch-size 128 --max-train 8000 --data DIR --subset --save PATH]
//
// --device: cpu (the default) runs the replicas as host threads; ilgpu-cpu runs replica r on ilgpu-cpu:r, ILGPU's CPU
// accelerator r (the GPU kernels simulated on the host: very slow, use --max-train 64 or so); cuda runs every replica on
// cuda:0, the first NVIDIA GPU (this path has not yet run on a GPU).
//
// The data: --data DIR, else the full data set where FashionMnist.Load() finds it (Keras's cache ~/.keras/datasets/
// fashion-mnist, Debian's /usr/share/datasets/fashion-mnist, else a verified download into Keras's cache), else (no
// network) the class-balanced subset inside the library (8,000 training and 2,000 test images). --subset forces the subset; --max-train N keeps the first N training images
// (0 = all). The defaults train 3 epochs on 8,000 images, about a minute on 2 cores.
//
// A small CNN: Conv2D 32 3x3 same -> SyncBN -> ReLU -> MaxPool 2 -> Conv2D 64 3x3 same -> SyncBN -> ReLU -> MaxPool 2
// -> Flatten -> Dense 128 -> SyncBN -> ReLU -> Dropout 0.3 -> Dense 10 (logits), trained with Adam and a cosine decay
// of the learning rate over the run. The layers before a batch norm have no
// bias: the batch norm's beta takes its place (its true gradient would be 0). The batch norms use momentum 0.9 (PyTorch's
// 0.1): with Keras' default 0.99 the moving statistics of a short run still remember their initial values, and the
// test accuracy after 3 epochs on the subset falls to ~20% while the training accuracy is 90%. Each replica computes the batch-norm
// statistics of the GLOBAL batch, so the result does not depend on how many replicas share it. After training it
// draws the training curves (loss and accuracy per epoch, training and test) to a PNG next to the weights and prints
// its path, saves the architecture (Keras JSON) and the weights, rebuilds the model from both files, and checks that the
// rebuilt model predicts exactly the same logits. Exit code 0 on success, 1 if that check fails, 2 on bad arguments
// (including a --data directory that does not exist or holds no valid data set; the message says which).
using System.Diagnostics;
using System.Globalization;
using TfSyncBN.Distribute;
using TfSyncBN.Keras;
using TfSyncBN.Tensors;

var options = Options.Parse(args);
if (options is null) return 2;

var loadClock = Stopwatch.StartNew();
FashionMnistData data;
try
{
    data = LoadData(options);
}
catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException)
{
    // A missing directory or file (DirectoryNotFound and FileNotFound are IOExceptions) or a damaged file: bad arguments.
    Console.Error.WriteLine($"error: cannot load Fashion-MNIST: {e.Message}");
    return 2;
}
var (trainX, trainY) = Take(data.TrainImages, data.TrainLabels, options.MaxTrain);
var testX = data.TestImages;
var testY = Labels(data.TestLabels);
Console.WriteLine($"Data: {data.Directory}{(data.IsSubset ? " (subset)" : "")}: {trainX.Shape[0]} training images" +
    $"{(trainX.Shape[0] < data.TrainImages.Shape[0] ? $" (first {trainX.Shape[0]} of {data.TrainImages.Shape[0]})" : "")}, {testX.Shape[0]} test images, loaded in {loadClock.Elapsed.TotalSeconds:F1} s");

MirroredStrategy opened;
try
{
    opened = options.Device switch
    {
        "ilgpu-cpu" => new MirroredStrategy(devices: [.. Enumerable.Range(0, options.Replicas).Select(r => $"ilgpu-cpu:{r}")]),
        "cuda" => new MirroredStrategy(devices: [.. Enumerable.Repeat("cuda:0", options.Replicas)]),
        _ => new MirroredStrategy(options.Replicas),
    };
}
catch (InvalidOperationException e)
{
    Console.Error.WriteLine($"error: device '{options.Device}' cannot be opened: {e.Message}");
    return 1;
}
using var strategy = opened;
Sequential model;
using (strategy.Scope())
{
    // Layers and weights created in the scope are mirrored: one copy per replica.
    model = FashionMnistCnn.Build();
    // Cosine decay of the learning rate to 0 over the whole run: the last epochs take small steps.
    long totalSteps = Math.Max(1L, (long)options.Epochs * ((trainX.Shape[0] + options.BatchSize - 1) / options.BatchSize));
    var schedule = new CosineDecay(options.LearningRate, totalSteps);
    model.Compile(new Adam(learningRate: options.LearningRate, schedule: schedule), new SparseCategoricalCrossentropy(fromLogits: true), ["accuracy"]);
}
model.Summary(Console.WriteLine);
Console.WriteLine($"Training on {strategy.NumReplicasInSync} replicas ({string.Join(", ", strategy.Devices)}), global batch {options.BatchSize} " +
    $"(about {options.BatchSize / (double)options.Replicas:0.#} per replica), {options.Epochs} epochs, Adam lr {options.LearningRate} with cosine decay to 0");

Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(options.SavePath))!);
var bestPath = Path.ChangeExtension(options.SavePath, ".best.weights");
var timer = new EpochTimer();
var checkpoint = new ModelCheckpoint(bestPath, monitor: "val_accuracy", saveBestOnly: true);
var history = model.Fit(trainX, Labels(trainY), batchSize: options.BatchSize, epochs: options.Epochs, verbose: 2,
    callbacks: [timer, checkpoint], validationData: new ValidationData(testX, testY), seed: 0);

var test = model.Evaluate(testX, testY, batchSize: 256);
Console.WriteLine();
Console.WriteLine($"Test accuracy: {test["accuracy"]:P2} (loss {test["loss"]:F4}) after {options.Epochs} epochs");
Console.WriteLine($"Time per epoch: {string.Join(", ", timer.Seconds.Select(s => s.ToString("F1", CultureInfo.InvariantCulture) + " s"))}" +
    $" (mean {(timer.Seconds.Count > 0 ? timer.Seconds.Average() : 0):F1} s, {trainX.Shape[0] / Math.Max(1e-9, timer.Seconds.DefaultIfEmpty(0).Average()):F0} images/s)");
Console.WriteLine($"Best val_accuracy {checkpoint.Best:P2}, weights in {bestPath}");
Console.WriteLine($"Training curves: {TrainingCurves.SavePng(history, Path.ChangeExtension(options.SavePath, ".curves.png"))}");

// Save the architecture and the final weights, rebuild from the files, and compare predictions bit for bit. The rebuilt
// model runs on the same replicas: with OpenBLAS, a matrix product's bits may depend on how the batch is split.
var jsonPath = Path.ChangeExtension(options.SavePath, ".json");
File.WriteAllText(jsonPath, model.ToJson(indented: true));
model.SaveWeights(options.SavePath);
Sequential restored;
using (strategy.Scope()) restored = Sequential.FromJson(File.ReadAllText(jsonPath));
restored.LoadWeights(options.SavePath);
var sample = Slice(testX, Math.Min(256, testX.Shape[0]));
var expected = model.Predict(sample, batchSize: 256).ToArray();
var actual = restored.Predict(sample, batchSize: 256).ToArray();
bool same = expected.AsSpan().SequenceEqual(actual);
Console.WriteLine($"Saved {jsonPath} and {options.SavePath}; the model rebuilt from them predicts {(same ? "identical" : "DIFFERENT")} logits.");
return same ? 0 : 1;

static FashionMnistData LoadData(Options options)
{
    if (options.DataDirectory is not null) return FashionMnist.Load(options.DataDirectory);
    if (options.Subset) return FashionMnist.Load(subset: true);
    try
    {
        return FashionMnist.Load(downloadTimeout: TimeSpan.FromMinutes(5));
    }
    catch (Exception e) when (e is HttpRequestException or TimeoutException)
    {
        Console.WriteLine($"The full data set is not available ({e.Message.Split(" the download failed: ")[^1]}); using the subset inside the library.");
        return FashionMnist.Load(subset: true);
    }
}

static Tensor Labels(int[] labels) => Tensor.FromArray(Array.ConvertAll(labels, l => (float)l));

static (Tensor X, int[] Y) Take(Tensor images, int[] labels, int max) =>
    max <= 0 || max >= labels.Length ? (images, labels) : (Slice(images, max), labels[..max]);

static Tensor Slice(Tensor images, int n)
{
    var shape = images.Shape.ToArray();
    int per = images.Size / shape[0];
    shape[0] = n;
    return Tensor.FromArray(images.AsSpan()[..(n * per)].ToArray(), shape);
}

/// <summary>Wall-clock seconds of each epoch (training plus the validation pass).</summary>
sealed class EpochTimer : Callback
{
    private readonly Stopwatch clock = new();
    public List<double> Seconds { get; } = [];
    public override void OnEpochBegin(int epoch, IReadOnlyDictionary<string, double> logs) => clock.Restart();
    public override void OnEpochEnd(int epoch, IReadOnlyDictionary<string, double> logs) => Seconds.Add(clock.Elapsed.TotalSeconds);
}

/// <summary>The command-line options.</summary>
sealed record Options(string Device, int Replicas, int Epochs, int BatchSize, string? DataDirectory, bool Subset, int MaxTrain, float LearningRate, string SavePath)
{
    public static Options? Parse(string[] args) => CommandLine.Parse(args,
        new Options("cpu", 2, 3, 128, null, false, 8000, 0.001f, Path.Combine(AppContext.BaseDirectory, "output", "fashion_mnist.weights")),
        "usage: FashionMnist [--device cpu|ilgpu-cpu|cuda (cpu)] [--replicas N (2)] [--epochs N (3)] [--batch-size N (128)] [--max-train N (8000; 0 = all)] " +
        "[--data DIR] [--subset] [--lr X (0.001)] [--save PATH (output/fashion_mnist.weights next to the program)]",
        (a, o) => a.Option switch
        {
            "--device" => o with { Device = a.Value() is var d && d is "cpu" or "ilgpu-cpu" or "cuda" ? d : throw new ArgumentException($"--device must be cpu, ilgpu-cpu or cuda, but is '{d}'.") },
            "--replicas" => o with { Replicas = a.Int(1) },
            "--epochs" => o with { Epochs = a.Int(0) },
            "--batch-size" => o with { BatchSize = a.Int(1) },
            "--data" => o with { DataDirectory = a.Value() },
            "--subset" => o with { Subset = true },
            "--max-train" => o with { MaxTrain = a.Int(0) },
            "--lr" => o with { LearningRate = a.Positive() },
            "--save" => o with { SavePath = a.Value() },
            _ => throw a.Unknown(),
        });
}
