using System.Diagnostics;
using System.Numerics;
using System.Numerics.Tensors;

namespace TfSyncBN.Distribute;

/// <summary>What one replica asked of a collective; all replicas must ask the same.</summary>
internal readonly record struct CollectiveCall(string Kind, ReduceOp Op, Type ElementType, int Length, string Detail)
{
    public static readonly CollectiveCall EndOfRun = new("end of Run", ReduceOp.Sum, typeof(void), 0, "");

    public override string ToString() => this == EndOfRun
        ? "finished its Run function"
        : $"called {Kind}({Op}, {ElementName(ElementType)}[{Length}]{(Detail.Length > 0 ? ", " + Detail : "")})";

    private static string ElementName(Type t) =>
        t == typeof(float) ? "float32" : t == typeof(double) ? "float64" : t.Name;
}

/// <summary>Why a group failed.</summary>
internal enum FaultKind
{
    /// <summary>A replica's function threw (or misused the group).</summary>
    ReplicaError,

    /// <summary>Replicas made different collective calls.</summary>
    Mismatch,

    /// <summary>A replica waited longer than the collective timeout.</summary>
    Timeout,
}

/// <summary>
/// The replicas of one <see cref="Strategy.Run{T}"/> call in one process: a rendezvous plus a deterministic all-reduce.
/// </summary>
/// <remarks>
/// <para>Protocol: every replica posts its call and buffer and waits until all have posted (a barrier, one
/// "generation"; a waiting replica polls briefly before it blocks, see <see cref="SpinTicks"/>). The last to arrive
/// checks that all calls agree. The reduction then runs in one of two ways:
/// small buffers (at most <see cref="InlineReduceLimit"/> elements over all replicas) are reduced by the last arrival
/// before it releases the others, so a collective costs one barrier; larger ones are split into one chunk per replica,
/// each replica reduces its chunk, and a second barrier waits for all chunks.</para>
/// <para>Determinism: either way, element i of the result is <c>((v0[i] + v1[i]) + v2[i]) + ...</c> in replica order,
/// divided by the replica count for a mean, computed once into a shared result that every replica copies. The bits
/// therefore depend only on the inputs, never on thread timing or on which path was taken.</para>
/// <para>Buffer lifetime: the buffers posted for a collective are snapshotted when its first barrier completes, and the
/// shared result of an element type is rewritten only when every replica has arrived at a later collective, that
/// is after every replica has copied the previous result out.</para>
/// <para>Several processes: with a cross-worker communicator, the replica that completes the local reduction (the
/// last arrival, or for chunked reductions the last arrival at the second barrier) hands the local sum to
/// <see cref="ICrossWorkerCommunicator.AllReduceSum(float[], int)"/> on its own thread while the others wait, divides by
/// the global replica count for a mean, and only then releases the local replicas. Element i is then
/// <c>Σ_w (Σ_local v[i])</c>, both sums in order, identical on every replica of every worker.</para>
/// <para>Faults: a replica that throws, a mismatched call, an overlapping call or a timeout faults the group; every
/// replica waiting in it, or arriving later, throws at once. A replica that finishes its function leaves without
/// waiting: a replica that then waits in a collective is reported as a mismatch as soon as all have arrived. A group
/// is used for one Run only and is closed when the Run ends.</para>
/// </remarks>
internal sealed class CollectiveGroup
{
    /// <summary>Collectives with at most this many elements over all replicas are reduced in one barrier by the last arrival.</summary>
    internal const int InlineReduceLimit = 1 << 14;

    private enum Mode
    {
        /// <summary>A barrier without data that waits for the others.</summary>
        Barrier,

        /// <summary>An arrival that does not wait (a replica that finished its function).</summary>
        Leave,

        /// <summary>A reduction the last arrival performs before releasing the others.</summary>
        ReduceInline,

        /// <summary>A reduction each replica performs on its chunk after the barrier.</summary>
        ReduceChunked,
    }

