using TfSyncBN.Distribute;

namespace TfSyncBN.Tests.Distribute;

/// <summary>Which strategy and replica context code sees, following <c>tf.distribute</c>.</summary>
[TestClass]
public sealed class ContextTests
{
    private static void AssertDefaultContext(string where)
    {
        var ctx = ReplicaContext.Current;
        Assert.IsNotNull(ctx, $"{where}: ReplicaContext.Current");
        Assert.AreEqual(0, ctx.ReplicaId, $"{where}: ReplicaId");
        Assert.AreEqual(1, ctx.NumReplicasInSync, $"{where}: NumReplicasInSync");
        Assert.AreSame(Strategy.Default, ctx.Strategy, $"{where}: context's strategy");
        Assert.AreSame(Strategy.Default, Strategy.Current, $"{where}: Strategy.Current");
        Assert.IsFalse(Strategy.InCrossReplicaContext, $"{where}: InCrossReplicaContext");
    }

    [TestMethod]
    public void OutsideAnyStrategy_TheDefaultContextIsCurrent() => Bounded.Run(() => AssertDefaultContext("outside"));

    [TestMethod]
    public void InsideScope_CodeIsCrossReplica_AndDefaultReturnsAfterwards() => Bounded.Run(() =>
    {
        using var s = new MirroredStrategy(3, TimeSpan.FromSeconds(20));
        using (s.Scope())
        {
            Assert.IsNull(ReplicaContext.Current);
            Assert.IsTrue(Strategy.InCrossReplicaContext);
            Assert.AreSame(s, Strategy.Current);
        }
        AssertDefaultContext("after the scope");
    });

    [TestMethod]
    [DataRow(1)]
    [DataRow(2)]
    [DataRow(4)]
    public void InsideRun_EachReplicaSeesItsOwnContext(int replicas) => Bounded.Run(() =>
    {
        using var s = new MirroredStrategy(replicas, TimeSpan.FromSeconds(20));
        int caller = Environment.CurrentManagedThreadId;
        foreach (bool inScope in new[] { false, true })
        {
            var scope = inScope ? s.Scope() : null;
            var seen = s.Run(ctx => (
                ctx.ReplicaId,
                ctx.NumReplicasInSync,
                SameContext: ReferenceEquals(ReplicaContext.Current, ctx),
                SameStrategy: ReferenceEquals(Strategy.Current, s) && ReferenceEquals(ctx.Strategy, s),
                CrossReplica: Strategy.InCrossReplicaContext,
                Thread: Environment.CurrentManagedThreadId));
            Assert.AreEqual(replicas, seen.Count);
            for (int r = 0; r < replicas; r++)
            {
                Assert.AreEqual(r, seen[r].ReplicaId, $"replica {r} (scope: {inScope})");
                Assert.AreEqual(replicas, seen[r].NumReplicasInSync);
                Assert.IsTrue(seen[r].SameContext, "ReplicaContext.Current inside Run is the replica's context");
                Assert.IsTrue(seen[r].SameStrategy, "Strategy.Current inside Run is the strategy");
                Assert.IsFalse(seen[r].CrossReplica, "replica code is not cross-replica");
                Assert.AreNotEqual(caller, seen[r].Thread, "replicas run on the strategy's own threads");
            }
            Assert.AreEqual(replicas, seen.Select(x => x.Thread).Distinct().Count(), "one thread per replica");
            if (inScope)
            {
                Assert.IsNull(ReplicaContext.Current, "back in cross-replica code after Run");
                scope!.Dispose();
            }
            AssertDefaultContext($"after Run (scope: {inScope})");
        }
    });

    [TestMethod]
    public void ScopesOfTheSameStrategyNest() => Bounded.Run(() =>
    {
        using var s = new MirroredStrategy(2, TimeSpan.FromSeconds(20));
        var outer = s.Scope();
        var inner = s.Scope();
        Assert.AreSame(s, Strategy.Current);
        inner.Dispose();
        Assert.AreSame(s, Strategy.Current, "the outer scope is still active");
        Assert.IsNull(ReplicaContext.Current);
        inner.Dispose(); // disposing twice is harmless and does not pop the outer scope
        Assert.AreSame(s, Strategy.Current);
        outer.Dispose();
        AssertDefaultContext("after both scopes");
    });

    [TestMethod]
    public void AnotherStrategysScopeOrRun_InsideAScope_Throws() => Bounded.Run(() =>
    {
        using var a = new MirroredStrategy(2, TimeSpan.FromSeconds(20));
        using var b = new MirroredStrategy(2, TimeSpan.FromSeconds(20));
        using (a.Scope())
        {
            var e = Assert.ThrowsExactly<InvalidOperationException>(() => b.Scope().Dispose());
            StringAssert.Contains(e.Message, "different strategies");
            Assert.ThrowsExactly<InvalidOperationException>(() => b.Run(_ => 0));
            Assert.ThrowsExactly<InvalidOperationException>(() => Strategy.Default.Run(_ => 0));
            Assert.AreSame(a, Strategy.Current, "the failed attempts left the scope stack alone");
        }
        AssertDefaultContext("after the scope");
    });

