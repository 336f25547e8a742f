namespace TfSyncBN.Keras;

public abstract partial class Model
{
    /// <summary>
    /// A model from a Keras file (<c>keras.models.load_model</c>), by extension: <c>.h5</c>/<c>.hdf5</c> is a Keras 2 /
    /// tf.keras full-model file (architecture from the root attribute <c>model_config</c>, weights from
    /// <c>model_weights</c>, see <see cref="LoadWeights"/>); <c>.json</c> is model JSON (<see cref="Sequential.FromJson"/>
    /// or <see cref="Functional.FromJson"/> by its <c>class_name</c>), with freshly initialized weights. The model is
    /// built under the current strategy; training state (optimizer, compile config) is not read.
    /// </summary>
    /// <param name="path">The file.</param>
    /// <exception cref="ArgumentNullException"><paramref name="path"/> is null.</exception>
    /// <exception cref="ArgumentException">The extension is not one of <c>.h5</c>, <c>.hdf5</c>, <c>.json</c>, or the
    /// architecture is invalid or unsupported (the message names the layer and key).</exception>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="InvalidDataException">The HDF5 file is unreadable, has no <c>model_config</c>, or its weights do
    /// not match the architecture.</exception>
    public static Model LoadModel(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        var ext = Path.GetExtension(path).ToLowerInvariant();
        if (ext is not (".h5" or ".hdf5" or ".json"))
            throw new ArgumentException($"path must end in .h5, .hdf5 or .json, but is '{path}'.", nameof(path));
        if (!File.Exists(path)) throw new FileNotFoundException($"No model file at '{path}'.", path);
        if (ext == ".json") return FromJsonText(File.ReadAllText(path), nameof(path));
        var model = FromJsonText(KerasH5.ReadModelConfig(path), nameof(path));
        KerasH5.LoadWeights(path, model);
        return model;
    }

    private static Model FromJsonText(string json, string paramName)
    {
        var root = KerasJson.Read(json, paramName);
        return KerasConfig.GetString(root, "class_name") == "Sequential" ? Sequential.FromJson(json) : Functional.FromJson(json);
    }
}

public abstract partial class Model
{
    /// <summary>
    /// Writes the model's inference graph as an ONNX model (opset 13, float32, batch dimension symbolic) to
    /// <paramref name="path"/>: Conv2D → Conv, Dense → MatMul + Add, (Sync)BatchNormalization → BatchNormalization with
    /// the moving statistics, pooling → MaxPool/AveragePool/ReduceMean/ReduceMax, merge layers → Add/Sub/Mul/Max/Min/Concat,
    /// Flatten/Reshape, Dropout → Identity, activations → Relu/Sigmoid/Tanh/Softmax/Elu/Softplus. The graph takes and
    /// returns the model's own layout (channels-last data is transposed around channels-first ONNX ops); graph inputs are
    /// <c>input_0</c>, ..., outputs <c>output_0</c>, ....
    /// </summary>
    /// <param name="path">The file; replaced if it exists.</param>
    /// <exception cref="ArgumentNullException"><paramref name="path"/> is null.</exception>
    /// <exception cref="InvalidOperationException">The model is not built.</exception>
    /// <exception cref="NotSupportedException">A layer, activation or option has no ONNX form (the message names the layer).</exception>
    public void ExportOnnx(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!Built) throw new InvalidOperationException($"Model '{Name}' is not built yet: build it before exporting it to ONNX.");
        OnnxExport.Write(this, path);
    }
}
