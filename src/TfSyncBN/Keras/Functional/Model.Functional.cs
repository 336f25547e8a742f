using TfSyncBN.Tensors;

namespace TfSyncBN.Keras;

// The parts of the model surface shared by Sequential and Functional models: symbolic inputs, calls on several inputs
// or on symbolic tensors (a model used as a layer), config and JSON.
public abstract partial class Model
{
    private ModelLayer? asLayer;

    /// <summary>
    /// A symbolic input of <paramref name="shape"/> for a functional model (<c>keras.Input(shape, batch_size, name)</c>):
    /// the output of a new <see cref="InputLayer"/>. Call layers on it, then pass it to <see cref="Functional"/>.
    /// </summary>
    /// <param name="shape">The shape of one sample, without the batch dimension.</param>
    /// <param name="name">The input layer's name; <c>input_layer</c>, <c>input_layer_1</c>, ... when null.</param>
    /// <param name="batchSize">A fixed batch size, or null for any.</param>
    /// <exception cref="ArgumentNullException"><paramref name="shape"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A dimension or <paramref name="batchSize"/> is negative.</exception>
    public static KerasTensor Input(IReadOnlyList<int> shape, string? name = null, int? batchSize = null) =>
        new InputLayer(shape, batchSize, name).Output;

    /// <summary>The Keras class name written in model JSON: <c>Sequential</c> or <c>Functional</c>.</summary>
    public virtual string ClassName => GetType().Name;

    /// <summary>
    /// The model's architecture as a Keras config (<c>model.get_config()</c>): for a <see cref="Sequential"/>
    /// <c>{name, layers}</c>, for a <see cref="Functional"/> <c>{name, layers, input_layers, output_layers}</c> (see
    /// <see cref="ToJson"/>). Weights are not included.
    /// </summary>
    public abstract IReadOnlyDictionary<string, object?> GetConfig();

    /// <summary>
    /// The model's architecture as Keras model JSON (<c>model.to_json()</c>): <c>{"class_name": ClassName, "config":
    /// GetConfig()}</c>, each layer under its Keras key names (batch normalization layers keep <c>synchronized</c>).
    /// A built Sequential's first layer entry is an <c>InputLayer</c> with <c>batch_input_shape</c> <c>[null, ...]</c>;
    /// a Functional's layer entries carry <c>name</c> and tf.keras 2's <c>inbound_nodes</c>
    /// (<c>[[["layer", node_index, tensor_index, {}], ...], ...]</c>). Weights are not included: see <see cref="SaveWeights"/>.
    /// Read it back with <see cref="Sequential.FromJson"/> or <see cref="Functional.FromJson"/>.
    /// </summary>
    /// <param name="indented">Pretty-print the JSON.</param>
    /// <exception cref="ArgumentException">A layer's config holds a value with no JSON form (such as a custom initializer's object).</exception>
    public string ToJson(bool indented = false) => KerasJson.Write(
        new Dictionary<string, object?> { ["class_name"] = ClassName, ["config"] = GetConfig() }, indented);

    /// <summary>
    /// Runs the model on one batch per input (<c>model([a, b], training=...)</c>) and returns one batch per output. A
    /// <see cref="Sequential"/> takes a list of one tensor and returns a list of one.
    /// </summary>
    /// <param name="inputs">The batches, in the order of the model's inputs, samples on axis 0.</param>
    /// <param name="training">Training behaviour (batch statistics, dropout) or inference.</param>
    /// <exception cref="ArgumentNullException"><paramref name="inputs"/> or an entry is null.</exception>
    /// <exception cref="ArgumentException">The count differs from the model's inputs, or an input does not fit.</exception>
    public virtual IReadOnlyList<Tensor> Call(IReadOnlyList<Tensor> inputs, bool training = false)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        if (inputs.Count != 1) throw new ArgumentException($"Model '{Name}' has one input, but {inputs.Count} were given.", nameof(inputs));
        return [Call(inputs[0] ?? throw new ArgumentNullException(nameof(inputs), "inputs[0] is null."), training)];
    }

    /// <summary>
    /// Records a call of this model on a symbolic tensor, as a layer of a functional model being defined
    /// (<c>outer_output = model(keras_tensor)</c>); the model's weights are shared. The outer model lists it as a
    /// <see cref="ModelLayer"/>.
    /// </summary>
    /// <param name="inputs">The symbolic input.</param>
    /// <exception cref="ArgumentNullException"><paramref name="inputs"/> is null.</exception>
    /// <exception cref="ArgumentException">The shape does not fit the model, or the model has several inputs or outputs.</exception>
    public KerasTensor Call(KerasTensor inputs)
    {
        var outputs = Call([inputs ?? throw new ArgumentNullException(nameof(inputs))]);
        return outputs.Count == 1
            ? outputs[0]
            : throw new ArgumentException($"Model '{Name}' has {outputs.Count} outputs; call Call(IReadOnlyList<KerasTensor>), which returns them all.", nameof(inputs));
    }

    /// <summary>
    /// Records a call of this model on symbolic tensors (one per model input) and returns one symbolic tensor per model
    /// output; see <see cref="Call(KerasTensor)"/>.
    /// </summary>
    /// <param name="inputs">The symbolic inputs, in the order of the model's inputs.</param>
    /// <exception cref="ArgumentNullException"><paramref name="inputs"/> or an entry is null.</exception>
    /// <exception cref="ArgumentException">The count or a shape does not fit the model.</exception>
    public IReadOnlyList<KerasTensor> Call(IReadOnlyList<KerasTensor> inputs)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        if (!Built && inputs.Count == 1 && inputs[0] is { } only) Build([-1, .. only.ShapeArray.Skip(1)]);
        return AsLayer.CallSymbolic(inputs);
    }

    /// <summary>
    /// This model as a layer of other models (Keras uses a model as a layer directly): put it in a
    /// <see cref="Sequential"/> (<c>new Sequential([inner.AsLayer, new Dense(10)])</c>); functional models record it
    /// when <see cref="Call(KerasTensor)"/> is used. One object per model, so every use shares the model's weights.
    /// </summary>
    public ModelLayer AsLayer
    {
        get
        {
            if (Volatile.Read(ref asLayer) is { } l) return l;
            Interlocked.CompareExchange(ref asLayer, new ModelLayer(this), null);
            return asLayer!;
        }
    }

    /// <summary>
    /// The output shapes for inputs of <paramref name="inputShapes"/> (batch first; a negative batch stays unknown),
    /// from each layer's <c>ComputeOutputShape</c>. The base: one input, the layers in order.
    /// </summary>
    internal virtual IReadOnlyList<IReadOnlyList<int>> ComputeOutputShapes(IReadOnlyList<IReadOnlyList<int>> inputShapes)
    {
        if (inputShapes.Count != 1) throw new ArgumentException($"Model '{Name}' has one input, but {inputShapes.Count} shapes were given.", nameof(inputShapes));
        var shape = Layer.Concrete(inputShapes[0]);
        foreach (var layer in Layers) shape = layer.ComputeOutputShape(shape).ToArray();
        if (inputShapes[0].Count > 0 && inputShapes[0][0] < 0 && shape.Length > 0) shape[0] = -1;
        return [shape];
    }
}
