using TfSyncBN.Keras;

namespace TfSyncBN.Compat.MindSpore;

/// <summary>MindSpore's initializer names (<c>mindspore.common.initializer</c>) as TfSyncBN initializers.</summary>
/// <remarks>
/// <c>zeros</c>, <c>ones</c>; <c>normal</c> = N(0, 0.01²); <c>uniform</c> = U(−0.07, 0.07); <c>truncatedNormal</c> =
/// N(0, 0.01²) truncated at two standard deviations; <c>xavier_uniform</c> = Glorot uniform; <c>he_uniform</c> and
/// <c>he_normal</c> = He (MindSpore's defaults, negative slope 0 and fan-in mode, give the same bounds). For the 1-D
/// batch-norm weights the fans are Keras' (both the length), where MindSpore refuses fewer than 2 dimensions for the
/// fan-based initializers.
/// </remarks>
public static class MindSporeInitializers
{
    /// <summary>The names accepted by <see cref="Get"/>.</summary>
    public static IReadOnlyList<string> Names { get; } = ["zeros", "ones", "normal", "uniform", "truncatedNormal", "xavier_uniform", "he_uniform", "he_normal"];

    /// <summary>The initializer MindSpore means by <paramref name="name"/> (case-sensitive, as MindSpore's registry).</summary>
    /// <param name="name">One of <see cref="Names"/>.</param>
    /// <param name="paramName">The facade parameter the name came from, for the exception.</param>
    /// <exception cref="ArgumentException"><paramref name="name"/> is null or not one of <see cref="Names"/>.</exception>
    public static IInitializer Get(string name, string paramName = "name") => name switch
    {
        "zeros" => Initializers.Zeros(),
        "ones" => Initializers.Ones(),
        "normal" => Initializers.RandomNormal(0f, 0.01f),
        "uniform" => Initializers.RandomUniform(-0.07f, 0.07f),
        "truncatedNormal" => Initializers.TruncatedNormal(0f, 0.01f),
        "xavier_uniform" => Initializers.GlorotUniform(),
        "he_uniform" => Initializers.HeUniform(),
        "he_normal" => Initializers.HeNormal(),
        _ => throw new ArgumentException($"'{name}' is not a MindSpore initializer name; accepted: {string.Join(", ", Names)}.", paramName),
    };
}
