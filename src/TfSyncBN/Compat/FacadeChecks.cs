namespace TfSyncBN.Compat;

/// <summary>Argument checks shared by the framework facades.</summary>
internal static class FacadeChecks
{
    /// <summary>The frameworks' <c>num_features</c> rule: an integer of at least 1.</summary>
    public static int CheckNumFeatures(int numFeatures, string paramName) => numFeatures >= 1
        ? numFeatures
        : throw new ArgumentOutOfRangeException(paramName, numFeatures, $"{paramName} must be at least 1.");

    /// <summary>A momentum in [0, 1] (the MindSpore and Paddle check, made before the core's so the message names the facade's parameter).</summary>
    public static float CheckMomentum(float momentum, string paramName) => momentum >= 0 && momentum <= 1
        ? momentum
        : throw new ArgumentOutOfRangeException(paramName, momentum, $"{paramName} must be in [0, 1].");
}
