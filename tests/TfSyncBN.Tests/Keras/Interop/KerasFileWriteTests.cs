using System.Diagnostics;
using TfSyncBN.Keras;
using TfSyncBN.Tests.TestUtil;

namespace TfSyncBN.Tests.Keras.Interop;

/// <summary>
/// Files TfSyncBN writes in Keras layouts: verified by h5py (tests/reference/check_keras_layout.py: groups, attributes,
/// dataset names, shapes, dtypes, values) and read back exactly.
/// </summary>
[TestClass]
public sealed class KerasFileWriteTests
{
    private string dir = "";

    [TestInitialize]
    public void Setup() => dir = Directory.CreateTempSubdirectory("tfsyncbn-kw-").FullName;

    [TestCleanup]
    public void Cleanup() => Directory.Delete(dir, recursive: true);

    private static Model Source() => Model.LoadModel(KerasFixtures.Path("tfkeras2_sequential.h5"));

    private static Model Residual()
    {
        var m = TfSyncBN.Keras.Functional.FromJson(KerasFixtures.Text("keras3_functional.json"));
        m.LoadWeights(KerasFixtures.Path("keras3_functional.weights.h5"));
        return m;
    }

    /// <summary>Runs the h5py check of <paramref name="file"/> with the layout and the expected datasets of <paramref name="model"/>.</summary>
    private void H5pyCheck(string file, string layout, Model model)
    {
        var layers = model.Layers.Where(l => l is not InputLayer).ToList();
        var weights = new Dictionary<string, object>();
        foreach (var layer in layers)
        {
            var ws = layer.Weights;
            for (int i = 0; i < ws.Count; i++)
            {
                var leaf = ws[i].Name[(ws[i].Name.LastIndexOf('/') + 1)..];
                var path = layout is "keras3" or "keras_archive" ? $"layers/{layer.Name}/vars/{i}" : $"{layer.Name}/{layer.Name}/{leaf}:0";
                weights[path] = new { shape = ws[i].Shape, values = ws[i].Value.ToArray() };
            }
        }
        var expected = Path.Combine(dir, "expected.json");
        File.WriteAllText(expected, System.Text.Json.JsonSerializer.Serialize(new { layout, layers = layers.Select(l => l.Name), weights }));
        var script = Path.Combine(KerasFixtures.Dir, "..", "check_keras_layout.py");
        var psi = new ProcessStartInfo("/usr/bin/python3", [script, file, expected]) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEnd();
        var stderr = p.StandardError.ReadToEnd();
        Assert.IsTrue(p.WaitForExit(60_000), "h5py check timed out");
        Assert.AreEqual(0, p.ExitCode, $"h5py check of {layout} failed: {stdout}{stderr}");
        Assert.AreEqual("OK", stdout.Trim());
    }

    private static void AssertSameWeights(Model a, Model b)
    {
        Assert.AreEqual(a.SavedWeights.Count, b.SavedWeights.Count);
        for (int i = 0; i < a.SavedWeights.Count; i++)
            CollectionAssert.AreEqual(a.SavedWeights[i].Value.ToArray(), b.SavedWeights[i].Value.ToArray(), $"weight {a.SavedWeights[i].Name}");
    }

    [TestMethod]
    public void KerasArchiveRoundTripsAndHasKerasLayout()
    {
        foreach (var model in new[] { Source(), Residual() })
        {
            var path = Path.Combine(dir, "m.keras");
            model.Save(path);
            H5pyCheck(path, "keras_archive", model);
            var back = Model.LoadModel(path);
            Assert.AreEqual(model.GetType(), back.GetType());
            AssertSameWeights(model, back);
            var x = TestData.Uniform(TestData.NewRandom(4), [3, 6, 6, 2]);
            CollectionAssert.AreEqual(model.Predict(x).ToArray(), back.Predict(x).ToArray());
        }
    }

    [TestMethod]
    public void Keras2FullModelH5RoundTripsAndHasKerasLayout()
    {
        var model = Source();
        var path = Path.Combine(dir, "m.h5");
        model.Save(path);
        H5pyCheck(path, "keras2_full", model);
        AssertSameWeights(model, Model.LoadModel(path));
    }

    [TestMethod]
    public void WeightsFilesRoundTripAndHaveKerasLayouts()
    {
        var model = Source();
        foreach (var (file, layout) in new[] { ("w.weights.h5", "keras3"), ("w.h5", "keras2") })
        {
            var path = Path.Combine(dir, file);
            model.SaveWeights(path);
            H5pyCheck(path, layout, model);
            var fresh = Sequential.FromJson(KerasFixtures.Text("tfkeras2_sequential.json"));
            fresh.LoadWeights(path);
            AssertSameWeights(model, fresh);
        }
    }

    [TestMethod]
    public void CorruptArchiveFailsCleanly()
    {
        var path = Path.Combine(dir, "m.keras");
        Source().Save(path);
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..(bytes.Length * 2 / 3)]);
        Assert.ThrowsExactly<InvalidDataException>(() => Model.LoadModel(path));
    }
}
