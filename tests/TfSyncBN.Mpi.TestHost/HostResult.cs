namespace TfSyncBN.Mpi.TestHost;

/// <summary>What one rank of the SyncBN test writes: <see cref="MovingMean"/> and <see cref="MovingVariance"/> are the
/// cross-replica reads, <see cref="MovingMeanCopies"/> and <see cref="MovingVarianceCopies"/> each local replica's copy,
/// <see cref="MovingStatisticCopyDevices"/> the devices of the mean copies, then of the variance copies.</summary>
public sealed record HostResult(
    int Rank, int Workers, int NumReplicasInSync, bool IsMpi,
    IReadOnlyList<ReplicaResult> Replicas,
    float[] MovingMean, float[] MovingVariance,
    float[] ReducedMeanOverBatch,
    float[][] MovingMeanCopies, float[][] MovingVarianceCopies, string[] MovingStatisticCopyDevices);

/// <summary>One replica's results: <see cref="Device"/> is the replica's device, <see cref="ResultDevices"/> the devices of
/// y, dx, dγ, dβ and the four all-reduce results (small sum, small mean, large sum, large mean), in that order.</summary>
public sealed record ReplicaResult(
    int ReplicaId, float[] Y, float[] Dx, float[] DGamma, float[] DBeta,
    float[] SmallSum, float[] SmallMean, string LargeSumSha256, string LargeMeanSha256,
    string Device, string[] ResultDevices);

/// <summary>What one rank of the Fit test writes: <see cref="Weights"/> are the cross-replica reads of the model's weights,
/// <see cref="WeightCopies"/>[w][l] local replica l's copy of weight w, on device <see cref="WeightCopyDevices"/>[w][l];
/// <see cref="EmptyPredictionShape"/> and <see cref="EmptyPredictionDevice"/> describe Predict's output for no samples.</summary>
public sealed record FitResult(int Rank, double[] EpochLosses, double[] ValidationLosses, float[] Predictions, float[][] Weights, float[] UnseededVariable,
    float[][][] WeightCopies, string[][] WeightCopyDevices, int[] EmptyPredictionShape, string EmptyPredictionDevice);
