using System.Diagnostics;
using TfSyncBN.Distribute;
using TfSyncBN.Tensors;

namespace TfSyncBN.Tests.Distribute;

/// <summary>Failures, mismatched collectives and timeouts end a Run promptly with the right exception.</summary>
[TestClass]
public sealed class FaultTests
{
    private static readonly TimeSpan LongTimeout = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan Prompt = TimeSpan.FromSeconds(10);

    private static Tensor Ones(int n) => Tensor.Ones([n]);

    /// <summary>After a failed Run, the same strategy must run a normal all-reduce correctly.</summary>
    private static void AssertUsable(MirroredStrategy s)
    {
        int R = s.NumReplicasInSync;
        var results = s.Run(ctx => ctx.AllReduce(ReduceOp.Sum, Tensor.FromArray([ctx.ReplicaId, 1f])));
        foreach (var t in results) CollectionAssert.AreEqual(new[] { R * (R - 1) / 2f, R }, t.ToArray());
    }

    public enum Where { BeforeCollective, BetweenCollectives, AfterLastCollective }

    [TestMethod]
    [DataRow(Where.BeforeCollective, 0)]
    [DataRow(Where.BeforeCollective, 3)]
    [DataRow(Where.BetweenCollectives, 2)]
    [DataRow(Where.AfterLastCollective, 1)]
    public void AReplicaThatThrows_MakesRunRethrowTheOriginalPromptly(Where where, int failing) => Bounded.Run(() =>
    {
        const int R = 4;
        using var s = new MirroredStrategy(R, LongTimeout);
        var original = new ArithmeticException($"boom in replica {failing}");
        var seen = new Exception?[R];
        var (elapsed, error) = Bounded.Time(() => s.Run(ctx =>
        {
            int r = ctx.ReplicaId;
            try
            {
                if (r == failing && where == Where.BeforeCollective) throw original;
                ctx.AllReduce(ReduceOp.Sum, Ones(3));
                if (r == failing && where == Where.BetweenCollectives) throw original;
                ctx.AllReduce(ReduceOp.Mean, Ones(5));
                if (r == failing && where == Where.AfterLastCollective) throw original;
                return 0;
            }
            catch (Exception e)
            {
                seen[r] = e;
                throw;
            }
        }));
        Assert.IsTrue(elapsed < Prompt, $"Run took {elapsed}; the collective timeout is {LongTimeout}");
        Assert.IsNotNull(error, "Run must throw");
        Assert.AreSame(original, error, "Run rethrows the original exception object");
        Assert.AreEqual(typeof(ArithmeticException), error.GetType());
        Assert.AreEqual($"boom in replica {failing}", error.Message);
        for (int r = 0; r < R; r++)
        {
            if (r == failing)
            {
                Assert.AreSame(original, seen[r]);
                continue;
            }
            if (where == Where.AfterLastCollective)
            {
                Assert.IsNull(seen[r], $"replica {r} finished normally before replica {failing} failed");
                continue;
            }
            var released = seen[r] as ReplicaFailedException;
            Assert.IsNotNull(released, $"replica {r} was waiting in a collective: got {seen[r]?.GetType().Name ?? "nothing"}");
            Assert.AreSame(original, released.InnerException, $"replica {r}: InnerException is the original");
            Assert.AreEqual(failing, released.FailedReplicaId);
            StringAssert.Contains(released.Message, $"replica {failing}");
            StringAssert.Contains(released.Message, "boom");
        }
        AssertUsable(s);
    });

    [TestMethod]
    public void EveryReplicaThrowing_RethrowsOneOfTheOriginals() => Bounded.Run(() =>
    {
        using var s = new MirroredStrategy(3, LongTimeout);
        var originals = Enumerable.Range(0, 3).Select(r => new FormatException($"replica {r}")).ToArray();
        var error = Bounded.Catch(() => s.Run<int>(ctx => throw originals[ctx.ReplicaId]));
        Assert.IsTrue(originals.Contains(error), $"got {error}");
        AssertUsable(s);
    });

    [TestMethod]
    public void ShapeMismatch_FailsEveryReplicaWithAMessageNamingBothCalls() => Bounded.Run(() =>
    {
        using var s = new MirroredStrategy(2, LongTimeout);
        var seen = new Exception?[2];
        var (elapsed, error) = Bounded.Time(() => s.Run(ctx =>
        {
            seen[ctx.ReplicaId] = Bounded.Catch(() => ctx.AllReduce(ReduceOp.Sum, Ones(3 + ctx.ReplicaId)));
            return 0;
        }));
        Assert.IsTrue(elapsed < Prompt, $"Run took {elapsed}");
        var mismatch = Assert.IsInstanceOfType<CollectiveMismatchException>(error);
        StringAssert.Contains(mismatch.Message, "float32[3]");
        StringAssert.Contains(mismatch.Message, "float32[4]");
        StringAssert.Contains(mismatch.Message, "replica 0");
        StringAssert.Contains(mismatch.Message, "replica 1");
        foreach (var e in seen) Assert.IsInstanceOfType<CollectiveMismatchException>(e);
        AssertUsable(s);
    });

