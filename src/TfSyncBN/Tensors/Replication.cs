namespace TfSyncBN.Tensors;

/// <summary>
/// A distribution strategy as the tensor core sees it: the strategy a mirrored <see cref="Variable"/> holds one copy
/// per replica for. <c>Strategy</c> and its subclasses (<c>MirroredStrategy</c>, ...) implement it; cast to
/// <c>Strategy</c> for the rest of the strategy API.
/// </summary>
public interface IDistributionStrategy
{
    /// <summary>The number of replicas that run in lockstep, over all workers.</summary>
    int NumReplicasInSync { get; }
}

/// <summary>What <see cref="Variable"/> needs from the strategy it is mirrored over.</summary>
internal interface IMirroringStrategy : IDistributionStrategy
{
    /// <summary>The number of replicas in this process: the number of copies a mirrored variable holds.</summary>
    int LocalReplicaCount { get; }

    /// <summary>The calling thread's replica index among this process's replicas if it runs one of this strategy's replicas, else -1.</summary>
    int CurrentReplicaId { get; }

    /// <summary>The initial value every copy of a new mirrored variable starts from (the same on every worker).</summary>
    Tensor AgreeOnInitialValue(Tensor value);

    /// <summary>Whether some replica runs on a device other than the host: each copy of a mirrored variable then lives on its replica's device.</summary>
    bool PlacesOnDevices { get; }

    /// <summary>The device of this process's replica <paramref name="localReplica"/> (<c>cpu</c> unless <see cref="PlacesOnDevices"/>).</summary>
    Device ReplicaDevice(int localReplica);
}

/// <summary>
/// The collective a synchronized operation needs: an in-place element-wise sum of a small float64 buffer over the
/// replicas, every replica receiving the same bits. Every replica must call it, in the same order, with the same length.
/// </summary>
internal interface ICollective
{
    /// <summary>Whether the sum actually communicates (more than one replica); when false the buffer is left as it is.</summary>
    bool IsDistributed { get; }

    /// <summary>Replaces <paramref name="buffer"/> with its element-wise sum over the replicas.</summary>
    /// <param name="buffer">This replica's values; the sum on return.</param>
    /// <param name="kind">What the collective is for, for error messages (e.g. "SyncBatchNormalization moments").</param>
    /// <param name="detail">More detail for error messages, or "".</param>
    void SumInPlace(double[] buffer, string kind, string detail);
}

/// <summary>The replica context of the calling code, as the tensor core sees it.</summary>
internal interface IReplica : ICollective
{
    /// <summary>The global replica id.</summary>
    int ReplicaId { get; }

    /// <summary>The number of replicas running in lockstep, over all workers.</summary>
    int NumReplicasInSync { get; }
}

/// <summary>Where the tensor core finds the calling thread's strategy and replica: registered by the distribution runtime.</summary>
internal interface IReplicaRuntime
{
    /// <summary>The strategy in effect on the calling thread (the default single-replica strategy outside any).</summary>
    IMirroringStrategy CurrentStrategy { get; }

    /// <summary>The calling code's replica context: inside a strategy's <c>Run</c>, that replica's; in cross-replica code, null; outside any strategy, the default strategy's single replica (id 0).</summary>
    IReplica? CurrentContext { get; }
}

/// <summary>
/// The tensor core's access to the distribution runtime, which registers itself before any strategy exists. Until then
/// there is no strategy: one copy per variable, replica 0 of 1.
/// </summary>
internal static class Replication
{
    private static volatile IReplicaRuntime? runtime;

    /// <summary>Installs the runtime (called once by the distribution runtime's type initializer).</summary>
    internal static void Register(IReplicaRuntime value) => runtime = value;

    /// <summary>The strategy in effect on the calling thread if it has more than one replica or places its replicas on devices, else null.</summary>
    internal static IMirroringStrategy? CurrentMirroringStrategy =>
        runtime?.CurrentStrategy is { NumReplicasInSync: > 1 } or { PlacesOnDevices: true } ? runtime.CurrentStrategy : null;

    /// <summary>See <see cref="IReplicaRuntime.CurrentContext"/>; null before the runtime registers (no strategy exists yet).</summary>
    internal static IReplica? CurrentContext => runtime?.CurrentContext;

    /// <summary>The calling replica's id; -1 in cross-replica code; 0 outside any strategy.</summary>
    internal static int CurrentReplicaId => runtime is null ? 0 : runtime.CurrentContext?.ReplicaId ?? -1;

    /// <summary>Whether the calling code is one of several replicas of a running strategy.</summary>
    internal static IReplica? CurrentDistributedReplica => CurrentContext is { IsDistributed: true } r ? r : null;
}
