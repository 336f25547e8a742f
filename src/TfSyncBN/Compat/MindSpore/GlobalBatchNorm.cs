using TfSyncBN.Keras;

namespace TfSyncBN.Compat.MindSpore;

/// <summary>
/// MindSpore's <c>mindspore.nn.GlobalBatchNorm</c> on the TfSyncBN core: batch normalization synchronized within
/// consecutive groups of <c>deviceNumEachGroup</c> replicas, on 2-D (N, C) or 4-D (N, C, H, W) inputs.
/// </summary>
/// <remarks>
/// <para>It is a <see cref="SyncBatchNormalization"/> with <c>axis = [1]</c>, <c>epsilon = eps</c>,
/// <c>center = scale = affine</c>, the Keras momentum convention that MindSpore's <c>nn</c> layers use
/// (<c>moving = momentum·moving + (1 − momentum)·batch</c>, default 0.9), the biased moving variance, the initializers by
/// MindSpore name (<see cref="MindSporeInitializers"/>) and <c>useBatchStatistics</c> (null: batch statistics in
/// training, moving in inference; true: always batch, and the moving statistics still update; false: always moving).</para>
/// <para>With R replicas in sync the groups are [0, d), [d, 2d), … for d = <c>deviceNumEachGroup</c>; R must be a
/// multiple of d (checked at the first synchronized call). Without a multi-replica strategy it is local batch
/// normalization, as MindSpore with one device.</para>
/// </remarks>
public sealed class GlobalBatchNorm : SyncBatchNormalization
{
    /// <summary>Creates the layer (MindSpore <c>GlobalBatchNorm(num_features, eps, momentum, affine, gamma_init, beta_init,
    /// moving_mean_init, moving_var_init, use_batch_statistics, device_num_each_group)</c>, in that order).</summary>
    /// <param name="numFeatures">C, the size of axis 1 of the input; at least 1.</param>
    /// <param name="eps">Added to the variance; positive.</param>
    /// <param name="momentum">Weight of the old moving statistics, in [0, 1].</param>
    /// <param name="affine">Whether γ and β are learned (otherwise γ = 1, β = 0).</param>
    /// <param name="gammaInit">MindSpore initializer name of γ.</param>
    /// <param name="betaInit">MindSpore initializer name of β.</param>
    /// <param name="movingMeanInit">MindSpore initializer name of the moving mean.</param>
    /// <param name="movingVarInit">MindSpore initializer name of the moving variance.</param>
    /// <param name="useBatchStatistics">null, true or false, as described on the class.</param>
    /// <param name="deviceNumEachGroup">Replicas per group; at least 2.</param>
    /// <param name="name">The layer name; generated when null.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="numFeatures"/> is below 1, <paramref name="momentum"/>
    /// is outside [0, 1], <paramref name="eps"/> is not positive, or <paramref name="deviceNumEachGroup"/> is below 2.</exception>
    /// <exception cref="ArgumentException">An initializer name is unknown.</exception>
    public GlobalBatchNorm(int numFeatures, float eps = 1e-5f, float momentum = 0.9f, bool affine = true,
        string gammaInit = "ones", string betaInit = "zeros", string movingMeanInit = "zeros", string movingVarInit = "ones",
        bool? useBatchStatistics = null, int deviceNumEachGroup = 2, string? name = null)
        : base(axis: [1], momentum: FacadeChecks.CheckMomentum(momentum, nameof(momentum)),
            epsilon: FacadeChecks.CheckEpsilon(eps, nameof(eps)), center: affine, scale: affine,
            betaInitializer: MindSporeInitializers.Get(betaInit, nameof(betaInit)),
            gammaInitializer: MindSporeInitializers.Get(gammaInit, nameof(gammaInit)),
            movingMeanInitializer: MindSporeInitializers.Get(movingMeanInit, nameof(movingMeanInit)),
            movingVarianceInitializer: MindSporeInitializers.Get(movingVarInit, nameof(movingVarInit)),
            name: name, useBatchStatistics: useBatchStatistics)
    {
        NumFeatures = FacadeChecks.CheckNumFeatures(numFeatures, nameof(numFeatures));
        if (deviceNumEachGroup < 2)
            throw new ArgumentOutOfRangeException(nameof(deviceNumEachGroup), deviceNumEachGroup, "deviceNumEachGroup must be at least 2.");
        DeviceNumEachGroup = deviceNumEachGroup;
        ExpectedChannels = numFeatures;
        AcceptedRanks = [2, 4];
    }

    /// <summary>C, the number of channels (axis 1).</summary>
    public int NumFeatures { get; }

    /// <summary>The number of consecutive replicas in each group.</summary>
    public int DeviceNumEachGroup { get; }

    /// <inheritdoc/>
    /// <exception cref="ArgumentException">The replica count is not a multiple of <see cref="DeviceNumEachGroup"/>.</exception>
    private protected override IReadOnlyList<IReadOnlyList<int>>? ResolveProcessGroups(int numReplicasInSync)
    {
        int d = DeviceNumEachGroup;
        if (numReplicasInSync % d != 0)
            throw new ArgumentException($"{numReplicasInSync} replicas in sync cannot be split into groups of deviceNumEachGroup = {d}: the replica count must be a multiple of it.", "deviceNumEachGroup");
        return Enumerable.Range(0, numReplicasInSync / d).Select(g => (IReadOnlyList<int>)Enumerable.Range(g * d, d).ToArray()).ToArray();
    }

    /// <summary>The core config plus <c>num_features</c> and <c>device_num_each_group</c>.</summary>
    public override IReadOnlyDictionary<string, object?> GetConfig() => new Dictionary<string, object?>(base.GetConfig())
    {
        ["num_features"] = NumFeatures,
        ["device_num_each_group"] = DeviceNumEachGroup,
    };
}
