using System.Diagnostics;
using TfSyncBN.Distribute;
using TfSyncBN.Keras;
using TfSyncBN.Reliability.Tests.Util;
using TfSyncBN.Tensors;

namespace TfSyncBN.Reliability.Tests.Stress;

/// <summary>
/// No thread or memory growth: 1,000 data-parallel training steps, and 100 strategy create/dispose cycles, measured
/// with the process thread count, <see cref="GC.GetTotalMemory(bool)"/> (after a full collection) and the process's
/// resident set (native memory too: leaked thread stacks or native buffers show there, not in the managed heap), before
/// and after.
/// </summary>
/// <remarks>Runs alone, so that other tests' threads and allocations do not blur the numbers. The resident set has a
/// wider slack than the managed heap: the GC keeps some freed segments committed, and the JIT's code heap grows while
/// methods are promoted to tier 1.</remarks>
[TestClass]
[DoNotParallelize]
public sealed class ResourceGrowthTests
{
    public const int TrainingSteps = 1000, StrategyCycles = 100;
    private const int ThreadSlack = 2; // the runtime may start a timer or thread-pool thread on its own
    private const long MemorySlack = 4L << 20;
    // Measured here: the resident set rises about 15-20 MiB over the first 1,000 steps while methods reach tier 1 and the
    // GC sizes its budgets, then stays flat (95-97 MiB over 4,000 more steps); a leak keeps rising in the second half.
    private const long ResidentSlack = 48L << 20, SecondHalfResidentSlack = 16L << 20;

    private static (int Threads, long Bytes, long Resident) Measure()
    {
        for (int i = 0; i < 3; i++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }
        long bytes = GC.GetTotalMemory(forceFullCollection: true);
        using var process = Process.GetCurrentProcess();
        return (process.Threads.Count, bytes, process.WorkingSet64);
    }

    [TestMethod]
    [Timeout(120_000, CooperativeCancellation = true)]
    public void ThousandTrainingSteps_NoThreadOrMemoryGrowth()
    {
        using var strategy = new MirroredStrategy(4, TimeSpan.FromSeconds(60));
        Sequential model;
        using (strategy.Scope())
        {
            model = new Sequential([new Dense(8, kernelInitializer: Initializers.GlorotUniform(1)), new SyncBatchNormalization(), new ReLU(),
                new Dense(2, kernelInitializer: Initializers.GlorotUniform(2))], [4]);
            model.Compile(new SGD(0.01f, momentum: 0.9f), new MeanSquaredError());
        }
        var rng = new System.Random(3);
        var x = Tensor.FromArray(Close.Normal(rng, 18 * 4), [18, 4]); // 18 rows over 4 replicas: uneven
        var y = Tensor.FromArray(Close.Normal(rng, 18 * 2), [18, 2]);
        for (int i = 0; i < 50; i++) model.TrainStep(x, y); // warm-up: JIT, optimizer slots, caches
        var before = Measure();
        double first = model.TrainStep(x, y)["loss"], last = first;
        for (int i = 1; i < TrainingSteps / 2; i++) last = model.TrainStep(x, y)["loss"];
        var middle = Measure();
        for (int i = TrainingSteps / 2; i < TrainingSteps; i++) last = model.TrainStep(x, y)["loss"];
        var after = Measure();
        Console.WriteLine($"resident set after {TrainingSteps / 2} steps: {middle.Resident >> 20} MiB");
        Console.WriteLine($"{TrainingSteps} training steps: threads {before.Threads} -> {after.Threads}, managed memory {before.Bytes} -> {after.Bytes} bytes ({after.Bytes - before.Bytes:+#;-#;0}), resident set {before.Resident >> 20} -> {after.Resident >> 20} MiB");
        Assert.IsTrue(after.Threads <= before.Threads + ThreadSlack, $"threads grew from {before.Threads} to {after.Threads}");
        Assert.IsTrue(after.Bytes - before.Bytes < MemorySlack, $"managed memory grew by {after.Bytes - before.Bytes} bytes");
        Assert.IsTrue(after.Resident - before.Resident < ResidentSlack, $"the resident set grew by {(after.Resident - before.Resident) >> 20} MiB");
        Assert.IsTrue(after.Resident - middle.Resident < SecondHalfResidentSlack, $"the resident set still grew by {(after.Resident - middle.Resident) >> 20} MiB over the second {TrainingSteps / 2} steps");
        Assert.IsTrue(float.IsFinite((float)last) && last < first, $"the steps trained (loss {first} -> {last})");
    }

    [TestMethod]
    [Timeout(120_000, CooperativeCancellation = true)]
    public void HundredStrategyCreateDisposeCycles_NoThreadOrMemoryGrowth()
    {
        void Cycle()
        {
            using var strategy = new MirroredStrategy(4, TimeSpan.FromSeconds(60));
            BatchNormalization layer;
            using (strategy.Scope()) layer = new SyncBatchNormalization();
            var x = Tensor.Fill([8, 3], 1f);
            var sums = strategy.Run(ctx =>
            {
                layer.Call(x.Slice(0, 2 * ctx.ReplicaId, 2), training: true);
                return ctx.AllReduce(ReduceOp.Sum, Tensor.Fill([2], 1f)).AsSpan()[0];
            });
            Assert.IsTrue(sums.Values.All(s => s == 4f));
        }
        for (int i = 0; i < 5; i++) Cycle(); // warm-up
        var before = Measure();
        int peak = 0;
        var middle = before;
        for (int i = 0; i < StrategyCycles; i++)
        {
            if (i == StrategyCycles / 2) middle = Measure();
            Cycle();
            if (i % 10 == 0)
            {
                using var p = Process.GetCurrentProcess();
                peak = Math.Max(peak, p.Threads.Count);
            }
        }
        var after = Measure();
        Console.WriteLine($"resident set after {StrategyCycles / 2} cycles: {middle.Resident >> 20} MiB");
        Console.WriteLine($"{StrategyCycles} create/dispose cycles: threads {before.Threads} -> {after.Threads} (peak sampled {peak}), managed memory {before.Bytes} -> {after.Bytes} bytes ({after.Bytes - before.Bytes:+#;-#;0}), resident set {before.Resident >> 20} -> {after.Resident >> 20} MiB");
        Assert.IsTrue(after.Threads <= before.Threads + ThreadSlack, $"threads grew from {before.Threads} to {after.Threads}: replica threads leak");
        Assert.IsTrue(after.Resident - before.Resident < ResidentSlack, $"the resident set grew by {(after.Resident - before.Resident) >> 20} MiB");
        Assert.IsTrue(after.Resident - middle.Resident < SecondHalfResidentSlack, $"the resident set still grew by {(after.Resident - middle.Resident) >> 20} MiB over the second {StrategyCycles / 2} cycles");
        Assert.IsTrue(peak <= before.Threads + 4 + ThreadSlack, $"at most one strategy's 4 threads live at a time (peak {peak}, base {before.Threads})");
        Assert.IsTrue(after.Bytes - before.Bytes < MemorySlack, $"managed memory grew by {after.Bytes - before.Bytes} bytes");
    }
}
