using TfSyncBN.Keras;

namespace TfSyncBN.Compat.Paddle;

/// <summary>
/// Paddle's <c>ParamAttr</c> for a batch-norm weight or bias: an optional initializer, or <see cref="False"/> for
/// Paddle's <c>weight_attr=False</c> / <c>bias_attr=False</c> (a frozen γ = 1 or β = 0).
/// </summary>
/// <param name="Initializer">The parameter's initializer; the layer's default (γ ones, β zeros) when null.</param>
public sealed record ParamAttr(IInitializer? Initializer = null)
{
    /// <summary>Paddle's <c>False</c>: no trainable parameter; the layer uses the constant γ = 1 or β = 0.</summary>
    public static ParamAttr False { get; } = new ParamAttr { Disabled = true };

    /// <summary>Whether this is <see cref="False"/>.</summary>
    public bool Disabled { get; private init; }
}
