using TfSyncBN.Keras;

namespace TfSyncBN.Compat.Torch;

/// <summary>
/// PyTorch's <c>torch.nn.SyncBatchNorm</c> on the TfSyncBN core: channels on axis 1 of an (N, C, ...) input, PyTorch's
/// defaults and conventions.
/// </summary>
/// <remarks>
/// <para>It is a <see cref="SyncBatchNormalization"/> with <c>axis = [1]</c>, <c>epsilon = eps</c>,
/// <c>center = scale = affine</c>, the PyTorch momentum convention
/// <c>running = (1 − momentum)·running + momentum·batch</c> (<c>momentum</c> null: the cumulative average
/// over <see cref="BatchNormalization.NumBatchesTracked"/> batches) and the unbiased running variance σ²·N/(N − 1) with N
/// the global (group) count; with N = 1 the running variance is left unchanged instead of PyTorch's 0/0. Running
/// statistics are <see cref="BatchNormalization.MovingMean"/> (<c>running_mean</c>), <see cref="BatchNormalization.MovingVariance"/>
/// (<c>running_var</c>) and <see cref="BatchNormalization.NumBatchesTracked"/>; γ and β are <see cref="BatchNormalization.Gamma"/>
/// (<c>weight</c>) and <see cref="BatchNormalization.Beta"/> (<c>bias</c>).</para>
/// <para>Differences: PyTorch's <c>module.train()</c>/<c>eval()</c> is the <c>training</c> argument of
/// <see cref="Layer.Call(TfSyncBN.Tensors.Tensor, bool?, TfSyncBN.Tensors.Tensor?)"/>; it runs on the CPU (PyTorch's needs a GPU); in eval mode with
/// <c>trackRunningStats: false</c> the batch statistics are synchronized (PyTorch's are local); one layer object serves
/// every replica, so <c>processGroup</c> is the whole partition of the replica ids rather than each rank's
/// own group.</para>
/// </remarks>
public sealed class SyncBatchNorm : SyncBatchNormalization
{
    /// <summary>Creates the layer (PyTorch <c>SyncBatchNorm(num_features, eps, momentum, affine, track_running_stats, process_group)</c>).</summary>
    /// <param name="numFeatures">C, the size of axis 1 of the input; at least 1.</param>
    /// <param name="eps">Added to the variance; positive.</param>
    /// <param name="momentum">Weight of the batch statistics in the running update, in [0, 1]; null for the cumulative average.</param>
    /// <param name="affine">Whether γ and β are learned (otherwise γ = 1, β = 0).</param>
    /// <param name="trackRunningStats">false: no running statistics; batch statistics in training and eval.</param>
    /// <param name="processGroup">A partition of the replica ids into groups that synchronize separately; null for all replicas (WORLD).</param>
    /// <param name="name">The layer name; generated when null.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="numFeatures"/> is below 1, <paramref name="momentum"/>
    /// is outside [0, 1], or <paramref name="eps"/> is not positive.</exception>
    /// <exception cref="ArgumentException"><paramref name="processGroup"/> is not a partition of the replica ids (see <see cref="BatchNormalization"/>).</exception>
    public SyncBatchNorm(int numFeatures, float eps = 1e-5f, float? momentum = 0.1f, bool affine = true,
        bool trackRunningStats = true, IReadOnlyList<IReadOnlyList<int>>? processGroup = null, string? name = null)
        : base(axis: [1], momentum: momentum is { } m ? FacadeChecks.CheckMomentum(m, nameof(momentum)) : 0.1f,
            epsilon: FacadeChecks.CheckEpsilon(eps, nameof(eps)), center: affine, scale: affine, name: name,
            processGroups: FacadeChecks.CheckProcessGroups(processGroup, nameof(processGroup)),
            trackRunningStats: trackRunningStats, unbiasedMovingVariance: true,
            momentumConvention: momentum is null ? MomentumConvention.CumulativeAverage : MomentumConvention.PyTorch)
    {
        NumFeatures = FacadeChecks.CheckNumFeatures(numFeatures, nameof(numFeatures));
        ProcessGroupsParamName = nameof(processGroup);
        ExpectedChannels = numFeatures;
    }

    /// <summary>C, the number of channels (axis 1).</summary>
    public int NumFeatures { get; }

    /// <summary>PyTorch <c>SyncBatchNorm.convert_sync_batchnorm</c>: see <see cref="SyncBatchNormalization.Convert"/>.</summary>
    /// <param name="module">The layer to convert; anything but a batch-normalization layer is returned unchanged.</param>
    /// <param name="processGroup">The partition of the replica ids for the new layer; null for all replicas.</param>
    /// <exception cref="ArgumentNullException"><paramref name="module"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="processGroup"/> is not a partition of the replica ids.</exception>
    public static Layer ConvertSyncBatchNorm(Layer module, IReadOnlyList<IReadOnlyList<int>>? processGroup = null)
    {
        ArgumentNullException.ThrowIfNull(module);
        return ConvertNaming(module, processGroup, nameof(processGroup));
    }
}
