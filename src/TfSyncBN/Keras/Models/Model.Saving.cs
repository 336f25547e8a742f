using TfSyncBN.Tensors;

namespace TfSyncBN.Keras;

public abstract partial class Model
{
    /// <summary>
    /// Writes the values of the model's weights to <paramref name="path"/> in the TfSyncBN weights format, atomically
    /// (<c>model.save_weights</c>; format and guarantees in <see cref="WeightsFile"/>), layer by layer in model order and
    /// each layer's <see cref="Layer.Weights"/> in order (see <see cref="SavedWeights"/>). Mirrored weights are saved
    /// from replica 0's copy. By extension: <c>.weights.h5</c> writes Keras 3's HDF5 layout
    /// (<c>layers/&lt;name&gt;/vars/&lt;i&gt;</c>), <c>.h5</c>/<c>.hdf5</c> Keras 2's (<c>layer_names</c>, per layer
    /// <c>weight_names</c> and datasets <c>&lt;layer&gt;/&lt;weight&gt;:0</c>), both readable by h5py and by
    /// <see cref="LoadWeights"/>; any other extension the TfSyncBN format.
    /// </summary>
    /// <param name="path">The file; replaced if it exists.</param>
    /// <exception cref="ArgumentNullException"><paramref name="path"/> is null.</exception>
    /// <exception cref="InvalidOperationException">The model is not built, so it has no weights yet.</exception>
    /// <exception cref="DirectoryNotFoundException">The file's directory does not exist.</exception>
    /// <exception cref="IOException">Writing failed; any previous file at <paramref name="path"/> is unchanged.</exception>
    public void SaveWeights(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!Built) throw new InvalidOperationException($"Model '{Name}' is not built yet, so it has no weights to save: call Build(inputShape), Fit or Call first.");
        if (path.EndsWith(".weights.h5", StringComparison.OrdinalIgnoreCase)) KerasH5Writer.WriteAtomically(KerasH5Writer.Keras3(this), path);
        else if (path.EndsWith(".h5", StringComparison.OrdinalIgnoreCase) || path.EndsWith(".hdf5", StringComparison.OrdinalIgnoreCase))
        {
            var file = new PureHDF.H5File();
            KerasH5Writer.Keras2(file, this);
            KerasH5Writer.WriteAtomically(file, path);
        }
        else WeightsFile.Save(path, SavedWeights);
    }

    /// <summary>
    /// The variables <see cref="SaveWeights"/> writes and <see cref="LoadWeights"/> reads, in file order: each layer's
    /// <see cref="Layer.Weights"/>, layer by layer (a nested model's in its own saved order), each variable once. Unlike <see cref="Weights"/> (all trainable
    /// weights of all layers first), this order does not change when a layer is frozen or unfrozen between saving and
    /// loading.
    /// </summary>
    public IReadOnlyList<Variable> SavedWeights =>
        Layers.SelectMany(l => l is ModelLayer m ? m.Model.SavedWeights : l.Weights).Distinct(ReferenceEqualityComparer.Instance).Cast<Variable>().ToArray();

    /// <summary>
    /// Assigns the values saved by <see cref="SaveWeights"/> to <see cref="SavedWeights"/>, in order, on every replica
    /// (<c>model.load_weights</c>). Everything is validated first: on any error no weight changes.
    /// An HDF5 file (by its signature) is read as a Keras weights file: Keras 2 / tf.keras <c>.h5</c> (weights-only, or
    /// the <c>model_weights</c> group of a full-model file) by layer name, in each layer's weight order; Keras 3
    /// <c>.weights.h5</c> by layer path <c>layers/&lt;name&gt;/vars/&lt;i&gt;</c>. Only float32 datasets are accepted.
    /// </summary>
    /// <param name="path">The weights file.</param>
    /// <exception cref="ArgumentNullException"><paramref name="path"/> is null.</exception>
    /// <exception cref="InvalidOperationException">The model is not built (build it for the saved input shape first).</exception>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="InvalidDataException">The file is truncated, corrupted (checksum), not a weights file, of an
    /// unsupported version, or does not match the model's weights in count or shapes (see <see cref="WeightsFile.Load"/>);
    /// for a Keras HDF5 file: unreadable HDF5, a missing layer group or dataset, or a wrong shape or element type (the
    /// message names the layer and weight).</exception>
    public void LoadWeights(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!Built) throw new InvalidOperationException($"Model '{Name}' is not built yet: build it (Build(inputShape) or a Call) for the input shape it was saved with, then load the weights.");
        if (File.Exists(path) && KerasH5.IsHdf5(path)) KerasH5.LoadWeights(path, this);
        else WeightsFile.Load(path, SavedWeights);
    }
}
