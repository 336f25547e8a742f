using TfSyncBN.Keras;
using TfSyncBN.Tensors;
using TfSyncBN.Tests.TestUtil;

namespace TfSyncBN.Tests.Keras.Layers;

/// <summary>Keras config keys, FromConfig(GetConfig()) round trips, and the Layers registry for every layer class.</summary>
[TestClass]
public sealed class LayerConfigTests
{
    private static readonly string[] BaseKeys = ["name", "trainable", "dtype"];

    /// <summary>Layers with non-default arguments (seeded initializers, so rebuilt layers compute the same outputs), and an input for each.</summary>
    private static IEnumerable<(Layer Layer, int[] Input)> Samples() =>
    [
        (new Dense(3, "tanh", useBias: true, kernelInitializer: Initializers.GlorotUniform(seed: 1), biasInitializer: Initializers.RandomNormal(seed: 2),
            kernelRegularizer: Regularizers.L2(0.01f), biasRegularizer: Regularizers.L1(0.1f), kernelConstraint: Constraints.MaxNorm(3f), biasConstraint: Constraints.NonNeg()), [2, 4]),
        (new Conv2D(2, [3, 2], [2, 1], "same", activation: "relu", kernelInitializer: Initializers.HeNormal(seed: 3), biasInitializer: Initializers.Constant(0.1f)), [1, 5, 4, 2]),
        (new Activation("sigmoid"), [2, 3]),
        (new ReLU(6f, 0.1f, 0.5f), [2, 3]),
        (new Softmax(1), [2, 3, 2]),
        (new Flatten(), [2, 3, 2]),
        (new Rescaling(0.5f, 0.25f), [2, 3]),
        (new Dropout(0.25f, seed: 9), [2, 30]),
        (new MaxPooling2D([3, 3], [2, 2], "same"), [1, 5, 5, 2]),
        (new GlobalAveragePooling2D(keepDims: true), [1, 3, 3, 2]),
        (new BatchNormalization(momentum: 0.9f), [4, 3]),
        (new Conv2D(4, [2, 3], padding: "same", dataFormat: "channels_first", dilationRate: [2, 1], groups: 2, activation: "gelu",
            kernelInitializer: Initializers.GlorotUniform(seed: 4), biasInitializer: Initializers.Constant(0.2f)), [1, 2, 5, 4]),
        (new DepthwiseConv2D([3], [2], "same", depthMultiplier: 2, dataFormat: "channels_first", activation: "elu",
            depthwiseInitializer: Initializers.GlorotUniform(seed: 5), depthwiseRegularizer: Regularizers.L2(0.01f), depthwiseConstraint: Constraints.MaxNorm(2f)), [1, 3, 5, 5]),
        (new AveragePooling2D([3, 2], [1, 2], "same", "channels_first"), [1, 2, 5, 5]),
        (new GlobalMaxPooling2D("channels_first", keepDims: true), [2, 3, 2, 2]),
        (new ZeroPadding2D([1, 2, 0, 3], "channels_first"), [1, 2, 3, 3]),
        (new UpSampling2D([3, 2]), [1, 2, 3, 2]),
        (new LeakyReLU(0.1f), [2, 3]),
        (new LayerNormalization([1, 2], 1e-2f, center: false, gammaInitializer: Initializers.RandomNormal(seed: 6), gammaRegularizer: Regularizers.L1(0.1f)), [2, 3, 4]),
        (new Reshape([-1, 3]), [2, 3, 4]),
        (new Activation("swish"), [2, 3]),
    ];

    [TestMethod]
    public void EveryLayer_RoundTripsThroughConfig_WithIdenticalConfigAndOutputs()
    {
        foreach (var (layer, inputShape) in Samples())
        {
            var config = layer.GetConfig();
            var serialized = TfSyncBN.Keras.Layers.Serialize(layer);
            Assert.AreEqual(layer.ClassName, serialized["class_name"]);
            var rebuilt = TfSyncBN.Keras.Layers.Deserialize(serialized);
            Assert.AreEqual(layer.GetType(), rebuilt.GetType());
            KerasAssert.ConfigsEqual(config, rebuilt.GetConfig(), layer.ClassName);
            var x = TestData.Uniform(TestData.NewRandom(5), inputShape);
            bool training = layer is Dropout;
            CollectionAssert.AreEqual(layer.Call(x, training).ToArray(), rebuilt.Call(x, training).ToArray(), $"{layer.ClassName}: same outputs");
            CollectionAssert.AreEqual(layer.ComputeOutputShape(inputShape).ToArray(), layer.Call(x).Shape.ToArray(), $"{layer.ClassName}: ComputeOutputShape");
        }
    }

