using TfSyncBN.Keras;
using TfSyncBN.Tensors;
using TfSyncBN.Tests.TestUtil;

namespace TfSyncBN.Tests.Keras.Layers;

[TestClass]
public sealed class LayerBaseTests
{
    [TestMethod]
    public void ComputeOutputShape_DefaultsToTheInputShape()
    {
        var layer = new BatchNormalization();
        CollectionAssert.AreEqual(new[] { 7, 3, 5 }, layer.ComputeOutputShape([7, 3, 5]).ToArray());
        Assert.IsFalse(layer.Built, "computing a shape must not build the layer");
        Assert.ThrowsExactly<ArgumentNullException>(() => layer.ComputeOutputShape((IReadOnlyList<int>)null!));
    }

    [TestMethod]
    public void DefaultNames_FollowKerasSnakeCase()
    {
        // Keras' to_snake_case, e.g. tf.keras names Conv2D layers "conv2d", "conv2d_1", ...
        static string Base(string name) => System.Text.RegularExpressions.Regex.Replace(name, "_[0-9]+$", "");
        Assert.AreEqual("conv2d", Base(new Conv2D(4, [3, 3]).Name));
        Assert.AreEqual("max_pooling2d", Base(new MaxPooling2D([2, 2]).Name));
        Assert.AreEqual("global_average_pooling2d", Base(new GlobalAveragePooling2D().Name));
        Assert.AreEqual("re_lu", Base(new ReLU().Name));
        Assert.AreEqual("sync_batch_normalization", Base(new SyncBatchNormalization().Name));
        var first = new Dense(1).Name;
        var second = new Dense(1).Name;
        Assert.AreNotEqual(first, second, "every generated name is unique");
    }

    [TestMethod]
    public void CountParams_CountsEveryWeight_AndNeedsABuiltLayer()
    {
        var layer = new BatchNormalization();
        var e = Assert.ThrowsExactly<InvalidOperationException>(() => layer.CountParams());
        StringAssert.Contains(e.Message, "not built");
        layer.EnsureBuilt([2, 6]);
        Assert.AreEqual(4 * 6, layer.CountParams(), "gamma, beta, moving mean and moving variance of 6 channels");
        var noScale = new BatchNormalization(scale: false, center: false);
        noScale.EnsureBuilt([2, 3, 5]);
        Assert.AreEqual(2 * 5, noScale.CountParams());
    }

    [TestMethod]
    public void SerializeDeserialize_RoundTripsBatchNormLayers()
    {
        Layer[] layers = [new BatchNormalization(axis: [1], momentum: 0.9f, epsilon: 1e-4f, center: false, name: "bn_rt"), new SyncBatchNormalization(momentum: 0.5f)];
        foreach (var layer in layers)
        {
            var serialized = TfSyncBN.Keras.Layers.Serialize(layer);
            Assert.AreEqual(layer.ClassName, serialized["class_name"]);
            var back = TfSyncBN.Keras.Layers.Deserialize(serialized);
            Assert.AreEqual(layer.GetType(), back.GetType());
            KerasAssert.ConfigsEqual(layer.GetConfig(), back.GetConfig());
        }
    }

    [TestMethod]
    public void Deserialize_RejectsUnknownNamesKeysAndMissingClassName()
    {
        var e = Assert.ThrowsExactly<ArgumentException>(() => TfSyncBN.Keras.Layers.Deserialize(
            new Dictionary<string, object?> { ["class_name"] = "NoSuchLayer", ["config"] = new Dictionary<string, object?>() }));
        Assert.AreEqual("config", e.ParamName);
        StringAssert.Contains(e.Message, "BatchNormalization");
        e = Assert.ThrowsExactly<ArgumentException>(() => TfSyncBN.Keras.Layers.Deserialize(
            new Dictionary<string, object?> { ["class_name"] = "BatchNormalization", ["config"] = new Dictionary<string, object?> { ["bogus"] = 1 } }));
        StringAssert.Contains(e.Message, "bogus");
        Assert.ThrowsExactly<ArgumentException>(() => TfSyncBN.Keras.Layers.Deserialize(new Dictionary<string, object?> { ["config"] = null }));
        Assert.ThrowsExactly<ArgumentNullException>(() => TfSyncBN.Keras.Layers.Serialize(null!));
        // Keras puts the model's input shape into the first layer's config; it is accepted and ignored.
        var ok = TfSyncBN.Keras.Layers.Deserialize(new Dictionary<string, object?>
        {
            ["class_name"] = "BatchNormalization",
            ["config"] = new Dictionary<string, object?> { ["batch_input_shape"] = new object?[] { null, 4 }, ["momentum"] = 0.8 },
        });
        Assert.AreEqual(0.8f, ((BatchNormalization)ok).Momentum);
    }
}
