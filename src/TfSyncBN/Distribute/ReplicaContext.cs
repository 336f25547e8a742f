using System.Numerics;
using TfSyncBN.Tensors;

namespace TfSyncBN.Distribute;

/// <summary>
/// One replica's view of a running strategy: its id and the collectives it shares with the other replicas
/// (<c>tf.distribute.ReplicaContext</c>).
/// </summary>
/// <remarks>
/// <para>Collectives are calls that every replica must make, in the same order, with the same shapes. A replica that
/// calls a different one, returns without calling it, or fails, makes the others fail promptly instead of waiting
/// forever; a replica that does not arrive within the strategy's collective timeout makes them fail with a
/// <see cref="TimeoutException"/>.</para>
/// <para>Results are deterministic: element-wise sums in replica order (then divided by the replica count for a mean),
/// identical in every bit on every replica and from run to run. A tensor on a device is copied to host memory, reduced
/// there, and the result copied back to the tensor's device.</para>
/// <para>A context is valid only inside its own <see cref="Strategy.Run{T}"/>, on its replica's thread.</para>
/// </remarks>
public sealed class ReplicaContext : IReplica
{
    private readonly CollectiveGroup? group;

    /// <param name="strategy">The strategy.</param>
    /// <param name="replicaId">The global replica id.</param>
    /// <param name="group">The collective group of this process's replicas, or null for the default strategy.</param>
    /// <param name="localReplicaIndex">The index among this process's replicas (equal to the id in one process).</param>
    /// <param name="device">The device the replica runs on.</param>
    internal ReplicaContext(Strategy strategy, int replicaId, CollectiveGroup? group, int localReplicaIndex = -1, Device device = default)
    {
        Device = device;
        Strategy = strategy;
        ReplicaId = replicaId;
        LocalReplicaIndex = localReplicaIndex < 0 ? replicaId : localReplicaIndex;
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

    /// <summary>This replica's id, from 0 to <see cref="NumReplicasInSync"/> - 1; global over all workers of a multi-worker strategy.</summary>
    public int ReplicaId { get; }

    /// <summary>The number of replicas running in lockstep, over all workers.</summary>
    public int NumReplicasInSync => group?.GlobalSize ?? 1;

    /// <summary>
    /// The device this replica runs on: its mirrored variables' copies live there, and its inputs should be moved there
    /// (<see cref="Tensor.To"/>); <c>cpu</c> unless the strategy was created with a device list.
    /// </summary>
    public Device Device { get; }

    /// <summary>This replica's index among the replicas of its own process (its copy of a mirrored variable).</summary>
    internal int LocalReplicaIndex { get; }

    /// <summary>
    /// Returns the element-wise sum (or mean) of <paramref name="value"/> over all replicas; every replica receives the
    /// same bits. The gradient of the result is the same all-reduce of the upstream gradient.
    /// </summary>
    /// <exception cref="ArgumentNullException"><paramref name="value"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="op"/> is neither Sum nor Mean.</exception>
    /// <exception cref="CollectiveMismatchException">Another replica called a different collective or passed another shape.</exception>
    /// <exception cref="ReplicaFailedException">Another replica failed while this one waited.</exception>
    /// <exception cref="TimeoutException">Another replica did not arrive within the collective timeout.</exception>
    /// <exception cref="InvalidOperationException">The context's Run has finished, or this replica is already in a collective.</exception>
    public Tensor AllReduce(ReduceOp op, Tensor value)
    {
        ArgumentNullException.ThrowIfNull(value);
        CollectiveGroup.CheckOp(op, nameof(op));
        if (group is null) return value;
        return AllReduceCore(op, value, Tensor.ShapeString(value.ShapeArray));
    }

    private Tensor AllReduceCore(ReduceOp op, Tensor value, string detail)
    {
        // ToArray is the copy to host memory that the collective reduces in place; the result takes the array (for a
        // device tensor, the reduced array goes back to the device: the all-reduce is staged through the host).
        var values = value.ToArray();
        AllReduceInPlace(op, values, "AllReduce", detail);
        var result = OnDevice(values, value.ShapeArray, value.Device);
        GradientTape.Record(result, [value], (dy, _) =>
        {
            var grad = dy.ToArray();
            AllReduceInPlace(op, grad, "AllReduce gradient", detail);
            return [OnDevice(grad, dy.ShapeArray, dy.Device)];
        });
        return result;
    }

    private static Tensor OnDevice(float[] values, int[] shape, Device device) =>
        device.IsHost ? new Tensor(values, shape) : new Tensor(Backends.For(device).Upload(values), shape);

    /// <summary>
    /// All-reduces several tensors in one collective (one fused buffer), returning the results in order.
    /// </summary>
    /// <remarks>
    /// The tensors are flattened into one buffer, all-reduced once, and split again, so they cost one collective
    /// however many there are; every replica must pass the same number of tensors with the same shapes. An empty list
    /// makes no collective. The gradient flows back to each tensor.
    /// </remarks>
    /// <exception cref="ArgumentNullException"><paramref name="values"/> or one of its entries is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="op"/> is neither Sum nor Mean.</exception>
    /// <exception cref="CollectiveMismatchException">Another replica called a different collective or passed other shapes.</exception>
    /// <exception cref="ReplicaFailedException">Another replica failed while this one waited.</exception>
    /// <exception cref="TimeoutException">Another replica did not arrive within the collective timeout.</exception>
    /// <exception cref="InvalidOperationException">The context's Run has finished, or this replica is already in a collective.</exception>
    public IReadOnlyList<Tensor> AllReduce(ReduceOp op, IReadOnlyList<Tensor> values)
    {
        ArgumentNullException.ThrowIfNull(values);
        for (int i = 0; i < values.Count; i++)
        {
            if (values[i] is null) throw new ArgumentNullException(nameof(values), $"values[{i}] is null.");
        }
        CollectiveGroup.CheckOp(op, nameof(op));
        if (group is null || values.Count == 0) return values.ToArray();
        if (values.Any(v => !v.Device.IsHost))
        {
            // Staged through the host: one fused collective there, each result back on its tensor's device.
            var staged = AllReduce(op, values.Select(v => v.To(Device.Cpu)).ToArray());
            return [.. staged.Select((t, i) => t.To(values[i].Device))];
        }
        var flat = Tensor.Concat(values.Select(v => v.Reshape([-1])).ToArray(), 0);
        var shapes = values.Count == 1
            ? Tensor.ShapeString(values[0].ShapeArray)
            : $"{values.Count} tensors " + string.Join(" ", values.Select(v => Tensor.ShapeString(v.ShapeArray)));
        var reduced = AllReduceCore(op, flat, shapes);
        var results = new Tensor[values.Count];
        int offset = 0;
        for (int i = 0; i < results.Length; i++)
        {
            results[i] = reduced.Slice(0, offset, values[i].Size).Reshape(values[i].ShapeArray);
            offset += values[i].Size;
        }
        return results;
    }

    /// <summary>
    /// Sums (or averages) <paramref name="buffer"/>[0..<paramref name="length"/>) across replicas in place (the whole
    /// buffer when <paramref name="length"/> is negative); for layers that fuse their own collectives. float and double only.
    /// </summary>
    internal void AllReduceInPlace<T>(ReduceOp op, T[] buffer, string kind, string detail = "", int length = -1)
        where T : unmanaged, INumber<T>
    {
        if (group is null) return;
        group.AllReduce(LocalReplicaIndex, op, buffer, length < 0 ? buffer.Length : length, kind, detail);
    }

    /// <summary>Whether collectives actually communicate (more than one replica).</summary>
    internal bool IsDistributed => group is not null && group.GlobalSize > 1;

    bool ICollective.IsDistributed => IsDistributed;

    void ICollective.SumInPlace(double[] buffer, string kind, string detail) => AllReduceInPlace(ReduceOp.Sum, buffer, kind, detail);

    internal CollectiveGroup? Group => group;
}