    private readonly int size;
    private readonly ICrossWorkerCommunicator? crossWorkers;
    private readonly CrossWorkerSignatures? signatures;
    private readonly int globalSize;
    private readonly TimeSpan timeout;
    private readonly object gate = new();
    private readonly Array?[] posted;
    private readonly CollectiveCall[] calls;
    private readonly bool[] present;
    private Dictionary<Type, Array> resultBuffers;
    private Array?[] inputs = [];
    private Array? result;
    private int arrived;
    private long generation;
    private long collectivesCompleted;
    private bool closed;
    private Exception? fault;
    private FaultKind faultKind;
    private int faultReplica = -1;
    private long faultGeneration = -1;

    /// <param name="size">The number of replicas.</param>
    /// <param name="timeout">How long a replica waits for the others; <see cref="Timeout.InfiniteTimeSpan"/> for ever.</param>
    /// <param name="crossWorkers">The other processes' groups, reached once per collective after the local reduction; null for one process.</param>
    /// <param name="signatures">Checks each new collective signature across the workers before its first cross-worker sum; null for no check.</param>
    /// <param name="resultBuffers">The shared result arrays by element type, taken over from the previous group of the same
    /// replicas (their Runs are serialized), so that a loop of Runs does not allocate them anew; null for new ones.</param>
    public CollectiveGroup(int size, TimeSpan timeout, ICrossWorkerCommunicator? crossWorkers = null, CrossWorkerSignatures? signatures = null,
        Dictionary<Type, Array>? resultBuffers = null)
    {
        this.resultBuffers = resultBuffers ?? [];
        this.size = size;
        this.crossWorkers = crossWorkers;
        this.signatures = signatures;
        globalSize = size * (crossWorkers?.Size ?? 1);
        this.timeout = timeout;
        posted = new Array?[size];
        calls = new CollectiveCall[size];
        present = new bool[size];
    }

    /// <summary>The number of replicas in this process.</summary>
    public int Size => size;

    /// <summary>The number of replicas over all workers (<see cref="Size"/> times the worker count).</summary>
    public int GlobalSize => globalSize;

    /// <summary>The first failure, or null.</summary>
    public Exception? Fault
    {
        get
        {
            lock (gate) return fault;
        }
    }

    /// <summary>The number of all-reduces that completed their first barrier (for tests and diagnostics).</summary>
    internal long CollectivesCompleted
    {
        get
        {
            lock (gate) return collectivesCompleted;
        }
    }

    /// <summary>Marks the group failed by <paramref name="replica"/> and releases everyone waiting. Only the first failure is kept.</summary>
    public void Fail(int replica, Exception error)
    {
        lock (gate) FailLocked(replica, error, FaultKind.ReplicaError);
    }

    /// <summary>Ends the group: a later collective through a context of this Run throws instead of waiting.</summary>
    public void Close()
    {
        lock (gate)
        {
            closed = true;
            // Let the buffers and results go (the result arrays pass to the next group); the group itself may stay
            // reachable through a captured context.
            Array.Clear(posted);
            inputs = [];
            result = null;
            resultBuffers = [];
            Monitor.PulseAll(gate);
        }
    }

    /// <summary>
    /// Records that <paramref name="replica"/> finished its function, without waiting. If other replicas are waiting in
    /// a collective, or arrive in one later, that is reported to them as a mismatch.
    /// </summary>
    public void Leave(int replica) => Arrive(replica, CollectiveCall.EndOfRun, null, Mode.Leave, null);

    /// <summary>
    /// Replaces <paramref name="buffer"/>[0..<paramref name="length"/>) on every replica with the element-wise sum
    /// (or mean) of all replicas' buffers, identical in every bit on every replica.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="op"/> is undefined, or <paramref name="length"/> is negative or longer than the buffer.</exception>
    public void AllReduce<T>(int replica, ReduceOp op, T[] buffer, int length, string kind, string detail)
        where T : unmanaged, INumber<T>
    {
        ArgumentNullException.ThrowIfNull(buffer);
        CheckOp(op);
        if ((uint)length > (uint)buffer.Length)
            throw new ArgumentOutOfRangeException(nameof(length), length, $"length must be between 0 and the buffer's length, {buffer.Length}.");
        var call = new CollectiveCall(kind, op, typeof(T), length, detail);
        if (size == 1 && crossWorkers is not null)
        {
            AllReduceAlone(call, buffer, length, op);
            return;
        }
        AllReduceTogether(replica, call, buffer, length, op);
    }

