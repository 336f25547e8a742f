using TfSyncBN.Tensors;

namespace TfSyncBN.Keras;

/// <summary>
/// Constrains the L2 norm along an axis to at most a maximum (<c>keras.constraints.MaxNorm</c>, name <c>max_norm</c>).
/// Config: <c>{"max_value", "axis"}</c>.
/// </summary>
/// <remarks>For a Dense kernel <c>[input, units]</c> the default axis 0 constrains each unit's incoming weight vector;
/// for a Conv2D kernel <c>[rows, cols, in, out]</c> use axis [0, 1, 2].</remarks>
public sealed class MaxNorm : IConstraint
{
    private readonly int[] axis;

    /// <summary>Creates the constraint.</summary>
    /// <param name="maxValue">The maximum norm, finite and ≥ 0.</param>
    /// <param name="axis">The axes along which norms are taken (negative values count from the end); null means [0].</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="maxValue"/> is negative or not finite.</exception>
    /// <exception cref="ArgumentException"><paramref name="axis"/> repeats an entry.</exception>
    public MaxNorm(float maxValue = 2f, IReadOnlyList<int>? axis = null)
    {
        MaxValue = float.IsFinite(maxValue) && maxValue >= 0
            ? maxValue
            : throw new ArgumentOutOfRangeException(nameof(maxValue), maxValue, "maxValue must be a finite number >= 0.");
        this.axis = NormAxes.Check(axis, nameof(axis));
    }

    /// <summary>The maximum norm (config key <c>max_value</c>).</summary>
    public float MaxValue { get; }

    /// <summary>The axes along which norms are taken (config key <c>axis</c>: an int for one axis, else a list).</summary>
    public IReadOnlyList<int> Axis => Array.AsReadOnly(axis);

    /// <inheritdoc/>
    public string ClassName => "MaxNorm";

    /// <inheritdoc/>
    public IReadOnlyDictionary<string, object?> GetConfig() =>
        new Dictionary<string, object?> { ["max_value"] = KerasConfig.Number(MaxValue), ["axis"] = NormAxes.ToConfig(axis) };

    /// <summary>
    /// <c>w · clip(n, 0, max_value) / (ε + n)</c>, Keras' formula, where <c>n = sqrt(Σ w²)</c> over <see cref="Axis"/>
    /// (kept as size-1 dimensions) and ε = 1e-7: slices whose norm exceeds the maximum are scaled down to it (up to ε),
    /// the others are multiplied by <c>n/(ε + n)</c>, which is 1 within float rounding for norms much larger than ε.
    /// </summary>
    /// <param name="weights">The weights.</param>
    /// <exception cref="ArgumentNullException"><paramref name="weights"/> is null.</exception>
    /// <exception cref="ArgumentException">An axis is out of range for the rank of <paramref name="weights"/>, or two name the same dimension.</exception>
    public Tensor Call(Tensor weights)
    {
        ArgumentNullException.ThrowIfNull(weights);
        var norms = NormAxes.Norms(weights, axis, nameof(weights));
        var desired = norms.Maximum(Tensor.Scalar(0f)).Minimum(Tensor.Scalar(MaxValue));
        return weights * (desired / (NormAxes.Epsilon + norms));
    }

    internal static MaxNorm FromConfig(IReadOnlyDictionary<string, object?> config) =>
        new(KerasConfig.GetFloat(config, "max_value", 2f), NormAxes.FromConfig(config));
}
