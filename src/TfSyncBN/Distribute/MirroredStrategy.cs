using System.Runtime.ExceptionServices;

namespace TfSyncBN.Distribute;

/// <summary>
/// Synchronous data parallelism in one process (<c>tf.distribute.MirroredStrategy</c>): <c>numReplicas</c> replicas,
/// each a logical CPU device with its own thread, running the same function in lockstep over mirrored variables.
/// </summary>
/// <remarks>
/// <para>The replica threads live as long as the strategy; dispose it to release them (an undisposed strategy releases
/// them when it is finalized). Collectives are deterministic and fault-tolerant (see <see cref="ReplicaContext"/>).</para>
/// <para>Runs are serialized: a <see cref="Strategy.Run{T}"/> from another thread waits for the one in progress, and so
/// does <see cref="Strategy.Dispose()"/>. The replica functions run under the caller's <see cref="ExecutionContext"/>
/// (AsyncLocal values, culture), but thread-static state such as an active <c>GradientTape</c> belongs to each
/// replica's own thread.</para>
/// </remarks>
public sealed class MirroredStrategy : Strategy
{
    /// <summary>The default time a replica waits in a collective for the others (as PyTorch's default process-group timeout).</summary>
    public static readonly TimeSpan DefaultCollectiveTimeout = TimeSpan.FromMinutes(30);

    private readonly ReplicaWorker[] workers;
    private readonly TimeSpan timeout;
    private readonly object runLock = new();

    /// <summary>Creates a strategy with <paramref name="numReplicas"/> replicas.</summary>
    /// <param name="numReplicas">The number of replicas, at least 1.</param>
    /// <param name="collectiveTimeout">
    /// How long a replica waits in a collective for the others before failing the run; <see cref="DefaultCollectiveTimeout"/>
    /// when omitted, <see cref="Timeout.InfiniteTimeSpan"/> to wait for ever.
    /// </param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="numReplicas"/> is less than 1, or the timeout is neither positive nor infinite.</exception>
    public MirroredStrategy(int numReplicas, TimeSpan? collectiveTimeout = null)
    {
        if (numReplicas < 1)
            throw new ArgumentOutOfRangeException(nameof(numReplicas), numReplicas, "numReplicas must be at least 1.");
        timeout = collectiveTimeout ?? DefaultCollectiveTimeout;
        if (timeout <= TimeSpan.Zero && timeout != Timeout.InfiniteTimeSpan)
            throw new ArgumentOutOfRangeException(nameof(collectiveTimeout), timeout, "collectiveTimeout must be positive, or Timeout.InfiniteTimeSpan.");
        workers = new ReplicaWorker[numReplicas];
        for (int r = 0; r < numReplicas; r++) workers[r] = new ReplicaWorker(r);
    }

    /// <inheritdoc/>
    public override int NumReplicasInSync => workers.Length;

    /// <summary>How long a replica waits in a collective for the others (<see cref="Timeout.InfiniteTimeSpan"/>: no limit).</summary>
    public TimeSpan CollectiveTimeout => timeout;

    private protected override T[] RunReplicas<T>(Func<ReplicaContext, T> fn)
    {
        lock (runLock)
        {
            ThrowIfDisposed();
            int n = workers.Length;
            var group = new CollectiveGroup(n, timeout);
            var results = new T[n];
            var done = new Countdown(n);
            // Replica threads run under the caller's execution context (AsyncLocal values, culture), like a Task would.
            var callerContext = ExecutionContext.Capture();
            for (int r = 0; r < n; r++)
            {
                var context = new ReplicaContext(this, r, group);
                workers[r].Post(callerContext, () =>
                {
                    try
                    {
                        results[context.ReplicaId] = RunReplica(context, fn);
                        group.Leave(context.ReplicaId);
                    }
                    catch (Exception e)
                    {
                        group.Fail(context.ReplicaId, e);
                    }
                    finally
                    {
                        done.Signal();
                    }
                });
            }
            done.Wait();
            group.Close();
            if (group.Fault is { } fault) ExceptionDispatchInfo.Capture(fault).Throw();
            return results;
        }
    }

    /// <inheritdoc/>
    protected override void Dispose(bool disposing)
    {
        if (!disposing)
        {
            // Finalizer: nothing can be running (a Run keeps the strategy reachable); just let the threads end. The
            // constructor may have thrown before creating them all.
            if (workers is null) return;
            foreach (var w in workers) w?.Stop(join: false);
            return;
        }
        lock (runLock)
        {
            foreach (var w in workers) w.Stop(join: true);
        }
    }

    /// <summary>Releases the replica threads of a strategy that was never disposed.</summary>
    ~MirroredStrategy() => Dispose(false);

    /// <summary>Counts replicas down to zero; unlike <see cref="CountdownEvent"/> it needs no disposal, so the last
    /// <see cref="Signal"/> can never race with the waiter tearing it down.</summary>
    private sealed class Countdown(int count)
    {
        private int remaining = count;

        public void Signal()
        {
            lock (this)
            {
                if (--remaining == 0) Monitor.PulseAll(this);
            }
        }

        public void Wait()
        {
            lock (this)
            {
                while (remaining > 0) Monitor.Wait(this);
            }
        }
    }

    /// <summary>A long-lived thread that runs one replica's work items, one at a time.</summary>
    /// <remarks>The worker holds no reference to the strategy between items, so an undisposed strategy can be finalized.</remarks>
    private sealed class ReplicaWorker
    {
        private readonly Thread thread;
        private readonly SemaphoreSlim ready = new(0);
        private Action? work;
        private ExecutionContext? workContext;
        private volatile bool stopping;

        public ReplicaWorker(int replicaId)
        {
            thread = new Thread(Loop) { IsBackground = true, Name = $"TfSyncBN replica {replicaId}" };
            thread.Start();
        }

        /// <summary>Hands the idle worker its next item (the caller guarantees the previous one has finished).</summary>
        public void Post(ExecutionContext? context, Action item)
        {
            if (Interlocked.CompareExchange(ref work, item, null) is not null)
                throw new InvalidOperationException("A replica thread was given work while it was still busy.");
            workContext = context;
            ready.Release();
        }

        /// <summary>Asks the thread to end once idle; with <paramref name="join"/>, waits for it.</summary>
        public void Stop(bool join)
        {
            if (stopping) return;
            stopping = true;
            ready.Release();
            if (join && Thread.CurrentThread != thread) thread.Join();
        }

        private void Loop()
        {
            while (true)
            {
                ready.Wait();
                if (stopping) return;
                RunOne();
            }
        }

        // A separate method so that no local of the loop keeps the last item (and through it the strategy) alive.
        [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
        private void RunOne()
        {
            var context = workContext;
            workContext = null;
            var item = Volatile.Read(ref work)!;
            // Clear before running: the item's last act signals the Run, which may post the next item at once.
            Volatile.Write(ref work, null);
            if (context is null) item();
            else ExecutionContext.Run(context, static state => ((Action)state!)(), item);
        }
    }
}
