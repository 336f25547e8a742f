using TfSyncBN.Tensors;
using System.Text.Json;

namespace TfSyncBN.Benchmarks;

/// <summary>
/// Managed bytes allocated per layer call in steady state, counted exactly on the calling thread
/// (<see cref="GC.GetAllocatedBytesForCurrentThread"/>, independent of machine load), against the tensor's own size.
/// </summary>
internal static class Allocations
{
    public static void Write(string path)
    {
        var rows = new List<Dictionary<string, object>>();
        foreach (var shape in new[] { "32x32x32x64", "128x32x32x64", "128x32x32x3" })
        foreach (var layout in new[] { "NHWC", "NCHW" })
        {
            var bn = new BatchNormCase(shape, layout);
            rows.Add(Row(shape, layout, "TrainForward", bn.Elements, () => bn.TrainForward()));
            rows.Add(Row(shape, layout, "TrainForwardBackward", bn.Elements, () => bn.TrainForwardBackward()));
            rows.Add(Row(shape, layout, "Inference", bn.Elements, () => bn.Inference()));
        }
        {
            // A Keras mask over the non-channel axes (every other element kept): the masked statistics path.
            var bn = new BatchNormCase("32x32x32x64", "NHWC");
            var mask = Tensor.FromArray(Enumerable.Range(0, 32 * 32 * 32).Select(i => (float)(i % 2)).ToArray(), [32, 32, 32]);
            rows.Add(Row("32x32x32x64", "NHWC", "TrainForward, masked", bn.Elements, () => bn.Layer.Call(bn.X, training: true, mask: mask)));
        }
        File.WriteAllText(path, JsonSerializer.Serialize(rows, new JsonSerializerOptions { WriteIndented = true }));
        foreach (var r in rows) Console.WriteLine(string.Join(", ", r.Select(kv => $"{kv.Key}={kv.Value}")));
    }

    private static Dictionary<string, object> Row(string shape, string layout, string call, int elements, Action action)
    {
        for (int i = 0; i < 3; i++) action();
        const int Calls = 5;
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < Calls; i++) action();
        long bytes = (GC.GetAllocatedBytesForCurrentThread() - before) / Calls;
        return new()
        {
            ["shape"] = shape, ["layout"] = layout, ["call"] = call, ["bytesPerCall"] = bytes,
            ["tensorBytes"] = 4L * elements, ["tensorCopies"] = Math.Round(bytes / (4.0 * elements), 3),
        };
    }
}
