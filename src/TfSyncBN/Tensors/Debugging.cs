using System.Numerics.Tensors;

namespace TfSyncBN.Tensors;

/// <summary>
/// The opt-in numerics check (<c>tf.debugging.enable_check_numerics</c>): while enabled, every <c>Layer.Call</c> checks
/// its input and output, every backward pass through a layer checks the gradient of its output, and
/// <c>Model.TrainStep</c> checks each replica's weight gradients before they are all-reduced. The first NaN or infinity
/// raises <see cref="CheckNumericsException"/> naming the layer, the replica and the tensor, before any weight changes.
/// It also checks every state update before it is stored: the moving statistics of batch normalization, and each
/// variable and optimizer slot an optimizer updates; the message then names the layer, the variable and the channel, and
/// no variable of that update changes.
/// </summary>
/// <remarks>
/// <para>The switch is process-wide (as in TensorFlow) and off by default. Disabled, it costs one static field read per
/// layer call. Enabled, each check is one vectorized pass (<see cref="TensorPrimitives.IsFiniteAll{T}(ReadOnlySpan{T})"/>)
/// over the tensor; the output is not copied.</para>
/// <para>Without the check, non-finite values propagate as IEEE 754 arithmetic makes them: a NaN or infinity in one
/// replica's input of a synchronized batch normalization reaches the all-reduced statistics, so every replica's output
/// in that channel becomes NaN and so do the moving statistics; plain layers keep it to the elements it touches. A NaN
/// gradient becomes a NaN update of every replica's copy of the weights (the all-reduced gradient is the same on every
/// replica). Nothing is skipped or clipped silently.</para>
/// <para>Range: variables are float32 (largest finite magnitude 3.4e38). A batch whose deviations from the mean exceed
/// about 1.8e19 (such as inputs of 1e20) has a variance beyond that range: the outputs are still right (the statistics
/// are combined in float64), but the moving variance becomes +∞ and inference then outputs beta in that channel. With
/// the check on, that update raises instead.</para>
/// </remarks>
public static class Debugging
{
    private static volatile bool checkNumerics;

    /// <summary>Whether the numerics check is on.</summary>
    public static bool CheckNumericsEnabled => checkNumerics;

    /// <summary>Turns the numerics check on for the whole process (see <see cref="Debugging"/>).</summary>
    public static void EnableCheckNumerics() => checkNumerics = true;

    /// <summary>Turns the numerics check off (the default).</summary>
    public static void DisableCheckNumerics() => checkNumerics = false;

    /// <summary>The calling replica's id, or -1 in cross-replica code.</summary>
    internal static int CurrentReplicaId => Replication.CurrentReplicaId;

    /// <summary>Checks one replica's gradient of <paramref name="weight"/> (named <c>layer/weight</c>) in the training step.</summary>
    internal static void CheckWeightGradient(Tensor gradient, Variable weight, int replicaId)
    {
        int slash = weight.Name.LastIndexOf('/');
        Check(gradient, slash > 0 ? weight.Name[..slash] : weight.Name, replicaId, $"gradient of weight '{weight.Name}'");
    }

    /// <summary>Throws <see cref="CheckNumericsException"/> if <paramref name="tensor"/> holds NaN or an infinity.</summary>
    internal static void Check(Tensor tensor, string layerName, int replicaId, string tensorName) =>
        Check(tensor.Data, tensor.ShapeArray, layerName, replicaId, tensorName);

    /// <summary>
    /// Checks the value a state variable (a moving statistic, an optimizer slot, a weight after its update) is about to
    /// take: the message names the layer (the variable name up to its last '/'), the variable and the channel (the index
    /// along the variable's last axis longer than 1).
    /// </summary>
    internal static void CheckUpdatedVariable(Tensor newValue, Variable variable, int replicaId)
    {
        var values = newValue.AsSpan();
        if (TensorPrimitives.IsFiniteAll(values)) return;
        int index = 0;
        while (float.IsFinite(values[index])) index++;
        var shape = variable.Shape;
        int channelAxis = shape.Count - 1;
        while (channelAxis > 0 && shape[channelAxis] == 1) channelAxis--;
        int channel = shape.Count == 0 ? 0 : index % Math.Max(1, shape[channelAxis]);
        int slash = variable.Name.LastIndexOf('/');
        string layer = slash > 0 ? variable.Name[..slash] : variable.Name;
        float value = values[index];
        string what = float.IsNaN(value) ? "NaN" : value > 0 ? "+Infinity" : "-Infinity";
        string replica = replicaId >= 0 ? $"replica {replicaId}" : "cross-replica code";
        throw new CheckNumericsException(
            $"Check numerics: layer '{layer}', {replica}: the update of variable '{variable.Name}' (shape {Tensor.ShapeString(shape.ToArray())}) " +
            $"gives {what} in channel {channel} (flat index {index}); the variable keeps its previous value. " +
            "float32 holds magnitudes up to 3.4e38, so a variance overflows once the inputs' deviations exceed about 1.8e19.",
            layer, replicaId, $"update of variable '{variable.Name}'", index, value);
    }

    /// <summary>Throws <see cref="CheckNumericsException"/> if <paramref name="values"/> holds NaN or an infinity.</summary>
    internal static void Check(ReadOnlySpan<float> values, IReadOnlyList<int> shape, string layerName, int replicaId, string tensorName)
    {
        if (TensorPrimitives.IsFiniteAll(values)) return;
        int index = 0;
        while (float.IsFinite(values[index])) index++;
        int bad = 0;
        foreach (float v in values[index..]) if (!float.IsFinite(v)) bad++;
        float value = values[index];
        string what = float.IsNaN(value) ? "NaN" : value > 0 ? "+Infinity" : "-Infinity";
        string replica = replicaId >= 0 ? $"replica {replicaId}" : "cross-replica code";
        throw new CheckNumericsException(
            $"Check numerics: layer '{layerName}', {replica}: its {tensorName} (shape {Tensor.ShapeString(shape.ToArray())}) holds " +
            $"{what} at flat index {index} ({bad} non-finite value{(bad == 1 ? "" : "s")} in all).",
            layerName, replicaId, tensorName, index, value);
    }
}
