using TfSyncBN.Keras;

namespace TfSyncBN.Compat;

/// <summary>
/// Argument checks shared by the framework facades, made before the core's so that an exception names the facade's own
/// parameter (<c>eps</c>, <c>processGroup</c>, ...) rather than the core's (<c>epsilon</c>, <c>processGroups</c>).
/// </summary>
internal static class FacadeChecks
{
    /// <summary>The frameworks' <c>num_features</c> rule: an integer of at least 1.</summary>
    public static int CheckNumFeatures(int numFeatures, string paramName) => numFeatures >= 1
        ? numFeatures
        : throw new ArgumentOutOfRangeException(paramName, numFeatures, $"{paramName} must be at least 1.");

    /// <summary>A momentum in [0, 1] (MindSpore, Paddle and PyTorch all accept exactly that range).</summary>
    public static float CheckMomentum(float momentum, string paramName) => momentum >= 0 && momentum <= 1
        ? momentum
        : throw new ArgumentOutOfRangeException(paramName, momentum, $"{paramName} must be in [0, 1].");

    /// <summary>
    /// An epsilon in (0, <paramref name="max"/>]: positive and finite for the layers (the core's rule), (0, 1] for
    /// MindSpore <c>ops.batch_norm</c>.
    /// </summary>
    public static float CheckEpsilon(float epsilon, string paramName, float max = float.MaxValue) => epsilon > 0 && epsilon <= max
        ? epsilon
        : throw new ArgumentOutOfRangeException(paramName, epsilon, max == float.MaxValue
            ? $"{paramName} must be a positive finite number, in (0, +inf)."
            : $"{paramName} must be in (0, {max}].");

    /// <summary>
    /// Process groups checked as the core checks them at construction (see <see cref="ProcessGroups.ValidateAtConstruction"/>),
    /// naming the facade's parameter; null passes through.
    /// </summary>
    public static IReadOnlyList<IReadOnlyList<int>>? CheckProcessGroups(IReadOnlyList<IReadOnlyList<int>>? groups, string paramName)
    {
        if (groups is not null) ProcessGroups.ValidateAtConstruction(groups, paramName);
        return groups;
    }
}
