using TfSyncBN.Tensors;

namespace TfSyncBN.Distribute;

/// <summary>
/// Synchronous data parallelism over several worker processes (<c>tf.distribute.MultiWorkerMirroredStrategy</c>):
/// W workers (for instance the ranks of an MPI job), each running <c>localReplicas</c> replicas on its own threads.
/// </summary>
/// <remarks>
/// <para>Replica ids are global: worker w's local replica l has <see cref="ReplicaContext.ReplicaId"/>
/// <c>w × localReplicas + l</c>, and <see cref="NumReplicasInSync"/> is <c>W × localReplicas</c>. Every worker runs the
/// same program: creates the strategy, builds its model in <see cref="Strategy.Scope"/> and calls
/// <see cref="Strategy.Run{T}"/> the same number of times. <see cref="Strategy.Run{T}"/> returns the values of this
/// worker's replicas only; <see cref="Strategy.Reduce"/> combines them over all workers (every worker must call it).
/// Mirrored variables created in cross-replica code start from worker 0's initial value on every worker.</para>
/// <para>Collectives are hierarchical: the worker's replicas are reduced in replica order in the process (as in
/// <see cref="MirroredStrategy"/>), one thread then sums the worker results in rank order through the communicator,
/// and a mean divides by <see cref="NumReplicasInSync"/> last. Element i of an all-reduce is therefore
/// <c>Σ_w (Σ_l v_{w,l}[i])</c>, both sums in order: identical in every bit on every replica of every worker, and from
/// run to run. (It may differ in the last bits from a single-process <see cref="MirroredStrategy"/> over the same
/// replicas, which adds all of them in one sequence.)</para>
/// <para>Signatures: the first time a worker meets a cross-worker collective (its label, such as
/// "SyncBatchNormalization moments" or "TrainStep gradients", with its element type, length and shapes), and the first
/// time it meets each variable shape created in <see cref="Strategy.Scope"/>, the workers exchange one small fixed-size
/// record and check that they all call the same one; workers that differ (a Dense of 32 units on one, 48 on another)
/// get a <see cref="CollectiveMismatchException"/> on every worker naming each worker's call, instead of a transport
/// error. Verified signatures are remembered, so a repeated collective adds no communication.</para>
/// <para>Faults: mirrored variables stay in step only if every worker completes every collective, so when a Run fails
/// on a worker of a job with more than one worker, the strategy writes the failure to standard error and ends the whole
/// job through <see cref="ICrossWorkerCommunicator.Abort"/> (a non-zero exit code on every worker) instead of letting
/// the others wait in their next collective. A worker that exits or hangs is handled by the communicator, which ends the
/// job within its own timeout. With one worker, failures are thrown as in <see cref="MirroredStrategy"/>.</para>
/// </remarks>
public sealed class MultiWorkerMirroredStrategy : Strategy
{
    private readonly ReplicaPool pool;
    private readonly ICrossWorkerCommunicator communicator;
    private readonly TimeSpan timeout;
    private readonly CrossWorkerSignatures signatures;

