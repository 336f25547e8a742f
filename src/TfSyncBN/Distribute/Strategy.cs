using TfSyncBN.Tensors;

namespace TfSyncBN.Distribute;

/// <summary>
/// A way of running a computation on several replicas (<c>tf.distribute.Strategy</c>).
/// </summary>
/// <remarks>
/// <para>Contexts, as in TensorFlow: outside any strategy, code runs in the default strategy's single replica, and
/// <see cref="ReplicaContext.Current"/> is its replica context. Inside <see cref="Scope"/> of a multi-replica strategy,
/// code is cross-replica and <see cref="ReplicaContext.Current"/> is null. Inside <see cref="Run{T}"/> each replica sees
/// its own context.</para>
/// <para>Variables created while a multi-replica strategy is current are mirrored (see <see cref="Variable"/>).</para>
/// </remarks>
public abstract class Strategy : IDisposable, IMirroringStrategy
{
    static Strategy() => Replication.Register(new Runtime());
    [ThreadStatic] private static List<Strategy>? scopes;
    [ThreadStatic] private static ReplicaContext? replica;

    /// <summary>The default strategy: one replica, no communication, always available.</summary>
    public static Strategy Default { get; } = new DefaultStrategy();

    /// <summary>The strategy in effect on this thread: that of the enclosing <c>Run</c> or <c>Scope</c>, else <see cref="Default"/>.</summary>
    public static Strategy Current => replica?.Strategy ?? (scopes is { Count: > 0 } s ? s[^1] : Default);

    /// <summary>Whether this thread is in cross-replica code of a strategy: inside its <c>Scope</c> but not in its <c>Run</c>.</summary>
    public static bool InCrossReplicaContext => replica is null && scopes is { Count: > 0 } s && s[^1] is not DefaultStrategy;

    internal static ReplicaContext? CurrentReplica => replica;

    /// <summary>The number of replicas that run in lockstep.</summary>
    public abstract int NumReplicasInSync { get; }

    /// <summary>The number of replicas that run in this process (<see cref="NumReplicasInSync"/> for one process); mirrored variables hold one copy per local replica.</summary>
    internal virtual int LocalReplicaCount => NumReplicasInSync;

    /// <summary>
    /// This replica's index among this process's replicas if the current thread runs one of this strategy's replicas,
    /// else -1 (the replica id in one process).
    /// </summary>
    internal int CurrentReplicaId => replica is { } r && ReferenceEquals(r.Strategy, this) ? r.LocalReplicaIndex : -1;

    /// <summary>
    /// Makes this strategy current on this thread until the returned scope is disposed: variables created meanwhile
    /// are mirrored over its replicas (<c>strategy.scope()</c>).
    /// </summary>
    /// <remarks>
    /// Scopes are per thread: the returned object must be disposed on the thread that entered the scope. Scopes of the
    /// same strategy nest; disposing one twice is harmless.
    /// </remarks>
    /// <exception cref="InvalidOperationException">Another strategy's scope or <c>Run</c> is active on this thread.</exception>
    /// <exception cref="ObjectDisposedException">The strategy was disposed.</exception>
    public IDisposable Scope()
    {
        ThrowIfDisposed();
        if (replica is { } r && !ReferenceEquals(r.Strategy, this))
            throw new InvalidOperationException(
                "Mixing different strategies is not allowed: Scope() was called inside another strategy's Run.");
        var current = Current;
        if (!ReferenceEquals(current, Default) && !ReferenceEquals(current, this))
            throw new InvalidOperationException("Mixing different strategies is not allowed: another strategy's scope or Run is active on this thread.");
        var stack = scopes ??= [];
        stack.Add(this);
        return new ScopeExit(this, stack);
    }

    private sealed class ScopeExit(Strategy strategy, List<Strategy> stack) : IDisposable
    {
        private readonly Thread owner = Thread.CurrentThread;
        private bool done;

