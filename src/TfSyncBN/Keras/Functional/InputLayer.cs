using TfSyncBN.Tensors;

namespace TfSyncBN.Keras;

/// <summary>
/// The entry point of a functional model (<c>keras.layers.InputLayer</c>): it passes its input through unchanged and
/// owns the symbolic tensor <see cref="Output"/> that layers are called on. Usually made by <see cref="Model.Input"/>.
/// </summary>
public sealed class InputLayer : Layer
{
    private readonly int[] batchShape;

    /// <summary>Creates the layer and its symbolic output.</summary>
    /// <param name="inputShape">The shape of one sample, without the batch dimension (dimensions ≥ 0).</param>
    /// <param name="batchSize">The fixed batch size, or null (unknown, any batch).</param>
    /// <param name="name">The layer name; generated (<c>input_layer</c>, <c>input_layer_1</c>, ...) when null.</param>
    /// <exception cref="ArgumentNullException"><paramref name="inputShape"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A dimension is negative, or <paramref name="batchSize"/> is less than 0.</exception>
    public InputLayer(IReadOnlyList<int> inputShape, int? batchSize = null, string? name = null) : base(name, trainable: true)
    {
        ArgumentNullException.ThrowIfNull(inputShape);
        for (int i = 0; i < inputShape.Count; i++)
            if (inputShape[i] < 0)
                throw new ArgumentOutOfRangeException(nameof(inputShape), inputShape[i], $"inputShape[{i}] is {inputShape[i]}; sample dimensions must be >= 0 (only the batch dimension may be unknown).");
        if (batchSize < 0) throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, "batchSize must be >= 0 or null.");
        batchShape = [batchSize ?? -1, .. inputShape];
        Output = AddInputNode(batchShape);
        EnsureBuilt(Concrete(batchShape));
    }

    /// <summary>The symbolic tensor this layer feeds into the model (Keras <c>input_layer.output</c>).</summary>
    public KerasTensor Output { get; }

    /// <summary>The input shape, batch dimension first (-1 when any batch size is accepted).</summary>
    public IReadOnlyList<int> BatchInputShape => Array.AsReadOnly(batchShape);

    /// <summary>The input shape itself.</summary>
    public override IReadOnlyList<int> ComputeOutputShape(IReadOnlyList<int> inputShape)
    {
        ArgumentNullException.ThrowIfNull(inputShape);
        return inputShape.ToArray();
    }

    /// <inheritdoc/>
    protected override void Build(IReadOnlyList<int> inputShape)
    {
    }

    /// <summary>The input, unchanged.</summary>
    protected override Tensor CallCore(Tensor inputs, bool training, Tensor? mask) => inputs;

    /// <summary>The tf.keras config: <c>batch_input_shape</c> (<c>[null, ...]</c> when the batch is unknown), <c>dtype</c>,
    /// <c>sparse</c> (false), <c>ragged</c> (false), <c>name</c>.</summary>
    public override IReadOnlyDictionary<string, object?> GetConfig() => new Dictionary<string, object?>
    {
        ["batch_input_shape"] = batchShape.Select((d, i) => i == 0 && d < 0 ? null : (object?)d).ToArray(),
        ["dtype"] = "float32",
        ["sparse"] = false,
        ["ragged"] = false,
        ["name"] = Name,
    };

    /// <summary>Rebuilds the layer from <see cref="GetConfig"/> output, or from Keras 3's <c>batch_shape</c>.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="config"/> is null.</exception>
    /// <exception cref="ArgumentException">Neither <c>batch_input_shape</c> nor <c>batch_shape</c> is a list whose sample
    /// dimensions are non-negative integers, or <c>sparse</c> or <c>ragged</c> is true (not supported).</exception>
    public static InputLayer FromConfig(IReadOnlyDictionary<string, object?> config)
    {
        ArgumentNullException.ThrowIfNull(config);
        var key = config.ContainsKey("batch_input_shape") ? "batch_input_shape" : "batch_shape";
        if (!config.TryGetValue(key, out var v) || v is not IReadOnlyList<object?> dims || dims.Count == 0)
            throw new ArgumentException("The config of InputLayer needs 'batch_input_shape' (or 'batch_shape'): a list of the batch dimension and the sample dimensions.", nameof(config));
        foreach (var flag in new[] { "sparse", "ragged" })
            if (KerasConfig.GetBool(config, flag, false))
                throw new ArgumentException($"The config of InputLayer has '{flag}': true; only dense inputs are supported.", nameof(config));
        int? batch = dims[0] is null ? null : ToDim(dims[0], key, 0);
        var shape = new int[dims.Count - 1];
        for (int i = 1; i < dims.Count; i++) shape[i - 1] = ToDim(dims[i], key, i);
        return new InputLayer(shape, batch, LayerConfig.Name(config));
    }

    private static int ToDim(object? value, string key, int index) =>
        value is long or int or double && Convert.ToDouble(value, System.Globalization.CultureInfo.InvariantCulture) is var d && d == Math.Floor(d) && d >= 0 && d <= int.MaxValue
            ? (int)d
            : throw new ArgumentException($"'{key}' entry {index} must be a non-negative integer, but is {value ?? "null"}: only the batch dimension may be unknown.", "config");
}
