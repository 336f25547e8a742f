namespace TfSyncBN.Tensors;

/// <summary>
/// Thrown by the opt-in numerics check (<see cref="Debugging.EnableCheckNumerics"/>) when a tensor holds NaN or an
/// infinity: the message and properties name the layer, the replica and the tensor (<c>tf.debugging.check_numerics</c>).
/// </summary>
/// <remarks>
/// Inside <c>strategy.Run</c> the replica that finds the value throws this exception; the other replicas are released
/// with <c>ReplicaFailedException</c>, and <c>Run</c> rethrows this one.
/// </remarks>
public sealed class CheckNumericsException : ArithmeticException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="message">The message.</param>
    /// <param name="layerName">See <see cref="LayerName"/>.</param>
    /// <param name="replicaId">See <see cref="ReplicaId"/>.</param>
    /// <param name="tensorName">See <see cref="TensorName"/>.</param>
    /// <param name="index">See <see cref="Index"/>.</param>
    /// <param name="value">See <see cref="Value"/>.</param>
    public CheckNumericsException(string message, string layerName, int replicaId, string tensorName, int index, float value)
        : base(message)
    {
        LayerName = layerName;
        ReplicaId = replicaId;
        TensorName = tensorName;
        Index = index;
        Value = value;
    }

    /// <summary>The name of the layer whose tensor holds the value (for a weight gradient, the layer that owns the weight).</summary>
    public string LayerName { get; }

    /// <summary>The replica that computed the tensor, or -1 in cross-replica code.</summary>
    public int ReplicaId { get; }

    /// <summary>
    /// Which tensor: <c>input</c> or <c>output</c> (of the layer's forward pass), <c>gradient of output</c> (the upstream
    /// gradient entering the layer's backward pass), or <c>gradient of weight 'name'</c> (this replica's gradient in the
    /// training step, before the all-reduce).
    /// </summary>
    public string TensorName { get; }

    /// <summary>The row-major index of the first non-finite element.</summary>
    public int Index { get; }

    /// <summary>The first non-finite element: NaN, +∞ or −∞.</summary>
    public float Value { get; }
}
