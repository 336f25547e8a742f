using System.Diagnostics;
using System.Text.Json;
using TfSyncBN.Distribute;
using TfSyncBN.Keras;
using TfSyncBN.Tensors;

namespace TfSyncBN.Benchmarks;

/// <summary>
/// One training step (forward + backward) of batch normalization on R in-process replicas, synchronized against
/// local, on the same per-replica slices: the global batch 64x32x32x64 (NHWC) split R ways, each step one
/// <see cref="Strategy.Run{T}"/> on the strategy's R replica threads, kernels single-threaded (as in any multi-replica
/// Run). Both variants are the same layer class (<see cref="BatchNormalization"/>) built in the same strategy scope,
/// differing only in <c>synchronized</c>, so the only difference is the two collectives per step.
/// </summary>
/// <remarks>
/// Not a BenchmarkDotNet job, because the two variants must be interleaved: the run alternates batches of
/// <c>steps</c> steps (local, sync, sync, local, ...), forcing a full GC before every batch so that no batch inherits
/// the previous one's garbage, and counts the gen2 collections inside each batch (each step allocates its output
/// tensors, so collections do happen). Reported: the median and quartiles of the per-batch ms per step for each
/// variant, and of the per-pair ratio sync / local, also with each batch's GC pause time taken out (the two variants
/// need not trigger the same number of collections: replicas in lockstep allocate at the same moments). The replicas also count their own
/// allocated bytes per step (<see cref="GC.GetAllocatedBytesForCurrentThread"/> on the replica thread).
/// </remarks>
internal static class SyncStep
{
    public static void Write(string path, int batches, int steps)
    {
        var rows = new List<Dictionary<string, object>>();
        foreach (int replicas in new[] { 2, 4 }) rows.Add(Measure(replicas, batches, steps));
        File.WriteAllText(path, JsonSerializer.Serialize(rows, new JsonSerializerOptions { WriteIndented = true }));
    }

    private static Dictionary<string, object> Measure(int replicas, int batches, int steps)
    {
        KernelOptions.MaxThreads = 1;
        using var strategy = new MirroredStrategy(replicas);
        int per = 64 / replicas;
        int[] shape = [per, 32, 32, 64];
        var slices = Enumerable.Range(0, replicas).Select(r => BatchNormCase.Random(shape, 10 + r, 0.5f, 2f)).ToArray();
        var upstream = Enumerable.Range(0, replicas).Select(r => BatchNormCase.Random(shape, 20 + r, 0f, 1f)).ToArray();
        Layer local, synced;
        using (strategy.Scope())
        {
            local = new BatchNormalization(synchronized: false);
            synced = new BatchNormalization(synchronized: true);
            local.EnsureBuilt(shape);
            synced.EnsureBuilt(shape);
        }
        var bytes = new long[replicas];
        void Step(Layer layer) => strategy.Run(ctx =>
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            var x = slices[ctx.ReplicaId];
            using (TensorScope.Begin()) // as in Model.TrainStep: the step's tensors reuse the previous step's storage
            using (var tape = new GradientTape())
            {
                tape.Watch(x);
                var y = layer.Call(x, training: true);
                GC.KeepAlive(tape.Gradient(y, [x, .. layer.TrainableWeights], upstream[ctx.ReplicaId]));
            }
            bytes[ctx.ReplicaId] += GC.GetAllocatedBytesForCurrentThread() - before;
            return 0;
        });

        // Warm-up: tiered JIT promotes the kernels after a few hundred calls; run both variants well past that.
        var warm = Stopwatch.StartNew();
        while (warm.Elapsed.TotalSeconds < 1.5)
        {
            Step(local);
            Step(synced);
        }

        var localMs = new List<double>();
        var syncMs = new List<double>();
        var ratios = new List<double>();
        var localNoGc = new List<double>();
        var syncNoGc = new List<double>();
        var ratiosNoGc = new List<double>();
        int localGen2 = 0, syncGen2 = 0;
        long localBytes = 0, syncBytes = 0;
        (double Ms, double MsNoGc, int Gen2, long Bytes) Batch(Layer layer)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
            GC.Collect();
            Array.Clear(bytes);
            int g2 = GC.CollectionCount(2);
            var pause = GC.GetTotalPauseDuration();
            long t0 = Stopwatch.GetTimestamp();
            for (int i = 0; i < steps; i++) Step(layer);
            double total = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
            double paused = (GC.GetTotalPauseDuration() - pause).TotalMilliseconds;
            return (total / steps, (total - paused) / steps, GC.CollectionCount(2) - g2, bytes.Max() / steps);
        }
        for (int b = 0; b < batches; b++)
        {
            // Alternate which variant goes first, so drift in the machine's load hits both alike.
            bool localFirst = b % 2 == 0;
            var first = Batch(localFirst ? local : synced);
            var second = Batch(localFirst ? synced : local);
            var (l, s) = localFirst ? (first, second) : (second, first);
            localMs.Add(l.Ms);
            syncMs.Add(s.Ms);
            ratios.Add(s.Ms / l.Ms);
            localNoGc.Add(l.MsNoGc);
            syncNoGc.Add(s.MsNoGc);
            ratiosNoGc.Add(s.MsNoGc / l.MsNoGc);
            localGen2 += l.Gen2;
            syncGen2 += s.Gen2;
            localBytes = Math.Max(localBytes, l.Bytes);
            syncBytes = Math.Max(syncBytes, s.Bytes);
        }
        var row = new Dictionary<string, object>
        {
            ["replicas"] = replicas, ["perReplicaShape"] = string.Join("x", shape), ["batches"] = batches, ["stepsPerBatch"] = steps,
            ["localMs"] = Quartiles(localMs), ["syncMs"] = Quartiles(syncMs), ["ratio"] = Quartiles(ratios),
            // The same with the GC's pause time taken out of each batch: what remains is the layers and the collectives.
            ["localMsNoGcPause"] = Quartiles(localNoGc), ["syncMsNoGcPause"] = Quartiles(syncNoGc), ["ratioNoGcPause"] = Quartiles(ratiosNoGc),
            ["localGen2PerStep"] = (double)localGen2 / (batches * steps), ["syncGen2PerStep"] = (double)syncGen2 / (batches * steps),
            ["localBytesPerReplicaStep"] = localBytes, ["syncBytesPerReplicaStep"] = syncBytes,
            ["tensorBytesPerReplica"] = 4L * shape.Aggregate(1, (p, v) => p * v),
        };
        Console.WriteLine($"{replicas} replicas: local {Show(localMs)} ms, sync {Show(syncMs)} ms, sync/local {Show(ratios)} ({Show(ratiosNoGc)} without GC pauses); " +
            $"gen2 per step {row["localGen2PerStep"]:F2} / {row["syncGen2PerStep"]:F2}; bytes per replica-step {localBytes:N0} / {syncBytes:N0}");
        return row;
    }

    internal static Dictionary<string, double> Quartiles(List<double> values)
    {
        var v = values.Order().ToArray();
        double At(double q)
        {
            double pos = q * (v.Length - 1);
            int lo = (int)Math.Floor(pos), hi = (int)Math.Ceiling(pos);
            return v[lo] + (v[hi] - v[lo]) * (pos - lo);
        }
        return new() { ["min"] = v[0], ["p25"] = At(0.25), ["median"] = At(0.5), ["p75"] = At(0.75), ["max"] = v[^1] };
    }

    internal static string Show(List<double> values)
    {
        var q = Quartiles(values);
        return $"{q["median"]:F3} [{q["p25"]:F3}, {q["p75"]:F3}]";
    }
}
