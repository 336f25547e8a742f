namespace TfSyncBN.Distribute;

/// <summary>
/// Thrown in a replica whose collective cannot complete because another replica failed, or that arrives at a
/// collective after the group failed (for instance after the others timed out waiting for it).
/// <see cref="Exception.InnerException"/> is the original failure, which <see cref="Strategy.Run{T}"/> rethrows.
/// </summary>
/// <remarks>
/// Replicas that called mismatched collectives get <see cref="CollectiveMismatchException"/> instead, and replicas
/// that were waiting when the collective timed out get <see cref="TimeoutException"/>.
/// </remarks>
public sealed class ReplicaFailedException : Exception
{
    /// <summary>Creates the exception.</summary>
    public ReplicaFailedException(string message, Exception? innerException) : base(message, innerException) { }

    /// <summary>The replica whose failure released this one, or -1 when unknown.</summary>
    public int FailedReplicaId { get; init; } = -1;
}

/// <summary>Thrown in every replica when the replicas called different collectives, or the same one with different shapes.</summary>
public sealed class CollectiveMismatchException : Exception
{
    /// <summary>Creates the exception.</summary>
    public CollectiveMismatchException(string message) : base(message) { }
}
