using System.Runtime.ExceptionServices;

namespace TfSyncBN.Distribute;

/// <summary>
/// The replica threads of a strategy that runs its replicas in this process (<see cref="MirroredStrategy"/>,
/// <see cref="MultiWorkerMirroredStrategy"/>), and the Run protocol over them.
/// </summary>
/// <remarks>
/// Runs are serialized: a Run from another thread waits for the one in progress, and so does <see cref="Stop"/>. The
/// replica functions run under the caller's <see cref="ExecutionContext"/>.
/// </remarks>
internal sealed class ReplicaPool
{
    private readonly ReplicaWorker[] workers;
    private readonly object runLock = new();

    /// <summary>
    /// The collectives' shared result arrays, by element type, that each Run's new group takes over from the last one
    /// (<see cref="CollectiveGroup"/>'s <c>resultBuffers</c>): a training loop's gradient all-reduce reuses its result array.
    /// </summary>
    public Dictionary<Type, Array> ResultBuffers { get; } = [];

    public ReplicaPool(int count)
    {
        workers = new ReplicaWorker[count];
        for (int r = 0; r < count; r++) workers[r] = new ReplicaWorker(r);
    }

    /// <summary>The number of replica threads.</summary>
    public int Count => workers.Length;

    /// <summary>
    /// Runs <paramref name="fn"/> on every replica thread with the context <paramref name="contextFor"/> makes for its
    /// local index, all sharing one new group; returns the results in local order, or rethrows the group's first fault
    /// once every replica has returned.
    /// </summary>
    public T[] Run<T>(Action checkOpen, Func<CollectiveGroup> newGroup, Func<int, CollectiveGroup, ReplicaContext> contextFor,
        Func<ReplicaContext, T> fn, Func<ReplicaContext, Func<ReplicaContext, T>, T> runReplica)
    {
        lock (runLock)
        {
            checkOpen();
            if (Stuck is { Count: > 0 } stuck)
                throw new InvalidOperationException(
                    $"This strategy refuses further work: the functions of replicas [{string.Join(", ", stuck)}] have not returned from an " +
                    "earlier Run that ended with a timeout, and their threads cannot be stopped (.NET cannot abort a thread). It runs again " +
                    "once they return; otherwise dispose it and create a new strategy.");
            int n = workers.Length;
            var group = newGroup();
            var results = new T[n];
            var done = new Countdown(n);
            // Replica threads run under the caller's execution context (AsyncLocal values, culture), like a Task would.
            var callerContext = ExecutionContext.Capture();
            for (int r = 0; r < n; r++)
            {
                int local = r;
                var context = contextFor(local, group);
                workers[r].Post(callerContext, () =>
                {
                    try
                    {
                        results[local] = runReplica(context, fn);
                        group.Leave(local);
                    }
                    catch (Exception e)
                    {
                        group.Fail(local, e);
                    }
                    finally
                    {
                        done.Signal(local);
                    }
                });
            }
            if (!done.Wait(group))
            {
                // Some replicas are stuck: their functions run on, on threads that cannot be stopped.
                var ids = done.Unfinished();
                Volatile.Write(ref broken, done);
                string list = string.Join(", ", ids);
                var cause = group.Fault;
                group.Fail(ids[0], new TimeoutException($"Replicas [{list}] are stuck."));
                group.Close();
                throw new TimeoutException(
                    $"Replicas [{list}] did not return from their function within the collective timeout ({group.CollectiveTimeout}) after " +
                    (group.TimedOutAbsentReplicas.Count > 0 ? "a collective timed out waiting for them" : "the first replica finished") +
                    (cause is null ? "" : $" ({cause.GetType().Name}: {cause.Message})") + ". " +
                    "Their threads cannot be stopped (.NET cannot abort a thread), so this strategy refuses further work (Run throws) until " +
                    "their functions return; otherwise dispose it (the stuck threads are left to end on their own) and create a new one.", cause);
            }
            group.Close();
            if (group.Fault is { } fault) ExceptionDispatchInfo.Capture(fault).Throw();
            return results;
        }
    }

    /// <summary>
    /// Ends the threads once idle. With <paramref name="join"/> (Dispose) waits for a Run in progress and for the
    /// threads; without (finalizer) just lets them end. The constructor may have thrown before creating them all.
    /// </summary>
    public void Stop(bool join)
    {
        if (workers is null) return;
        if (!join)
        {
            foreach (var w in workers) w?.Stop(join: false);
            return;
        }
        lock (runLock)
        {
            // A stuck replica's thread would never be joined: it is only told to stop, and ends once its function returns.
            var stuck = Stuck;
            for (int r = 0; r < workers.Length; r++) workers[r].Stop(join: !stuck.Contains(r));
        }
    }

    /// <summary>
    /// The replicas whose function has not returned from a Run that ended because they were stuck; the pool refuses
    /// further work while this is not empty. Empty while healthy, and again once those functions return.
    /// </summary>
    public IReadOnlyList<int> Stuck => Volatile.Read(ref broken)?.Unfinished() ?? [];

    private Countdown? broken;

    /// <summary>Counts replicas down to zero, remembering which have finished; unlike <see cref="CountdownEvent"/> it needs
    /// no disposal, so the last <see cref="Signal"/> can never race with the waiter tearing it down.</summary>
    private sealed class Countdown(int size)
    {
        private readonly bool[] finished = new bool[size];
        private readonly int count = size;
        private int remaining = size;
        private long firstFinish;

        public void Signal(int replica)
        {
            lock (this)
            {
                finished[replica] = true;
                if (remaining-- == count) firstFinish = System.Diagnostics.Stopwatch.GetTimestamp();
                Monitor.PulseAll(this);
            }
        }

        /// <summary>The replicas that have not finished.</summary>
        public int[] Unfinished()
        {
            lock (this) return [.. Enumerable.Range(0, finished.Length).Where(r => !finished[r])];
        }

        /// <summary>
        /// Waits for every replica; false when some are stuck: they have not finished within the collective timeout after
        /// the first replica finished (returned or failed), or they are the replicas a timed-out collective waited for in
        /// vain (absent for a whole timeout already) and every other replica has finished.
        /// </summary>
        public bool Wait(CollectiveGroup group)
        {
            var timeout = group.CollectiveTimeout;
            lock (this)
            {
                while (remaining > 0)
                {
                    if (remaining == count || timeout == Timeout.InfiniteTimeSpan)
                    {
                        Monitor.Wait(this);
                        continue;
                    }
                    var absent = group.TimedOutAbsentReplicas;
                    if (absent.Count > 0 && Enumerable.Range(0, count).All(r => finished[r] || absent.Contains(r))) return false;
                    var left = timeout - System.Diagnostics.Stopwatch.GetElapsedTime(firstFinish);
                    if (left <= TimeSpan.Zero) return false;
                    Monitor.Wait(this, (int)Math.Min(Math.Ceiling(left.TotalMilliseconds), int.MaxValue - 1));
                }
                return true;
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
