using System.Collections.Concurrent;
using TfSyncBN.Tensors.Kernels;

namespace TfSyncBN.Tests.Tensors;

/// <summary>
/// The kernels' fork-join (<see cref="KernelTeam"/>): every part exactly once per call, part 0 on the caller, calls
/// back to back with any part count (helpers idle in between, polling or blocked), exceptions, nested calls and
/// calls from several threads at once.
/// </summary>
[TestClass]
[DoNotParallelize]
public sealed class KernelTeamTests
{
    [TestMethod]
    [Timeout(60_000)]
    public void For_RunsEveryPartOnce_PartZeroOnTheCaller()
    {
        var rng = new Random(5);
        int caller = Environment.CurrentManagedThreadId;
        var helperThreads = new ConcurrentDictionary<int, bool>();
        for (int call = 0; call < 3000; call++)
        {
            int parts = rng.Next(1, 6);
            var runs = new int[parts + 2];
            int partZeroThread = 0;
            KernelTeam.For(parts, p =>
            {
                Interlocked.Increment(ref runs[p]);
                if (p == 0) partZeroThread = Environment.CurrentManagedThreadId;
                else helperThreads[Environment.CurrentManagedThreadId] = true;
                if (call % 7 == 0) Thread.SpinWait(2000); // parts of uneven length
            });
            for (int p = 0; p < runs.Length; p++)
                Assert.AreEqual(p < parts ? 1 : 0, runs[p], $"call {call}: part {p} of {parts}");
            Assert.AreEqual(caller, partZeroThread, $"call {call}: part 0 ran on another thread");
            if (call % 500 == 0) Thread.Sleep(2); // let the helpers stop polling and block
        }
        Assert.IsFalse(helperThreads.ContainsKey(caller), "the caller ran a helper's part");
        Assert.IsTrue(helperThreads.Count >= 1, "no part ran on a helper thread");
    }

    [TestMethod]
    [Timeout(60_000)]
    public void For_RethrowsAPartsException_AfterEveryPartEnded_AndStaysUsable()
    {
        foreach (int failing in new[] { 0, 2 })
        {
            var ended = new int[3];
            var error = new InvalidOperationException($"part {failing}");
            var thrown = Assert.ThrowsExactly<InvalidOperationException>(() => KernelTeam.For(3, p =>
            {
                if (p == failing) throw error;
                Thread.Sleep(20);
                Interlocked.Increment(ref ended[p]);
            }));
            Assert.AreSame(error, thrown);
            for (int p = 0; p < 3; p++) Assert.AreEqual(p == failing ? 0 : 1, ended[p], $"part {p} with part {failing} failing");
        }
        var again = new int[3];
        KernelTeam.For(3, p => again[p]++);
        CollectionAssert.AreEqual(new[] { 1, 1, 1 }, again);
    }

    [TestMethod]
    [Timeout(60_000)]
    public void For_NestedAndConcurrentCalls_RunEveryPart()
    {
        var inner = new int[2, 3];
        KernelTeam.For(2, p => KernelTeam.For(3, q => Interlocked.Increment(ref inner[p, q])));
        foreach (int n in inner) Assert.AreEqual(1, n);

        var totals = new long[4];
        var threads = Enumerable.Range(0, 4).Select(t => new Thread(() =>
        {
            for (int call = 0; call < 500; call++) KernelTeam.For(2 + call % 3, p => Interlocked.Add(ref totals[t], p + 1));
        })).ToArray();
        foreach (var t in threads) t.Start();
        foreach (var t in threads) t.Join();
        // Each call adds 1 + 2 + ... + parts: parts cycles through 2, 3, 4.
        long expected = Enumerable.Range(0, 500).Sum(call => { int parts = 2 + call % 3; return (long)parts * (parts + 1) / 2; });
        foreach (long total in totals) Assert.AreEqual(expected, total);
    }
}