    [TestMethod]
    public void RunInsideRun_Throws() => Bounded.Run(() =>
    {
        using var s = new MirroredStrategy(2, TimeSpan.FromSeconds(20));
        using var other = new MirroredStrategy(2, TimeSpan.FromSeconds(20));
        var errors = s.Run(ctx => (
            Same: Bounded.Catch(() => s.Run(_ => 0)),
            Other: Bounded.Catch(() => other.Run(_ => 0)),
            Default: Bounded.Catch(() => Strategy.Default.Run(_ => 0)),
            OtherScope: Bounded.Catch(() => other.Scope().Dispose())));
        foreach (var e in errors)
        {
            Assert.IsInstanceOfType<InvalidOperationException>(e.Same);
            StringAssert.Contains(e.Same!.Message, "inside another Run");
            Assert.IsInstanceOfType<InvalidOperationException>(e.Other);
            Assert.IsInstanceOfType<InvalidOperationException>(e.Default);
            Assert.IsInstanceOfType<InvalidOperationException>(e.OtherScope);
        }
        // The default strategy's Run is a Run too.
        var nested = Strategy.Default.Run(_ => Bounded.Catch(() => s.Run(_ => 0)));
        Assert.IsInstanceOfType<InvalidOperationException>(nested[0]);
        var scopeInDefaultRun = Strategy.Default.Run(_ => Bounded.Catch(() => s.Scope().Dispose()));
        Assert.IsInstanceOfType<InvalidOperationException>(scopeInDefaultRun[0], "a strategy's scope inside another strategy's Run");
        AssertDefaultContext("after the nested attempts");
    });

    [TestMethod]
    public void ScopeMayBeEnteredInsideItsOwnRun() => Bounded.Run(() =>
    {
        using var s = new MirroredStrategy(2, TimeSpan.FromSeconds(20));
        var seen = s.Run(ctx =>
        {
            using (s.Scope()) return (ReferenceEquals(ReplicaContext.Current, ctx), ReferenceEquals(Strategy.Current, s));
        });
        foreach (var (sameContext, sameStrategy) in seen)
        {
            Assert.IsTrue(sameContext);
            Assert.IsTrue(sameStrategy);
        }
    });

    [TestMethod]
    public void RunOrScopeAfterDispose_ThrowsObjectDisposed() => Bounded.Run(() =>
    {
        var s = new MirroredStrategy(2, TimeSpan.FromSeconds(20));
        Assert.IsFalse(s.IsDisposed);
        s.Dispose();
        Assert.IsTrue(s.IsDisposed);
        s.Dispose(); // idempotent
        Assert.ThrowsExactly<ObjectDisposedException>(() => s.Run(_ => 0));
        Assert.ThrowsExactly<ObjectDisposedException>(() => s.Scope());
        AssertDefaultContext("after the failed calls");
    });

    [TestMethod]
    public void DefaultStrategy_RunsOnceOnTheCallingThread() => Bounded.Run(() =>
    {
        int caller = Environment.CurrentManagedThreadId;
        int calls = 0;
        var result = Strategy.Default.Run(ctx =>
        {
            calls++;
            Assert.AreSame(ctx, ReplicaContext.Current);
            Assert.AreSame(Strategy.Default, Strategy.Current);
            Assert.IsFalse(Strategy.InCrossReplicaContext);
            return (ctx.ReplicaId, ctx.NumReplicasInSync, Environment.CurrentManagedThreadId);
        });
        Assert.AreEqual(1, calls);
        Assert.AreEqual(1, result.Count);
        Assert.AreEqual((0, 1, caller), result[0]);
        Assert.AreEqual(1, Strategy.Default.NumReplicasInSync);
        AssertDefaultContext("after the default Run");
    });

    [TestMethod]
    public void DefaultStrategy_CannotBeDisposed_AndStaysUsable() => Bounded.Run(() =>
    {
        Assert.ThrowsExactly<InvalidOperationException>(() => Strategy.Default.Dispose());
        Assert.ThrowsExactly<InvalidOperationException>(() => Strategy.Default.Dispose());
        Assert.IsFalse(Strategy.Default.IsDisposed, "a refused Dispose must not mark the default strategy disposed");
        Assert.AreEqual(7, Strategy.Default.Run(_ => 7)[0]);
        using (Strategy.Default.Scope()) Assert.AreSame(Strategy.Default, Strategy.Current);
        AssertDefaultContext("after the refused Dispose");
    });

    [TestMethod]
    public void DefaultScope_IsNotCrossReplica() => Bounded.Run(() =>
    {
        using (Strategy.Default.Scope()) AssertDefaultContext("inside the default strategy's scope");
    });

    [TestMethod]
    public void ScopeDisposedOnAnotherThread_Throws_AndLeavesBothThreadsConsistent() => Bounded.Run(() =>
    {
        using var s = new MirroredStrategy(2, TimeSpan.FromSeconds(20));
        var scope = s.Scope();
        Exception? error = null;
        var other = new Thread(() => error = Bounded.Catch(scope.Dispose));
        other.Start();
        other.Join();
        Assert.IsInstanceOfType<InvalidOperationException>(error);
        Assert.AreSame(s, Strategy.Current, "the scope is still active on its own thread");
        scope.Dispose();
        AssertDefaultContext("after disposing on the right thread");
    });
}
