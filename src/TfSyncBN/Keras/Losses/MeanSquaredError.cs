using TfSyncBN.Tensors;

namespace TfSyncBN.Keras;

/// <summary>Mean squared error (<c>keras.losses.MeanSquaredError</c>): per example, <c>mean over the last axis of (yTrue − yPred)²</c>.</summary>
/// <remarks>
/// <para>Predictions of rank 1 (<c>[N]</c>) are one value per example, so the per-example loss is the squared error
/// itself. Labels of shape <c>[N]</c> with predictions <c>[N, 1]</c> are reshaped to <c>[N, 1]</c>, as Keras does.</para>
/// <para>Example (Keras docs): yTrue [[0, 1], [0, 0]], yPred [[1, 1], [1, 0]] → 0.5.</para>
/// </remarks>
public sealed class MeanSquaredError : Loss
{
    /// <summary>Creates the loss.</summary>
    /// <param name="name">The name; <c>mean_squared_error</c> when null.</param>
    public MeanSquaredError(string? name = null) : base(name ?? "mean_squared_error") { }

    /// <summary>Per-example losses: shape <c>yPred.Shape[..^1]</c>, or <c>[N]</c> for rank-1 predictions.</summary>
    /// <exception cref="ArgumentException">The shapes differ (after the <c>[N]</c> to <c>[N, 1]</c> adjustment).</exception>
    protected override Tensor Compute(Tensor yTrue, Tensor yPred)
    {
        var y = yTrue;
        if (y.Rank == yPred.Rank - 1 && yPred.Rank >= 2 && yPred.ShapeArray[^1] == 1) y = y.Reshape(yPred.ShapeArray);
        if (!Tensor.SameShape(y.ShapeArray, yPred.ShapeArray))
            throw new ArgumentException($"yTrue must have the shape of yPred {Tensor.ShapeString(yPred.ShapeArray)}, but has shape {Tensor.ShapeString(yTrue.ShapeArray)}.", nameof(yTrue));
        var squared = (yPred - y).Square();
        return yPred.Rank <= 1 ? squared : squared.Mean([-1]);
    }

    /// <summary>Rebuilds the loss from <see cref="Loss.GetConfig"/> output.</summary>
    public static MeanSquaredError FromConfig(IReadOnlyDictionary<string, object?> config)
    {
        ArgumentNullException.ThrowIfNull(config);
        return new(KerasConfig.GetString(config, "name"));
    }
}
