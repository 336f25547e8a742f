using TfSyncBN.Tensors;

namespace TfSyncBN.Keras;

/// <summary>The activations a layer's <c>activation</c> argument accepts, by Keras name (<c>keras.activations</c>).</summary>
/// <remarks>
/// With Keras' defaults: <c>relu</c> <c>max(x, 0)</c>; <c>relu6</c> <c>min(max(x, 0), 6)</c>; <c>leaky_relu</c>
/// slope 0.2 below 0; <c>elu</c> alpha 1; <c>gelu</c> exact (erf); <c>swish</c> = <c>silu</c> <c>x·σ(x)</c>;
/// <c>sigmoid</c>; <c>tanh</c>; <c>softmax</c> over the last axis; <c>linear</c> (identity).
/// </remarks>
internal static class ActivationFunctions
{
    /// <summary>The accepted names; null and <c>"linear"</c> both mean the identity.</summary>
    public static readonly string[] Names = ["linear", "relu", "relu6", "leaky_relu", "elu", "gelu", "swish", "silu", "sigmoid", "softmax", "tanh"];

    /// <summary>The canonical Keras name (<c>"linear"</c> for null) after checking it is known.</summary>
    /// <exception cref="ArgumentException">The name is not one of <see cref="Names"/>.</exception>
    public static string Canonical(string? name, string paramName) => name is null
        ? "linear"
        : Array.IndexOf(Names, name) >= 0
            ? name
            : throw new ArgumentException($"Unknown activation \"{name}\"; accepted values: {string.Join(", ", Names)} (or null for linear).", paramName);

    /// <summary>Applies the activation named <paramref name="name"/> (a canonical name) with Keras' default arguments.</summary>
    public static Tensor Apply(string name, Tensor x) => name switch
    {
        "relu" => x.Relu(),
        "relu6" => x.Relu6(),
        "leaky_relu" => x.LeakyRelu(0.2f),
        "elu" => x.Elu(1f),
        "gelu" => x.Gelu(approximate: false),
        "swish" or "silu" => x.Silu(),
        "sigmoid" => x.Sigmoid(),
        "softmax" => x.Softmax(-1),
        "tanh" => x.Tanh(),
        _ => x,
    };
}
