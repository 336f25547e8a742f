using TfSyncBN.Tensors;

namespace TfSyncBN.Distribute;

/// <summary>
/// Synchronous data parallelism in one process (<c>tf.distribute.MirroredStrategy</c>): replicas, each with its own
/// thread, running the same function in lockstep over mirrored variables. Each replica runs on the host (the
/// default) or on a device of its own (<c>devices</c>).
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
    private readonly Device[] devices;

    /// <summary>
    /// Creates a strategy with <paramref name="numReplicas"/> replicas on the host, or with one replica per entry of
    /// <paramref name="devices"/>: replica r runs on device r, and each mirrored variable keeps replica r's copy in that
    /// device's memory. Several replicas may name the same device.
    /// </summary>
    /// <remarks>
    /// Device names: <c>cpu</c> (host memory and the CPU kernels), <c>ilgpu-cpu:N</c> (ILGPU's CPU accelerator, a SIMT
    /// simulator running the GPU kernels on the host; each N is a separate accelerator with its own memory pool) and
    /// <c>cuda:N</c> (the N-th NVIDIA GPU through ILGPU). Devices other than <c>cpu</c> need the <c>TfSyncBN.Gpu</c>
    /// assembly, which opens each one on first use for the life of the process. Collectives stage device tensors through
    /// host memory (see <see cref="ReplicaContext.AllReduce(ReduceOp, Tensor)"/>). With neither argument the strategy has
    /// one host replica, as <c>tf.distribute.MirroredStrategy()</c> on a machine without GPUs.
    /// </remarks>
    /// <param name="numReplicas">
    /// The number of replicas: at least 1, or 0 (the default) for one per entry of <paramref name="devices"/> (one host
    /// replica when <paramref name="devices"/> is null). With <paramref name="devices"/>, a nonzero count must equal its length.
    /// </param>
    /// <param name="collectiveTimeout">
    /// How long a replica waits in a collective for the others before failing the run; <see cref="DefaultCollectiveTimeout"/>
    /// when omitted, <see cref="Timeout.InfiniteTimeSpan"/> to wait for ever.
    /// </param>
    /// <param name="devices">One device name per replica, at least one; null for host replicas.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="numReplicas"/> is negative, or the timeout is neither positive nor infinite.</exception>
    /// <exception cref="ArgumentNullException">An entry of <paramref name="devices"/> is null.</exception>
    /// <exception cref="ArgumentException">
    /// <paramref name="devices"/> is empty, an entry is not a device name, or <paramref name="numReplicas"/> is nonzero and differs from its length.
    /// </exception>
    /// <exception cref="InvalidOperationException">A device cannot be opened (no <c>TfSyncBN.Gpu</c> assembly, or no such CUDA GPU).</exception>
    public MirroredStrategy(int numReplicas = 0, TimeSpan? collectiveTimeout = null, IReadOnlyList<string>? devices = null)
    {
        if (numReplicas < 0)
            throw new ArgumentOutOfRangeException(nameof(numReplicas), numReplicas, "numReplicas must be at least 1, or 0 for one replica per device (one host replica without devices).");
        timeout = collectiveTimeout ?? DefaultCollectiveTimeout;
        if (timeout <= TimeSpan.Zero && timeout != Timeout.InfiniteTimeSpan)
            throw new ArgumentOutOfRangeException(nameof(collectiveTimeout), timeout, "collectiveTimeout must be positive, or Timeout.InfiniteTimeSpan.");
        if (devices is null)
        {
            this.devices = new Device[Math.Max(1, numReplicas)];
        }
        else
        {
            if (numReplicas != 0 && numReplicas != devices.Count)
                throw new ArgumentException($"numReplicas is {numReplicas} but devices names {devices.Count}: give one device per replica, or leave numReplicas 0.", nameof(numReplicas));
            this.devices = ParseDevices(devices, nameof(devices));
        }
        pool = new ReplicaPool(this.devices.Length);
    }

    /// <summary>Parses one device name per replica and opens every device named (see the constructor).</summary>
    /// <exception cref="ArgumentNullException"><paramref name="devices"/> or an entry is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="devices"/> is empty, or an entry is not a device name.</exception>
    /// <exception cref="InvalidOperationException">A device cannot be opened.</exception>
    internal static Device[] ParseDevices(IReadOnlyList<string> devices, string paramName)
    {
        ArgumentNullException.ThrowIfNull(devices);
        if (devices.Count == 0)
            throw new ArgumentException("devices must name at least one device ('cpu', 'ilgpu-cpu:N' or 'cuda:N').", paramName);
        var parsed = new Device[devices.Count];
        for (int r = 0; r < parsed.Length; r++)
        {
            if (devices[r] is not { } name) throw new ArgumentNullException(paramName, $"devices[{r}] is null.");
            try
            {
                parsed[r] = Device.Parse(name);
            }
            catch (ArgumentException e)
            {
                throw new ArgumentException(
                    $"devices[{r}] is '{name}', not a device name. Accepted: 'cpu', 'ilgpu-cpu:N' (ILGPU's CPU accelerator N) or 'cuda:N' (NVIDIA GPU N), with N >= 0.",
                    paramName, e);
            }
        }
        foreach (var d in parsed.Distinct()) Backends.Open(d, paramName);
        return parsed;
    }

    /// <summary>The device of each replica, in replica order (every entry <c>cpu</c> without <c>devices</c>).</summary>
    public IReadOnlyList<Device> Devices => Array.AsReadOnly(devices);

    /// <inheritdoc/>
    internal override Device LocalReplicaDevice(int localReplica) => devices[localReplica];

    /// <inheritdoc/>
    internal override bool PlacesOnDevices => devices.Any(d => !d.IsHost);

    /// <inheritdoc/>
    public override int NumReplicasInSync => pool.Count;

    /// <summary>How long a replica waits in a collective for the others (<see cref="Timeout.InfiniteTimeSpan"/>: no limit).</summary>
    public TimeSpan CollectiveTimeout => timeout;

    private protected override T[] RunReplicas<T>(Func<ReplicaContext, T> fn) =>
        pool.Run(ThrowIfDisposed, () => new CollectiveGroup(pool.Count, timeout, resultBuffers: pool.ResultBuffers), (r, group) => new ReplicaContext(this, r, group, device: devices[r]), fn, RunReplica);

    /// <inheritdoc/>
    protected override void Dispose(bool disposing) => pool?.Stop(join: disposing);

    /// <inheritdoc/>
    private protected override IReadOnlyList<int> StuckLocalReplicas => pool.Stuck;

    /// <summary>Releases the replica threads of a strategy that was never disposed.</summary>
    ~MirroredStrategy() => Dispose(false);
}
