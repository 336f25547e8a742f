using TfSyncBN.Tensors;

namespace TfSyncBN.Keras;

/// <summary>
/// Reshapes every sample (<c>keras.layers.Reshape</c>): [N, ...] → [N, target_shape...], the elements kept in row-major
/// order; one entry of the target may be -1 and is then inferred. No weights; no copy.
/// </summary>
public sealed class Reshape : Layer
{
    private readonly int[] targetShape;

    /// <summary>Creates the layer.</summary>
    /// <param name="targetShape">The shape of one sample (without the batch axis): entries ≥ 1, at most one -1.</param>
    /// <param name="name">The layer name; generated when null.</param>
    /// <param name="trainable">Kept for Keras compatibility (the layer has no weights).</param>
    /// <exception cref="ArgumentNullException"><paramref name="targetShape"/> is null.</exception>
    /// <exception cref="ArgumentException">An entry is 0 or below -1, or -1 appears more than once.</exception>
    public Reshape(IReadOnlyList<int> targetShape, string? name = null, bool trainable = true) : base(name, trainable)
    {
        ArgumentNullException.ThrowIfNull(targetShape);
        if (targetShape.Any(v => v == 0 || v < -1) || targetShape.Count(v => v == -1) > 1)
            throw new ArgumentException($"targetShape must hold entries >= 1 and at most one -1, but is [{string.Join(", ", targetShape)}].", nameof(targetShape));
        this.targetShape = [.. targetShape];
    }

    /// <summary>The target shape of one sample, as given (-1 not resolved).</summary>
    public IReadOnlyList<int> TargetShape => Array.AsReadOnly(targetShape);

    /// <summary>[N, target...] with the -1 entry resolved from the input's per-sample size.</summary>
    /// <exception cref="ArgumentException">The input has no batch axis, or its per-sample size does not fit the target.</exception>
    public override IReadOnlyList<int> ComputeOutputShape(IReadOnlyList<int> inputShape)
    {
        var s = LayerConfig.CheckRank(inputShape, 1, ClassName, atLeast: true);
        long per = 1;
        for (int i = 1; i < s.Length; i++) per *= s[i];
        return [s[0], .. Resolve(per, nameof(inputShape))];
    }

    private int[] Resolve(long perSample, string paramName)
    {
        long known = 1;
        foreach (int v in targetShape) if (v != -1) known *= v;
        int unknown = Array.IndexOf(targetShape, -1);
        var r = (int[])targetShape.Clone();
        if (unknown >= 0 && known > 0 && perSample % known == 0) r[unknown] = checked((int)(perSample / known));
        else if (unknown >= 0 || known != perSample)
            throw new ArgumentException($"{ClassName} cannot reshape samples of {perSample} elements to [{string.Join(", ", targetShape)}].", paramName);
        return r;
    }

    /// <inheritdoc/>
    protected override void Build(IReadOnlyList<int> inputShape) => LayerConfig.CheckRank(inputShape, 1, ClassName, atLeast: true, paramName: "inputs");

    /// <inheritdoc/>
    protected override Tensor CallCore(Tensor inputs, bool training, Tensor? mask)
    {
        if (inputs.Rank < 1) throw new ArgumentException($"{ClassName} needs inputs with a batch axis, but got a scalar.", nameof(inputs));
        long per = 1;
        for (int i = 1; i < inputs.Rank; i++) per *= inputs.Shape[i];
        return inputs.Reshape([inputs.Shape[0], .. Resolve(per, nameof(inputs))]);
    }

    /// <summary>The Keras config: <c>name, trainable, dtype, target_shape</c>.</summary>
    public override IReadOnlyDictionary<string, object?> GetConfig() => LayerConfig.With(base.GetConfig(), ("target_shape", targetShape.ToArray()));

    /// <summary>Rebuilds a layer from <see cref="GetConfig"/> output; <c>target_shape</c> is required.</summary>
    /// <exception cref="ArgumentException"><c>target_shape</c> is missing or not accepted (see the constructor).</exception>
    public static Reshape FromConfig(IReadOnlyDictionary<string, object?> config)
    {
        ArgumentNullException.ThrowIfNull(config);
        return new Reshape(LayerConfig.RequiredInts(config, "target_shape", "Reshape"), LayerConfig.Name(config), LayerConfig.Trainable(config));
    }
}
