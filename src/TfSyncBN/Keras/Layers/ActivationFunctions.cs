using TfSyncBN.Tensors;

namespace TfSyncBN.Keras;

/// <summary>The activations a layer's <c>activation</c> argument accepts, by Keras name.</summary>
internal static class ActivationFunctions
{
    /// <summary>The accepted names; null and <c>"linear"</c> both mean the identity.</summary>
    public static readonly string[] Names = ["linear", "relu", "sigmoid", "softmax", "tanh"];

    /// <summary>The canonical Keras name (<c>"linear"</c> for null) after checking it is known.</summary>
    /// <exception cref="ArgumentException">The name is not one of <see cref="Names"/>.</exception>
    public static string Canonical(string? name, string paramName) => name is null
        ? "linear"
        : Array.IndexOf(Names, name) >= 0
            ? name
            : throw new ArgumentException($"Unknown activation \"{name}\"; accepted values: {string.Join(", ", Names)} (or null for linear).", paramName);

    /// <summary>Applies the activation named <paramref name="name"/> (a canonical name).</summary>
    public static Tensor Apply(string name, Tensor x) => name switch
    {
        "relu" => x.Relu(),
        "sigmoid" => x.Sigmoid(),
        "softmax" => x.Softmax(-1),
        "tanh" => x.Tanh(),
        _ => x,
    };
}
