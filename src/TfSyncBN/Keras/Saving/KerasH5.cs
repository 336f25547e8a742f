using PureHDF;
using TfSyncBN.Tensors;

namespace TfSyncBN.Keras;

/// <summary>
/// Keras HDF5 files read with PureHDF: Keras 2 / tf.keras full-model <c>.h5</c> (root attribute <c>model_config</c>,
/// weights in group <c>model_weights</c>), Keras 2 weights-only <c>.h5</c> (attribute <c>layer_names</c>; per layer a
/// group with attribute <c>weight_names</c> and one dataset per weight, matched by layer name and in the layer's weight
/// order), and Keras 3 <c>.weights.h5</c> (<c>layers/&lt;name&gt;/vars/&lt;i&gt;</c>, matched by layer path).
/// </summary>
internal static class KerasH5
{
    /// <summary>The 8-byte HDF5 signature at offset 0 of a file without a user block.</summary>
    public static ReadOnlySpan<byte> Signature => [0x89, (byte)'H', (byte)'D', (byte)'F', (byte)'\r', (byte)'\n', 0x1a, (byte)'\n'];

    public static bool IsHdf5(string path)
    {
        Span<byte> head = stackalloc byte[8];
        using var stream = File.OpenRead(path);
        return stream.ReadAtLeast(head, 8, throwOnEndOfStream: false) == 8 && head.SequenceEqual(Signature);
    }

    /// <summary>The model JSON in a Keras 2 full-model file's root attribute <c>model_config</c>.</summary>
    /// <exception cref="InvalidDataException">The file is not readable HDF5 or has no <c>model_config</c>.</exception>
    public static string ReadModelConfig(string path) => Guard(path, () =>
    {
        using var file = H5File.OpenRead(path);
        if (!file.AttributeExists("model_config"))
            throw new InvalidDataException($"'{path}' has no 'model_config' attribute: it is not a Keras 2 full-model .h5 file (a weights-only file loads with LoadWeights into a model built from its architecture).");
        return ReadString(file.Attribute("model_config"));
    });

    /// <summary>
    /// Reads the weights of <paramref name="model"/>'s layers from a Keras HDF5 file, validates every count and shape, and
    /// only then assigns them (nothing is assigned when anything is wrong).
    /// </summary>
    /// <exception cref="InvalidDataException">The file is not readable HDF5, lacks a group or dataset a layer needs, or a
    /// dataset has the wrong shape or element type (the message names the layer and the weight).</exception>
    public static void LoadWeights(string path, Model model, Func<Stream>? open = null)
    {
        var plan = Guard(path, () =>
        {
            using var file = open is null ? H5File.OpenRead(path) : H5File.Open(open(), leaveOpen: false);
            IH5Group root = file;
            if (!root.AttributeExists("layer_names") && root.LinkExists("model_weights")) root = root.Group("model_weights");
            var result = new List<(Variable Variable, float[] Values)>();
            if (root.AttributeExists("layer_names")) ReadKeras2(root, model, path, result);
            else if (root.LinkExists("layers")) ReadKeras3(root.Group("layers"), "layers", model, path, result);
            else throw new InvalidDataException($"'{path}' is HDF5 but neither a Keras 2 weights file (no 'layer_names' attribute) nor a Keras 3 one (no 'layers' group).");
            return result;
        });
        foreach (var (variable, values) in plan) variable.Assign(new Tensor(values, [.. variable.Shape]));
    }

    /// <summary>Keras 2 (<c>legacy_h5_format.load_weights_from_hdf5_group_by_name</c>): layers matched by name.</summary>
    private static void ReadKeras2(IH5Group root, Model model, string path, List<(Variable, float[])> result)
    {
        var names = ReadStrings(root.Attribute("layer_names"));
        foreach (var layer in model.Layers)
        {
            var weights = WeightsOf(layer);
            if (weights.Count == 0) continue;
            if (!names.Contains(layer.Name) || !root.LinkExists(layer.Name))
                throw new InvalidDataException($"'{path}' has no weights for layer '{layer.Name}' ({layer.ClassName}, {weights.Count} weights); its layers are: {string.Join(", ", names)}.");
            var group = root.Group(layer.Name);
            var weightNames = group.AttributeExists("weight_names") ? ReadStrings(group.Attribute("weight_names")) : [];
            if (weightNames.Length != weights.Count)
                throw new InvalidDataException($"Layer '{layer.Name}' ({layer.ClassName}) has {weights.Count} weights, but '{path}' holds {weightNames.Length} for it ({string.Join(", ", weightNames)}).");
            for (int i = 0; i < weights.Count; i++)
            {
                if (!group.LinkExists(weightNames[i]))
                    throw new InvalidDataException($"'{path}' lists weight '{weightNames[i]}' of layer '{layer.Name}' but has no such dataset.");
                result.Add((weights[i], ReadDataset(group.Dataset(weightNames[i]), weights[i], $"{layer.Name}/{weightNames[i]}", path)));
            }
        }
    }

