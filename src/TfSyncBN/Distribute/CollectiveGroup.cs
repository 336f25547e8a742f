using System.Numerics;
using System.Numerics.Tensors;

namespace TfSyncBN.Distribute;

/// <summary>What one replica asked of a collective; all replicas must ask the same.</summary>
internal readonly record struct CollectiveCall(string Kind, ReduceOp Op, Type ElementType, int Length, string Detail)
{
    public static readonly CollectiveCall EndOfRun = new("end of Run", ReduceOp.Sum, typeof(void), 0, "");

    public override string ToString() => this == EndOfRun
        ? "finished its Run function"
        : $"called {Kind}({Op}, {(ElementType == typeof(float) ? "float32" : "float64")}[{Length}]{(Detail.Length > 0 ? ", " + Detail : "")})";
}

/// <summary>
/// The replicas of one <see cref="Strategy.Run{T}"/> call in one process: a rendezvous plus a deterministic all-reduce.
/// </summary>
/// <remarks>
/// <para>Determinism: after every replica has posted its buffer, replica r sums the r-th chunk of the elements over
/// replicas 0..R-1 in that order into a shared result, and every replica copies the same result. The bits therefore
/// depend only on the inputs, never on thread timing.</para>
/// <para>Faults: a replica that throws, a mismatched call or a timeout faults the group; every replica waiting in it,
/// or arriving later, throws at once. A group is used for one Run only.</para>
/// </remarks>
internal sealed class CollectiveGroup
{
    private readonly int size;
    private readonly TimeSpan timeout;
    private readonly object gate = new();
    private readonly Array?[] posted;
    private readonly CollectiveCall[] calls;
    private readonly bool[] present;
    private readonly Array?[] results = new Array?[2];
    internal const int InlineReduceLimit = 1 << 14;
    internal long CollectivesCompleted;
    private int arrived;
    private long generation;
    private Exception? fault;
    private int faultReplica = -1;

    public CollectiveGroup(int size, TimeSpan timeout)
    {
        this.size = size;
        this.timeout = timeout;
        posted = new Array?[size];
        calls = new CollectiveCall[size];
        present = new bool[size];
    }

    public int Size => size;

    /// <summary>The first failure, or null.</summary>
    public Exception? Fault => Volatile.Read(ref fault);

    public int FaultReplica => faultReplica;

    /// <summary>Marks the group failed by <paramref name="replica"/> and releases everyone waiting. Only the first failure is kept.</summary>
    public void Fail(int replica, Exception error)
    {
        lock (gate)
        {
            if (fault is null)
            {
                fault = error;
                faultReplica = replica;
            }
            Monitor.PulseAll(gate);
        }
    }

    /// <summary>Waits until every replica has called, checking that all made the same call.</summary>
    public void Rendezvous(int replica, CollectiveCall call) => Arrive(replica, call, null, 0);

    /// <summary>
    /// Replaces <paramref name="buffer"/>[0..<paramref name="length"/>) on every replica with the element-wise sum
    /// (or mean) of all replicas' buffers, identical in every bit on every replica.
    /// </summary>
    public void AllReduce<T>(int replica, ReduceOp op, T[] buffer, int length, string kind, string detail)
        where T : unmanaged, INumber<T>
    {
        var call = new CollectiveCall(kind, op, typeof(T), length, detail);
        long gen = Arrive(replica, call, buffer, length);
        if (size == 1) return;

        // Phase 2: each replica reduces its own chunk, in replica order, into the result of this generation's parity.
        var result = (T[])results[gen & 1]!;
        int start = (int)((long)length * replica / size), end = (int)((long)length * (replica + 1) / size);
        var dst = result.AsSpan(start, end - start);
        ((T[])posted[0]!).AsSpan(start, end - start).CopyTo(dst);
        for (int r = 1; r < size; r++) TensorPrimitives.Add(dst, ((T[])posted[r]!).AsSpan(start, end - start), dst);
        if (op == ReduceOp.Mean) TensorPrimitives.Divide(dst, T.CreateChecked(size), dst);

        // Phase 3: once every chunk is done, everyone copies the whole result.
        Arrive(replica, call, null, 0);
        result.AsSpan(0, length).CopyTo(buffer);
    }

    /// <summary>The barrier: returns the generation it completed; throws if the group faulted or the calls differ.</summary>
    private long Arrive(int replica, CollectiveCall call, Array? buffer, int length)
    {
        lock (gate)
        {
            ThrowIfFaulted(replica);
            long gen = generation;
            calls[replica] = call;
            posted[replica] = buffer;
            present[replica] = true;
            if (++arrived == size)
            {
                arrived = 0;
                Array.Clear(present);
                generation++;
                var mismatch = FindMismatch();
                if (mismatch is not null)
                {
                    Fail(replica, mismatch);
                    throw mismatch;
                }
                if (buffer is not null) { PrepareResult(gen, buffer, length); CollectivesCompleted++; }
                Monitor.PulseAll(gate);
                return gen;
            }

            var deadline = DateTime.UtcNow + timeout;
            while (generation == gen)
            {
                ThrowIfFaulted(replica);
                var left = deadline - DateTime.UtcNow;
                if (left <= TimeSpan.Zero || !Monitor.Wait(gate, left.TotalMilliseconds > int.MaxValue ? Timeout.InfiniteTimeSpan : left))
                {
                    if (generation != gen) break;
                    var missing = string.Join(", ", Enumerable.Range(0, size).Where(r => !present[r]));
                    var error = new TimeoutException(
                        $"Replica {replica} {call} and waited {timeout} for replicas [{missing}], which never arrived: " +
                        "a replica is stuck, or skipped a collective that the others called.");
                    Fail(replica, error);
                    throw error;
                }
            }
            ThrowIfFaulted(replica);
            return gen;
        }
    }

    private void PrepareResult(long gen, Array buffer, int length)
    {
        ref var slot = ref results[gen & 1];
        if (slot is null || slot.Length < length) slot = Array.CreateInstance(buffer.GetType().GetElementType()!, Math.Max(length, 16));
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

    private void ThrowIfFaulted(int replica)
    {
        if (fault is null) return;
        if (faultReplica == replica && fault is CollectiveMismatchException or TimeoutException) throw fault;
        throw fault is CollectiveMismatchException m
            ? new CollectiveMismatchException(m.Message)
            : new ReplicaFailedException(
                $"Replica {replica} stopped because replica {faultReplica} failed: {fault.Message}", fault) { FailedReplicaId = faultReplica };
    }
}
