using TfSyncBN.Tensors;

namespace TfSyncBN.Keras;

/// <summary>
/// Flattens every axis but the batch axis (<c>keras.layers.Flatten</c>): [N, d1, ..., dk] → [N, d1·...·dk] in row-major
/// order; a rank-1 input becomes [N, 1]. No weights. With <c>"channels_first"</c> an input of rank ≥ 3 is first
/// moved to channels last ([N, C, d2, ..., dk] → [N, d2, ..., dk, C], as Keras), so a channels-first network flattens
/// to the same vector as its channels-last twin; channels last flattens without a copy.
/// </summary>
public sealed class Flatten : Layer
{
    /// <summary>Creates the layer.</summary>
    /// <param name="dataFormat"><c>"channels_last"</c> (null means this) or <c>"channels_first"</c>.</param>
    /// <param name="name">The layer name; generated when null.</param>
    /// <param name="trainable">Kept for Keras compatibility (the layer has no weights).</param>
    /// <exception cref="ArgumentException"><paramref name="dataFormat"/> is not an accepted value.</exception>
    public Flatten(string? dataFormat = null, string? name = null, bool trainable = true) : base(name, trainable) =>
        DataFormat = LayerConfig.DataFormat(dataFormat, nameof(dataFormat));

    /// <summary><c>"channels_last"</c> or <c>"channels_first"</c>.</summary>
    public string DataFormat { get; }

    /// <summary>[N, product of the other dimensions] (the batch entry is passed through, even if negative for "unknown").</summary>
    /// <exception cref="ArgumentException">The shape is empty (no batch axis).</exception>
    public override IReadOnlyList<int> ComputeOutputShape(IReadOnlyList<int> inputShape)
    {
        var s = LayerConfig.CheckRank(inputShape, 1, ClassName, atLeast: true);
        long rest = 1;
        for (int i = 1; i < s.Length; i++) rest *= s[i];
        return [s[0], checked((int)rest)];
    }

    /// <inheritdoc/>
    protected override void Build(IReadOnlyList<int> inputShape) => LayerConfig.CheckRank(inputShape, 1, ClassName, atLeast: true, paramName: "inputs");

    /// <inheritdoc/>
    protected override Tensor CallCore(Tensor inputs, bool training, Tensor? mask)
    {
        if (inputs.Rank < 1) throw new ArgumentException($"{ClassName} needs inputs with a batch axis, but got a scalar.", nameof(inputs));
        if (DataFormat == LayerConfig.ChannelsFirst && inputs.Rank > 2)
            inputs = inputs.Transpose([0, .. Enumerable.Range(2, inputs.Rank - 2), 1]);
        int n = inputs.Shape[0];
        return inputs.Reshape([n, n == 0 ? ShapeRest(inputs.Shape) : inputs.Size / n]);
    }

    private static int ShapeRest(IReadOnlyList<int> shape)
    {
        int rest = 1;
        for (int i = 1; i < shape.Count; i++) rest *= shape[i];
        return rest;
    }

    /// <summary>The Keras config: <c>name, trainable, dtype, data_format</c>.</summary>
    public override IReadOnlyDictionary<string, object?> GetConfig() => LayerConfig.With(base.GetConfig(), ("data_format", DataFormat));

    /// <summary>Rebuilds a layer from <see cref="GetConfig"/> output.</summary>
    /// <exception cref="ArgumentException"><c>data_format</c> is not an accepted value.</exception>
    public static Flatten FromConfig(IReadOnlyDictionary<string, object?> config)
    {
        ArgumentNullException.ThrowIfNull(config);
        return new Flatten(KerasConfig.GetString(config, "data_format"), LayerConfig.Name(config), LayerConfig.Trainable(config));
    }
}
