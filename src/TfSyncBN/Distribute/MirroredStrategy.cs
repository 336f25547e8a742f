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

    private readonly ReplicaPool pool;
    private readonly TimeSpan timeout;

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
        pool = new ReplicaPool(numReplicas);
    }

    /// <inheritdoc/>
    public override int NumReplicasInSync => pool.Count;

    /// <summary>How long a replica waits in a collective for the others (<see cref="Timeout.InfiniteTimeSpan"/>: no limit).</summary>
    public TimeSpan CollectiveTimeout => timeout;

    private protected override T[] RunReplicas<T>(Func<ReplicaContext, T> fn) =>
        pool.Run(ThrowIfDisposed, () => new CollectiveGroup(pool.Count, timeout), (r, group) => new ReplicaContext(this, r, group), fn, RunReplica);

    /// <inheritdoc/>
    protected override void Dispose(bool disposing) => pool?.Stop(join: disposing);

    /// <inheritdoc/>
    private protected override IReadOnlyList<int> StuckLocalReplicas => pool.Stuck;

    /// <summary>Releases the replica threads of a strategy that was never disposed.</summary>
    ~MirroredStrategy() => Dispose(false);
}
