using System.Runtime.CompilerServices;

namespace TfSyncBN.Tensors;

/// <summary>How the copies of a mirrored variable are combined when cross-replica code reads it (<c>tf.VariableAggregation</c>).</summary>
public enum VariableAggregation
{
    /// <summary>Cross-replica reads return the first replica's copy.</summary>
    None,

    /// <summary>Cross-replica reads return the element-wise mean of all copies (used for moving statistics).</summary>
    Mean,

    /// <summary>Cross-replica reads return the element-wise sum of all copies.</summary>
    Sum,
}

/// <summary>
/// A named, mutable tensor-valued state such as a layer weight (<c>tf.Variable</c>).
/// </summary>
/// <remarks>
/// <para>A variable created while a multi-replica strategy is current (inside its <c>Scope()</c> or its
/// <c>Run</c>) is mirrored: it holds one copy per replica. Inside <c>Run</c> each replica reads and
/// writes its own copy; cross-replica code reads according to <see cref="Aggregation"/> and writes every copy. When the
/// strategy places replicas on devices, each copy lives on its replica's device: a value written to a copy is moved there
/// (<see cref="Tensor.To"/>), and a <see cref="VariableAggregation.Mean"/> or <see cref="VariableAggregation.Sum"/> read
/// in cross-replica code combines the copies on the host.</para>
/// <para>Reads of a trainable variable are recorded by an active <see cref="GradientTape"/>.</para>
/// </remarks>
public sealed class Variable : ITensorLike
{
    private readonly Tensor[] copies;
    private readonly IMirroringStrategy? strategy;
    private readonly int[] shape;

    /// <summary>Creates a variable holding <paramref name="initialValue"/>, mirrored if a multi-replica strategy is current.</summary>
    /// <param name="initialValue">The initial value; it also fixes the shape.</param>
    /// <param name="name">A name for messages and configs; "Variable" when omitted.</param>
    /// <param name="trainable">Whether optimizers update it and tapes watch it automatically.</param>
    /// <param name="aggregation">How cross-replica reads combine the copies.</param>
    /// <param name="weightConstraint">A projection applied by optimizers after each update (Keras <c>constraint</c>), or null.</param>
    /// <exception cref="ArgumentNullException"><paramref name="initialValue"/> is null.</exception>
    public Variable(Tensor initialValue, string? name = null, bool trainable = true,
        VariableAggregation aggregation = VariableAggregation.None, Func<Tensor, Tensor>? weightConstraint = null)
    {
        ArgumentNullException.ThrowIfNull(initialValue);
        Name = name ?? "Variable";
        Trainable = trainable;
        Aggregation = aggregation;
        Constraint = weightConstraint;
        shape = initialValue.ShapeArray;
        strategy = Replication.CurrentMirroringStrategy;
        copies = new Tensor[strategy?.LocalReplicaCount ?? 1]; // a multi-worker strategy's other workers hold their own
        var initial = strategy?.AgreeOnInitialValue(initialValue) ?? initialValue;
        if (strategy is { PlacesOnDevices: true })
        {
            devices = new Device[copies.Length];
            for (int r = 0; r < copies.Length; r++)
            {
                devices[r] = strategy.ReplicaDevice(r);
                using (GradientTape.Pause()) copies[r] = Own(initial.To(devices[r]));
            }
        }
        else
        {
            copies.AsSpan().Fill(Own(initial));
        }
    }

    /// <summary>The device of each copy when the strategy places replicas on devices, else null (every copy on the host).</summary>
    private readonly Device[]? devices;

    /// <summary>The value to store as copy <paramref name="replica"/>: on that copy's device.</summary>
    private Tensor Place(Tensor value, int replica)
    {
        if (devices is null) return value;
        using (GradientTape.Pause()) return value.To(devices[replica]);
    }

    /// <summary>The variable's name.</summary>
    public string Name { get; }

    /// <summary>Whether optimizers update it and tapes watch it automatically.</summary>
    public bool Trainable { get; }

    /// <summary>How cross-replica reads combine the copies.</summary>
    public VariableAggregation Aggregation { get; }

    /// <summary>The projection optimizers apply after each update, or null.</summary>
    public Func<Tensor, Tensor>? Constraint { get; }

    /// <summary>The shape, fixed at creation.</summary>
    public IReadOnlyList<int> Shape => Array.AsReadOnly(shape);

    /// <summary>The strategy this variable is mirrored over (a <c>Strategy</c> such as <c>MirroredStrategy</c>), or null when it has a single copy.</summary>
    public IDistributionStrategy? Strategy => strategy;

