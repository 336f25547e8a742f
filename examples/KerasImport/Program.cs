// Imports a Keras model (.keras, .h5 or .json, optional weights .h5), prints its summary, and optionally evaluates it on
// Fashion-MNIST, dumps logits, and exports it to ONNX checked with ONNX Runtime.
// Usage: dotnet run --project examples/KerasImport -c Release -- MODEL [WEIGHTS] [--fashion-mnist] [--dump-logits FILE] [--export-onnx FILE] [--bench]
// --bench (with --export-onnx): images/s of Predict and of ONNX Runtime (CPU, intra-op threads = processor count) on the test set.
using System.Globalization;
using System.Text.Json;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using TfSyncBN.Keras;
using Tensor = TfSyncBN.Tensors.Tensor;

const string Usage = "usage: KerasImport MODEL [WEIGHTS] [--fashion-mnist] [--dump-logits FILE] [--export-onnx FILE] [--bench]";
var positional = new List<string>();
bool fashion = false, bench = false;
string? dumpLogits = null, exportOnnx = null;
for (int i = 0; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--fashion-mnist": fashion = true; break;
        case "--bench": bench = true; break;
        case "--dump-logits" when i + 1 < args.Length: dumpLogits = args[++i]; break;
        case "--export-onnx" when i + 1 < args.Length: exportOnnx = args[++i]; break;
        case var a when a.StartsWith("--", StringComparison.Ordinal):
            Console.Error.WriteLine($"unknown or incomplete option '{a}'\n{Usage}");
            return 2;
        default: positional.Add(args[i]); break;
    }
}
if (positional.Count is < 1 or > 2)
{
    Console.Error.WriteLine(Usage);
    return 2;
}

Model model;
try
{
    model = Model.LoadModel(positional[0]);
    if (positional.Count == 2) model.LoadWeights(positional[1]);
}
catch (Exception e) when (e is ArgumentException or InvalidDataException or IOException or NotSupportedException)
{
    Console.Error.WriteLine($"cannot import '{positional[0]}': {e.Message}");
    return 1;
}
model.Summary(Console.WriteLine);

Tensor? first16 = null;
Tensor? testImages = null;
if (fashion || dumpLogits is not null || exportOnnx is not null)
{
    var data = FashionMnist.Load();
    var images = data.TestImages;
    testImages = images;
    int n = images.Shape[0], pixels = 28 * 28;
    var all = images.ToArray();
    first16 = Tensor.FromArray(all[..(16 * pixels)], [16, 28, 28, 1]);
    if (fashion)
    {
        var logits = model.Predict(images, batchSize: 256).ToArray();
        int classes = logits.Length / n, correct = 0;
        for (int i = 0; i < n; i++)
        {
            var row = logits.AsSpan(i * classes, classes);
            int best = 0;
            for (int c = 1; c < classes; c++) if (row[c] > row[best]) best = c;
            if (best == data.TestLabels[i]) correct++;
        }
        Console.WriteLine($"test images: {n}{(data.IsSubset ? " (repository subset)" : "")}");
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"accuracy: {100.0 * correct / n:F2}%"));
    }
}

float[]? predicted16 = first16 is null ? null : model.Predict(first16).ToArray();
if (dumpLogits is not null)
{
    int k = predicted16!.Length / 16;
    var rows = Enumerable.Range(0, 16).Select(i => predicted16.Skip(i * k).Take(k).ToArray()).ToArray();
    File.WriteAllText(dumpLogits, JsonSerializer.Serialize(rows));
    Console.WriteLine($"wrote logits of the first 16 test images to {dumpLogits}");
}
if (exportOnnx is not null)
{
    model.ExportOnnx(exportOnnx);
    using var session = new InferenceSession(exportOnnx);
    using var results = session.Run([NamedOnnxValue.CreateFromTensor("input_0", new DenseTensor<float>(first16!.ToArray(), [16, 28, 28, 1]))]);
    var onnx = results.First().AsEnumerable<float>().ToArray();
    double diff = onnx.Zip(predicted16!, (a, b) => (double)Math.Abs(a - b)).Max();
    Console.WriteLine($"wrote {exportOnnx}");
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"ONNX Runtime max |diff| = {diff:G3}"));
    if (bench) Bench(model, exportOnnx, testImages!);
}
return 0;

// Same batches (256) and threads for both; one warm-up pass each, then the best of 3 passes over the test set.
static void Bench(Model model, string onnxPath, Tensor images)
{
    int n = images.Shape[0], batch = 256, pixels = 28 * 28;
    var all = images.ToArray();
    var batches = Enumerable.Range(0, (n + batch - 1) / batch)
        .Select(b => all[(b * batch * pixels)..(Math.Min(n, (b + 1) * batch) * pixels)]).ToArray();
    using var options = new SessionOptions { IntraOpNumThreads = Environment.ProcessorCount, InterOpNumThreads = 1 };
    using var session = new InferenceSession(onnxPath, options);
    double Best(Action pass)
    {
        pass();
        double best = double.MaxValue;
        for (int r = 0; r < 3; r++)
        {
            var sw = System.Diagnostics.Stopwatch.StartNew();
            pass();
            best = Math.Min(best, sw.Elapsed.TotalSeconds);
        }
        return n / best;
    }
    double predict = Best(() => { foreach (var b in batches) model.Predict(Tensor.FromArray(b, [b.Length / pixels, 28, 28, 1]), batchSize: batch); });
    double ort = Best(() =>
    {
        foreach (var b in batches)
        {
            using var r = session.Run([NamedOnnxValue.CreateFromTensor("input_0", new DenseTensor<float>(b, [b.Length / pixels, 28, 28, 1]))]);
        }
    });
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"inference, {n} images, batch {batch}, {Environment.ProcessorCount} threads: Predict {predict:F0} images/s, ONNX Runtime {ort:F0} images/s"));
}