    [TestMethod]
    public void SameSizeButDifferentShapes_IsAMismatch() => Bounded.Run(() =>
    {
        using var s = new MirroredStrategy(2, LongTimeout);
        var error = Bounded.Catch(() => s.Run(ctx => ctx.AllReduce(ReduceOp.Sum, Tensor.Zeros(ctx.ReplicaId == 0 ? [2, 3] : [3, 2]))));
        var mismatch = Assert.IsInstanceOfType<CollectiveMismatchException>(error);
        StringAssert.Contains(mismatch.Message, "[2, 3]");
        StringAssert.Contains(mismatch.Message, "[3, 2]");
        AssertUsable(s);
    });

    [TestMethod]
    public void SumVersusMean_IsAMismatch() => Bounded.Run(() =>
    {
        using var s = new MirroredStrategy(3, LongTimeout);
        var (elapsed, error) = Bounded.Time(() =>
            s.Run(ctx => ctx.AllReduce(ctx.ReplicaId == 2 ? ReduceOp.Mean : ReduceOp.Sum, Ones(4))));
        Assert.IsTrue(elapsed < Prompt, $"Run took {elapsed}");
        var mismatch = Assert.IsInstanceOfType<CollectiveMismatchException>(error);
        StringAssert.Contains(mismatch.Message, "Sum");
        StringAssert.Contains(mismatch.Message, "Mean");
        AssertUsable(s);
    });

    [TestMethod]
    [DataRow(0)]
    [DataRow(1)]
    public void AReplicaReturningWithoutTheCollective_IsAMismatch_NotATimeout(int skipping) => Bounded.Run(() =>
    {
        using var s = new MirroredStrategy(2, LongTimeout);
        var (elapsed, error) = Bounded.Time(() => s.Run(ctx =>
        {
            if (ctx.ReplicaId == skipping) return 0;
            ctx.AllReduce(ReduceOp.Sum, Ones(2));
            return 1;
        }));
        Assert.IsTrue(elapsed < Prompt, $"Run took {elapsed}");
        var mismatch = Assert.IsInstanceOfType<CollectiveMismatchException>(error);
        StringAssert.Contains(mismatch.Message, "finished its Run function");
        StringAssert.Contains(mismatch.Message, "AllReduce");
        StringAssert.Contains(mismatch.Message, $"replica {skipping} finished");
        AssertUsable(s);
    });

    [TestMethod]
    public void DifferentNumbersOfCollectives_IsAMismatch() => Bounded.Run(() =>
    {
        using var s = new MirroredStrategy(3, LongTimeout);
        var (elapsed, error) = Bounded.Time(() => s.Run(ctx =>
        {
            for (int k = 0; k <= (ctx.ReplicaId == 1 ? 2 : 1); k++) ctx.AllReduce(ReduceOp.Sum, Ones(2));
            return 0;
        }));
        Assert.IsTrue(elapsed < Prompt, $"Run took {elapsed}");
        var mismatch = Assert.IsInstanceOfType<CollectiveMismatchException>(error);
        StringAssert.Contains(mismatch.Message, "finished its Run function");
        AssertUsable(s);
    });

    [TestMethod]
    public void ForwardVersusGradientCollective_IsAMismatch() => Bounded.Run(() =>
    {
        using var s = new MirroredStrategy(2, LongTimeout);
        var error = Bounded.Catch(() => s.Run(ctx =>
        {
            var x = Ones(2);
            using var tape = new GradientTape();
            tape.Watch(x);
            var y = ctx.AllReduce(ReduceOp.Sum, x);
            // Replica 0 differentiates (a gradient all-reduce); replica 1 all-reduces again instead.
            if (ctx.ReplicaId == 0) tape.Gradient(y, [x]);
            else ctx.AllReduce(ReduceOp.Sum, Ones(2));
            return 0;
        }));
        var mismatch = Assert.IsInstanceOfType<CollectiveMismatchException>(error);
        StringAssert.Contains(mismatch.Message, "AllReduce gradient");
        AssertUsable(s);
    });

