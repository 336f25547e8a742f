using TfSyncBN.Keras;
using TfSyncBN.Tensors;
using TfSyncBN.Tests.TestUtil;

namespace TfSyncBN.Tests.Keras.Layers;

[TestClass]
public sealed class DenseTests
{
    private static double Act(string act, double z) => act switch
    {
        "relu" => Math.Max(z, 0),
        "sigmoid" => 1 / (1 + Math.Exp(-z)),
        "tanh" => Math.Tanh(z),
        _ => z,
    };

    [TestMethod]
    [DataRow("linear")]
    [DataRow("relu")]
    [DataRow("sigmoid")]
    [DataRow("tanh")]
    public void Forward_MatchesFloat64(string activation)
    {
        var r = TestData.NewRandom(1);
        int n = 5, inF = 7, units = 3;
        var w = TestData.Uniform(r, [inF, units]).ToArray();
        var b = TestData.Uniform(r, [units]).ToArray();
        var layer = new Dense(units, activation, kernelInitializer: new FixedInitializer(w), biasInitializer: new FixedInitializer(b));
        var x = TestData.Uniform(r, [n, inF]);
        var y = layer.Call(x);
        var z = ReferenceNn.MatMul(x.ToArray(), w, n, units, inF, false, false);
        var expected = z.Select((v, i) => Act(activation, v + b[i % units])).ToArray();
        CollectionAssert.AreEqual(new[] { n, units }, y.Shape.ToArray());
        TestData.AssertClose(y.AsSpan(), expected, 1e-5, 1e-5, $"Dense {activation}");
    }

    [TestMethod]
    public void Softmax_AndRank3Inputs_ApplyAlongTheLastAxis()
    {
        var r = TestData.NewRandom(2);
        var w = TestData.Uniform(r, [4, 6]).ToArray();
        var layer = new Dense(6, "softmax", useBias: false, kernelInitializer: new FixedInitializer(w));
        var x = TestData.Uniform(r, [2, 3, 4]);
        var y = layer.Call(x);
        CollectionAssert.AreEqual(new[] { 2, 3, 6 }, y.Shape.ToArray());
        var z = ReferenceNn.MatMul(x.ToArray(), w, 6, 6, 4, false, false);
        TestData.AssertClose(y.AsSpan(), ReferenceNn.Softmax(z.Select(v => (float)v).ToArray(), 6, 6, 1, log: false), 1e-6, 1e-5, "softmax dense");
        Assert.IsNull(layer.Bias);
        Assert.AreEqual(24, layer.CountParams());
        CollectionAssert.AreEqual(new[] { 8, 3, 6 }, layer.ComputeOutputShape([8, 3, 4]).ToArray());
    }

    [TestMethod]
    public void Defaults_AreKeras()
    {
        var layer = new Dense(4);
        Assert.AreEqual("linear", layer.Activation);
        Assert.IsTrue(layer.UseBias);
        Assert.IsInstanceOfType<GlorotUniform>(layer.KernelInitializer);
        Assert.IsInstanceOfType<Zeros>(layer.BiasInitializer);
        layer.EnsureBuilt([2, 3]);
        CollectionAssert.AreEqual(new[] { 3, 4 }, layer.Kernel!.Shape.ToArray());
        CollectionAssert.AreEqual(new[] { 4 }, layer.Bias!.Shape.ToArray());
        Assert.AreEqual(3 * 4 + 4, layer.CountParams());
        // Glorot uniform: every value within sqrt(6/(fan_in + fan_out)).
        double limit = Math.Sqrt(6.0 / (3 + 4));
        foreach (var v in layer.Kernel.Value.ToArray()) Assert.IsTrue(Math.Abs(v) <= limit, $"{v} beyond the Glorot limit {limit}");
        Assert.IsTrue(layer.Bias.Value.ToArray().All(v => v == 0));
    }

    [TestMethod]
    [DataRow("linear")]
    [DataRow("relu")]
    [DataRow("tanh")]
    [DataRow("softmax")]
    public void Gradients_OfInputKernelAndBias_MatchFiniteDifferences(string activation)
    {
        var r = TestData.NewRandom(3);
        var layer = new Dense(3, activation, kernelInitializer: Initializers.GlorotUniform(seed: 4), biasInitializer: Initializers.RandomUniform(-0.5f, 0.5f, seed: 5));
        var linear = new Dense(3, kernelInitializer: Initializers.GlorotUniform(seed: 4), biasInitializer: Initializers.RandomUniform(-0.5f, 0.5f, seed: 5));
        // Keep every pre-activation 0.1 away from ReLU's kink, so finite differences never straddle it.
        Tensor x;
        do x = TestData.AwayFromZero(r, [4, 5], 0.1f, 1f);
        while (linear.Call(x).ToArray().Any(z => Math.Abs(z) < 0.1f));
        LayerGradientCheck.Assert(layer, x, message: $"Dense {activation}");
    }

    [TestMethod]
    public void Regularizers_AndConstraints_AreAttached()
    {
        var layer = new Dense(2, kernelInitializer: Initializers.Constant(0.5f), biasInitializer: Initializers.Constant(-2f),
            kernelRegularizer: Regularizers.L2(0.1f), biasRegularizer: Regularizers.L1(0.01f), biasConstraint: Constraints.NonNeg());
        layer.EnsureBuilt([1, 3]);
        Assert.AreEqual(2, layer.Losses.Count);
        Assert.AreEqual(0.1 * 6 * 0.25, layer.Losses[0].ToScalar(), 1e-6, "L2 on the kernel");
        Assert.AreEqual(0.01 * 2 * 2, layer.Losses[1].ToScalar(), 1e-6, "L1 on the bias");
        Assert.IsNull(layer.Kernel!.Constraint);
        CollectionAssert.AreEqual(new[] { 0f, 0f }, layer.Bias!.Constraint!(layer.Bias.Value).ToArray(), "NonNeg projects -2 to 0");
    }

    [TestMethod]
    public void BadArguments_NameTheArgument()
    {
        Assert.AreEqual("units", Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new Dense(0)).ParamName);
        var e = Assert.ThrowsExactly<ArgumentException>(() => new Dense(2, "swish_v2"));
        Assert.AreEqual("activation", e.ParamName);
        StringAssert.Contains(e.Message, "relu");
        var layer = new Dense(2);
        Assert.AreEqual("inputs", Assert.ThrowsExactly<ArgumentException>(() => layer.Call(Tensor.Zeros([3]))).ParamName);
        layer.Call(Tensor.Zeros([1, 3]));
        Assert.AreEqual("inputs", Assert.ThrowsExactly<ArgumentException>(() => layer.Call(Tensor.Zeros([1, 4]))).ParamName);
        Assert.AreEqual("inputShape", Assert.ThrowsExactly<ArgumentException>(() => layer.ComputeOutputShape([3])).ParamName);
    }
}
