using TfSyncBN.Keras;

namespace TfSyncBN.Tests.Keras;

[TestClass]
public sealed class ConfigExtensionsTests
{
    [TestMethod]
    public void TypedReadsAcceptTheNumericTypesOfGetConfigAndOfJson()
    {
        var config = new Dictionary<string, object?>
        {
            ["f"] = 0.99f, ["d"] = 0.5, ["l"] = 3L, ["b"] = true, ["s"] = "same", ["axis"] = new object[] { 1L, 3.0 }, ["one"] = -1,
            ["nested"] = new Dictionary<string, object?> { ["class_name"] = "Ones" }, ["nothing"] = null,
        };
        Assert.AreEqual(0.99f, config.GetFloat("f"));
        Assert.AreEqual(0.5f, config.GetFloat("d"));
        Assert.AreEqual(3, config.GetInt("l"));
        Assert.IsTrue(config.GetBool("b"));
        Assert.AreEqual("same", config.GetString("s"));
        CollectionAssert.AreEqual(new[] { 1, 3 }, config.GetInts("axis").ToArray());
        CollectionAssert.AreEqual(new[] { -1 }, config.GetInts("one").ToArray());
        Assert.AreEqual("Ones", config.GetConfig("nested").GetString("class_name"));

        // Round trip through a layer's real config and its Keras JSON.
        var bn = new SyncBatchNormalization(momentum: 0.95f, epsilon: 1e-4f);
        Assert.AreEqual(0.95f, bn.GetConfig().GetFloat("momentum"));
        var model = Sequential.FromJson(new Sequential([bn], inputShape: [2]).ToJson());
        Assert.AreEqual(0.95f, model.Layers[0].GetConfig().GetFloat("momentum"));
        Assert.AreEqual(1e-4f, model.Layers[0].GetConfig().GetFloat("epsilon"));
    }

    [TestMethod]
    public void MissingNullAndMistypedValuesThrowNamingTheKey()
    {
        var config = new Dictionary<string, object?> { ["s"] = "text", ["nothing"] = null, ["half"] = 1.5 };
        var missing = Assert.ThrowsExactly<KeyNotFoundException>(() => config.GetFloat("momentum"));
        StringAssert.Contains(missing.Message, "'momentum'");
        StringAssert.Contains(missing.Message, "s, nothing, half");
        Assert.ThrowsExactly<KeyNotFoundException>(() => config.GetString("nothing"));
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => config.GetFloat("s")).Message, "'s' must be a number");
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => config.GetInt("half")).Message, "'half' must be an integer");
        Assert.ThrowsExactly<ArgumentException>(() => config.GetConfig("s"));
        Assert.ThrowsExactly<ArgumentException>(() => config.GetBool("half"));
    }
}
