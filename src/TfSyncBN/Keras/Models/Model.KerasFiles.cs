using System.IO.Compression;

namespace TfSyncBN.Keras;

public abstract partial class Model
{
    /// <summary>
    /// A model from a Keras file (<c>keras.models.load_model</c>), by extension: <c>.keras</c> is a Keras 3 archive (zip with
    /// <c>config.json</c> and <c>model.weights.h5</c>; <c>metadata.json</c> is not needed); <c>.h5</c>/<c>.hdf5</c> is a Keras 2 /
    /// tf.keras full-model file (architecture from the root attribute <c>model_config</c>, weights from
    /// <c>model_weights</c>, see <see cref="LoadWeights"/>); <c>.json</c> is model JSON (<see cref="Sequential.FromJson"/>
    /// or <see cref="Functional.FromJson"/> by its <c>class_name</c>), with freshly initialized weights. The model is
    /// built under the current strategy; training state (optimizer, compile config) is not read.
    /// </summary>
    /// <param name="path">The file.</param>
    /// <exception cref="ArgumentNullException"><paramref name="path"/> is null.</exception>
    /// <exception cref="ArgumentException">The extension is not one of <c>.keras</c>, <c>.h5</c>, <c>.hdf5</c>, <c>.json</c>, or the
    /// architecture is invalid or unsupported (the message names the layer and key).</exception>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="InvalidDataException">The archive or HDF5 file is unreadable, lacks <c>config.json</c>,
    /// <c>model.weights.h5</c> or <c>model_config</c>, or its weights do not match the architecture.</exception>
    public static Model LoadModel(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        var ext = Path.GetExtension(path).ToLowerInvariant();
        if (ext is not (".keras" or ".h5" or ".hdf5" or ".json"))
            throw new ArgumentException($"path must end in .keras, .h5, .hdf5 or .json, but is '{path}'.", nameof(path));
        if (!File.Exists(path)) throw new FileNotFoundException($"No model file at '{path}'.", path);
        if (ext == ".keras") return LoadKerasArchive(path);
        if (ext == ".json") return FromJsonText(File.ReadAllText(path), nameof(path));
        var model = FromJsonText(KerasH5.ReadModelConfig(path), nameof(path));
        KerasH5.LoadWeights(path, model);
        return model;
    }

    private static Model LoadKerasArchive(string path)
    {
        string config;
        byte[] weights;
        try
        {
            using var zip = ZipFile.OpenRead(path);
            config = new StreamReader((zip.GetEntry("config.json") ?? throw new InvalidDataException($"'{path}' has no config.json.")).Open()).ReadToEnd();
            using var w = (zip.GetEntry("model.weights.h5") ?? throw new InvalidDataException($"'{path}' has no model.weights.h5.")).Open();
            using var buffer = new MemoryStream();
            w.CopyTo(buffer);
            weights = buffer.ToArray();
        }
        catch (Exception e) when (e is not (InvalidDataException or FileNotFoundException or UnauthorizedAccessException or OutOfMemoryException))
        {
            throw new InvalidDataException($"'{path}' is not a readable .keras archive: {e.Message}", e);
        }
        var model = FromJsonText(config, nameof(path));
        KerasH5.LoadWeights($"{path}!model.weights.h5", model, () => new MemoryStream(weights, writable: false));
        return model;
    }

    /// <summary>
    /// Saves the model to a Keras file, by extension (<c>model.save</c>): <c>.keras</c> writes a Keras 3 archive (zip with
    /// <c>config.json</c> = <c>{"module": "keras", "class_name", "config", "registered_name", "build_config"}</c>,
    /// <c>metadata.json</c>, and <c>model.weights.h5</c> in the layout of <see cref="SaveWeights"/> for <c>.weights.h5</c>);
    /// <c>.h5</c>/<c>.hdf5</c> writes a Keras 2 full-model file (root attributes <c>model_config</c>, <c>keras_version</c>,
    /// <c>backend</c>, weights in group <c>model_weights</c>). The file is written to a temporary name and renamed over
    /// <paramref name="path"/>. <see cref="LoadModel"/> reads both back exactly.
    /// </summary>
    /// <param name="path">The file; replaced if it exists.</param>
    /// <exception cref="ArgumentNullException"><paramref name="path"/> is null.</exception>
    /// <exception cref="ArgumentException">The extension is not <c>.keras</c>, <c>.h5</c> or <c>.hdf5</c>.</exception>
    /// <exception cref="InvalidOperationException">The model is not built.</exception>
    public void Save(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        var ext = Path.GetExtension(path).ToLowerInvariant();
        if (ext is not (".keras" or ".h5" or ".hdf5"))
            throw new ArgumentException($"path must end in .keras, .h5 or .hdf5, but is '{path}'.", nameof(path));
        if (!Built) throw new InvalidOperationException($"Model '{Name}' is not built yet, so it has no weights to save: call Build(inputShape), Fit or Call first.");
        var configJson = KerasJson.Write(new Dictionary<string, object?> { ["class_name"] = ClassName, ["config"] = GetConfig() }, indented: false);
        if (ext != ".keras")
        {
            var file = new PureHDF.H5File();
            var weights = new PureHDF.H5Group();
            KerasH5Writer.Keras2(weights, this);
            file["model_weights"] = weights;
            file.Attributes = new Dictionary<string, object>
            {
                ["backend"] = "tensorflow",
                ["keras_version"] = KerasH5Writer.Keras2Version,
                ["model_config"] = configJson,
            };
            KerasH5Writer.WriteAtomically(file, path);
            return;
        }
        var config = new Dictionary<string, object?>
        {
            ["module"] = "keras",
            ["class_name"] = ClassName,
            ["config"] = GetConfig(),
            ["registered_name"] = ClassName,
        };
        using var h5 = new MemoryStream();
        KerasH5Writer.Keras3(this).Write(h5);
        var full = Path.GetFullPath(path);
        var temp = Path.Combine(Path.GetDirectoryName(full)!, $".{Path.GetFileName(full)}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var zip = ZipFile.Open(temp, ZipArchiveMode.Create))
            {
                void Entry(string name, byte[] bytes)
                {
                    using var s = zip.CreateEntry(name, CompressionLevel.Fastest).Open();
                    s.Write(bytes);
                }
                Entry("metadata.json", System.Text.Encoding.UTF8.GetBytes(KerasJson.Write(new Dictionary<string, object?>
                {
                    ["keras_version"] = "3.0.0",
                    ["date_saved"] = DateTime.UtcNow.ToString("yyyy-MM-dd@HH:mm:ss", System.Globalization.CultureInfo.InvariantCulture),
                }, indented: false)));
                Entry("config.json", System.Text.Encoding.UTF8.GetBytes(KerasJson.Write(config, indented: false)));
                Entry("model.weights.h5", h5.ToArray());
            }
            File.Move(temp, full, overwrite: true);
        }
        finally
        {
            if (File.Exists(temp)) File.Delete(temp);
        }
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
    /// <paramref name="path"/>: Conv2D and DepthwiseConv2D → Conv, Dense → MatMul + Add, (Sync)BatchNormalization → BatchNormalization with
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