    /// <summary>
    /// The rendezvous of several local replicas. (A method of its own because its lambdas' closure is allocated on
    /// entry to the method that declares the captured variables; so the single-replica path allocates nothing.)
    /// </summary>
    private void AllReduceTogether<T>(int replica, CollectiveCall call, T[] buffer, int length, ReduceOp op)
        where T : unmanaged, INumber<T>
    {
        bool inline = (long)length * size <= InlineReduceLimit || size == 1;
        var (result, snapshot) = inline
            ? Arrive(replica, call, buffer, Mode.ReduceInline, (inputs, shared) =>
            {
                ReduceRange(inputs, (T[])shared, 0, length, op);
                CrossWorkerStage(call, (T[])shared, length, op);
            })
            : Arrive(replica, call, buffer, Mode.ReduceChunked, null);
        if (globalSize == 1) return; // the sum of one buffer is itself, and so is its mean (x / 1 == x)

        var shared = (T[])result!;
        if (!inline)
        {
            var (start, end) = Chunk(length, replica);
            ReduceRange(snapshot!, shared, start, end - start, op);
            Arrive(replica, call, null, Mode.Barrier,
                crossWorkers is null ? null : (_, _) => CrossWorkerStage(call, shared, length, op));
        }
        shared.AsSpan(0, length).CopyTo(buffer);
    }

    /// <summary>
    /// The one replica of a worker: nothing to wait for or add up locally, so the buffer goes straight to the
    /// cross-worker stage (no rendezvous, no copies; the result is the same as through the shared buffer).
    /// </summary>
    private void AllReduceAlone<T>(CollectiveCall call, T[] buffer, int length, ReduceOp op)
        where T : unmanaged, INumber<T>
    {
        lock (gate)
        {
            ThrowIfClosed(0, call);
            ThrowIfFaulted(0, call, waiting: false);
            collectivesCompleted++;
        }
        try
        {
            CrossWorkerStage(call, buffer, length, op);
        }
        catch (Exception e)
        {
            Fail(0, e);
            throw;
        }
    }

    private void ThrowIfClosed(int replica, CollectiveCall call)
    {
        if (closed)
            throw new InvalidOperationException(
                $"Replica {replica} {call} through a ReplicaContext whose Run has finished: a context is only valid inside its own Run.");
    }

    /// <summary>Throws for a <see cref="ReduceOp"/> value that is neither Sum nor Mean.</summary>
    internal static void CheckOp(ReduceOp op, string paramName = "op")
    {
        if (op is not (ReduceOp.Sum or ReduceOp.Mean))
            throw new ArgumentOutOfRangeException(paramName, op, "The reduce operation must be ReduceOp.Sum or ReduceOp.Mean.");
    }

    private (int Start, int End) Chunk(int length, int replica) =>
        ((int)((long)length * replica / size), (int)((long)length * (replica + 1) / size));

    /// <summary>
    /// The cross-process stage, run by one replica while the others wait: sums the local result over the workers in
    /// rank order, then divides by the global replica count for a mean. Nothing without a communicator. A signature
    /// met for the first time is first checked across the workers.
    /// </summary>
    private void CrossWorkerStage<T>(CollectiveCall call, T[] shared, int length, ReduceOp op)
        where T : unmanaged, INumber<T>
    {
        if (crossWorkers is null) return;
        if (crossWorkers.Size > 1)
        {
            signatures?.Verify(call.Kind, typeof(T), length, call.Detail);
            if (shared is float[] f) crossWorkers.AllReduceSum(f, length);
            else if (shared is double[] d) crossWorkers.AllReduceSum(d, length);
            else throw new NotSupportedException($"Cross-worker collectives support float32 and float64 buffers, not {typeof(T).Name}.");
        }
        if (op == ReduceOp.Mean) TensorPrimitives.Divide(shared.AsSpan(0, length), T.CreateChecked(globalSize), shared.AsSpan(0, length));
    }

