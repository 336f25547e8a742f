using TfSyncBN.Distribute;
using TfSyncBN.Keras;
using TfSyncBN.Tensors;
using TfSyncBN.Tests.Distribute;
using TfSyncBN.Tests.TestUtil;

namespace TfSyncBN.Tests.Keras.Layers;

/// <summary>Layers created under a multi-replica strategy have mirrored weights and agree on every replica.</summary>
[TestClass]
public sealed class MirroredLayerTests
{
    private static void AssertMirroredAndIdentical(Func<Layer> create, Tensor x) => Bounded.Run(() =>
    {
        using var strategy = new MirroredStrategy(2);
        Layer layer;
        using (strategy.Scope())
        {
            layer = create();
            layer.EnsureBuilt(x.Shape);
        }
        Assert.IsTrue(layer.Weights.Count > 0);
        foreach (var w in layer.Weights)
        {
            Assert.AreSame(strategy, w.Strategy, $"{w.Name} is mirrored");
            Assert.AreEqual(2, w.Replicas.Count);
            CollectionAssert.AreEqual(w.Replicas[0].ToArray(), w.Replicas[1].ToArray(), $"{w.Name}: both copies start equal");
        }
        var outputs = strategy.Run(_ => layer.Call(x, training: true).ToArray());
        CollectionAssert.AreEqual(outputs[0], outputs[1], "both replicas compute the same output");
        // And the same as the cross-replica call (replica 0's weights).
        TestData.AssertClose(outputs[0], layer.Call(x).AsSpan(), 0, 0, "cross-replica output");
        // Gradients are computed per replica, on the replica's own copies, and agree.
        var grads = strategy.Run(_ =>
        {
            using var tape = new GradientTape();
            var y = layer.Call(x, training: true);
            return tape.Gradient(y, [.. layer.TrainableWeights]).Select(g => g!.ToArray()).ToArray();
        });
        for (int i = 0; i < grads[0].Length; i++) CollectionAssert.AreEqual(grads[0][i], grads[1][i], $"gradient {i}");
    });

    [TestMethod]
    public void Dense_CreatedInScope_IsMirrored_AndAgreesAcrossReplicas() =>
        AssertMirroredAndIdentical(() => new Dense(5, "relu"), TestData.Uniform(TestData.NewRandom(1), [4, 3]));

    [TestMethod]
    public void Conv2D_CreatedInScope_IsMirrored_AndAgreesAcrossReplicas() =>
        AssertMirroredAndIdentical(() => new Conv2D(3, [3, 3], [2, 2], "same", activation: "relu", biasInitializer: Initializers.RandomUniform(seed: 3)),
            TestData.Uniform(TestData.NewRandom(2), [2, 5, 6, 2]));
}
