using TfSyncBN.Tensors;

namespace TfSyncBN.Keras;

/// <summary>
/// Batch normalization with statistics synchronized across the replicas of a distribution strategy
/// (tf.keras <c>SyncBatchNormalization</c>, Keras 3 <c>BatchNormalization(synchronized=True)</c>).
/// </summary>
/// <remarks>
/// <para>Inside <c>strategy.Run</c> with R &gt; 1 replicas, a training-mode call computes the mean μ and biased
/// variance σ² of each channel over the <em>global</em> batch, the concatenation of every replica's batch:</para>
/// <code>N = Σ_r n_r,   μ = Σ_r n_r·μ_r / N,   σ² = (Σ_r (M2_r + n_r·μ_r²)) / N − μ²   (clamped at 0)</code>
/// <para>where n_r, μ_r and M2_r (sum of squared deviations) come from each replica's local batch, computed with a
/// shifted single pass and combined in float64. It takes ONE all-reduce of 2C+1 values per forward call and ONE of 2C
/// values per backward call (Σdy and Σdy·(x−μ)), so outputs, moving statistics and input gradients equal those of
/// <see cref="BatchNormalization"/> on the concatenated batch. Uneven and empty per-replica batches are exact; an empty
/// replica still joins every collective and returns an empty output; a global batch with no elements leaves the moving
/// statistics unchanged. The gradients of γ and β stay local to each replica: the optimizer's cross-replica gradient
/// sum adds them up (reducing them here too would count them R times).</para>
/// <para>With no strategy, with one replica, or in cross-replica code, it is exactly <see cref="BatchNormalization"/>.
/// Inference uses the moving statistics and never communicates. The formulas and defaults are otherwise those of
/// <see cref="BatchNormalization"/>.</para>
/// <para><c>processGroups</c> restricts synchronization to groups of replicas (still one collective per pass), and the
/// other options of <see cref="BatchNormalization"/> (batch-statistics mode, running-statistics tracking, unbiased
/// moving variance, momentum convention, data format) apply unchanged. <see cref="BatchNormalization.CallSparse"/>
/// normalizes the stored values of a sparse COO tensor, synchronized in the same way.</para>
/// </remarks>
public class SyncBatchNormalization : BatchNormalization
{
    /// <summary>Creates the layer; arguments as in <see cref="BatchNormalization"/>, always synchronized.</summary>
    /// <param name="axis">The channel axis or axes (negative counts from the end); [-1] when null. The batch axis 0 cannot be one.
    /// Keras' <c>axis=1</c> is <c>axis: [1]</c> (F#: <c>axis = [1]</c>); configs accept an int or a list.</param>
    /// <param name="momentum">The moving-average momentum, in [0, 1] (Keras convention).</param>
    /// <param name="epsilon">Added to the variance before the square root; must be positive.</param>
    /// <param name="center">Whether to add the learned offset β.</param>
    /// <param name="scale">Whether to multiply by the learned scale γ.</param>
    /// <param name="betaInitializer">Initializer of β; zeros when null.</param>
    /// <param name="gammaInitializer">Initializer of γ; ones when null.</param>
    /// <param name="movingMeanInitializer">Initializer of the moving mean; zeros when null.</param>
    /// <param name="movingVarianceInitializer">Initializer of the moving variance; ones when null.</param>
    /// <param name="betaRegularizer">Penalty on β, or null.</param>
    /// <param name="gammaRegularizer">Penalty on γ, or null.</param>
    /// <param name="betaConstraint">Projection of β after optimizer updates, or null.</param>
    /// <param name="gammaConstraint">Projection of γ after optimizer updates, or null.</param>
    /// <param name="name">The layer name; generated when null.</param>
    /// <param name="trainable">Whether the layer trains; false means inference behaviour.</param>
    /// <param name="processGroups">A partition of the replica ids into groups that synchronize separately; null for all replicas.</param>
    /// <param name="useBatchStatistics">null: batch statistics in training, moving ones in inference; true: always batch; false: always moving.</param>
    /// <param name="trackRunningStats">false: no moving statistics; batch statistics in every mode.</param>
    /// <param name="unbiasedMovingVariance">Whether the moving variance is updated with the unbiased batch variance.</param>
    /// <param name="momentumConvention">How <paramref name="momentum"/> weighs old and new statistics.</param>
    /// <param name="dataFormat">A data format such as <c>NCHW</c> or <c>NHWC</c> instead of <paramref name="axis"/>.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="momentum"/> is outside [0, 1], <paramref name="epsilon"/>
    /// is not positive, or <paramref name="momentumConvention"/> is not a defined value.</exception>
    /// <exception cref="ArgumentException">As in <see cref="BatchNormalization(IReadOnlyList{int}?, float, float, bool, bool, IInitializer?, IInitializer?, IInitializer?, IInitializer?, IRegularizer?, IRegularizer?, IConstraint?, IConstraint?, bool, string?, bool, IReadOnlyList{IReadOnlyList{int}}?, bool?, bool, bool, MomentumConvention, string?)"/>.</exception>
    public SyncBatchNormalization(IReadOnlyList<int>? axis = null, float momentum = 0.99f, float epsilon = 1e-3f,
        bool center = true, bool scale = true,
        IInitializer? betaInitializer = null, IInitializer? gammaInitializer = null,
        IInitializer? movingMeanInitializer = null, IInitializer? movingVarianceInitializer = null,
        IRegularizer? betaRegularizer = null, IRegularizer? gammaRegularizer = null,
        IConstraint? betaConstraint = null, IConstraint? gammaConstraint = null,
        string? name = null, bool trainable = true,
        IReadOnlyList<IReadOnlyList<int>>? processGroups = null, bool? useBatchStatistics = null, bool trackRunningStats = true,
        bool unbiasedMovingVariance = false, MomentumConvention momentumConvention = MomentumConvention.Keras, string? dataFormat = null)
        : base(axis, momentum, epsilon, center, scale, betaInitializer, gammaInitializer, movingMeanInitializer,
            movingVarianceInitializer, betaRegularizer, gammaRegularizer, betaConstraint, gammaConstraint,
            synchronized: true, name, trainable, processGroups, useBatchStatistics, trackRunningStats, unbiasedMovingVariance,
            momentumConvention, dataFormat)
    {
    }

