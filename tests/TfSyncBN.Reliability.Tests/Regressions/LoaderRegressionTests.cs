using TfSyncBN.Keras;

namespace TfSyncBN.Reliability.Tests.Regressions;

/// <summary>Bugs the fuzzers found, and hand-crafted hostile model configs, each pinned by a test.</summary>
[TestClass]
public sealed class LoaderRegressionTests
{
    /// <summary>Found by ModelJson fuzzing: a config value of −0.0 was written as "-0", read back as the integer 0,
    /// so ToJson of a model read from JSON differed from the JSON it was read from.</summary>
    [TestMethod]
    public void ModelJson_NegativeZero_RoundTripsToTheSameText()
    {
        var model = new Sequential([new Rescaling(-0f, -0f), new Dense(2, kernelRegularizer: Regularizers.L1L2(-0f, 0.5f))], [3]);
        string json = model.ToJson();
        StringAssert.DoesNotMatch(json, new System.Text.RegularExpressions.Regex("-0[,}]"), "no negative zero is written");
        Assert.AreEqual(json, Sequential.FromJson(json).ToJson());
    }

    public static IEnumerable<object[]> HostileConfigs =>
    [
        ["", "not valid JSON"],
        ["[]", "must be an object"],
        ["{\"class_name\":\"Functional\",\"config\":{}}", "only 'Sequential'"],
        ["{\"class_name\":\"Sequential\"}", "no 'config'"],
        ["{\"class_name\":\"Sequential\",\"config\":{\"layers\":{}}}", "no 'layers' list"],
        ["{\"class_name\":\"Sequential\",\"config\":{\"layers\":[{\"class_name\":\"InputLayer\",\"config\":{\"batch_input_shape\":[null,-3]}}]}}", "non-negative integer"],
        ["{\"class_name\":\"Sequential\",\"config\":{\"layers\":[{\"class_name\":\"InputLayer\",\"config\":{\"batch_input_shape\":[null,1e300]}}]}}", "non-negative integer"],
        ["{\"class_name\":\"Sequential\",\"config\":{\"layers\":[{\"class_name\":\"InputLayer\",\"config\":{\"batch_input_shape\":[null,65536]}},{\"class_name\":\"Dense\",\"config\":{\"units\":1073741824}}]}}", "more elements than an array can hold"],
        ["{\"class_name\":\"Sequential\",\"config\":{\"layers\":[{\"class_name\":\"Dense\",\"config\":{\"units\":-1}}]}}", "units"],
        ["{\"class_name\":\"Sequential\",\"config\":{\"layers\":[{\"class_name\":\"Dense\",\"config\":{\"units\":2147483648}}]}}", "must be an integer"],
        ["{\"class_name\":\"Sequential\",\"config\":{\"layers\":[{\"class_name\":\"Dense\",\"config\":{}}]}}", "units"],
        ["{\"class_name\":\"Sequential\",\"config\":{\"layers\":[{\"class_name\":\"Lambda\",\"config\":{}}]}}", "Lambda"],
        ["{\"class_name\":\"Sequential\",\"config\":{\"layers\":[null]}}", "not an object"],
        [new string('[', 1000), "not valid JSON"], // deeper than the reader's depth limit
        // Found by ModelJson fuzzing: these reached the caller as ArgumentException naming an internal parameter ('config').
        ["{\"class_name\":\"Sequential\",\"config\":{\"layers\":[{\"class_name\":\"InputLayer\",\"config\":false}]}}", "must be a dictionary"],
        ["{\"class_name\":\"Sequential\",\"config\":{\"layers\":[{\"class_name\":\"Dense\",\"config\":{\"units\":2,\"kernel_initializer\":7}}]}}", "kernel_initializer"],
    ];

    [TestMethod]
    [DynamicData(nameof(HostileConfigs))]
    public void ModelJson_HostileConfig_ThrowsArgumentExceptionWithReason(string json, string reason)
    {
        var e = Assert.Throws<ArgumentException>(() => Sequential.FromJson(json));
        Assert.AreEqual("json", e.ParamName, e.Message);
        StringAssert.Contains(e.Message, reason);
    }
}
