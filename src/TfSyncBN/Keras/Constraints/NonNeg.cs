using TfSyncBN.Tensors;

namespace TfSyncBN.Keras;

/// <summary>Constrains weights to be non-negative (<c>keras.constraints.NonNeg</c>, name <c>non_neg</c>). Its config is empty.</summary>
public sealed class NonNeg : IConstraint
{
    /// <inheritdoc/>
    public string ClassName => "NonNeg";

    /// <inheritdoc/>
    public IReadOnlyDictionary<string, object?> GetConfig() => new Dictionary<string, object?>();

    /// <summary>
    /// <c>w · (w ≥ 0)</c> element-wise, Keras' formula: non-negative elements are kept, negative ones become zero
    /// (<c>-0.0</c>, which compares equal to 0), NaN stays NaN.
    /// </summary>
    /// <param name="weights">The weights, of any shape.</param>
    /// <exception cref="ArgumentNullException"><paramref name="weights"/> is null.</exception>
    public Tensor Call(Tensor weights)
    {
        ArgumentNullException.ThrowIfNull(weights);
        return weights * weights.Map(static v => v >= 0 ? 1f : 0f);
    }
}
