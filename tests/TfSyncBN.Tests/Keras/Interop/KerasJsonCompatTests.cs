using System.Text.Json.Nodes;
using TfSyncBN.Keras;

namespace TfSyncBN.Tests.Keras.Interop;

/// <summary>Model JSON exactly as tf.keras 2.x and Keras 3 write it (fixtures from tests/reference/keras_fixtures.py).</summary>
[TestClass]
public sealed class KerasJsonCompatTests
{
    [TestMethod]
    public void TfKeras2SequentialJsonIsRead()
    {
        var model = Sequential.FromJson(KerasFixtures.Text("tfkeras2_sequential.json"));
        CollectionAssert.AreEqual(new[] { "Conv2D", "BatchNormalization", "SyncBatchNormalization", "MaxPooling2D", "Flatten", "Dense" },
            model.Layers.Select(l => l.ClassName).ToArray());
        CollectionAssert.AreEqual(new[] { "conv2d", "batch_normalization", "sync_batch_normalization", "max_pooling2d", "flatten", "dense" },
            model.Layers.Select(l => l.Name).ToArray());
        var conv = (Conv2D)model.Layers[0];
        Assert.AreEqual(4, conv.GetConfig().GetInt("filters"));
        Assert.AreEqual("same", conv.GetConfig().GetString("padding"));
        Assert.AreEqual("relu", conv.GetConfig().GetString("activation"));
        Assert.IsInstanceOfType<SyncBatchNormalization>(model.Layers[2]);
        Assert.AreEqual(3, ((Dense)model.Layers[5]).Units);
        CollectionAssert.AreEqual(new[] { -1, 6, 6, 2 }, model.BuiltInputShape!.ToArray());
    }

    [TestMethod]
    public void Keras3FunctionalJsonIsRead()
    {
        var model = TfSyncBN.Keras.Functional.FromJson(KerasFixtures.Text("keras3_functional.json"));
        var bn = model.Layers.OfType<BatchNormalization>().Single();
        Assert.IsTrue(bn.Synchronized, "Keras 3 BatchNormalization(synchronized=True) must be synchronized");
        Assert.AreEqual(0.99f, bn.Momentum);
        CollectionAssert.AreEqual(new[] { "input_layer", "conv2d", "batch_normalization", "add", "activation", "global_average_pooling2d", "dense" },
            model.Layers.Select(l => l.Name).ToArray());
        Assert.AreEqual("softmax", model.Layers.OfType<Dense>().Single().GetConfig().GetString("activation"));
    }

    /// <summary>Keys that change the computation are rejected with the layer's name and the key (entry index in the
    /// fixture's layers: 1 conv2d, 2 batch_normalization, 6 dense).</summary>
    [TestMethod]
    [DataRow(1, "activity_regularizer", "{\"class_name\": \"L2\", \"config\": {\"l2\": 0.01}}")]
    [DataRow(1, "dtype", "\"float16\"")]
    [DataRow(1, "dtype", "{\"module\": \"keras\", \"class_name\": \"DTypePolicy\", \"config\": {\"name\": \"mixed_float16\"}, \"registered_name\": null}")]
    [DataRow(1, "lora_rank", "4")]
    [DataRow(1, "frobnicate", "1")]
    [DataRow(2, "renorm", "true")]
    [DataRow(2, "virtual_batch_size", "8")]
    [DataRow(6, "quantization_config", "{\"mode\": \"int8\"}")]
    public void ComputationChangingKeyIsRejected(int entry, string key, string valueJson)
    {
        var root = JsonNode.Parse(KerasFixtures.Text("tfkeras2_sequential.json"))!;
        var layer = root["config"]!["layers"]![entry]!;
        layer["config"]![key] = JsonNode.Parse(valueJson);
        var e = Assert.ThrowsExactly<ArgumentException>(() => Sequential.FromJson(root.ToJsonString()));
        StringAssert.Contains(e.Message, $"Layer '{layer["config"]!["name"]}' ({layer["class_name"]}) has ");
        StringAssert.Contains(e.Message, $"'{key}'");
        Assert.AreEqual("json", e.ParamName);
    }

    /// <summary>The neutral values of those keys are accepted (tf.keras writes renorm: false, fused: null, ...).</summary>
    [TestMethod]
    public void NeutralValuesAreAccepted()
    {
        var root = JsonNode.Parse(KerasFixtures.Text("tfkeras2_sequential.json"))!;
        var bn = root["config"]!["layers"]![2]!["config"]!;
        bn["renorm"] = false;
        bn["fused"] = true;
        bn["virtual_batch_size"] = null;
        var model = Sequential.FromJson(root.ToJsonString());
        Assert.AreEqual(0.001f, ((BatchNormalization)model.Layers[1]).Epsilon);
    }
}