    /// <summary>Creates the strategy; every worker of the job must create it with the same <paramref name="localReplicas"/>.</summary>
    /// <param name="communicator">The workers, for instance <c>TfSyncBN.Mpi.MpiCommunicator.Initialize()</c>.</param>
    /// <param name="localReplicas">The replicas (threads) of this worker, at least 1; 1 when omitted.</param>
    /// <param name="collectiveTimeout">
    /// How long a replica waits in a collective for the other replicas of its own worker;
    /// <see cref="MirroredStrategy.DefaultCollectiveTimeout"/> when omitted, <see cref="Timeout.InfiniteTimeSpan"/> to wait
    /// for ever. Waiting for other workers is bounded by the communicator's own timeout.
    /// </param>
    /// <param name="devices">
    /// The device of each local replica, as in <see cref="MirroredStrategy(int, TimeSpan?, IReadOnlyList{string})"/>
    /// (<c>cpu</c>, <c>ilgpu-cpu:N</c>, <c>cuda:N</c>); its count is the number of local replicas (leave
    /// <paramref name="localReplicas"/> at 1 or give the same count). Null: every local replica runs on the host.
    /// </param>
    /// <remarks>The constructor makes one cross-worker collective, to check that every worker has the same replica count.
    /// Collectives of device tensors are staged through host memory, then cross the workers as host buffers.</remarks>
    /// <exception cref="ArgumentNullException"><paramref name="communicator"/> is null, or an entry of <paramref name="devices"/> is.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="localReplicas"/> is less than 1, the timeout is neither positive nor infinite, or the communicator's size or rank is invalid.</exception>
    /// <exception cref="ArgumentException">The workers were created with different <paramref name="localReplicas"/> (thrown on every
    /// worker); <paramref name="devices"/> is empty, names something that is not a device, or has another count than a
    /// <paramref name="localReplicas"/> other than 1.</exception>
    /// <exception cref="InvalidOperationException">A device cannot be opened (no <c>TfSyncBN.Gpu</c> assembly, or no such CUDA GPU).</exception>
    public MultiWorkerMirroredStrategy(ICrossWorkerCommunicator communicator, int localReplicas = 1, TimeSpan? collectiveTimeout = null,
        IReadOnlyList<string>? devices = null)
    {
        ArgumentNullException.ThrowIfNull(communicator);
        if (devices is not null)
        {
            this.devices = MirroredStrategy.ParseDevices(devices, nameof(devices));
            if (localReplicas != 1 && localReplicas != this.devices.Length)
                throw new ArgumentException(
                    $"devices names {this.devices.Length} local replicas but localReplicas is {localReplicas}: give one device per local replica.", nameof(devices));
            localReplicas = this.devices.Length;
        }
        if (localReplicas < 1)
            throw new ArgumentOutOfRangeException(nameof(localReplicas), localReplicas, "localReplicas must be at least 1.");
        timeout = collectiveTimeout ?? MirroredStrategy.DefaultCollectiveTimeout;
        if (timeout <= TimeSpan.Zero && timeout != Timeout.InfiniteTimeSpan)
            throw new ArgumentOutOfRangeException(nameof(collectiveTimeout), timeout, "collectiveTimeout must be positive, or Timeout.InfiniteTimeSpan.");
        if (communicator.Size < 1 || (uint)communicator.Rank >= (uint)communicator.Size)
            throw new ArgumentOutOfRangeException(nameof(communicator), $"The communicator has rank {communicator.Rank} of size {communicator.Size}; the size must be at least 1 and the rank between 0 and size - 1.");
        if ((long)communicator.Size * localReplicas > int.MaxValue)
            throw new ArgumentOutOfRangeException(nameof(localReplicas), localReplicas, $"{communicator.Size} workers × {localReplicas} replicas is more than int.MaxValue replicas.");
        this.communicator = communicator;
        signatures = new CrossWorkerSignatures(communicator);
        if (communicator.Size > 1)
        {
            // Every worker learns every worker's count (and throws alike), so a mismatch cannot leave some waiting.
            var counts = new double[communicator.Size];
            counts[communicator.Rank] = localReplicas;
            communicator.AllReduceSum(counts, counts.Length);
            for (int w = 0; w < counts.Length; w++)
            {
                if (counts[w] != localReplicas)
                    throw new ArgumentException(
                        $"Worker {w} has {counts[w]} local replicas but worker {communicator.Rank} has {localReplicas}: every worker must create the strategy with the same localReplicas.",
                        nameof(localReplicas));
            }
        }
        this.devices ??= new Device[localReplicas];
        pool = new ReplicaPool(localReplicas);
    }

    private readonly Device[] devices;

    /// <summary>The device of each local replica, in local order (every entry <c>cpu</c> unless <c>devices</c> was given).</summary>
    public IReadOnlyList<Device> Devices => Array.AsReadOnly(devices);

    /// <inheritdoc/>
    internal override Device LocalReplicaDevice(int localReplica) => devices[localReplica];

    /// <inheritdoc/>
    internal override bool PlacesOnDevices => devices.Any(d => !d.IsHost);

    /// <summary>The number of replicas over all workers: <see cref="NumWorkers"/> × <see cref="LocalReplicas"/>.</summary>
    public override int NumReplicasInSync => communicator.Size * pool.Count;

