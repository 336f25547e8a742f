using TfSyncBN.Keras;
using TfSyncBN.Tensors;
using TfSyncBN.Tests.Keras.Functional;
using TfSyncBN.Tests.TestUtil;
using FunctionalModel = TfSyncBN.Keras.Functional;

namespace TfSyncBN.Tests.Keras.Models;

/// <summary>A Sequential or Functional model used as a layer inside a Sequential (<c>Model.AsLayer</c>): its weights,
/// call, summary, JSON and weight files, and conversion to SyncBatchNormalization.</summary>
[TestClass]
public sealed class SequentialWithModelTests
{
    private static Dense Seeded(int units, int seed, string? name = null) => FunctionalModelTests.SeededDense(units, seed, name);

    private static (Sequential Outer, Sequential Inner, FunctionalModel Block) Build()
    {
        var inner = new Sequential([Seeded(4, 1, "inner_dense"), new BatchNormalization(name: "inner_bn")], inputShape: [3], name: "inner_stack");
        var x = Model.Input([4]);
        var block = new FunctionalModel([x], [new Add().Call([x, Seeded(4, 2, "block_dense").Call(x)])], name: "residual");
        var outer = new Sequential([inner.AsLayer, block.AsLayer, new ReLU(name: "act"), Seeded(2, 3, "head")], inputShape: [3], name: "outer");
        return (outer, inner, block);
    }

    [TestMethod]
    public void NestedModels_ShareTheirWeights_AndRunInOrder()
    {
        var (outer, inner, block) = Build();
        Assert.AreEqual(inner.Weights.Count + block.Weights.Count + 2, outer.Weights.Count);
        Assert.IsTrue(inner.TrainableWeights.All(w => outer.TrainableWeights.Contains(w)), "the inner model's variables themselves");
        Assert.IsTrue(inner.NonTrainableWeights.All(w => outer.NonTrainableWeights.Contains(w)), "moving statistics are non-trainable");
        var xv = TestData.Uniform(TestData.NewRandom(3), [5, 3]);
        foreach (bool training in new[] { false, true })
        {
            var expected = outer.Layers[3].Call(outer.Layers[2].Call(block.Call(inner.Call(xv, training), training), training), training);
            CollectionAssert.AreEqual(expected.ToArray(), outer.Call(xv, training).ToArray(), $"training={training}");
        }

        // A gradient step trains the inner models' weights.
        outer.Compile(new SGD(learningRate: 0.1f), "mse");
        var before = inner.TrainableWeights[0].Value.ToArray();
        outer.Fit(xv, TestData.Uniform(TestData.NewRandom(4), [5, 2]), batchSize: 5, verbose: 0, shuffle: false);
        Assert.IsFalse(before.SequenceEqual(inner.TrainableWeights[0].Value.ToArray()), "the inner Dense kernel was trained");
    }

    [TestMethod]
    public void Summary_ListsTheNestedModelsWithTheirClassAndParameters()
    {
        var (outer, inner, block) = Build();
        var text = outer.Summary(_ => { });
        StringAssert.Contains(text, "inner_stack (Sequential)");
        StringAssert.Contains(text, "residual (Functional)");
        StringAssert.Contains(text, inner.CountParams().ToString());
        StringAssert.Contains(text, $"Total params: {outer.CountParams()}");
        Assert.AreEqual(3 * 4 + 4 + 4 * 4 + 4 * 4 + 4 + 4 * 2 + 2, outer.CountParams(), "16 + 16 (BN) + 20 + 10");
    }

    [TestMethod]
    public void Json_AndWeights_RoundTrip_AndConvertSyncBatchNorm_ReachesInside()
    {
        var (outer, _, _) = Build();
        var json = outer.ToJson();
        StringAssert.Contains(json, "\"class_name\":\"Sequential\",\"config\":{\"name\":\"inner_stack\"");
        StringAssert.Contains(json, "\"class_name\":\"Functional\"");
        var rebuilt = Sequential.FromJson(json);
        Assert.AreEqual(json, rebuilt.ToJson());
        var path = Path.Combine(Path.GetTempPath(), $"tfsyncbn-nested-{Guid.NewGuid():N}.weights.h5");
        try
        {
            outer.SaveWeights(path);
            rebuilt.LoadWeights(path);
        }
        finally
        {
            File.Delete(path);
        }
        var xv = TestData.Uniform(TestData.NewRandom(5), [4, 3]);
        CollectionAssert.AreEqual(outer.Predict(xv).ToArray(), rebuilt.Predict(xv).ToArray());

        var converted = SyncBatchNormConversion.ConvertSyncBatchNorm(outer);
        var innerConverted = (Sequential)((ModelLayer)converted.Layers[0]).Model;
        Assert.IsInstanceOfType<SyncBatchNormalization>(innerConverted.Layers[1]);
        CollectionAssert.AreEqual(outer.Predict(xv).ToArray(), converted.Predict(xv).ToArray());
    }
}
