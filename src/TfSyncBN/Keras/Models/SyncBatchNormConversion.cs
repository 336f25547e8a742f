namespace TfSyncBN.Keras;

/// <summary>
/// Turns ordinary batch normalization into synchronized batch normalization in a whole model, like PyTorch's
/// <c>torch.nn.SyncBatchNorm.convert_sync_batchnorm</c> and Paddle's <c>paddle.nn.SyncBatchNorm.convert_sync_batchnorm</c>.
/// </summary>
public static class SyncBatchNormConversion
{
    /// <summary>
    /// A model like <paramref name="model"/> in which every <see cref="BatchNormalization"/> is replaced by an equivalent
    /// <see cref="SyncBatchNormalization"/> (PyTorch <c>convert_sync_batchnorm</c>; see <see cref="SyncBatchNormalization.Convert"/> for what
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
    /// <remarks>Nested models (a <see cref="ModelLayer"/>) are converted the same way, recursively.</remarks>
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

    /// <summary>
    /// A functional model like <paramref name="model"/> in which every <see cref="BatchNormalization"/>, including those
    /// of nested models, is replaced by an equivalent <see cref="SyncBatchNormalization"/> (see the
    /// <see cref="ConvertSyncBatchNorm(Sequential)"/> overload for what is carried over).
    /// </summary>
    /// <remarks>
    /// The result is a new, uncompiled <see cref="Functional"/> with the same name, the same graph (new input layers of
    /// the same names and shapes, every layer call replayed in order) and the original's <see cref="Model.Strategy"/>.
    /// Layers other than batch normalization are the original's objects (sharing their weights); nested models are
    /// converted into new models. Without a strategy it computes exactly what the original computes.
    /// </remarks>
    /// <param name="model">The model.</param>
    /// <exception cref="ArgumentNullException"><paramref name="model"/> is null.</exception>
    /// <exception cref="InvalidOperationException">Called inside a replica function of a multi-replica strategy.</exception>
    public static Functional ConvertSyncBatchNorm(Functional model)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (Distribute.ReplicaContext.Current is { IsDistributed: true } ctx)
            throw new InvalidOperationException($"Convert models in cross-replica code, not inside strategy.Run (called from replica {ctx.ReplicaId} of {ctx.NumReplicasInSync}).");
        var strategy = model.Strategy;
        var scope = strategy.NumReplicasInSync > 1 && !ReferenceEquals(Distribute.Strategy.Current, strategy) ? strategy.Scope() : null;
        using (scope)
        {
            var converted = new Dictionary<Layer, Layer>(ReferenceEqualityComparer.Instance);
            var tensors = new Dictionary<KerasTensor, KerasTensor>(ReferenceEqualityComparer.Instance);
            var inputs = model.Inputs.Select(t =>
            {
                var input = (InputLayer)t.Node.Layer;
                var copy = new InputLayer(input.BatchInputShape.Skip(1).ToArray(), input.BatchInputShape[0] < 0 ? null : input.BatchInputShape[0], input.Name).Output;
                tensors[t] = copy;
                return copy;
            }).ToArray();
            foreach (var node in model.Nodes)
            {
                if (node.Inputs.Count == 0) continue;
                if (!converted.TryGetValue(node.Layer, out var layer)) converted[node.Layer] = layer = ConvertLayer(node.Layer);
                var outputs = layer.CallSymbolic(node.Inputs.Select(t => tensors[t]).ToArray());
                for (int i = 0; i < outputs.Count; i++) tensors[node.Outputs[i]] = outputs[i];
            }
            return new Functional(inputs, model.Outputs.Select(t => tensors[t]).ToArray(), model.Name);
        }
    }

    /// <summary>A layer converted: a nested model recursively, batch normalization by <see cref="SyncBatchNormalization.Convert"/>.</summary>
    private static Layer ConvertLayer(Layer layer) => layer switch
    {
        ModelLayer { Model: Functional f } => ConvertSyncBatchNorm(f).AsLayer,
        ModelLayer { Model: Sequential s } => ConvertSyncBatchNorm(s).AsLayer,
        _ => SyncBatchNormalization.Convert(layer),
    };
}
