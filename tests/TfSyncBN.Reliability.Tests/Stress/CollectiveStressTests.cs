using System.Diagnostics;
using TfSyncBN.Distribute;
using TfSyncBN.Reliability.Tests.Util;
using TfSyncBN.Tensors;

namespace TfSyncBN.Reliability.Tests.Stress;

/// <summary>
/// Collectives under load: thousands of all-reduces across 4 replicas with random delays give, on every replica and in
/// every run, exactly the bits of the documented reduction <c>((v0 + v1) + v2) + v3</c> (÷ 4 for a mean).
/// </summary>
[TestClass]
public sealed class CollectiveStressTests
{
    public const int Replicas = 4, CollectivesPerRun = 5000, Runs = 2;

    /// <summary>Replica r's input of collective k: a length that crosses the inline/chunked threshold now and then.</summary>
    private static float[] Input(int replica, int k)
    {
        int length = k % 97 == 0 ? 4096 + (k % 5) * 1000 : 1 + (k * 7919) % 64;
        var rng = new System.Random(k * 31 + replica);
        var v = new float[length];
        for (int i = 0; i < length; i++) v[i] = (float)((rng.NextDouble() - 0.5) * Math.Pow(10, rng.Next(-3, 4)));
        return v;
    }

    private static ReduceOp OpOf(int k) => k % 3 == 0 ? ReduceOp.Mean : ReduceOp.Sum;

    /// <summary>The documented result, computed independently in replica order with scalar IEEE float arithmetic.</summary>
    private static float[] Expected(int k)
    {
        var acc = Input(0, k);
        for (int r = 1; r < Replicas; r++)
        {
            var v = Input(r, k);
            for (int i = 0; i < acc.Length; i++) acc[i] += v[i];
        }
        if (OpOf(k) == ReduceOp.Mean) for (int i = 0; i < acc.Length; i++) acc[i] /= Replicas;
        return acc;
    }

    [TestMethod]
    [Timeout(120_000, CooperativeCancellation = true)]
    public void TenThousandCollectives_RandomDelays_IdenticalBitsOnEveryReplicaAndRun()
    {
        var expected = Enumerable.Range(0, CollectivesPerRun).Select(Expected).ToArray();
        using var strategy = new MirroredStrategy(Replicas, TimeSpan.FromSeconds(60));
        var clock = Stopwatch.StartNew();
        int mismatches = 0;
        for (int run = 0; run < Runs; run++)
        {
            int runSeed = run;
            var firstBad = strategy.Run(ctx =>
            {
                var delays = new System.Random(1000 * runSeed + ctx.ReplicaId);
                for (int k = 0; k < CollectivesPerRun; k++)
                {
                    int d = delays.Next(100);
                    if (d < 40) Thread.SpinWait(delays.Next(2000));
                    else if (d < 45) Thread.Yield();
                    else if (d == 99 && k % 10 == 0) Thread.Sleep(1);
                    var x = Tensor.FromArray(Input(ctx.ReplicaId, k));
                    var y = ctx.AllReduce(OpOf(k), x);
                    if (!y.AsSpan().SequenceEqual(expected[k])) return k;
                }
                return -1;
            });
            for (int r = 0; r < Replicas; r++)
            {
                if (firstBad[r] >= 0) mismatches++;
                Assert.AreEqual(-1, firstBad[r], $"run {run}: replica {r}'s collective {firstBad[r]} differs from the documented bits");
            }
        }
        Console.WriteLine($"{Runs * CollectivesPerRun} collectives x {Replicas} replicas in {clock.Elapsed.TotalSeconds:F2} s, {mismatches} mismatches");
        Assert.AreEqual(0, mismatches);
    }
}