    /// <summary>The number of worker processes (the MPI world size).</summary>
    public int NumWorkers => communicator.Size;

    /// <summary>This worker's index, from 0 to <see cref="NumWorkers"/> - 1 (the MPI rank; TensorFlow's <c>task_id</c>).</summary>
    public int WorkerIndex => communicator.Rank;

    /// <summary>The number of replicas (threads) in this worker.</summary>
    public int LocalReplicas => pool.Count;

    /// <summary>The global id of this worker's first replica: <see cref="WorkerIndex"/> × <see cref="LocalReplicas"/>.</summary>
    public int FirstReplicaId => communicator.Rank * pool.Count;

    /// <summary>Whether this worker is worker 0, the one that should write checkpoints and logs (TensorFlow's chief).</summary>
    public bool IsChief => communicator.Rank == 0;

    /// <summary>The communicator that connects the workers.</summary>
    public ICrossWorkerCommunicator Communicator => communicator;

    /// <summary>How long a replica waits in a collective for the other replicas of its worker.</summary>
    public TimeSpan CollectiveTimeout => timeout;

    internal override int LocalReplicaCount => pool.Count;

    private protected override T[] RunReplicas<T>(Func<ReplicaContext, T> fn)
    {
        try
        {
            return pool.Run(ThrowIfDisposed, () => new CollectiveGroup(pool.Count, timeout, communicator, signatures, pool.ResultBuffers),
                (local, group) => new ReplicaContext(this, FirstReplicaId + local, group, local, devices[local]), fn, RunReplica);
        }
        catch (Exception e) when (communicator.Size > 1 && e is not ObjectDisposedException)
        {
            communicator.Abort(1,
                $"TfSyncBN: worker {communicator.Rank} of {communicator.Size} failed in Strategy.Run, so the job is ended " +
                $"(the other workers would wait for it in their next collective):{Environment.NewLine}{e}");
            throw; // Abort does not return; in case an implementation does, the failure still surfaces here.
        }
    }

    /// <summary>
    /// Worker 0's value, by an all-reduce in which the other workers contribute zeros (x + 0 is x exactly; only a
    /// -0 element becomes +0), for variables created in cross-replica code (in <see cref="Strategy.Scope"/>, where
    /// Keras models build their weights); every worker must create the same variables in the same order there, as the
    /// same program does. Variables created inside Run are left as they are: give them deterministic initializers.
    /// </summary>
    internal override Tensor AgreeOnInitialValue(Tensor value)
    {
        if (communicator.Size == 1 || CurrentReplica is not null) return value;
        signatures.Verify("initial value of a variable created in Scope", typeof(float), value.Size, Tensor.ShapeString(value.ShapeArray));
        var data = communicator.Rank == 0 ? value.ToArray() : new float[value.Size];
        communicator.AllReduceSum(data, data.Length);
        return Tensor.FromArray(data, value.Shape);
    }

    /// <summary>How many collective signatures this worker has checked across the workers (each check is one exchange).</summary>
    internal int SignatureExchanges => signatures.Exchanges;

    internal override bool SpansWorkers => communicator.Size > 1;

    internal override int FirstLocalReplicaId => FirstReplicaId;

    internal override void SumAcrossWorkers(double[] values)
    {
        if (communicator.Size > 1) communicator.AllReduceSum(values, values.Length);
    }

    private protected override long SumOverWorkers(float[] localSum, long localCount, bool countVaries)
    {
        if (communicator.Size == 1) return localCount;
        communicator.AllReduceSum(localSum, localSum.Length);
        if (!countVaries) return NumReplicasInSync;
        var count = new double[] { localCount };
        communicator.AllReduceSum(count, 1);
        return (long)count[0];
    }

    /// <inheritdoc/>
    protected override void Dispose(bool disposing) => pool?.Stop(join: disposing);

    /// <inheritdoc/>
    private protected override IReadOnlyList<int> StuckLocalReplicas => pool.Stuck;

    /// <summary>Releases the replica threads of a strategy that was never disposed.</summary>
    ~MultiWorkerMirroredStrategy() => Dispose(false);
}
