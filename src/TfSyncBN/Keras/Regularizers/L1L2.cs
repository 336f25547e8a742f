using TfSyncBN.Tensors;

namespace TfSyncBN.Keras;

/// <summary>
/// Penalizes the sum of absolute values and the sum of squares (<c>keras.regularizers.L1L2</c>, names <c>l1_l2</c>,
/// <c>l1l2</c>). Config: <c>{"l1", "l2"}</c>.
/// </summary>
/// <remarks>
/// <para><see cref="Call"/> returns the scalar <c>l1·Σ|w| + l2·Σw²</c>, built from differentiable tensor operations:
/// its gradient is <c>l1·sign(w) + 2·l2·w</c> (with sign(0) = 0). As in Keras, a term whose factor is 0 is left out, and
/// with both factors 0 the result is a constant 0 that does not depend on the weights (a tape gives a null gradient).</para>
/// <para>Both factors default to 0, as in Keras' class <c>L1L2</c> (Keras 2's function <c>l1_l2</c> defaulted to 0.01).</para>
/// </remarks>
public sealed class L1L2 : IRegularizer
{
    /// <summary>Creates the regularizer.</summary>
    /// <param name="l1">Factor of the L1 term, finite and ≥ 0.</param>
    /// <param name="l2">Factor of the L2 term, finite and ≥ 0.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="l1"/> or <paramref name="l2"/> is negative or not finite.</exception>
    public L1L2(float l1 = 0f, float l2 = 0f)
    {
        L1Factor = CheckFactor(l1, nameof(l1));
        L2Factor = CheckFactor(l2, nameof(l2));
    }

    /// <summary>Factor of the L1 term (config key <c>l1</c>).</summary>
    public float L1Factor { get; }

    /// <summary>Factor of the L2 term (config key <c>l2</c>).</summary>
    public float L2Factor { get; }

    /// <inheritdoc/>
    public string ClassName => "L1L2";

    /// <inheritdoc/>
    public IReadOnlyDictionary<string, object?> GetConfig() =>
        new Dictionary<string, object?> { ["l1"] = KerasConfig.Number(L1Factor), ["l2"] = KerasConfig.Number(L2Factor) };

    /// <summary>The penalty <c>l1·Σ|w| + l2·Σw²</c> over all elements, a scalar (rank-0) tensor; see the remarks.</summary>
    /// <param name="weights">The weights, of any shape.</param>
    /// <exception cref="ArgumentNullException"><paramref name="weights"/> is null.</exception>
    public Tensor Call(Tensor weights)
    {
        ArgumentNullException.ThrowIfNull(weights);
        return (L1Factor, L2Factor) switch
        {
            (0, 0) => Tensor.Scalar(0f),
            (_, 0) => L1Term(weights, L1Factor),
            (0, _) => L2Term(weights, L2Factor),
            _ => L1Term(weights, L1Factor) + L2Term(weights, L2Factor),
        };
    }

    /// <summary><c>l1·Σ|w|</c>, a scalar tensor.</summary>
    internal static Tensor L1Term(Tensor weights, float l1) => weights.Abs().Sum() * l1;

    /// <summary><c>l2·Σw²</c>, a scalar tensor.</summary>
    internal static Tensor L2Term(Tensor weights, float l2) => weights.Square().Sum() * l2;

    /// <summary>Keras' <c>validate_float_arg</c>: a regularization factor must be finite and non-negative.</summary>
    internal static float CheckFactor(float value, string paramName) => float.IsFinite(value) && value >= 0
        ? value
        : throw new ArgumentOutOfRangeException(paramName, value, $"{paramName} must be a finite number >= 0.");

    internal static L1L2 FromConfig(IReadOnlyDictionary<string, object?> config) =>
        new(KerasConfig.GetFloat(config, "l1", 0f), KerasConfig.GetFloat(config, "l2", 0f));
}
