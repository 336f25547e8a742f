using TfSyncBN.Tensors;

namespace TfSyncBN.Keras;

/// <summary>Penalizes the sum of absolute values (<c>keras.regularizers.L1</c>, name <c>l1</c>). Config: <c>{"l1"}</c>.</summary>
/// <remarks><see cref="Call"/> returns the scalar <c>l1·Σ|w|</c>, built from differentiable tensor operations: its
/// gradient is <c>l1·sign(w)</c>, with sign(0) = 0.</remarks>
public sealed class L1 : IRegularizer
{
    /// <summary>Creates the regularizer.</summary>
    /// <param name="l1">The factor, finite and ≥ 0.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="l1"/> is negative or not finite.</exception>
    public L1(float l1 = 0.01f) => L1Factor = L1L2.CheckFactor(l1, nameof(l1));

    /// <summary>The factor (config key <c>l1</c>; a member cannot be named like its class, hence not <c>L1</c>).</summary>
    public float L1Factor { get; }

    /// <inheritdoc/>
    public string ClassName => "L1";

    /// <inheritdoc/>
    public IReadOnlyDictionary<string, object?> GetConfig() => new Dictionary<string, object?> { ["l1"] = KerasConfig.Number(L1Factor) };

    /// <summary>The penalty <c>l1·Σ|w|</c> over all elements, a scalar (rank-0) tensor.</summary>
    /// <param name="weights">The weights, of any shape.</param>
    /// <exception cref="ArgumentNullException"><paramref name="weights"/> is null.</exception>
    public Tensor Call(Tensor weights)
    {
        ArgumentNullException.ThrowIfNull(weights);
        return L1L2.L1Term(weights, L1Factor);
    }

    internal static L1 FromConfig(IReadOnlyDictionary<string, object?> config) => new(KerasConfig.GetFloat(config, "l1", 0.01f));
}
