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
/// </remarks>
public sealed class SyncBatchNormalization : BatchNormalization
{
    /// <summary>Creates the layer; arguments as in <see cref="BatchNormalization"/>, always synchronized.</summary>
    /// <param name="axis">The channel axis or axes (negative counts from the end); [-1] when null. The batch axis 0 cannot be one.</param>
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
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="momentum"/> is outside [0, 1], or <paramref name="epsilon"/> is not positive.</exception>
    /// <exception cref="ArgumentException"><paramref name="axis"/> is empty, repeated, or includes the batch axis 0.</exception>
    public SyncBatchNormalization(IReadOnlyList<int>? axis = null, float momentum = 0.99f, float epsilon = 1e-3f,
        bool center = true, bool scale = true,
        IInitializer? betaInitializer = null, IInitializer? gammaInitializer = null,
        IInitializer? movingMeanInitializer = null, IInitializer? movingVarianceInitializer = null,
        IRegularizer? betaRegularizer = null, IRegularizer? gammaRegularizer = null,
        IConstraint? betaConstraint = null, IConstraint? gammaConstraint = null,
        string? name = null, bool trainable = true)
        : base(axis, momentum, epsilon, center, scale, betaInitializer, gammaInitializer, movingMeanInitializer,
            movingVarianceInitializer, betaRegularizer, gammaRegularizer, betaConstraint, gammaConstraint,
            synchronized: true, name, trainable)
    {
    }

    /// <summary>Rebuilds a layer from <see cref="BatchNormalization.GetConfig"/> output; it is synchronized whatever the config says.</summary>
    /// <exception cref="ArgumentException">A value has the wrong type or an unknown class name.</exception>
    public static new SyncBatchNormalization FromConfig(IReadOnlyDictionary<string, object?> config)
    {
        ArgumentNullException.ThrowIfNull(config);
        var a = ReadConfig(config);
        return new SyncBatchNormalization(a.Axis, a.Momentum, a.Epsilon, a.Center, a.Scale, a.BetaInit, a.GammaInit, a.MeanInit,
            a.VarInit, a.BetaReg, a.GammaReg, a.BetaCon, a.GammaCon, a.Name, a.Trainable);
    }
}