    /// <summary>result[start..start+count) = (Σ_r in replica order inputs[r][...]) (/ size for a mean without workers).</summary>
    private void ReduceRange<T>(Array?[] snapshot, T[] shared, int start, int count, ReduceOp op)
        where T : unmanaged, INumber<T>
    {
        if (count == 0) return;
        var dst = shared.AsSpan(start, count);
        ((T[])snapshot[0]!).AsSpan(start, count).CopyTo(dst);
        for (int r = 1; r < size; r++) TensorPrimitives.Add(dst, ((T[])snapshot[r]!).AsSpan(start, count), dst);
        // With workers, the mean divides once, after the cross-worker sum.
        if (op == ReduceOp.Mean && crossWorkers is null) TensorPrimitives.Divide(dst, T.CreateChecked(size), dst);
    }

    /// <summary>
    /// The barrier. Returns, for a reduction, the shared result array and the snapshot of the posted buffers; throws if
    /// the group is closed or faulted, the calls differ, or the wait times out.
    /// </summary>
    /// <remarks>
    /// A collective whose barrier completed delivers its result even if another replica fails before this one wakes
    /// up; the failure is reported at this replica's next collective. So what a replica sees does not depend on timing.
    /// </remarks>
    private (Array? Result, Array?[]? Inputs) Arrive(int replica, CollectiveCall call, Array? buffer, Mode mode,
        Action<Array?[], Array>? inlineReduce)
    {
        long gen;
        long start = Stopwatch.GetTimestamp(); // monotonic: a clock change cannot cut the wait short or prolong it
        lock (gate)
        {
            // A fault first: a replica that was stuck when its Run ended learns why the Run failed.
            ThrowIfFaulted(replica, call, waiting: false);
            ThrowIfClosed(replica, call);
            if (present[replica])
            {
                var overlap = new InvalidOperationException(
                    $"Replica {replica} {call} while it is already in another collective (it {calls[replica]}): a replica's " +
                    "collectives must be made one at a time, from one thread.");
                FailLocked(replica, overlap, FaultKind.ReplicaError);
                throw overlap;
            }

            gen = generation;
            calls[replica] = call;
            posted[replica] = buffer;
            present[replica] = true;
            if (++arrived == size) return CompleteGeneration(replica, call, mode, inlineReduce);
            if (mode == Mode.Leave) return default;
        }

        SpinBriefly(gen);

        lock (gate)
        {
            // Wait for the others (unless the spin already saw the generation end).
            while (generation == gen)
            {
                ThrowIfFaulted(replica, call, waiting: true);
                if (closed) throw new InvalidOperationException($"Replica {replica} {call}, but its Run has ended.");
                int waitMs = RemainingMilliseconds(start);
                if (waitMs == 0 || !Monitor.Wait(gate, waitMs))
                {
                    if (generation != gen || fault is not null || RemainingMilliseconds(start) != 0) continue;
                    var error = TimeoutError(replica, call);
                    FailLocked(replica, error, FaultKind.Timeout);
                    throw error;
                }
            }
            // The generation completed, or the last arrival found a mismatch (which also ends the generation).
            if (fault is not null && faultGeneration == gen) ThrowIfFaulted(replica, call, waiting: false);
            return mode is Mode.ReduceInline or Mode.ReduceChunked ? (result, inputs) : default;
        }
    }

    /// <summary>
    /// How long a waiting replica polls for the end of its generation before it blocks in
    /// <see cref="Monitor.Wait(object, int)"/> when every replica can have a core of its own: 1 ms, in Stopwatch ticks.
    /// </summary>
    /// <remarks>
    /// Waking a blocked thread (a futex wake-up and a reschedule) costs far more than a small collective such as
    /// SyncBatchNormalization's moments; a replica still polling when the last one arrives goes on at once. With a core per replica the poll only spends time that core would otherwise idle, and a
    /// millisecond lets a replica that reaches one of a training step's collectives early usually go on without being
    /// woken. After its first iterations <see cref="SpinWait"/> yields the core.
    /// </remarks>
    private static readonly long SpinTicks = Stopwatch.Frequency / 1000;