    [TestMethod]
    public void ConfigKeys_AreKeras()
    {
        void Keys(Layer layer, params string[] own) =>
            CollectionAssert.AreEquivalent(BaseKeys.Concat(own).ToList(), layer.GetConfig().Keys.ToList(), layer.ClassName);
        string[] kernel = ["activation", "use_bias", "kernel_initializer", "bias_initializer", "kernel_regularizer", "bias_regularizer", "kernel_constraint", "bias_constraint"];
        Keys(new Dense(2), ["units", .. kernel]);
        Keys(new Conv2D(2, [3]), ["filters", "kernel_size", "strides", "padding", "data_format", "dilation_rate", "groups", .. kernel]);
        Keys(new Activation("relu"), "activation");
        Keys(new ReLU(), "max_value", "negative_slope", "threshold");
        Keys(new Softmax(), "axis");
        Keys(new Flatten(), "data_format");
        Keys(new Rescaling(1f), "scale", "offset");
        Keys(new Dropout(0.5f), "rate", "seed", "noise_shape");
        Keys(new MaxPooling2D(), "pool_size", "padding", "strides", "data_format");
        Keys(new GlobalAveragePooling2D(), "data_format", "keepdims");
        Keys(new GlobalMaxPooling2D(), "data_format", "keepdims");
        Keys(new AveragePooling2D(), "pool_size", "padding", "strides", "data_format");
        Keys(new ZeroPadding2D(), "padding", "data_format");
        Keys(new UpSampling2D(), "size", "data_format", "interpolation");
        Keys(new Reshape([4]), "target_shape");
        Keys(new LeakyReLU(), "negative_slope");
        Keys(new LayerNormalization(), "axis", "epsilon", "center", "scale", "rms_scaling", "beta_initializer", "gamma_initializer",
            "beta_regularizer", "gamma_regularizer", "beta_constraint", "gamma_constraint");
        Keys(new DepthwiseConv2D([3]), "kernel_size", "strides", "padding", "depth_multiplier", "data_format", "dilation_rate", "activation", "use_bias",
            "depthwise_initializer", "bias_initializer", "depthwise_regularizer", "bias_regularizer", "depthwise_constraint", "bias_constraint");

        var dense = new Dense(4).GetConfig();
        Assert.AreEqual(4, dense["units"]);
        Assert.AreEqual("linear", dense["activation"]);
        Assert.AreEqual(true, dense["use_bias"]);
        Assert.AreEqual("GlorotUniform", ((IReadOnlyDictionary<string, object?>)dense["kernel_initializer"]!)["class_name"]);
        Assert.AreEqual("Zeros", ((IReadOnlyDictionary<string, object?>)dense["bias_initializer"]!)["class_name"]);
        Assert.IsNull(dense["kernel_regularizer"]);
        var conv = new Conv2D(8, [3], [2], "SAME").GetConfig();
        CollectionAssert.AreEqual(new[] { 3, 3 }, (int[])conv["kernel_size"]!);
        CollectionAssert.AreEqual(new[] { 2, 2 }, (int[])conv["strides"]!);
        Assert.AreEqual("same", conv["padding"]);
        Assert.AreEqual("channels_last", conv["data_format"]);
        CollectionAssert.AreEqual(new[] { 2, 2 }, (int[])new MaxPooling2D().GetConfig()["strides"]!, "Keras writes the strides the pool size implies");
        Assert.AreEqual(0.1, new Dropout(0.1f).GetConfig()["rate"], "floats are written with their shortest decimal form");
        Assert.IsNull(new Dropout(0.1f).GetConfig()["seed"]);
    }