    /// <summary>Every replica's copy, in replica order (one entry when not mirrored); under a multi-worker strategy, this process's replicas only.</summary>
    public IReadOnlyList<Tensor> Replicas
    {
        get
        {
            foreach (var copy in copies) Escape(copy);
            return Array.AsReadOnly(copies);
        }
    }

    /// <summary>
    /// The current value: this replica's copy inside <c>Run</c>; in cross-replica code, the copies combined by <see cref="Aggregation"/>.
    /// </summary>
    /// <remarks>
    /// Each read is a new tensor object (sharing the immutable elements), so that a tape tells this variable's reads
    /// apart from the tensor it was assigned or initialized from, and from other variables holding the same tensor.
    /// A value read inside a <see cref="TensorScope"/> is valid until that scope is disposed (see its contract); one read
    /// outside any scope stays valid for good.
    /// </remarks>
    public Tensor Value
    {
        get
        {
            var stored = Read();
            if (!TensorScope.IsActive) Escape(stored);
            var value = stored.ShareStorage(stored.ShapeArray);
            GradientTape.OnVariableRead(this, value);
            return value;
        }
    }

    /// <inheritdoc/>
    public Tensor ToTensor() => Value;

    private Tensor Read()
    {
        if (strategy is null) return copies[0];
        int replica = strategy.CurrentReplicaId;
        if (replica >= 0) return copies[replica];
        // Copies on devices are combined on the host (a sync point), in replica order.
        var hostCopies = devices is null || Aggregation == VariableAggregation.None ? copies : Array.ConvertAll(copies, c => c.To(Device.Cpu));
        return Aggregation switch
        {
            VariableAggregation.Mean => Kernels.Elementwise.MeanOf(hostCopies),
            VariableAggregation.Sum => Kernels.Elementwise.SumOf(hostCopies),
            _ => copies[0],
        };
    }

    /// <summary>Replaces the value: this replica's copy inside <c>Run</c>, every copy in cross-replica code.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="value"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="value"/> does not have this variable's shape.</exception>
    /// <exception cref="InvalidOperationException">The caller is one of several replicas of a strategy's Run, and the variable is
    /// not mirrored, or mirrored over another strategy (the replicas would race writing every copy).</exception>
    public void Assign(Tensor value)
    {
        ArgumentNullException.ThrowIfNull(value);
        if (!Tensor.SameShape(value.ShapeArray, shape))
            throw new ArgumentException($"Cannot assign a value of shape {Tensor.ShapeString(value.ShapeArray)} to variable '{Name}' of shape {Tensor.ShapeString(shape)}.", nameof(value));
        Update(_ => value);
    }

    /// <summary>Adds <paramref name="delta"/> to the value, with the replica rules of <see cref="Assign"/>.</summary>
    /// <exception cref="ArgumentException"><paramref name="delta"/> does not have this variable's shape.</exception>
    /// <exception cref="InvalidOperationException">The caller is one of several replicas of a Run, and the variable is not mirrored, or mirrored over another strategy.</exception>
    public void AssignAdd(Tensor delta)
    {
        ArgumentNullException.ThrowIfNull(delta);
        Update(current => CheckedSum(current, delta));
    }

    /// <summary>Subtracts <paramref name="delta"/> from the value, with the replica rules of <see cref="Assign"/>.</summary>
    /// <exception cref="ArgumentException"><paramref name="delta"/> does not have this variable's shape.</exception>
    /// <exception cref="InvalidOperationException">The caller is one of several replicas of a Run, and the variable is not mirrored, or mirrored over another strategy.</exception>
    public void AssignSub(Tensor delta)
    {
        ArgumentNullException.ThrowIfNull(delta);
        using (GradientTape.Pause()) AssignAdd(-delta);
    }

    /// <summary>Applies <paramref name="update"/> to this replica's copy inside <c>Run</c>, or to every copy in cross-replica code.</summary>
    private void Update(Func<Tensor, Tensor> update)
    {
        if (strategy is null)
        {
            if (Replication.CurrentDistributedReplica is { } ctx)
                throw new InvalidOperationException(
                    $"Variable '{Name}' has a single copy, but replica {ctx.ReplicaId} of {ctx.NumReplicasInSync} is writing it, so the replicas would race. " +
                    "Create it (or build its layer) inside strategy.Scope() or strategy.Run so that it is mirrored.");
            copies[0] = Own(update(copies[0]));
            return;
        }
        int replica = strategy.CurrentReplicaId;
        if (replica >= 0)
        {
            copies[replica] = Own(Place(update(copies[replica]), replica));
            return;
        }
        // Writing every copy is right in cross-replica code only. A replica of another strategy's Run would write every
        // copy of a variable it does not own, and its fellow replicas would race doing the same: refuse it.
        if (Replication.CurrentDistributedReplica is { } other)
            throw new InvalidOperationException(
                $"Variable '{Name}' is mirrored over another strategy than the one running replica {other.ReplicaId} of {other.NumReplicasInSync}, " +
                "so that replica would overwrite every copy. Write a variable inside Run of the strategy it was created under (or in cross-replica code).");
        for (int r = 0; r < copies.Length; r++) copies[r] = Own(Place(update(copies[r]), r));
    }