        public void Dispose()
        {
            if (done) return;
            if (Thread.CurrentThread != owner)
                throw new InvalidOperationException(
                    $"A strategy scope must be disposed on the thread that entered it ('{owner.Name ?? owner.ManagedThreadId.ToString(System.Globalization.CultureInfo.InvariantCulture)}'); " +
                    "scopes are per thread, so do not let one span an await that may resume elsewhere.");
            done = true;
            int i = stack.LastIndexOf(strategy);
            if (i >= 0) stack.RemoveAt(i);
        }
    }

    /// <summary>
    /// Runs <paramref name="fn"/> once per replica, each with its own <see cref="ReplicaContext"/>, and returns the
    /// results in replica order (<c>strategy.run</c>).
    /// </summary>
    /// <remarks>
    /// <para>If any replica throws, every other replica's pending collective fails promptly (with
    /// <see cref="ReplicaFailedException"/>), and <c>Run</c> rethrows the first failure: the original exception object,
    /// with its stack trace. Replicas that make different collective calls, or a replica that returns while others
    /// wait in a collective, end the Run with <see cref="CollectiveMismatchException"/>; a replica that does not reach a
    /// collective within the collective timeout ends it with <see cref="TimeoutException"/>. <c>Run</c> returns or
    /// throws once every replica's function has returned, so the strategy is ready for the next Run, with one exception:
    /// replicas stuck in their function (not in a collective) are waited for at most the collective timeout after the
    /// first replica finished, or not at all once a collective has timed out waiting for them and the others have
    /// finished. <c>Run</c> then throws <see cref="TimeoutException"/> naming them, and the strategy refuses further
    /// work while their functions run on (see <see cref="StuckReplicas"/>).</para>
    /// </remarks>
    /// <exception cref="ArgumentNullException"><paramref name="fn"/> is null.</exception>
    /// <exception cref="InvalidOperationException">Called inside another <c>Run</c>, or inside another strategy's scope, or
    /// the strategy refuses work because replicas of an earlier Run are stuck (<see cref="StuckReplicas"/>).</exception>
    /// <exception cref="ObjectDisposedException">The strategy was disposed.</exception>
    /// <exception cref="CollectiveMismatchException">The replicas made different collective calls.</exception>
    /// <exception cref="TimeoutException">A replica did not arrive at a collective within the collective timeout, or a
    /// replica's function did not return in time (the message names the stuck replicas).</exception>
    public PerReplica<T> Run<T>(Func<ReplicaContext, T> fn)
    {
        ArgumentNullException.ThrowIfNull(fn);
        ThrowIfDisposed();
        if (replica is not null)
            throw new InvalidOperationException("Strategy.Run cannot be called inside another Run: replica functions must not nest.");
        var current = Current;
        if (!ReferenceEquals(current, Default) && !ReferenceEquals(current, this))
            throw new InvalidOperationException("Mixing different strategies is not allowed: Run was called inside another strategy's scope.");
        return new PerReplica<T>(RunReplicas(fn));
    }

    /// <summary>
    /// The replicas (local indices) whose function has not returned from a <see cref="Run{T}"/> that ended with a
    /// <see cref="TimeoutException"/> because they were stuck. While this is not empty the strategy refuses further work:
    /// <see cref="Run{T}"/> throws <see cref="InvalidOperationException"/> (a .NET thread cannot be stopped from outside,
    /// so the stuck functions keep their threads). Empty while healthy, and again once those functions return.
    /// </summary>
    public IReadOnlyList<int> StuckReplicas => StuckLocalReplicas;

    /// <summary>See <see cref="StuckReplicas"/>; strategies with replica threads override it.</summary>
    private protected virtual IReadOnlyList<int> StuckLocalReplicas => [];

    /// <summary>Runs the replicas; implementations call <see cref="RunReplica{T}"/> for each replica context.</summary>
    private protected abstract T[] RunReplicas<T>(Func<ReplicaContext, T> fn);

    /// <summary>Runs one replica's function on the calling thread with <paramref name="context"/> current.</summary>
    private protected static T RunReplica<T>(ReplicaContext context, Func<ReplicaContext, T> fn)
    {
        var saved = replica;
        replica = context;
        try
        {
            return fn(context);
        }
        finally
        {
            replica = saved;
        }
    }

