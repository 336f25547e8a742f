using System.Text.Json.Nodes;
using TfSyncBN.Keras;
using TfSyncBN.Tensors;

namespace TfSyncBN.Tests.Keras.Interop;

/// <summary>
/// Keras HDF5 files written by h5py (tests/reference/keras_fixtures.py) in Keras 2 and Keras 3 layouts; outputs are
/// compared with the script's float64 numpy forward pass.
/// </summary>
[TestClass]
public sealed class KerasH5Tests
{
    private static readonly JsonNode Expected = JsonNode.Parse(KerasFixtures.Text("expected.json"))!;

    private static float[] Flat(JsonNode node) => node is JsonArray a ? a.SelectMany(n => Flat(n!)).ToArray() : [node.GetValue<float>()];

    private static Tensor Input() => new(Flat(Expected["input"]!), [2, 6, 6, 2]);

    private static void AssertOutputs(Model model, string key)
    {
        var want = Flat(Expected[key]!);
        var got = model.Predict(Input()).ToArray();
        Assert.AreEqual(want.Length, got.Length);
        for (int i = 0; i < want.Length; i++) Assert.AreEqual(want[i], got[i], 1e-4, $"{key} output {i}");
    }

    [TestMethod]
    public void Keras2FullModelH5IsLoaded()
    {
        var model = Model.LoadModel(KerasFixtures.Path("tfkeras2_sequential.h5"));
        Assert.IsInstanceOfType<Sequential>(model);
        AssertOutputs(model, "sequential");
    }

    [TestMethod]
    public void Keras2WeightsOnlyH5IsLoadedByLayerName()
    {
        var model = Sequential.FromJson(KerasFixtures.Text("tfkeras2_sequential.json"));
        model.LoadWeights(KerasFixtures.Path("tfkeras2_sequential_weights.h5"));
        AssertOutputs(model, "sequential");
        // The BN moving statistics come from the file (HWIO conv kernel, BN order gamma, beta, mean, variance).
        var bn = (BatchNormalization)model.Layers[1];
        Assert.AreEqual(4, bn.Weights.Count);
    }

    [TestMethod]
    public void Keras3WeightsH5IsLoadedByLayerPath()
    {
        var model = TfSyncBN.Keras.Functional.FromJson(KerasFixtures.Text("keras3_functional.json"));
        model.LoadWeights(KerasFixtures.Path("keras3_functional.weights.h5"));
        AssertOutputs(model, "functional");
    }

    [TestMethod]
    public void LoadModelRejectsOtherExtensions()
    {
        var e = Assert.ThrowsExactly<ArgumentException>(() => Model.LoadModel("model.bin"));
        Assert.AreEqual("path", e.ParamName);
    }

    /// <summary>Missing layers, wrong shapes, truncated or corrupted files: a clear error and no weight changed.</summary>
    [TestMethod]
    public void FailedLoadsChangeNothing()
    {
        var dir = Directory.CreateTempSubdirectory("tfsyncbn-h5-").FullName;
        try
        {
            var model = Sequential.FromJson(KerasFixtures.Text("tfkeras2_sequential.json"));
            var before = model.SavedWeights.Select(w => w.Value.ToArray()).ToArray();
            void Fails(string path, string fragment)
            {
                var e = Assert.ThrowsExactly<InvalidDataException>(() => model.LoadWeights(path), path);
                StringAssert.Contains(e.Message, fragment);
                var after = model.SavedWeights.Select(w => w.Value.ToArray()).ToArray();
                for (int i = 0; i < before.Length; i++) CollectionAssert.AreEqual(before[i], after[i], $"weight {i} changed after a failed load of {path}");
            }

            // A file for another model: the first mismatch (conv2d has 2 filters there, 4 here) is named.
            Fails(KerasFixtures.Path("keras3_functional.weights.h5"), "'layers/conv2d/vars/0' has shape [3, 3, 2, 2]");
            // Wrong shapes: a Dense of 5 units reading a 3-unit kernel (after the earlier layers were read fine).
            var wide = JsonNode.Parse(KerasFixtures.Text("tfkeras2_sequential.json"))!;
            wide["config"]!["layers"]![6]!["config"]!["units"] = 5;
            var wideModel = Sequential.FromJson(wide.ToJsonString());
            var wideBefore = wideModel.SavedWeights.Select(w => w.Value.ToArray()).ToArray();
            var e = Assert.ThrowsExactly<InvalidDataException>(() => wideModel.LoadWeights(KerasFixtures.Path("tfkeras2_sequential_weights.h5")));
            StringAssert.Contains(e.Message, "dense/kernel:0");
            CollectionAssert.AreEqual(wideBefore[0], wideModel.SavedWeights[0].Value.ToArray(), "conv kernel changed after a failed load");

            var bytes = File.ReadAllBytes(KerasFixtures.Path("tfkeras2_sequential_weights.h5"));
            var truncated = Path.Combine(dir, "truncated.h5");
            File.WriteAllBytes(truncated, bytes[..(bytes.Length / 2)]);
            Fails(truncated, "truncated.h5");
            // Flipped bytes all over the file: every variant fails cleanly or loads identical values (a flip in unused bytes).
            var rng = new Random(5);
            for (int trial = 0; trial < 40; trial++)
            {
                var copy = (byte[])bytes.Clone();
                int at = rng.Next(8, copy.Length);
                copy[at] ^= (byte)(1 + rng.Next(255));
                var path = Path.Combine(dir, $"flip{trial}.h5");
                File.WriteAllBytes(path, copy);
                var fresh = Sequential.FromJson(KerasFixtures.Text("tfkeras2_sequential.json"));
                var fb = fresh.SavedWeights.Select(w => w.Value.ToArray()).ToArray();
                try
                {
                    fresh.LoadWeights(path);
                }
                catch (InvalidDataException)
                {
                    var fa = fresh.SavedWeights.Select(w => w.Value.ToArray()).ToArray();
                    for (int i = 0; i < fb.Length; i++) CollectionAssert.AreEqual(fb[i], fa[i], $"flip at {at}: weight {i} half-loaded");
                }
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
