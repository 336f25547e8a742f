using TfSyncBN.Tensors;

namespace TfSyncBN.Keras;

/// <summary>What the norm constraints share: their <c>axis</c> argument and the norms along it.</summary>
internal static class NormAxes
{
    /// <summary>Keras' <c>backend.epsilon()</c>, added to the norms in the denominators.</summary>
    public const float Epsilon = 1e-7f;

    /// <summary>A copy of <paramref name="axis"/> (null means [0]), checked for repeated entries.</summary>
    public static int[] Check(IReadOnlyList<int>? axis, string paramName)
    {
        int[] result = axis is null ? [0] : [.. axis];
        if (result.Distinct().Count() != result.Length)
            throw new ArgumentException($"{paramName} must not repeat an axis, but is {Tensor.ShapeString(result)}.", paramName);
        return result;
    }

    /// <summary>The config value of <c>axis</c>: an int for one axis, as Keras writes its default, else a list.</summary>
    public static object ToConfig(int[] axis) => axis.Length == 1 ? axis[0] : axis.ToArray();

    /// <summary>The <c>axis</c> config value (an int or a list of ints), or null when absent.</summary>
    public static int[]? FromConfig(IReadOnlyDictionary<string, object?> config) => KerasConfig.GetInts(config, "axis");

    /// <summary><c>sqrt(Σ w²)</c> over <paramref name="axis"/>, keeping the reduced dimensions (size 1) so it broadcasts against w.</summary>
    /// <exception cref="ArgumentException">An axis is out of range for the rank of <paramref name="weights"/>, or two name the same dimension.</exception>
    public static Tensor Norms(Tensor weights, int[] axis, string paramName)
    {
        int rank = weights.Rank;
        var resolved = new int[axis.Length];
        for (int i = 0; i < axis.Length; i++)
        {
            resolved[i] = axis[i] < 0 ? axis[i] + rank : axis[i];
            if (resolved[i] < 0 || resolved[i] >= rank)
            {
                throw new ArgumentException(
                    $"The constraint's axis {axis[i]} is out of range for {paramName} of shape {Tensor.ShapeString(weights.ShapeArray)} (accepted: -{rank}..{rank - 1}).", paramName);
            }
        }
        if (resolved.Distinct().Count() != resolved.Length)
            throw new ArgumentException($"The constraint's axes {Tensor.ShapeString(axis)} name the same dimension twice for {paramName} of shape {Tensor.ShapeString(weights.ShapeArray)}.", paramName);
        return weights.Square().Sum(resolved, keepDims: true).Sqrt();
    }
}