    /// <summary>
    /// The copies the caller may write (this replica's inside <c>Run</c>, every copy in cross-replica code), for
    /// <see cref="Restore"/> to put back when an update that spans several variables fails part way.
    /// </summary>
    internal Tensor[] Capture()
    {
        if (strategy is null) return [copies[0]];
        int replica = strategy.CurrentReplicaId;
        return replica >= 0 ? [copies[replica]] : [.. copies];
    }

    /// <summary>Puts back what <see cref="Capture"/> returned in the same context (the tensors are immutable, so no copy is
    /// needed; storage that <see cref="Retire"/> gave to the open scope is taken back).</summary>
    internal void Restore(Tensor[] captured)
    {
        foreach (var t in captured) Own(t);
        if (strategy is null)
        {
            copies[0] = captured[0];
            return;
        }
        int replica = strategy.CurrentReplicaId;
        if (replica >= 0) copies[replica] = captured[0];
        else captured.CopyTo(copies, 0);
    }

    /// <summary>
    /// Host storage that one copy of one variable holds alone: written by an optimizer's fused op inside a
    /// <see cref="TensorScope"/> (<see cref="AssignFresh"/>) and not handed out beyond a scope since (<see cref="Escape(float[])"/>).
    /// Weak keys: an entry dies with its storage.
    /// </summary>
    private static readonly ConditionalWeakTable<float[], Variable> Exclusive = new();

    /// <summary>
    /// <see cref="Assign"/> for a tensor that an optimizer's fused op has just created, inside the calling thread's scope,
    /// for this variable alone: its storage may go back to the pool once the next update has replaced it (<see cref="Retire"/>).
    /// </summary>
    internal void AssignFresh(Tensor value)
    {
        bool fresh = value.HostArray is { } data && data.Length >= TensorScope.MinPooledElements && TensorScope.OwnsNow(data);
        Assign(value);
        // Exclusive only when exactly one copy took it (cross-replica writes give every copy the same tensor).
        if (fresh && (strategy is null || strategy.CurrentReplicaId >= 0 || copies.Length == 1) && Holds(value.HostArray!))
            Exclusive.AddOrUpdate(value.HostArray!, this);
    }

    /// <summary>
    /// After an update that replaced the copies <see cref="Capture"/> returned has committed: the captured storage that
    /// this variable held alone goes to the calling thread's open scope, which returns it to the pool when disposed.
    /// </summary>
    internal void Retire(Tensor[] captured)
    {
        foreach (var t in captured)
        {
            if (t.HostArray is { } data && Exclusive.TryGetValue(data, out var owner) && ReferenceEquals(owner, this)
                && !Holds(data) && Exclusive.Remove(data))
                TensorScope.Adopt(data);
        }
    }

    /// <summary>Marks <paramref name="data"/> as referenced beyond any scope: it is never recycled.</summary>
    internal static void Escape(float[] data) => Exclusive.Remove(data);

    /// <summary>Marks <paramref name="t"/>'s storage as referenced beyond any scope (a value handed out for good).</summary>
    internal static void Escape(Tensor t)
    {
        if (t.HostArray is { } data) Escape(data);
    }

    private bool Holds(float[] data)
    {
        foreach (var copy in copies)
            if (ReferenceEquals(copy.HostArray, data)) return true;
        return false;
    }

    /// <summary>Takes a value's storage out of the <see cref="TensorScope"/> that allocated it (on any thread): a variable outlives the scope.</summary>
    private static Tensor Own(Tensor value)
    {
        if (value.HostArray is { } data)
        {
            TensorScope.Release(data);
            Escape(data); // another variable may hold it too: no longer any one variable's alone
        }
        else
        {
            TensorScope.Release(value.Storage);
        }
        return value;
    }

    private Tensor CheckedSum(Tensor current, Tensor delta)
    {
        if (!Tensor.SameShape(delta.ShapeArray, shape))
            throw new ArgumentException($"Cannot update variable '{Name}' of shape {Tensor.ShapeString(shape)} by a value of shape {Tensor.ShapeString(delta.ShapeArray)}.", nameof(delta));
        using (GradientTape.Pause()) return current + delta;
    }

    /// <summary>Name, shape and (cross-replica) value.</summary>
    public override string ToString() => $"Variable '{Name}' {Tensor.ShapeString(shape)} {Read()}";
}
