using TfSyncBN.Distribute;
using TfSyncBN.Tensors;

namespace TfSyncBN.Keras;

/// <summary>
/// Turns ordinary batch normalization into synchronized batch normalization, like PyTorch's
/// <c>torch.nn.SyncBatchNorm.convert_sync_batchnorm</c> and Paddle's <c>paddle.nn.SyncBatchNorm.convert_sync_batchnorm</c>.
/// </summary>
public static partial class SyncBatchNormConversion
{
    /// <summary>
    /// A <see cref="SyncBatchNormalization"/> equivalent to <paramref name="layer"/> when it is exactly a
    /// <see cref="BatchNormalization"/> (synchronized or not); any other layer is returned unchanged (the same instance).
    /// </summary>
    /// <remarks>
    /// <para>The new layer has the same name, trainable flag, axis, momentum, epsilon, center and scale, the same
    /// initializer, regularizer and constraint objects, and, when the original is built, is built for the same input
    /// shape with γ, β, moving mean and moving variance holding the original's values. Variables mirrored over a
    /// strategy are re-created mirrored over the same strategy, and every copy takes the original's cross-replica value
    /// (replica 0's copy for γ and β, the mean of the copies for the moving statistics, as Keras reads them). Without a
    /// strategy its outputs equal the original's bit for bit. The original layer is not modified.</para>
    /// <para>Subclasses of <see cref="BatchNormalization"/> other than <see cref="SyncBatchNormalization"/> are left
    /// alone, since their extra behaviour could not be carried over.</para>
    /// </remarks>
    /// <param name="layer">The layer.</param>
    /// <exception cref="ArgumentNullException"><paramref name="layer"/> is null.</exception>
    /// <exception cref="InvalidOperationException">Called inside a replica function of a multi-replica strategy.</exception>
    public static Layer ConvertLayer(Layer layer)
    {
        ArgumentNullException.ThrowIfNull(layer);
        if (layer.GetType() != typeof(BatchNormalization)) return layer;
        if (ReplicaContext.Current is { IsDistributed: true } ctx)
            throw new InvalidOperationException($"Convert layers in cross-replica code, not inside strategy.Run (called from replica {ctx.ReplicaId} of {ctx.NumReplicasInSync}).");
        var bn = (BatchNormalization)layer;
        var sync = new SyncBatchNormalization(bn.Axis, bn.Momentum, bn.Epsilon, bn.Center, bn.Scale,
            bn.BetaInitializer, bn.GammaInitializer, bn.MovingMeanInitializer, bn.MovingVarianceInitializer,
            bn.BetaRegularizer, bn.GammaRegularizer, bn.BetaConstraint, bn.GammaConstraint, bn.Name, bn.Trainable);
        if (bn.BuiltInputShape is { } shape)
        {
            var strategy = bn.MovingMean!.Strategy;
            using (strategy?.Scope())
            {
                sync.EnsureBuilt(shape);
                Copy(bn.Gamma, sync.Gamma);
                Copy(bn.Beta, sync.Beta);
                Copy(bn.MovingMean, sync.MovingMean);
                Copy(bn.MovingVariance, sync.MovingVariance);
            }
        }
        return sync;
    }

    private static void Copy(Variable? from, Variable? to)
    {
        if (from is null || to is null) return;
        using (GradientTape.Pause()) to.Assign(from.Value);
    }
}
