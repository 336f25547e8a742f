using PureHDF;
using TfSyncBN.Tensors;

namespace TfSyncBN.Keras;

/// <summary>
/// Writes a model's weights in Keras's HDF5 layouts with PureHDF (new files only): Keras 3 <c>.weights.h5</c>
/// (<c>saving_lib.H5IOStore</c>: <c>layers/&lt;name&gt;/vars/&lt;i&gt;</c>, an empty root <c>vars</c> group) and Keras 2
/// <c>.h5</c> (<c>legacy_h5_format.save_weights_to_hdf5_group</c>: attributes <c>layer_names</c>, <c>backend</c>,
/// <c>keras_version</c>; per layer a group with attribute <c>weight_names</c> such as <c>dense/kernel:0</c> and one
/// dataset per weight at that path). Values are read at this explicit sync point with <c>ToArray</c>.
/// </summary>
internal static class KerasH5Writer
{
    /// <summary>The Keras version written into Keras 2 files: the tf.keras release whose layout is reproduced.</summary>
    public const string Keras2Version = "2.15.0";

    public static H5File Keras3(Model model)
    {
        var file = new H5File { ["layers"] = Keras3Layers(model), ["vars"] = new H5Group() };
        return file;
    }

    private static H5Group Keras3Layers(Model model)
    {
        var layers = new H5Group();
        foreach (var layer in model.Layers)
        {
            if (layer is InputLayer) continue;
            if (layer is ModelLayer nested)
            {
                layers[layer.Name] = new H5Group { ["layers"] = Keras3Layers(nested.Model), ["vars"] = new H5Group() };
                continue;
            }
            var vars = new H5Group();
            var weights = layer.Weights;
            for (int i = 0; i < weights.Count; i++) vars[i.ToString(System.Globalization.CultureInfo.InvariantCulture)] = Dataset(weights[i]);
            layers[layer.Name] = new H5Group { ["vars"] = vars };
        }
        return layers;
    }

    /// <summary>The Keras 2 weights layout on <paramref name="group"/> (the file root, or a full-model file's <c>model_weights</c>).</summary>
    public static void Keras2(H5Group group, Model model)
    {
        var names = new List<string>();
        foreach (var layer in model.Layers)
        {
            if (layer is InputLayer) continue;
            names.Add(layer.Name);
            var layerGroup = new H5Group();
            var weightNames = new List<string>();
            var weights = layer is ModelLayer m ? m.Model.SavedWeights : layer.Weights;
            foreach (var w in weights)
            {
                var leaf = w.Name.Contains('/') ? w.Name[(w.Name.LastIndexOf('/') + 1)..] : w.Name;
                var prefix = layer is ModelLayer && w.Name.Contains('/') ? w.Name[..w.Name.LastIndexOf('/')] : layer.Name;
                weightNames.Add($"{prefix}/{leaf}:0");
                if (!layerGroup.ContainsKey(prefix)) layerGroup[prefix] = new H5Group();
                ((H5Group)layerGroup[prefix])[$"{leaf}:0"] = Dataset(w);
            }
            layerGroup.Attributes = new Dictionary<string, object> { ["weight_names"] = weightNames.ToArray() };
            group[layer.Name] = layerGroup;
        }
        group.Attributes = new Dictionary<string, object>
        {
            ["layer_names"] = names.ToArray(),
            ["backend"] = "tensorflow",
            ["keras_version"] = Keras2Version,
        };
    }

    private static H5Dataset Dataset(Variable v)
    {
        var values = v.Value.ToArray();
        return new H5Dataset<float[]>(values, fileDims: [.. v.Shape.Select(d => (ulong)d)]);
    }

    /// <summary>Writes <paramref name="file"/> to <paramref name="path"/> through a temporary file renamed over it, so a failed write leaves any previous file.</summary>
    public static void WriteAtomically(H5File file, string path)
    {
        var full = Path.GetFullPath(path);
        var temp = Path.Combine(Path.GetDirectoryName(full)!, $".{Path.GetFileName(full)}.{Guid.NewGuid():N}.tmp");
        try
        {
            file.Write(temp);
            File.Move(temp, full, overwrite: true);
        }
        finally
        {
            if (File.Exists(temp)) File.Delete(temp);
        }
    }
}