    /// <summary>Keras 3 (<c>saving_lib.H5IOStore</c>): <c>layers/&lt;name&gt;/vars/&lt;i&gt;</c>, nested models below their own <c>layers</c>.</summary>
    private static void ReadKeras3(IH5Group layers, string prefix, Model model, string path, List<(Variable, float[])> result)
    {
        foreach (var layer in model.Layers)
        {
            var at = $"{prefix}/{layer.Name}";
            if (layer is ModelLayer nested)
            {
                if (nested.Model.SavedWeights.Count == 0) continue;
                if (!layers.LinkExists(layer.Name) || !layers.Group(layer.Name).LinkExists("layers"))
                    throw new InvalidDataException($"'{path}' has no group '{at}/layers' for nested model '{layer.Name}'.");
                ReadKeras3(layers.Group(layer.Name).Group("layers"), $"{at}/layers", nested.Model, path, result);
                continue;
            }
            var weights = layer.Weights;
            if (weights.Count == 0) continue;
            if (!layers.LinkExists(layer.Name) || !layers.Group(layer.Name).LinkExists("vars"))
                throw new InvalidDataException($"'{path}' has no group '{at}/vars' for layer '{layer.Name}' ({layer.ClassName}, {weights.Count} weights).");
            var vars = layers.Group(layer.Name).Group("vars");
            int count = vars.Children().Count();
            if (count != weights.Count)
                throw new InvalidDataException($"Layer '{layer.Name}' ({layer.ClassName}) has {weights.Count} weights, but '{path}' holds {count} in '{at}/vars'.");
            for (int i = 0; i < weights.Count; i++)
            {
                var key = i.ToString(System.Globalization.CultureInfo.InvariantCulture);
                if (!vars.LinkExists(key)) throw new InvalidDataException($"'{path}' has no dataset '{at}/vars/{key}'.");
                result.Add((weights[i], ReadDataset(vars.Dataset(key), weights[i], $"{at}/vars/{key}", path)));
            }
        }
    }

    private static IReadOnlyList<Variable> WeightsOf(Layer layer) => layer is ModelLayer m ? m.Model.SavedWeights : layer.Weights;

    private static float[] ReadDataset(IH5Dataset dataset, Variable variable, string what, string path)
    {
        var dims = dataset.Space.Dimensions;
        if (dims.Length != variable.Shape.Count || !dims.Select(d => (long)d).SequenceEqual(variable.Shape.Select(d => (long)d)))
            throw new InvalidDataException($"'{path}': '{what}' has shape [{string.Join(", ", dims)}], but variable '{variable.Name}' has shape {Tensor.ShapeString([.. variable.Shape])}.");
        if (dataset.Type.Class != H5DataTypeClass.FloatingPoint || dataset.Type.Size != 4)
            throw new InvalidDataException($"'{path}': '{what}' holds {dataset.Type.Class} of {dataset.Type.Size} bytes; only float32 weights are supported.");
        var values = dataset.Read<float[]>();
        if (values.Length != variable.Shape.Aggregate(1L, (a, b) => a * b))
            throw new InvalidDataException($"'{path}': '{what}' holds {values.Length} values for shape {Tensor.ShapeString([.. variable.Shape])}.");
        return values;
    }

    private static string ReadString(IH5Attribute attribute) =>
        attribute.Space.Rank == 0 ? attribute.Read<string>() : attribute.Read<string[]>().Single();

    private static string[] ReadStrings(IH5Attribute attribute) =>
        attribute.Space.Rank == 0 ? [attribute.Read<string>()] : attribute.Read<string[]>();

    /// <summary>Runs a read, turning the reader's own failures on corrupt input into <see cref="InvalidDataException"/>.</summary>
    private static T Guard<T>(string path, Func<T> read)
    {
        try
        {
            return read();
        }
        catch (InvalidDataException)
        {
            throw;
        }
        catch (Exception e) when (e is not (OutOfMemoryException or FileNotFoundException or DirectoryNotFoundException or UnauthorizedAccessException))
        {
            throw new InvalidDataException($"'{path}' is not a readable Keras HDF5 file: {e.GetType().Name}: {e.Message}", e);
        }
    }
}
