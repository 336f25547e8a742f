using TfSyncBN.Tensors;

namespace TfSyncBN.Keras;

/// <summary>Penalizes the sum of squares (<c>keras.regularizers.L2</c>, name <c>l2</c>). Config: <c>{"l2"}</c>.</summary>
/// <remarks><see cref="Call"/> returns the scalar <c>l2·Σw²</c>, built from differentiable tensor operations: its
/// gradient is <c>2·l2·w</c>. (Keras' L2 has no ½: this is not the "weight decay" of some optimizers.)</remarks>
public sealed class L2 : IRegularizer
{
    /// <summary>Creates the regularizer.</summary>
    /// <param name="l2">The factor, finite and ≥ 0.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="l2"/> is negative or not finite.</exception>
    public L2(float l2 = 0.01f) => L2Factor = L1L2.CheckFactor(l2, nameof(l2));

    /// <summary>The factor (config key <c>l2</c>; a member cannot be named like its class, hence not <c>L2</c>).</summary>
    public float L2Factor { get; }

    /// <inheritdoc/>
    public string ClassName => "L2";

    /// <inheritdoc/>
    public IReadOnlyDictionary<string, object?> GetConfig() => new Dictionary<string, object?> { ["l2"] = KerasConfig.Number(L2Factor) };

    /// <summary>The penalty <c>l2·Σw²</c> over all elements, a scalar (rank-0) tensor.</summary>
    /// <param name="weights">The weights, of any shape.</param>
    /// <exception cref="ArgumentNullException"><paramref name="weights"/> is null.</exception>
    public Tensor Call(Tensor weights)
    {
        ArgumentNullException.ThrowIfNull(weights);
        return L1L2.L2Term(weights, L2Factor);
    }

    internal static L2 FromConfig(IReadOnlyDictionary<string, object?> config) => new(KerasConfig.GetFloat(config, "l2", 0.01f));
}
