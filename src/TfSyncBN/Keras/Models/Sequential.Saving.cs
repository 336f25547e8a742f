namespace TfSyncBN.Keras;

public sealed partial class Sequential
{
    /// <summary>
    /// The Keras config <c>{"name": ..., "layers": [{"class_name": ..., "config": {...}}, ...]}</c> with each layer's
    /// <c>GetConfig</c>; when the model is built, the first entry is an <c>InputLayer</c> whose <c>batch_input_shape</c>
    /// is <c>[null, ...sample shape]</c>.
    /// </summary>
    /// <exception cref="ArgumentException">A layer's config holds a value with no JSON form.</exception>
    public override IReadOnlyDictionary<string, object?> GetConfig() =>
        ModelJson.SequentialConfig(Name, layers, BuiltInputShape is { } s ? s.Skip(1).ToArray() : null);

    /// <summary>
    /// A new model from Keras model JSON (<c>keras.models.model_from_json</c>), as written by <see cref="Model.ToJson"/> or by
    /// tf.keras for a Sequential model of supported layers (<see cref="Keras.Layers.Names"/>) and nested Sequential or
    /// Functional models (entries of class <c>Sequential</c>/<c>Functional</c>, read as <see cref="Model.AsLayer"/>). The model captures the
    /// current strategy (call it inside <c>strategy.Scope()</c> to train data-parallel) and is built at once when the
    /// JSON gives the input shape; its weights are freshly initialized (load them with <see cref="Model.LoadWeights"/>).
    /// </summary>
    /// <param name="json">The JSON text.</param>
    /// <exception cref="ArgumentNullException"><paramref name="json"/> is null.</exception>
    /// <exception cref="ArgumentException">The text is not valid JSON, does not describe a Sequential model, has no
    /// <c>config.layers</c> list, a layer entry is invalid (the message gives its index and the reason), two layers share a
    /// name (Keras requires unique names), or an input
    /// shape has an unknown or negative sample dimension, or the model cannot be built for that input shape (such as a
    /// weight with more elements than an array can hold).</exception>
    public static Sequential FromJson(string json)
    {
        SequentialArchitecture architecture;
        try
        {
            architecture = ModelJson.Read(json, nameof(json));
        }
        catch (ArgumentException e) when (e.ParamName != nameof(json))
        {
            // A helper deep in the reader named its own parameter; the caller's argument is json.
            throw new ArgumentException($"Invalid model JSON: {e.Message}", nameof(json), e);
        }
        try
        {
            return new Sequential(architecture.Layers, architecture.InputShape, architecture.Name);
        }
        catch (ArgumentException e)
        {
            // Building for the JSON's input shape failed (say, a weight too large for an array): report it against json.
            var shape = architecture.InputShape is { } s ? Tensors.Tensor.ShapeString([-1, .. s]) : "(none)";
            throw new ArgumentException($"The model in the JSON cannot be built for its input shape {shape}: {e.Message}", nameof(json), e);
        }
    }
}