    /// <summary>
    /// The poll's budget when the process has fewer cores than replicas (an oversubscribed machine, or a process bound to
    /// fewer cores, as mpirun binds each rank by default): 50 µs, so that a waiting replica soon hands its core to the
    /// thread being waited for.
    /// </summary>
    private static readonly long SharedCoreSpinTicks = Stopwatch.Frequency * 50 / 1_000_000;

    /// <summary>How long the poll first spins without yielding (2 µs in ticks), when every replica can have a core of its own.</summary>
    /// <remarks>
    /// A yield may hand the core to another process, so a rendezvous is faster with this phase when every replica has a
    /// core (BENCHMARKS.md, "Multi-process collectives", 2 local replicas per rank); when the process is bound to fewer cores than it has replicas,
    /// spinning without yielding only delays the thread being waited for, so the phase is then skipped.
    /// </remarks>
    private static readonly long BusySpinTicks = Stopwatch.Frequency * 2 / 1_000_000;

    /// <summary>Polls, without the lock, until generation <paramref name="gen"/> ends, the group fails or closes, or the budget (<see cref="SpinTicks"/> or <see cref="SharedCoreSpinTicks"/>) passes.</summary>
    private void SpinBriefly(long gen)
    {
        long now = Stopwatch.GetTimestamp();
        // Environment.ProcessorCount honours the process's CPU affinity (mpirun's binding).
        bool ownCores = Environment.ProcessorCount >= size;
        long deadline = now + (ownCores ? SpinTicks : SharedCoreSpinTicks);
        long busyUntil = ownCores ? now + BusySpinTicks : now;
        var spinner = new SpinWait();
        while (Volatile.Read(ref generation) == gen && Volatile.Read(ref fault) is null && !Volatile.Read(ref closed))
        {
            now = Stopwatch.GetTimestamp();
            if (now >= deadline) return;
            if (now < busyUntil) Thread.SpinWait(1);
            // sleep1Threshold -1: yields (Sleep(0)/Yield) but never Sleep(1), which would overshoot the budget.
            else spinner.SpinOnce(sleep1Threshold: -1);
        }
    }

    /// <summary>Called under the lock by the last replica to arrive.</summary>
    private (Array? Result, Array?[]? Inputs) CompleteGeneration(int replica, CollectiveCall call, Mode mode,
        Action<Array?[], Array>? inlineReduce)
    {
        var mismatch = FindMismatch();
        arrived = 0;
        Array.Clear(present);
        var snapshot = (Array?[])posted.Clone();
        Array.Clear(posted);
        if (mismatch is not null)
        {
            FailLocked(replica, mismatch, FaultKind.Mismatch);
            generation++;
            throw mismatch;
        }

        if (mode is Mode.ReduceInline or Mode.ReduceChunked)
        {
            collectivesCompleted++;
            inputs = snapshot;
            if (globalSize > 1)
            {
                result = ResultBuffer(call.ElementType, call.Length);
                RunStage(replica, inlineReduce, snapshot, result);
            }
        }
        else if (mode == Mode.Barrier && inlineReduce is not null)
        {
            // The second barrier of a chunked reduction with workers: the local chunks are complete; the cross-worker stage.
            RunStage(replica, inlineReduce, snapshot, result!);
        }
        generation++;
        Monitor.PulseAll(gate);
        return mode is Mode.ReduceInline or Mode.ReduceChunked ? (result, snapshot) : default;
    }

    /// <summary>Runs a stage under the lock; a failure faults the group, so nobody waits for a generation that will not complete.</summary>
    private void RunStage(int replica, Action<Array?[], Array>? stage, Array?[] snapshot, Array result)
    {
        if (stage is null) return;
        try
        {
            stage(snapshot, result);
        }
        catch (Exception e)
        {
            FailLocked(replica, e, FaultKind.ReplicaError);
            generation++;
            throw;
        }
    }

