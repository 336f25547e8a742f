using System.Runtime.CompilerServices;
using TfSyncBN.Distribute;
using TfSyncBN.Tensors;

namespace TfSyncBN.Tests.Distribute;

/// <summary>Creating, disposing and finalizing strategies, and their replica threads.</summary>
[TestClass]
public sealed class StrategyLifecycleTests
{
    private static Tensor Ones(int n) => Tensor.Ones([n]);

    private static void AssertUsable(MirroredStrategy s)
    {
        var results = s.Run(ctx => ctx.AllReduce(ReduceOp.Sum, Ones(2)));
        foreach (var t in results) CollectionAssert.AreEqual(new[] { (float)s.NumReplicasInSync, s.NumReplicasInSync }, t.ToArray());
    }

    [TestMethod]
    public void Constructor_RejectsBadArguments()
    {
        var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new MirroredStrategy(-1));
        Assert.AreEqual("numReplicas", e.ParamName);
        var mismatch = Assert.ThrowsExactly<ArgumentException>(() => new MirroredStrategy(3, devices: ["cpu", "cpu"]));
        Assert.AreEqual("numReplicas", mismatch.ParamName);
        StringAssert.Contains(mismatch.Message, "numReplicas is 3 but devices names 2");
        e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new MirroredStrategy(2, TimeSpan.Zero));
        Assert.AreEqual("collectiveTimeout", e.ParamName);
        e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new MirroredStrategy(2, TimeSpan.FromMilliseconds(-5)));
        Assert.AreEqual("collectiveTimeout", e.ParamName);
        using var s = new MirroredStrategy(2);
        Assert.AreEqual(MirroredStrategy.DefaultCollectiveTimeout, s.CollectiveTimeout);
        // Keras's MirroredStrategy() without GPUs: one host replica; with devices and no count, one replica per device.
        using var one = new MirroredStrategy();
        Assert.AreEqual(1, one.NumReplicasInSync);
        using var two = new MirroredStrategy(devices: ["cpu", "cpu"]);
        Assert.AreEqual(2, two.NumReplicasInSync);
        using var both = new MirroredStrategy(2, devices: ["cpu", "cpu"]);
        CollectionAssert.AreEqual(new[] { Device.Cpu, Device.Cpu }, both.Devices.ToArray());
    }

    [TestMethod]
    public void DisposeFromInsideRun_Throws_InsteadOfDeadlocking() => Bounded.Run(() =>
    {
        using var s = new MirroredStrategy(2, TimeSpan.FromSeconds(60));
        var errors = s.Run(_ => Bounded.Catch(s.Dispose));
        foreach (var e in errors) Assert.IsInstanceOfType<InvalidOperationException>(e);
        Assert.IsFalse(s.IsDisposed);
        AssertUsable(s);
    });

    [TestMethod]
    public void DisposeFromAnotherThread_WaitsForTheRunningRun() => Bounded.Run(() =>
    {
        var s = new MirroredStrategy(2, TimeSpan.FromSeconds(60));
        using var started = new ManualResetEventSlim();
        var run = Task.Run(() => s.Run(ctx =>
        {
            started.Set();
            Thread.Sleep(300);
            return ctx.AllReduce(ReduceOp.Sum, Ones(1)).ToScalar();
        }));
        Assert.IsTrue(started.Wait(TimeSpan.FromSeconds(10)));
        s.Dispose();
        Assert.IsTrue(run.Wait(TimeSpan.FromSeconds(10)));
        CollectionAssert.AreEqual(new[] { 2f, 2f }, run.Result.ToArray(), "the Run in progress completed normally");
        Assert.ThrowsExactly<ObjectDisposedException>(() => s.Run(_ => 0));
    });

    [TestMethod]
    public void ManyStrategiesCreatedAndDisposed_ReleaseTheirThreads() => Bounded.Run(() =>
    {
        var threads = new List<Thread>();
        for (int i = 0; i < 20; i++)
        {
            using var s = new MirroredStrategy(2, TimeSpan.FromSeconds(60));
            s.Run(ctx =>
            {
                lock (threads) threads.Add(Thread.CurrentThread);
                return 0;
            });
        }
        Assert.AreEqual(40, threads.Count);
        foreach (var t in threads) Assert.IsFalse(t.IsAlive, $"{t.Name} is still alive after Dispose");
    });

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static Thread[] RunAndAbandon()
    {
        var s = new MirroredStrategy(2, TimeSpan.FromSeconds(60));
        return s.Run(ctx => ctx.AllReduce(ReduceOp.Sum, Ones(1)).ToScalar() > 0 ? Thread.CurrentThread : null!).ToArray();
    }

    [TestMethod]
    public void AnUndisposedStrategy_ReleasesItsThreadsWhenFinalized() => Bounded.Run(() =>
    {
        var threads = RunAndAbandon();
        for (int attempt = 0; attempt < 20 && threads.Any(t => t.IsAlive); attempt++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
            foreach (var t in threads) t.Join(100);
        }
        foreach (var t in threads) Assert.IsFalse(t.IsAlive, $"{t.Name} outlived its unreachable strategy");
    });
}
