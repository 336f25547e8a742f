using TfSyncBN.Keras;

namespace TfSyncBN.Compat.MindSpore.Mint;

/// <summary>
/// MindSpore's <c>mindspore.mint.nn.SyncBatchNorm</c> on the TfSyncBN core: PyTorch conventions, channels on axis 1
/// of an (N, C, +) input.
/// </summary>
/// <remarks>
/// <para>It is a <see cref="SyncBatchNormalization"/> with <c>axis = [1]</c>, <c>epsilon = eps</c>,
/// <c>center = scale = affine</c>, <c>running = (1 − momentum)·running + momentum·batch</c> (default 0.1), the unbiased
/// running variance (N/(N − 1) with N the global group count; N = 1 leaves it unchanged) and
/// <c>trackRunningStats: false</c> meaning batch statistics in training and eval. <c>processGroup</c> is the partition of
/// the replica ids (MindSpore names one communication group per call; one TfSyncBN layer serves every replica).</para>
/// <para>MindSpore's <c>TypeError</c>s for a non-int <c>num_features</c> or non-float <c>eps</c> cannot happen in C#.
/// <c>dtype</c> accepts only <c>"float32"</c> (or null), the one parameter type of TfSyncBN.</para>
/// </remarks>
public sealed class SyncBatchNorm : SyncBatchNormalization
{
    /// <summary>Creates the layer (MindSpore <c>mint.nn.SyncBatchNorm(num_features, eps, momentum, affine, track_running_stats, process_group, dtype)</c>).</summary>
    /// <param name="numFeatures">C, the size of axis 1 of the input; at least 1.</param>
    /// <param name="eps">Added to the variance; positive.</param>
    /// <param name="momentum">Weight of the batch statistics in the running update, in [0, 1].</param>
    /// <param name="affine">Whether γ and β are learned (otherwise γ = 1, β = 0).</param>
    /// <param name="trackRunningStats">false: no running statistics; batch statistics in every mode.</param>
    /// <param name="processGroup">The partition of the replica ids into groups; null for all replicas.</param>
    /// <param name="dtype">The parameter dtype: null or <c>"float32"</c>.</param>
    /// <param name="name">The layer name; generated when null.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="numFeatures"/> is below 1, <paramref name="momentum"/>
    /// is outside [0, 1], or <paramref name="eps"/> is not positive.</exception>
    /// <exception cref="ArgumentException">A rank id of <paramref name="processGroup"/> is outside [0, rank size) (checked at
    /// construction inside a multi-replica strategy's scope, otherwise at the first synchronized call) or the groups are not
    /// a partition; or <paramref name="dtype"/> is not float32.</exception>
    public SyncBatchNorm(int numFeatures, float eps = 1e-5f, float momentum = 0.1f, bool affine = true,
        bool trackRunningStats = true, IReadOnlyList<IReadOnlyList<int>>? processGroup = null, string? dtype = null, string? name = null)
        : base(axis: [1], momentum: FacadeChecks.CheckMomentum(momentum, nameof(momentum)),
            epsilon: FacadeChecks.CheckEpsilon(eps, nameof(eps)), center: affine, scale: affine,
            name: name, processGroups: FacadeChecks.CheckProcessGroups(processGroup, nameof(processGroup)), trackRunningStats: trackRunningStats, unbiasedMovingVariance: true,
            momentumConvention: MomentumConvention.PyTorch)
    {
        NumFeatures = FacadeChecks.CheckNumFeatures(numFeatures, nameof(numFeatures));
        ProcessGroupsParamName = nameof(processGroup);
        if (dtype is not null && dtype != "float32")
            throw new ArgumentException($"dtype '{dtype}' is not supported: TfSyncBN parameters are float32.", nameof(dtype));
        ExpectedChannels = numFeatures;
    }

    /// <summary>C, the number of channels (axis 1).</summary>
    public int NumFeatures { get; }
}
