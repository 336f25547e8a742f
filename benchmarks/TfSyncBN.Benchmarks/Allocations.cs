using System.Text.Json;
using TfSyncBN.Distribute;
using TfSyncBN.Tensors;

namespace TfSyncBN.Benchmarks;

/// <summary>
/// Managed bytes allocated per layer call in steady state, counted exactly on the calling thread
/// (<see cref="GC.GetAllocatedBytesForCurrentThread"/>, independent of machine load), against the tensor's own size:
/// BatchNormalization outside any Run, and SyncBatchNormalization inside a Run of <see cref="Replicas"/> replicas,
/// counted on each replica's own thread (per replica per call; the largest replica's count), collectives included.
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
            SyncRows(rows, shape, layout);
        }
        {
            // A Keras mask over the non-channel axes (every other element kept): the masked statistics path.
            var bn = new BatchNormCase("32x32x32x64", "NHWC");
            var mask = Tensor.FromArray(Enumerable.Range(0, 32 * 32 * 32).Select(i => (float)(i % 2)).ToArray(), [32, 32, 32]);
            rows.Add(Row("32x32x32x64", "NHWC", "TrainForward, masked", bn.Elements, () =>
            {
                using var scope = TensorScope.Begin();
                GC.KeepAlive(bn.Layer.Call(bn.X, training: true, mask: mask));
            }));
        }
        File.WriteAllText(path, JsonSerializer.Serialize(rows, new JsonSerializerOptions { WriteIndented = true }));
        foreach (var r in rows) Console.WriteLine(string.Join(", ", r.Select(kv => $"{kv.Key}={kv.Value}")));
    }

    private const int Replicas = 2, Calls = 5;

    /// <summary>SyncBatchNormalization in a Run of <see cref="Replicas"/> replicas, each with its own input of <paramref name="shape"/>.</summary>
    private static void SyncRows(List<Dictionary<string, object>> rows, string shape, string layout)
    {
        using var strategy = new MirroredStrategy(Replicas);
        BatchNormCase[] cases;
        using (strategy.Scope()) cases = Enumerable.Range(0, Replicas).Select(_ => new BatchNormCase(shape, layout, synchronized: true)).ToArray();
        var calls = new (string Name, Func<BatchNormCase, object?> Call)[]
        {
            ("TrainForward", c => c.TrainForward()), ("TrainForwardBackward", c => c.TrainForwardBackward()), ("Inference", c => c.Inference()),
        };
        foreach (var (name, call) in calls)
        {
            // Every replica makes the same calls, so the collectives inside them match up.
            var perReplica = strategy.Run(ctx => Bytes(() => call(cases[ctx.ReplicaId]))).Values;
            rows.Add(Entry(shape, layout, $"{name}, SyncBN in a Run of {Replicas} replicas (per replica)", cases[0].Elements, perReplica.Max()));
        }
    }

    private static Dictionary<string, object> Row(string shape, string layout, string call, int elements, Action action) =>
        Entry(shape, layout, call, elements, Bytes(() => { action(); return null; }));

    /// <summary>Steady-state bytes allocated per call on this thread.</summary>
    private static long Bytes(Func<object?> action)
    {
        for (int i = 0; i < 3; i++) GC.KeepAlive(action());
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < Calls; i++) GC.KeepAlive(action());
        return (GC.GetAllocatedBytesForCurrentThread() - before) / Calls;
    }

    private static Dictionary<string, object> Entry(string shape, string layout, string call, int elements, long bytes) => new()
    {
        ["shape"] = shape, ["layout"] = layout, ["call"] = call, ["bytesPerCall"] = bytes,
        ["tensorBytes"] = 4L * elements, ["tensorCopies"] = Math.Round(bytes / (4.0 * elements), 3),
        // Everything else a call allocates is O(C) (statistics, the tape record): whole tensors' worth of bytes are
        // tensor-sized buffers.
        ["tensorSizedBuffers"] = bytes / (4L * elements),
    };
}