    [TestMethod]
    public void Deserialize_AcceptsKerasJsonShapes()
    {
        // As parsed from Keras JSON: numbers as long/double, tuples as lists, an int kernel size.
        var conv = (Conv2D)TfSyncBN.Keras.Layers.Deserialize(new Dictionary<string, object?>
        {
            ["class_name"] = "Conv2D",
            ["config"] = new Dictionary<string, object?>
            {
                ["name"] = "conv2d_json", ["filters"] = 32L, ["kernel_size"] = new List<object?> { 3L, 3L }, ["strides"] = new List<object?> { 1L, 1L },
                ["padding"] = "same", ["data_format"] = "channels_last", ["dilation_rate"] = new List<object?> { 1L, 1L }, ["groups"] = 1L,
                ["activation"] = "relu", ["use_bias"] = true,
                ["kernel_initializer"] = new Dictionary<string, object?> { ["class_name"] = "GlorotUniform", ["config"] = new Dictionary<string, object?> { ["seed"] = null } },
                ["bias_initializer"] = new Dictionary<string, object?> { ["class_name"] = "Zeros", ["config"] = new Dictionary<string, object?>() },
                ["kernel_regularizer"] = null, ["bias_regularizer"] = null, ["kernel_constraint"] = null, ["bias_constraint"] = null,
                ["batch_input_shape"] = new List<object?> { null, 28L, 28L, 1L },
            },
        });
        Assert.AreEqual(32, conv.Filters);
        Assert.AreEqual("conv2d_json", conv.Name);
        Assert.AreEqual("relu", conv.Activation);
        var dense = (Dense)TfSyncBN.Keras.Layers.Deserialize(new Dictionary<string, object?> { ["class_name"] = "Dense", ["config"] = new Dictionary<string, object?> { ["units"] = 10.0 } });
        Assert.AreEqual(10, dense.Units);
        var pool = (MaxPooling2D)TfSyncBN.Keras.Layers.Deserialize(new Dictionary<string, object?> { ["class_name"] = "MaxPool2D", ["config"] = new Dictionary<string, object?> { ["pool_size"] = 3L } });
        CollectionAssert.AreEqual(new[] { 3, 3 }, pool.Strides.ToArray());
    }

    [TestMethod]
    public void Deserialize_RejectsMissingRequiredKeysAndUnsupportedOptions()
    {
        static ArgumentException Bad(string cls, Dictionary<string, object?> config) => Assert.ThrowsExactly<ArgumentException>(() =>
            TfSyncBN.Keras.Layers.Deserialize(new Dictionary<string, object?> { ["class_name"] = cls, ["config"] = config }));
        StringAssert.Contains(Bad("Dense", []).Message, "units");
        StringAssert.Contains(Bad("Conv2D", new() { ["filters"] = 2 }).Message, "kernel_size");
        StringAssert.Contains(Bad("Conv2D", new() { ["filters"] = 2, ["kernel_size"] = 3, ["dilation_rate"] = new[] { 0, 2 } }).Message, "dilationRate");
        StringAssert.Contains(Bad("LayerNormalization", new() { ["rms_scaling"] = true }).Message, "rms_scaling");
        StringAssert.Contains(Bad("UpSampling2D", new() { ["interpolation"] = "bilinear" }).Message, "nearest");
        StringAssert.Contains(Bad("Dropout", new() { ["rate"] = 0.5, ["noise_shape"] = new[] { 1, 2 } }).Message, "noise_shape");
        StringAssert.Contains(Bad("Dense", new() { ["units"] = 2, ["lora_rank"] = 4 }).Message, "lora_rank");
        StringAssert.Contains(Bad("Dense", new() { ["units"] = "many" }).Message, "wrong type");
        Assert.AreEqual("units", Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => TfSyncBN.Keras.Layers.Deserialize(
            new Dictionary<string, object?> { ["class_name"] = "Dense", ["config"] = new Dictionary<string, object?> { ["units"] = -1 } })).ParamName);
        foreach (var name in new[] { "Dense", "Conv2D", "MaxPooling2D", "GlobalAveragePooling2D", "Flatten", "Dropout", "Rescaling", "Activation", "ReLU", "Softmax", "BatchNormalization", "SyncBatchNormalization",
            "AveragePooling2D", "GlobalMaxPooling2D", "ZeroPadding2D", "UpSampling2D", "DepthwiseConv2D", "LeakyReLU", "LayerNormalization", "Reshape" })
            CollectionAssert.Contains(TfSyncBN.Keras.Layers.Names.ToList(), name);
    }
}
