using TfSyncBN.Tensors;

namespace TfSyncBN.Keras;

/// <summary>
/// Constrains the L2 norm along an axis to lie between a minimum and a maximum (<c>keras.constraints.MinMaxNorm</c>,
/// name <c>min_max_norm</c>). Config: <c>{"min_value", "max_value", "rate", "axis"}</c>.
/// </summary>
/// <remarks><see cref="Rate"/> 1 enforces the bounds strictly; a smaller rate moves the norms only part of the way
/// towards the interval at each projection.</remarks>
public sealed class MinMaxNorm : IConstraint
{
    private readonly int[] axis;

    /// <summary>Creates the constraint.</summary>
    /// <param name="minValue">The minimum norm, finite and ≥ 0.</param>
    /// <param name="maxValue">The maximum norm, finite and ≥ <paramref name="minValue"/>.</param>
    /// <param name="rate">How far to move the norms towards [minValue, maxValue], in [0, 1].</param>
    /// <param name="axis">The axes along which norms are taken (negative values count from the end); null means [0].</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="minValue"/> is negative or not finite,
    /// <paramref name="maxValue"/> is below <paramref name="minValue"/> or not finite, or <paramref name="rate"/> is outside [0, 1].</exception>
    /// <exception cref="ArgumentException"><paramref name="axis"/> repeats an entry.</exception>
    public MinMaxNorm(float minValue = 0f, float maxValue = 1f, float rate = 1f, IReadOnlyList<int>? axis = null)
    {
        MinValue = float.IsFinite(minValue) && minValue >= 0
            ? minValue
            : throw new ArgumentOutOfRangeException(nameof(minValue), minValue, "minValue must be a finite number >= 0.");
        MaxValue = float.IsFinite(maxValue) && maxValue >= minValue
            ? maxValue
            : throw new ArgumentOutOfRangeException(nameof(maxValue), maxValue, $"maxValue must be a finite number >= minValue ({minValue}).");
        Rate = rate is >= 0 and <= 1
            ? rate
            : throw new ArgumentOutOfRangeException(nameof(rate), rate, "rate must be in [0, 1].");
        this.axis = NormAxes.Check(axis, nameof(axis));
    }

    /// <summary>The minimum norm (config key <c>min_value</c>).</summary>
    public float MinValue { get; }

    /// <summary>The maximum norm (config key <c>max_value</c>).</summary>
    public float MaxValue { get; }

    /// <summary>How far the norms move towards the interval, 1 meaning all the way (config key <c>rate</c>).</summary>
    public float Rate { get; }

    /// <summary>The axes along which norms are taken (config key <c>axis</c>: an int for one axis, else a list).</summary>
    public IReadOnlyList<int> Axis => Array.AsReadOnly(axis);

    /// <inheritdoc/>
    public string ClassName => "MinMaxNorm";

    /// <inheritdoc/>
    public IReadOnlyDictionary<string, object?> GetConfig() => new Dictionary<string, object?>
    {
        ["min_value"] = KerasConfig.Number(MinValue),
        ["max_value"] = KerasConfig.Number(MaxValue),
        ["rate"] = KerasConfig.Number(Rate),
        ["axis"] = NormAxes.ToConfig(axis),
    };

    /// <summary>
    /// <c>w · desired / (ε + n)</c> with <c>desired = rate·clip(n, min_value, max_value) + (1 − rate)·n</c>, Keras'
    /// formula, where <c>n = sqrt(Σ w²)</c> over <see cref="Axis"/> (kept as size-1 dimensions) and ε = 1e-7.
    /// </summary>
    /// <param name="weights">The weights.</param>
    /// <exception cref="ArgumentNullException"><paramref name="weights"/> is null.</exception>
    /// <exception cref="ArgumentException">An axis is out of range for the rank of <paramref name="weights"/>, or two name the same dimension.</exception>
    public Tensor Call(Tensor weights)
    {
        ArgumentNullException.ThrowIfNull(weights);
        var norms = NormAxes.Norms(weights, axis, nameof(weights));
        var clipped = norms.Maximum(Tensor.Scalar(MinValue)).Minimum(Tensor.Scalar(MaxValue));
        var desired = Rate * clipped + (1 - Rate) * norms;
        return weights * (desired / (NormAxes.Epsilon + norms));
    }

    internal static MinMaxNorm FromConfig(IReadOnlyDictionary<string, object?> config) => new(
        KerasConfig.GetFloat(config, "min_value", 0f), KerasConfig.GetFloat(config, "max_value", 1f),
        KerasConfig.GetFloat(config, "rate", 1f), NormAxes.FromConfig(config));
}