    [TestMethod]
    public void Timeout_FailsTheWaitingReplicas_NamingTheMissingOne() => Bounded.Run(() =>
    {
        const int R = 3, Late = 2;
        using var s = new MirroredStrategy(R, TimeSpan.FromMilliseconds(200));
        var seen = new Exception?[R];
        var waited = new TimeSpan[R];
        using var release = new ManualResetEventSlim();
        var (elapsed, error) = Bounded.Time(() => s.Run(ctx =>
        {
            int r = ctx.ReplicaId;
            if (r == Late) release.Wait(TimeSpan.FromMinutes(2)); // late until the test releases it, after Run ended
            var sw = Stopwatch.StartNew();
            seen[r] = Bounded.Catch(() => ctx.AllReduce(ReduceOp.Sum, Ones(2)));
            waited[r] = sw.Elapsed;
            return 0;
        }));
        Assert.IsTrue(elapsed < Prompt, $"Run took {elapsed}");
        var timeout = Assert.IsInstanceOfType<TimeoutException>(error);
        StringAssert.Contains(timeout.Message, $"[{Late}]");
        // Run did not wait for the late replica (issue #16, item 8): it was stuck, and the strategy refuses work until
        // its function returns.
        StringAssert.Contains(timeout.Message, $"Replicas [{Late}] did not return");
        CollectionAssert.AreEqual(new[] { Late }, s.StuckReplicas.ToArray());
        release.Set();
        var sleeping = Stopwatch.StartNew();
        while (s.StuckReplicas.Count > 0 && sleeping.Elapsed < TimeSpan.FromSeconds(60)) Thread.Sleep(5);
        Assert.AreEqual(0, s.StuckReplicas.Count);
        for (int r = 0; r < R; r++)
        {
            if (r == Late)
            {
                var late = Assert.IsInstanceOfType<ReplicaFailedException>(seen[r], "the late replica arrives after the timeout");
                Assert.IsInstanceOfType<TimeoutException>(late.InnerException);
                continue;
            }
            var e = Assert.IsInstanceOfType<TimeoutException>(seen[r], $"replica {r}");
            StringAssert.Contains(e.Message, $"[{Late}]", $"replica {r} names the missing replica");
            // The late replica arrives only when released, after Run ended: a bound far above 200 ms cannot mask a missed timeout.
            Assert.IsTrue(waited[r] < TimeSpan.FromSeconds(60), $"replica {r} waited {waited[r]}, not the 200 ms timeout");
        }
        // A Run without collectives cannot time out, and proves the strategy still works.
        CollectionAssert.AreEqual(new[] { 0, 1, 2 }, s.Run(ctx => ctx.ReplicaId).ToArray());
    });

    [TestMethod]
    public void InfiniteAndHugeTimeouts_AreAccepted() => Bounded.Run(() =>
    {
        foreach (var timeout in new[] { Timeout.InfiniteTimeSpan, TimeSpan.MaxValue, TimeSpan.FromDays(365) })
        {
            using var s = new MirroredStrategy(2, timeout);
            Assert.AreEqual(timeout, s.CollectiveTimeout);
            var results = s.Run(ctx =>
            {
                if (ctx.ReplicaId == 1) Thread.Sleep(20); // replica 0 really waits
                return ctx.AllReduce(ReduceOp.Sum, Ones(2));
            });
            foreach (var t in results) CollectionAssert.AreEqual(new[] { 2f, 2f }, t.ToArray(), $"timeout {timeout}");
        }
    });

    [TestMethod]
    public void AContextUsedAfterItsRun_Throws_InsteadOfWaiting() => Bounded.Run(() =>
    {
        using var s = new MirroredStrategy(2, LongTimeout);
        var contexts = s.Run(ctx => ctx);
        var (elapsed, error) = Bounded.Time(() => contexts[0].AllReduce(ReduceOp.Sum, Ones(2)));
        Assert.IsTrue(elapsed < Prompt, $"took {elapsed}");
        var e = Assert.IsInstanceOfType<InvalidOperationException>(error);
        StringAssert.Contains(e.Message, "finished");
        AssertUsable(s);
    });

    [TestMethod]
    public void OverlappingCollectivesOfOneReplica_AreRejected() => Bounded.Run(() =>
    {
        using var s = new MirroredStrategy(2, LongTimeout);
        Exception? background = null;
        var (elapsed, error) = Bounded.Time(() => s.Run(ctx =>
        {
            if (ctx.ReplicaId == 1)
            {
                Thread.Sleep(1_000);
                return 0;
            }
            // Replica 0 issues a collective from a helper thread and, while it waits, another one itself.
            var helper = new Thread(() => background = Bounded.Catch(() => ctx.AllReduce(ReduceOp.Sum, Ones(2))));
            helper.Start();
            Thread.Sleep(200);
            try
            {
                ctx.AllReduce(ReduceOp.Sum, Ones(2));
                return 0;
            }
            finally
            {
                helper.Join();
            }
        }));
        Assert.IsTrue(elapsed < Prompt, $"Run took {elapsed}");
        var e = Assert.IsInstanceOfType<InvalidOperationException>(error);
        StringAssert.Contains(e.Message, "already");
        Assert.IsInstanceOfType<ReplicaFailedException>(background);
        AssertUsable(s);
    });
}