    /// <summary>
    /// Combines per-replica values in cross-replica code (<c>strategy.reduce</c>).
    /// </summary>
    /// <param name="op">Sum or mean.</param>
    /// <param name="value">
    /// One tensor per replica: what <see cref="Run{T}"/> returned. Under a multi-worker strategy, the tensors of this
    /// process's replicas; the reduction then also spans the other workers, which must call it too (a collective).
    /// </param>
    /// <param name="axis">
    /// When null, the tensors (which must share a shape) are combined element-wise across replicas. Otherwise each is
    /// first summed along <paramref name="axis"/>, and <see cref="ReduceOp.Mean"/> divides by the total length of that
    /// axis over all replicas, which is the right mean for uneven per-replica batches.
    /// </param>
    /// <remarks>
    /// The sum runs in replica order and the mean divides the sum by the count, exactly as
    /// <see cref="ReplicaContext.AllReduce(ReduceOp, Tensor)"/> does, so with <paramref name="axis"/> null both give the
    /// same bits. With an axis whose total length over all replicas is 0, the mean is NaN (0/0), as in TensorFlow.
    /// </remarks>
    /// <exception cref="ArgumentNullException"><paramref name="value"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="op"/> is neither Sum nor Mean.</exception>
    /// <exception cref="ArgumentException">The replica count differs from the number of replicas in this process (<see cref="NumReplicasInSync"/> in one process), a value is null, the shapes do not agree, or <paramref name="axis"/> is out of range.</exception>
    /// <exception cref="InvalidOperationException">Called inside a multi-replica <c>Run</c> (use <see cref="ReplicaContext.AllReduce(ReduceOp, Tensor)"/> there).</exception>
    public Tensor Reduce(ReduceOp op, PerReplica<Tensor> value, int? axis = null)
    {
        ArgumentNullException.ThrowIfNull(value);
        CollectiveGroup.CheckOp(op, nameof(op));
        if (replica is { Strategy: not DefaultStrategy })
            throw new InvalidOperationException(
                "Strategy.Reduce is a cross-replica operation and cannot be called inside Run; inside Run use ReplicaContext.AllReduce.");
        if (value.Count != LocalReplicaCount)
            throw new ArgumentException(
                $"value holds {value.Count} replicas' tensors, but the strategy runs {LocalReplicaCount} replicas" +
                (LocalReplicaCount != NumReplicasInSync ? " in this process." : "."), nameof(value));
        for (int r = 0; r < value.Count; r++)
        {
            if (value[r] is null) throw new ArgumentException($"Replica {r}'s value is null.", nameof(value));
        }
        using var _ = GradientTape.Pause();
        IReadOnlyList<Tensor> parts = value.Values;
        // Values on devices are combined on the host (a sync point); the result is a host tensor.
        if (parts.Any(t => !t.Device.IsHost)) parts = [.. parts.Select(t => t.To(Device.Cpu))];
        long count = parts.Count;
        if (axis is int a)
        {
            count = 0;
            var summed = new Tensor[parts.Count];
            for (int r = 0; r < summed.Length; r++)
            {
                var t = parts[r];
                int ax = a < 0 ? a + t.Rank : a;
                if (ax < 0 || ax >= t.Rank)
                    throw new ArgumentException(
                        $"axis {a} is out of range for replica {r}'s value of shape {Tensor.ShapeString(t.ShapeArray)}; accepted values are {-t.Rank}..{t.Rank - 1}.", nameof(axis));
                count += t.ShapeArray[ax];
                summed[r] = t.Sum([ax]);
            }
            parts = summed;
        }
        for (int r = 1; r < parts.Count; r++)
        {
            if (!Tensor.SameShape(parts[r].ShapeArray, parts[0].ShapeArray))
                throw new ArgumentException(
                    $"Replica {r}'s value has shape {Tensor.ShapeString(parts[r].ShapeArray)}, but replica 0's has {Tensor.ShapeString(parts[0].ShapeArray)}" +
                    (axis is null ? "." : $" after summing axis {axis}."), nameof(value));
        }
        var sum = Tensors.Kernels.Elementwise.SumOf(parts).ToArray();
        count = SumOverWorkers(sum, count, axis is not null);
        if (op == ReduceOp.Mean) System.Numerics.Tensors.TensorPrimitives.Divide(sum, (float)count, sum);
        return new Tensor(sum, parts[0].ShapeArray);
    }

