using TfSyncBN.Distribute;
using TfSyncBN.Keras;
using TfSyncBN.Tensors;
using TfSyncBN.Tests.TestUtil;

namespace TfSyncBN.Tests.Keras;

[TestClass]
public sealed class SyncBatchNormalizationCollectiveAndConfigTests
{
    [TestMethod]
    public void OneCollectivePerForward_OnePerBackward_NoneInInference()
    {
        using var strategy = new MirroredStrategy(3);
        SyncBatchNormalization layer;
        using (strategy.Scope()) layer = new SyncBatchNormalization(axis: [1]);
        var x = Tensor.FromArray(TestData.Normal(new Random(3), 9 * 4 * 5), [9, 4, 5]);
        var counts = strategy.Run(ctx =>
        {
            var slice = x.Slice(0, 3 * ctx.ReplicaId, 3);
            var group = ctx.Group!;
            long before = group.CollectivesCompleted;
            using var tape = new GradientTape();
            tape.Watch(slice);
            var y = layer.Call(slice, training: true);
            long afterForward = group.CollectivesCompleted;
            tape.Gradient(y, [slice, layer.Gamma!, layer.Beta!]);
            long afterBackward = group.CollectivesCompleted;
            layer.Call(slice, training: false);
            return new[] { afterForward - before, afterBackward - afterForward, group.CollectivesCompleted - afterBackward };
        });
        foreach (var c in counts) CollectionAssert.AreEqual(new long[] { 1, 1, 0 }, c);
    }

    [TestMethod]
    public void GetConfig_HasEveryKerasKeyPlusSynchronized()
    {
        var config = new SyncBatchNormalization().GetConfig();
        string[] keras = ["name", "trainable", "dtype", "axis", "momentum", "epsilon", "center", "scale",
            "beta_initializer", "gamma_initializer", "moving_mean_initializer", "moving_variance_initializer",
            "beta_regularizer", "gamma_regularizer", "beta_constraint", "gamma_constraint", "synchronized"];
        CollectionAssert.AreEquivalent(keras, config.Keys.ToArray());
        Assert.AreEqual(true, config["synchronized"]);
        Assert.AreEqual(0.99, config["momentum"]);
        Assert.AreEqual(0.001, config["epsilon"]);
        CollectionAssert.AreEqual(new[] { -1 }, (int[])config["axis"]!);
        var init = (IReadOnlyDictionary<string, object?>)config["gamma_initializer"]!;
        Assert.AreEqual("Ones", init["class_name"]);
        Assert.IsNull(config["beta_regularizer"]);
        Assert.AreEqual(false, new BatchNormalization().GetConfig()["synchronized"]);
    }

    [TestMethod]
    public void FromConfig_RebuildsALayerThatBehavesIdentically()
    {
        var original = new SyncBatchNormalization(axis: [1, 3], momentum: 0.7f, epsilon: 1e-4f, center: true, scale: true,
            betaInitializer: Initializers.RandomNormal(stddev: 0.3f, seed: 4), gammaInitializer: Initializers.RandomUniform(0.5f, 1.5f, seed: 5),
            movingMeanInitializer: Initializers.Constant(0.25f), movingVarianceInitializer: Initializers.Constant(2f),
            betaRegularizer: Regularizers.L1(0.02f), gammaRegularizer: Regularizers.L1L2(0.01f, 0.03f),
            betaConstraint: Constraints.MaxNorm(1.5f), gammaConstraint: Constraints.NonNeg(), name: "bn_original", trainable: true);
        var config = original.GetConfig();
        var rebuilt = SyncBatchNormalization.FromConfig(config);
        CollectionAssert.AreEquivalent(config.Keys.ToArray(), rebuilt.GetConfig().Keys.ToArray());
        Assert.AreEqual(KerasJson(config), KerasJson(rebuilt.GetConfig()));

        var x = Tensor.FromArray(TestData.Normal(new Random(9), 4 * 3 * 2 * 5, 1, 2), [4, 3, 2, 5]);
        var dy = Tensor.FromArray(TestData.Normal(new Random(10), 4 * 3 * 2 * 5), [4, 3, 2, 5]);
        float[][] Run(BatchNormalization layer)
        {
            using var tape = new GradientTape();
            tape.Watch(x);
            var y = layer.Call(x, training: true);
            var g = tape.Gradient(y, [x, layer.Gamma!, layer.Beta!], dy);
            var inference = layer.Call(x, training: false);
            return [y.ToArray(), g[0]!.ToArray(), g[1]!.ToArray(), g[2]!.ToArray(), inference.ToArray(),
                layer.Losses.Select(l => l.ToScalar()).ToArray(), layer.Gamma!.Constraint!(Tensor.FromArray([-1f, 2f])).ToArray()];
        }
        var a = Run(original);
        var b = Run(rebuilt);
        for (int i = 0; i < a.Length; i++) CollectionAssert.AreEqual(a[i], b[i], $"result {i}");

        // The Keras-3 form round-trips too, and a plain BatchNormalization config keeps synchronized = false.
        var k3 = BatchNormalization.FromConfig(new BatchNormalization(synchronized: true).GetConfig());
        Assert.IsTrue(k3.Synchronized);
        Assert.IsFalse(BatchNormalization.FromConfig(new BatchNormalization().GetConfig()).Synchronized);
    }

    private static string KerasJson(IReadOnlyDictionary<string, object?> config) =>
        System.Text.Json.JsonSerializer.Serialize(config.Where(kv => kv.Key != "name").ToDictionary(kv => kv.Key, kv => kv.Value));
}
