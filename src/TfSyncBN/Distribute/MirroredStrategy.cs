using System.Runtime.ExceptionServices;

namespace TfSyncBN.Distribute;

/// <summary>
/// Synchronous data parallelism in one process (<c>tf.distribute.MirroredStrategy</c>): <c>numReplicas</c> replicas,
/// each a logical CPU device with its own thread, running the same function in lockstep over mirrored variables.
/// </summary>
/// <remarks>
/// The replica threads live as long as the strategy; dispose it to release them. Collectives are deterministic and
/// fault-tolerant (see <see cref="ReplicaContext"/>).
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
    /// <param name="collectiveTimeout">How long a replica waits in a collective before failing the run; <see cref="DefaultCollectiveTimeout"/> when omitted.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="numReplicas"/> is less than 1, or the timeout is not positive.</exception>
    public MirroredStrategy(int numReplicas, TimeSpan? collectiveTimeout = null)
    {
        if (numReplicas < 1)
            throw new ArgumentOutOfRangeException(nameof(numReplicas), numReplicas, "numReplicas must be at least 1.");
        timeout = collectiveTimeout ?? DefaultCollectiveTimeout;
        if (timeout <= TimeSpan.Zero)
            throw new ArgumentOutOfRangeException(nameof(collectiveTimeout), timeout, "collectiveTimeout must be positive.");
        workers = new ReplicaWorker[numReplicas];
        for (int r = 0; r < numReplicas; r++) workers[r] = new ReplicaWorker(r);
    }

    /// <inheritdoc/>
    public override int NumReplicasInSync => workers.Length;

    /// <summary>How long a replica waits in a collective for the others.</summary>
    public TimeSpan CollectiveTimeout => timeout;

    private protected override T[] RunReplicas<T>(Func<ReplicaContext, T> fn)
    {
        lock (runLock)
        {
            ThrowIfDisposed();
            int n = workers.Length;
            var group = new CollectiveGroup(n, timeout);
            var results = new T[n];
            using var done = new CountdownEvent(n);
            for (int r = 0; r < n; r++)
            {
                var context = new ReplicaContext(this, r, group);
                workers[r].Post(() =>
                {
                    try
                    {
                        results[context.ReplicaId] = RunReplica(context, fn);
                        group.Rendezvous(context.ReplicaId, CollectiveCall.EndOfRun);
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
            if (group.Fault is { } fault) ExceptionDispatchInfo.Capture(fault).Throw();
            return results;
        }
    }

    /// <inheritdoc/>
    protected override void Dispose(bool disposing)
    {
        lock (runLock)
        {
            foreach (var w in workers) w.Stop();
        }
    }

    /// <summary>A long-lived thread that runs one replica's work items.</summary>
    private sealed class ReplicaWorker
    {
        private readonly Thread thread;
        private readonly SemaphoreSlim ready = new(0);
        private Action? work;
        private volatile bool stopping;

        public ReplicaWorker(int replicaId)
        {
            thread = new Thread(Loop) { IsBackground = true, Name = $"TfSyncBN replica {replicaId}" };
            thread.Start();
        }

        public void Post(Action item)
        {
            work = item;
            ready.Release();
        }

        public void Stop()
        {
            stopping = true;
            ready.Release();
            thread.Join();
        }

        private void Loop()
        {
            while (true)
            {
                ready.Wait();
                if (stopping) return;
                var item = work!;
                work = null;
                item();
            }
        }
    }
}
