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

    /// <summary>Keys that change the computation are rejected with the layer's name and the key.</summary>
    [TestMethod]
    [DataRow("activity_regularizer", "{\"class_name\": \"L2\", \"config\": {\"l2\": 0.01}}")]
    [DataRow("dtype", "\"float16\"")]
    [DataRow("dtype", "{\"module\": \"keras\", \"class_name\": \"DTypePolicy\", \"config\": {\"name\": \"mixed_float16\"}, \"registered_name\": null}")]
    [DataRow("lora_rank", "4")]
    [DataRow("frobnicate", "1")]
    public void ComputationChangingKeyIsRejected(string key, string valueJson)
    {
        var root = JsonNode.Parse(KerasFixtures.Text("tfkeras2_sequential.json"))!;
        root["config"]!["layers"]![1]!["config"]![key] = JsonNode.Parse(valueJson);
        var e = Assert.ThrowsExactly<ArgumentException>(() => Sequential.FromJson(root.ToJsonString()));
        StringAssert.Contains(e.Message, "'conv2d'");
        StringAssert.Contains(e.Message, $"'{key}'");
        Assert.AreEqual("json", e.ParamName);
    }

    [TestMethod]
    public void DenseQuantizationIsRejected()
    {
        var root = JsonNode.Parse(KerasFixtures.Text("tfkeras2_sequential.json"))!;
        root["config"]!["layers"]![6]!["config"]!["quantization_config"] = JsonNode.Parse("{\"mode\": \"int8\"}");
        var e = Assert.ThrowsExactly<ArgumentException>(() => Sequential.FromJson(root.ToJsonString()));
        StringAssert.Contains(e.Message, "Layer 'dense' (Dense) has 'quantization_config'");
    }

    [TestMethod]
    [DataRow("renorm", "true")]
    [DataRow("virtual_batch_size", "8")]
    public void BatchNormalizationVariantsAreRejected(string key, string valueJson)
    {
        var root = JsonNode.Parse(KerasFixtures.Text("tfkeras2_sequential.json"))!;
        root["config"]!["layers"]![2]!["config"]![key] = JsonNode.Parse(valueJson);
        var e = Assert.ThrowsExactly<ArgumentException>(() => Sequential.FromJson(root.ToJsonString()));
        StringAssert.Contains(e.Message, "'batch_normalization'");
        StringAssert.Contains(e.Message, $"'{key}'");
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
