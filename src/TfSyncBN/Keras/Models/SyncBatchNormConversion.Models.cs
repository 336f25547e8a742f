namespace TfSyncBN.Keras;

public static partial class SyncBatchNormConversion
{
    /// <summary>
    /// A model like <paramref name="model"/> in which every <see cref="BatchNormalization"/> is replaced by an equivalent
    /// <see cref="SyncBatchNormalization"/> (PyTorch <c>convert_sync_batchnorm</c>; see <see cref="ConvertLayer"/> for what
    /// is carried over: options, regularizers, constraints, weights and moving statistics).
    /// </summary>
    /// <remarks>
    /// The result is a new, uncompiled <see cref="Sequential"/> with the same name, created under the original's
    /// <see cref="Model.Strategy"/> and built for the same input shape when the original is built. Its other layers are
    /// the original's layer objects (sharing their weights), so keep using only the returned model and compile it before
    /// training. Without a strategy it computes exactly what the original computes.
    /// </remarks>
    /// <param name="model">The model.</param>
    /// <exception cref="ArgumentNullException"><paramref name="model"/> is null.</exception>
    /// <exception cref="InvalidOperationException">Called inside a replica function of a multi-replica strategy.</exception>
    public static Sequential ConvertSyncBatchNorm(Sequential model)
    {
        ArgumentNullException.ThrowIfNull(model);
        var strategy = model.Strategy;
        var scope = strategy.NumReplicasInSync > 1 && !ReferenceEquals(Distribute.Strategy.Current, strategy) ? strategy.Scope() : null;
        using (scope)
        {
            var layers = model.Layers.Select(ConvertLayer).ToArray();
            return new Sequential(layers, model.BuiltInputShape is { } s ? s.Skip(1).ToArray() : null, model.Name);
        }
    }
}