    /// <summary>The shared result array for <paramref name="elementType"/>, grown to at least <paramref name="length"/>.</summary>
    private Array ResultBuffer(Type elementType, int length)
    {
        if (!resultBuffers.TryGetValue(elementType, out var buffer) || buffer.Length < length)
            resultBuffers[elementType] = buffer = Array.CreateInstance(elementType, Math.Max(length, 16));
        return buffer;
    }

    /// <summary>Milliseconds left before the timeout, as an argument for <see cref="Monitor.Wait(object, int)"/> (-1: infinite).</summary>
    private int RemainingMilliseconds(long start)
    {
        if (timeout == Timeout.InfiniteTimeSpan) return Timeout.Infinite;
        var left = timeout - Stopwatch.GetElapsedTime(start);
        if (left <= TimeSpan.Zero) return 0;
        // Round up, so a wait never ends just before the deadline; cap at int.MaxValue - 1 (about 24.8 days per wait).
        double ms = Math.Ceiling(left.TotalMilliseconds);
        return ms >= int.MaxValue ? int.MaxValue - 1 : Math.Max(1, (int)ms);
    }

    /// <summary>The replicas that had not arrived in the collective that timed out (they were absent for the whole timeout); empty otherwise.</summary>
    public IReadOnlyList<int> TimedOutAbsentReplicas
    {
        get
        {
            lock (gate) return timedOutAbsent;
        }
    }

    private int[] timedOutAbsent = [];

    /// <summary>The collective timeout of this group.</summary>
    public TimeSpan CollectiveTimeout => timeout;

    private TimeoutException TimeoutError(int replica, CollectiveCall call)
    {
        var missing = Enumerable.Range(0, size).Where(r => !present[r]).ToArray();
        if (fault is null) timedOutAbsent = missing;
        var waiting = Enumerable.Range(0, size).Where(r => present[r])
            .Select(r => $"replica {r} {calls[r]}");
        return new TimeoutException(
            $"Collective timed out after {timeout}: replica {replica} {call}, but replicas [{string.Join(", ", missing)}] " +
            $"never arrived ({string.Join("; ", waiting)}). A replica is stuck or much slower than the others, or " +
            "skipped a collective that the others called; raise collectiveTimeout if it is just slow.");
    }

    private CollectiveMismatchException? FindMismatch()
    {
        for (int r = 1; r < size; r++)
        {
            if (calls[r] != calls[0])
                return new CollectiveMismatchException(
                    $"Replicas made different collective calls: replica 0 {calls[0]}, but replica {r} {calls[r]}. " +
                    "Every replica must call the same collectives, in the same order, with the same shapes.");
        }
        return null;
    }

    private void FailLocked(int replica, Exception error, FaultKind kind)
    {
        if (fault is null)
        {
            fault = error;
            faultKind = kind;
            faultReplica = replica;
            faultGeneration = generation;
        }
        Monitor.PulseAll(gate);
    }

    /// <summary>
    /// Throws if the group failed: every replica sees a mismatch as a mismatch; a replica that was waiting in the
    /// collective that timed out sees a timeout; anything else is reported as <see cref="ReplicaFailedException"/>
    /// with the original failure inside.
    /// </summary>
    private void ThrowIfFaulted(int replica, CollectiveCall call, bool waiting)
    {
        if (fault is null) return;
        switch (faultKind)
        {
            case FaultKind.Mismatch:
                throw new CollectiveMismatchException(fault.Message);
            case FaultKind.Timeout when waiting:
                throw new TimeoutException(fault.Message, fault);
            case FaultKind.Timeout:
                throw new ReplicaFailedException(
                    $"Replica {replica} {call} after the group failed: {fault.Message}", fault) { FailedReplicaId = faultReplica };
            default:
                throw new ReplicaFailedException(
                    $"Replica {replica} {call}, but replica {faultReplica} failed with {fault.GetType().Name}: {fault.Message}", fault)
                { FailedReplicaId = faultReplica };
        }
    }
}
