using TfSyncBN.Tensors;

namespace TfSyncBN.Keras;

/// <summary>
/// Constrains the weights to unit L2 norm along an axis (<c>keras.constraints.UnitNorm</c>, name <c>unit_norm</c>).
/// Config: <c>{"axis"}</c>.
/// </summary>
/// <remarks>For a Dense kernel <c>[input, units]</c> the default axis 0 normalizes each unit's incoming weight vector;
/// for a Conv2D kernel <c>[rows, cols, in, out]</c> use axis [0, 1, 2].</remarks>
public sealed class UnitNorm : IConstraint
{
    private readonly int[] axis;

    /// <summary>Creates the constraint.</summary>
    /// <param name="axis">The axes along which norms are taken (negative values count from the end); null means [0].</param>
    /// <exception cref="ArgumentException"><paramref name="axis"/> repeats an entry.</exception>
    public UnitNorm(IReadOnlyList<int>? axis = null) => this.axis = NormAxes.Check(axis, nameof(axis));

    /// <summary>The axes along which norms are taken (config key <c>axis</c>: an int for one axis, else a list).</summary>
    public IReadOnlyList<int> Axis => Array.AsReadOnly(axis);

    /// <inheritdoc/>
    public string ClassName => "UnitNorm";

    /// <inheritdoc/>
    public IReadOnlyDictionary<string, object?> GetConfig() => new Dictionary<string, object?> { ["axis"] = NormAxes.ToConfig(axis) };

    /// <summary><c>w / (ε + sqrt(Σ w²))</c> with the sum over <see cref="Axis"/> (kept as size-1 dimensions) and ε = 1e-7 (Keras' <c>backend.epsilon()</c>).</summary>
    /// <param name="weights">The weights.</param>
    /// <exception cref="ArgumentNullException"><paramref name="weights"/> is null.</exception>
    /// <exception cref="ArgumentException">An axis is out of range for the rank of <paramref name="weights"/>, or two name the same dimension.</exception>
    public Tensor Call(Tensor weights)
    {
        ArgumentNullException.ThrowIfNull(weights);
        return weights / (NormAxes.Epsilon + NormAxes.Norms(weights, axis, nameof(weights)));
    }

    internal static UnitNorm FromConfig(IReadOnlyDictionary<string, object?> config) => new(NormAxes.FromConfig(config));
}