    /// <summary>
    /// Adds the other workers' <paramref name="localSum"/> (in place) and returns the global element count; in one
    /// process, returns <paramref name="localCount"/>. With <paramref name="countVaries"/> false the count is the
    /// replica count, known without communication.
    /// </summary>
    private protected virtual long SumOverWorkers(float[] localSum, long localCount, bool countVaries) => localCount;

    /// <summary>
    /// The initial value a new mirrored variable of this strategy starts from; the given value in one process. A
    /// multi-worker strategy makes every worker start from worker 0's value (as TensorFlow does), so that unseeded
    /// random initializers cannot make the workers diverge.
    /// </summary>
    internal virtual Tensor AgreeOnInitialValue(Tensor value) => value;

    /// <summary>The global id of this process's first replica (0 in one process).</summary>
    internal virtual int FirstLocalReplicaId => 0;

    /// <summary>Whether the strategy's replicas run in several processes (a multi-worker strategy with more than one worker).</summary>
    internal virtual bool SpansWorkers => false;

    /// <summary>
    /// Adds the other workers' <paramref name="values"/> in place (worker order), for cross-replica code that combined
    /// this worker's replica results itself; every worker must call it. Nothing in one process.
    /// </summary>
    internal virtual void SumAcrossWorkers(double[] values) { }

    /// <summary>The device that this process's replica <paramref name="localReplica"/> runs on (<c>cpu</c> unless the strategy was given devices).</summary>
    internal virtual Device LocalReplicaDevice(int localReplica) => Device.Cpu;

    /// <summary>Whether some replica runs on a device other than the host.</summary>
    internal virtual bool PlacesOnDevices => false;

    bool IMirroringStrategy.PlacesOnDevices => PlacesOnDevices;

    Device IMirroringStrategy.ReplicaDevice(int localReplica) => LocalReplicaDevice(localReplica);

    int IMirroringStrategy.LocalReplicaCount => LocalReplicaCount;

    int IMirroringStrategy.CurrentReplicaId => CurrentReplicaId;

    Tensor IMirroringStrategy.AgreeOnInitialValue(Tensor value) => AgreeOnInitialValue(value);

    /// <summary>The tensor core's view of the calling thread's strategy and replica context.</summary>
    private sealed class Runtime : IReplicaRuntime
    {
        public IMirroringStrategy CurrentStrategy => Current;

        public IReplica? CurrentContext => ReplicaContext.Current;
    }

    private volatile bool disposed;

    /// <summary>Whether <see cref="Dispose()"/> was called.</summary>
    public bool IsDisposed => disposed;

    private protected void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(disposed, this);

    /// <summary>Releases the strategy's replica threads; it cannot run anything afterwards.</summary>
    /// <remarks>A <c>Run</c> in progress on another thread completes first. Calling it again does nothing.</remarks>
    /// <exception cref="InvalidOperationException">
    /// This is <see cref="Default"/>, which cannot be disposed, or the call comes from inside this strategy's own
    /// <c>Run</c> (which would wait for itself).
    /// </exception>
    public void Dispose()
    {
        if (this is DefaultStrategy)
            throw new InvalidOperationException("The default strategy cannot be disposed.");
        if (CurrentReplicaId >= 0)
            throw new InvalidOperationException("A strategy cannot be disposed from inside its own Run; dispose it after Run returns.");
        if (disposed) return;
        disposed = true;
        Dispose(true);
        GC.SuppressFinalize(this);
    }

    /// <summary>Releases resources; called once.</summary>
    protected virtual void Dispose(bool disposing) { }
}

/// <summary>The default strategy: a single replica running on the calling thread, with no communication.</summary>
internal sealed class DefaultStrategy : Strategy
{
    private readonly ReplicaContext context;

    public DefaultStrategy() => context = new ReplicaContext(this, 0, null);

    public override int NumReplicasInSync => 1;

    internal ReplicaContext Context => context;

    private protected override T[] RunReplicas<T>(Func<ReplicaContext, T> fn) => [RunReplica(context, fn)];
}
