namespace TfSyncBN.Mpi.TestHost;

/// <summary>What one rank of the SyncBN test writes.</summary>
public sealed record HostResult(
    int Rank, int Workers, int NumReplicasInSync, bool IsMpi,
    IReadOnlyList<ReplicaResult> Replicas,
    float[] MovingMean, float[] MovingVariance,
    float[] ReducedMeanOverBatch);

/// <summary>One replica's results.</summary>
public sealed record ReplicaResult(
    int ReplicaId, float[] Y, float[] Dx, float[] DGamma, float[] DBeta,
    float[] SmallSum, float[] SmallMean, string LargeSumSha256, string LargeMeanSha256);

/// <summary>What one rank of the Fit test writes.</summary>
public sealed record FitResult(int Rank, double[] EpochLosses, double[] ValidationLosses, float[] Predictions, float[][] Weights, float[] UnseededVariable);
