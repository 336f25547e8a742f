using TfSyncBN.Keras;

namespace TfSyncBN.Compat.MindSpore;

/// <summary>
/// MindSpore's <c>mindspore.nn.SyncBatchNorm</c> on the TfSyncBN core: batch normalization synchronized within
/// <c>processGroups</c> (all replicas when null), on 2-D (N, C) or 4-D (N, C, H, W) inputs.
/// </summary>
/// <remarks>
/// <para>It is a <see cref="SyncBatchNormalization"/> with <c>axis = [1]</c>, <c>epsilon = eps</c>,
/// <c>center = scale = affine</c>, the Keras momentum convention MindSpore's <c>nn</c> layers use
/// (<c>moving = momentum·moving + (1 − momentum)·batch</c>, default 0.9), the biased moving variance (as MindSpore's
/// kernel), initializers by MindSpore name (<see cref="MindSporeInitializers"/>) and <c>useBatchStatistics</c>
/// (null: batch in training, moving in inference; true: always batch, the moving statistics still update; false:
/// always moving).</para>
/// <para>Differences: every replica must be in exactly one group (MindSpore leaves a rank in no group local: give it a
/// group of its own); the type errors of MindSpore cannot occur in C#; <c>dtype</c> accepts only float32.</para>
/// </remarks>
public sealed class SyncBatchNorm : SyncBatchNormalization
{
    /// <summary>Creates the layer (MindSpore <c>nn.SyncBatchNorm(num_features, eps, momentum, affine, gamma_init, beta_init,
    /// moving_mean_init, moving_var_init, use_batch_statistics, process_groups, dtype)</c>, in that order).</summary>
    /// <param name="numFeatures">C, the size of axis 1 of the input; at least 1.</param>
    /// <param name="eps">Added to the variance; positive.</param>
    /// <param name="momentum">Weight of the old moving statistics, in [0, 1].</param>
    /// <param name="affine">Whether γ and β are learned (otherwise γ = 1, β = 0).</param>
    /// <param name="gammaInit">MindSpore initializer name of γ.</param>
    /// <param name="betaInit">MindSpore initializer name of β.</param>
    /// <param name="movingMeanInit">MindSpore initializer name of the moving mean.</param>
    /// <param name="movingVarInit">MindSpore initializer name of the moving variance.</param>
    /// <param name="useBatchStatistics">null, true or false, as described on the class.</param>
    /// <param name="processGroups">A partition of the replica ids into groups; null for all replicas.</param>
    /// <param name="dtype">The parameter dtype: null or <c>"float32"</c>.</param>
    /// <param name="name">The layer name; generated when null.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="numFeatures"/> is below 1, <paramref name="momentum"/>
    /// is outside [0, 1], or <paramref name="eps"/> is not positive.</exception>
    /// <exception cref="ArgumentException">An initializer name is unknown; a rank id of <paramref name="processGroups"/> is
    /// outside [0, rank size) or the groups are not a partition (see <see cref="BatchNormalization"/>); or
    /// <paramref name="dtype"/> is not float32.</exception>
    public SyncBatchNorm(int numFeatures, float eps = 1e-5f, float momentum = 0.9f, bool affine = true,
        string gammaInit = "ones", string betaInit = "zeros", string movingMeanInit = "zeros", string movingVarInit = "ones",
        bool? useBatchStatistics = null, IReadOnlyList<IReadOnlyList<int>>? processGroups = null, string? dtype = null, string? name = null)
        : base(axis: [1], momentum: FacadeChecks.CheckMomentum(momentum, nameof(momentum)),
            epsilon: FacadeChecks.CheckEpsilon(eps, nameof(eps)), center: affine, scale: affine,
            betaInitializer: MindSporeInitializers.Get(betaInit, nameof(betaInit)),
            gammaInitializer: MindSporeInitializers.Get(gammaInit, nameof(gammaInit)),
            movingMeanInitializer: MindSporeInitializers.Get(movingMeanInit, nameof(movingMeanInit)),
            movingVarianceInitializer: MindSporeInitializers.Get(movingVarInit, nameof(movingVarInit)),
            name: name, processGroups: processGroups, useBatchStatistics: useBatchStatistics)
    {
        NumFeatures = FacadeChecks.CheckNumFeatures(numFeatures, nameof(numFeatures));
        if (dtype is not null && dtype != "float32")
            throw new ArgumentException($"dtype '{dtype}' is not supported: TfSyncBN parameters are float32.", nameof(dtype));
        ExpectedChannels = numFeatures;
        AcceptedRanks = [2, 4];
    }

    /// <summary>C, the number of channels (axis 1).</summary>
    public int NumFeatures { get; }
}
