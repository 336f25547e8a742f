using System.Numerics;
using TfSyncBN.Tensors;

namespace TfSyncBN.Distribute;

/// <summary>
/// One replica's view of a running strategy: its id and the collectives it shares with the other replicas
/// (<c>tf.distribute.ReplicaContext</c>).
/// </summary>
/// <remarks>
/// Collectives are calls that every replica must make, in the same order, with the same shapes. A replica that
/// calls a different one, or fails, makes the others fail promptly instead of waiting forever.
/// </remarks>
public sealed class ReplicaContext
{
    private readonly CollectiveGroup? group;

    internal ReplicaContext(Strategy strategy, int replicaId, CollectiveGroup? group)
    {
        Strategy = strategy;
        ReplicaId = replicaId;
        this.group = group;
    }

    /// <summary>
    /// The replica context of the calling code (<c>tf.distribute.get_replica_context()</c>): inside
    /// <see cref="Strategy.Run{T}"/>, that replica's; in cross-replica code (inside a strategy's scope), null; outside any
    /// strategy, the default strategy's single replica.
    /// </summary>
    public static ReplicaContext? Current =>
        Strategy.CurrentReplica ?? (Strategy.InCrossReplicaContext ? null : ((DefaultStrategy)Strategy.Default).Context);

    /// <summary>The strategy this replica belongs to.</summary>
    public Strategy Strategy { get; }

    /// <summary>This replica's id, from 0 to <see cref="NumReplicasInSync"/> - 1.</summary>
    public int ReplicaId { get; }

    /// <summary>The number of replicas running in lockstep.</summary>
    public int NumReplicasInSync => group?.Size ?? 1;

    /// <summary>
    /// Returns the element-wise sum (or mean) of <paramref name="value"/> over all replicas; every replica receives the
    /// same bits. The gradient of the result is the same all-reduce of the upstream gradient.
    /// </summary>
    /// <exception cref="ArgumentNullException"><paramref name="value"/> is null.</exception>
    /// <exception cref="CollectiveMismatchException">Another replica called a different collective or passed another shape.</exception>
    /// <exception cref="ReplicaFailedException">Another replica failed while this one waited.</exception>
    public Tensor AllReduce(ReduceOp op, Tensor value)
    {
        ArgumentNullException.ThrowIfNull(value);
        if (group is null) return value;
        var result = Tensor.FromArray(value.Data, value.ShapeArray);
        AllReduceInPlace(op, result.Data, "AllReduce", Tensor.ShapeString(value.ShapeArray));
        GradientTape.Record(result, [value], (dy, _) =>
        {
            var dx = Tensor.FromArray(dy.Data, dy.ShapeArray);
            AllReduceInPlace(op, dx.Data, "AllReduce gradient", Tensor.ShapeString(dy.ShapeArray));
            return [dx];
        });
        return result;
    }

    /// <summary>
    /// All-reduces several tensors in one collective (one fused buffer), returning the results in order.
    /// </summary>
    /// <exception cref="ArgumentNullException"><paramref name="values"/> or one of its entries is null.</exception>
    /// <exception cref="CollectiveMismatchException">Another replica called a different collective or passed other shapes.</exception>
    /// <exception cref="ReplicaFailedException">Another replica failed while this one waited.</exception>
    public IReadOnlyList<Tensor> AllReduce(ReduceOp op, IReadOnlyList<Tensor> values)
    {
        ArgumentNullException.ThrowIfNull(values);
        for (int i = 0; i < values.Count; i++)
        {
            if (values[i] is null) throw new ArgumentNullException(nameof(values), $"values[{i}] is null.");
        }
        if (group is null || values.Count == 0) return values.ToArray();
        var flat = Tensor.Concat(values.Select(v => v.Reshape([-1])).ToArray(), 0);
        var reduced = AllReduce(op, flat);
        var results = new Tensor[values.Count];
        int offset = 0;
        for (int i = 0; i < results.Length; i++)
        {
            results[i] = reduced.Slice(0, offset, values[i].Size).Reshape(values[i].ShapeArray);
            offset += values[i].Size;
        }
        return results;
    }

    /// <summary>Sums (or averages) a raw buffer across replicas in place; for layers that fuse their own collectives.</summary>
    internal void AllReduceInPlace<T>(ReduceOp op, T[] buffer, string kind, string detail = "", int length = -1)
        where T : unmanaged, INumber<T>
    {
        if (group is null) return;
        group.AllReduce(ReplicaId, op, buffer, length < 0 ? buffer.Length : length, kind, detail);
    }

    /// <summary>Whether collectives actually communicate (more than one replica).</summary>
    internal bool IsDistributed => group is not null && group.Size > 1;

    internal CollectiveGroup? Group => group;
}