    /// <summary>
    /// A synchronized copy of <paramref name="layer"/> when it is exactly a <see cref="BatchNormalization"/>
    /// (PyTorch and Paddle <c>convert_sync_batchnorm</c>); any other layer, a <see cref="SyncBatchNormalization"/>
    /// included, is returned unchanged (the same instance), as both frameworks return other modules as they are.
    /// </summary>
    /// <remarks>
    /// The copy has the same name, trainable flag and options (axis or data format, momentum and its convention,
    /// epsilon, center, scale, batch-statistics mode, running-statistics tracking, unbiased variance), the same
    /// initializer, regularizer and constraint objects, and <paramref name="processGroups"/> (or the original's). When
    /// the original is built, the copy is built for the same input shape and holds the current values of γ, β, the moving
    /// statistics and <c>num_batches_tracked</c> (copied, not shared). Variables mirrored over a strategy are re-created
    /// mirrored over the same strategy, and every copy takes the original's cross-replica value. Without a strategy
    /// the copy computes exactly what the original computes. The original is not modified.
    /// </remarks>
    /// <param name="layer">The layer to convert.</param>
    /// <param name="processGroups">The process groups of the new layer; null keeps <paramref name="layer"/>'s (none for a plain layer).</param>
    /// <exception cref="ArgumentNullException"><paramref name="layer"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="processGroups"/> is not a valid partition.</exception>
    /// <exception cref="InvalidOperationException">Called inside a replica function of a multi-replica strategy.</exception>
    public static Layer Convert(Layer layer, IReadOnlyList<IReadOnlyList<int>>? processGroups = null) =>
        ConvertNaming(layer, processGroups, nameof(processGroups));

    /// <summary><see cref="Convert"/> whose process-group errors name
    /// <paramref name="processGroupsParamName"/> (a facade's own parameter).</summary>
    internal static Layer ConvertNaming(Layer layer, IReadOnlyList<IReadOnlyList<int>>? processGroups, string processGroupsParamName)
    {
        ArgumentNullException.ThrowIfNull(layer);
        if (layer.GetType() != typeof(BatchNormalization)) return layer;
        if (Distribute.ReplicaContext.Current is { IsDistributed: true } ctx)
            throw new InvalidOperationException(
                $"Convert layers in cross-replica code, not inside strategy.Run (called from replica {ctx.ReplicaId} of {ctx.NumReplicasInSync}).");
        var bn = (BatchNormalization)layer;
        var strategy = bn.Weights.FirstOrDefault()?.Strategy as Distribute.Strategy;
        using (strategy?.Scope())
        {
            // Checked here, in the original's strategy scope, as the constructor below would, but naming the caller's parameter.
            if (processGroups is not null) ProcessGroups.ValidateAtConstruction(processGroups, processGroupsParamName);
            var copy = new SyncBatchNormalization(bn.DataFormat is null ? bn.Axis : null, bn.Momentum, bn.Epsilon, bn.Center, bn.Scale,
                bn.BetaInitializer, bn.GammaInitializer, bn.MovingMeanInitializer, bn.MovingVarianceInitializer,
                bn.BetaRegularizer, bn.GammaRegularizer, bn.BetaConstraint, bn.GammaConstraint, bn.Name, bn.Trainable,
                processGroups ?? bn.ProcessGroupList, bn.UseBatchStatistics, bn.TrackRunningStats, bn.UnbiasedMovingVariance,
                bn.MomentumConvention, bn.DataFormat);
            if (bn.BuiltInputShape is { } shape)
            {
                copy.EnsureBuilt(shape);
                using var pause = GradientTape.Pause();
                Copy(bn.Gamma, copy.Gamma);
                Copy(bn.Beta, copy.Beta);
                Copy(bn.MovingMean, copy.MovingMean);
                Copy(bn.MovingVariance, copy.MovingVariance);
                Copy(bn.NumBatchesTracked, copy.NumBatchesTracked);
            }
            return copy;
        }
    }

    private static void Copy(Variable? from, Variable? to)
    {
        if (from is not null && to is not null) to.Assign(from.Value);
    }

    /// <summary>Rebuilds a layer from <see cref="BatchNormalization.GetConfig"/> output; it is synchronized whatever the config says.</summary>
    /// <exception cref="ArgumentException">A value has the wrong type or an unknown class name.</exception>
    public static new SyncBatchNormalization FromConfig(IReadOnlyDictionary<string, object?> config)
    {
        ArgumentNullException.ThrowIfNull(config);
        var a = ReadConfig(config);
        return new SyncBatchNormalization(a.Axis, a.Momentum, a.Epsilon, a.Center, a.Scale, a.BetaInit, a.GammaInit, a.MeanInit,
            a.VarInit, a.BetaReg, a.GammaReg, a.BetaCon, a.GammaCon, a.Name, a.Trainable,
            a.ProcessGroups, a.UseBatchStatistics, a.TrackRunningStats, a.Unbiased, a.Convention, a.DataFormat);
    }
}
