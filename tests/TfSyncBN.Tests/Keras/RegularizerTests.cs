using TfSyncBN.Keras;
using TfSyncBN.Tensors;

namespace TfSyncBN.Tests.Keras;

[TestClass]
public sealed class RegularizerTests
{
    // w = [[1, -2], [3, -4], [0, 0.5]]: Σ|w| = 10.5, Σw² = 30.25.
    private static Tensor W() => Tensor.FromArray([1f, -2f, 3f, -4f, 0f, 0.5f], [3, 2]);

    private static (Tensor Penalty, Tensor Gradient) PenaltyAndGradient(IRegularizer regularizer, Tensor w)
    {
        using var tape = new GradientTape();
        tape.Watch(w);
        var penalty = regularizer.Call(w);
        var gradient = tape.Gradient(penalty, [w])[0];
        Assert.IsNotNull(gradient, $"{regularizer.ClassName}: the penalty depends on the weights");
        return (penalty, gradient);
    }

    [TestMethod]
    public void L1_IsFactorTimesSumOfAbsoluteValues_WithSignGradient()
    {
        var (penalty, gradient) = PenaltyAndGradient(new L1(0.1f), W());
        Assert.AreEqual(0, penalty.Rank, "a scalar");
        Assert.AreEqual(1.05f, penalty.ToScalar(), 1e-6f);
        KerasAssert.TensorEqual([0.1f, -0.1f, 0.1f, -0.1f, 0f, 0.1f], [3, 2], gradient, 1e-7f, "l1·sign(w), 0 at 0");
    }

    [TestMethod]
    public void L2_IsFactorTimesSumOfSquares_WithLinearGradient()
    {
        var (penalty, gradient) = PenaltyAndGradient(new L2(0.01f), W());
        Assert.AreEqual(0, penalty.Rank);
        Assert.AreEqual(0.3025f, penalty.ToScalar(), 1e-6f);
        KerasAssert.TensorEqual([0.02f, -0.04f, 0.06f, -0.08f, 0f, 0.01f], [3, 2], gradient, 1e-7f, "2·l2·w");
    }

    [TestMethod]
    public void L1L2_AddsBothTerms()
    {
        var (penalty, gradient) = PenaltyAndGradient(new L1L2(l1: 0.1f, l2: 0.01f), W());
        Assert.AreEqual(1.05f + 0.3025f, penalty.ToScalar(), 1e-6f);
        KerasAssert.TensorEqual([0.12f, -0.14f, 0.16f, -0.18f, 0f, 0.11f], [3, 2], gradient, 1e-7f, "l1·sign(w) + 2·l2·w");

        Assert.AreEqual(1.05f, new L1L2(l1: 0.1f).Call(W()).ToScalar(), 1e-6f, "only the L1 term");
        Assert.AreEqual(0.3025f, new L1L2(l2: 0.01f).Call(W()).ToScalar(), 1e-6f, "only the L2 term");
    }

    [TestMethod]
    public void L1L2_WithZeroFactors_IsAConstantZero()
    {
        var w = W();
        using var tape = new GradientTape();
        tape.Watch(w);
        var penalty = new L1L2().Call(w);
        Assert.AreEqual(0, penalty.Rank);
        Assert.AreEqual(0f, penalty.ToScalar());
        Assert.IsNull(tape.Gradient(penalty, [w])[0], "as in Keras, the zero penalty does not depend on the weights");
    }

    [TestMethod]
    public void Penalties_MatchNumericGradients()
    {
        // Central differences of the penalty (away from the kink of |w| at 0) against the tape's gradient.
        var values = new[] { 0.7f, -1.3f, 2.1f, -0.4f };
        foreach (var reg in new IRegularizer[] { new L1(0.3f), new L2(0.2f), new L1L2(0.3f, 0.2f) })
        {
            var (_, gradient) = PenaltyAndGradient(reg, Tensor.FromArray(values));
            for (int i = 0; i < values.Length; i++)
            {
                const float h = 1e-2f;
                var plus = (float[])values.Clone();
                var minus = (float[])values.Clone();
                plus[i] += h;
                minus[i] -= h;
                double numeric = (reg.Call(Tensor.FromArray(plus)).ToScalar() - reg.Call(Tensor.FromArray(minus)).ToScalar()) / (2.0 * h);
                Assert.AreEqual(numeric, gradient.ToArray()[i], 1e-4, $"{reg.ClassName} element {i}");
            }
        }
    }

    [TestMethod]
    public void Regularizer_OnATrainableVariable_GivesItsGradient()
    {
        var v = new Variable(Tensor.FromArray([2f, -3f]));
        using var tape = new GradientTape();
        var loss = Regularizers.L2(0.5f).Call(v.Value);
        var g = tape.Gradient(loss, [v])[0]!;
        Assert.AreEqual(6.5f, loss.ToScalar(), 1e-6f);
        KerasAssert.TensorEqual([2f, -3f], [2], g, 1e-6f, "2·0.5·w");
    }

    [TestMethod]
    public void Defaults_AreThoseOfKeras()
    {
        Assert.AreEqual(0.01f, new L1().L1Factor);
        Assert.AreEqual(0.01f, new L2().L2Factor);
        Assert.AreEqual(0f, new L1L2().L1Factor);
        Assert.AreEqual(0f, new L1L2().L2Factor);
        Assert.AreEqual(0.105f, new L1().Call(W()).ToScalar(), 1e-7f, "0.01 · 10.5");
    }

    [TestMethod]
    public void Call_RejectsNull()
    {
        foreach (var reg in new IRegularizer[] { new L1(), new L2(), new L1L2(), new L1L2(0.1f, 0.1f) })
            Assert.AreEqual("weights", Assert.ThrowsExactly<ArgumentNullException>(() => reg.Call(null!), reg.ClassName).ParamName);
    }

    [TestMethod]
    [DataRow(-0.1f)]
    [DataRow(float.NaN)]
    [DataRow(float.PositiveInfinity)]
    public void NegativeOrNonFiniteFactors_AreRejectedNamingTheArgument(float bad)
    {
        AssertOutOfRange("l1", () => new L1(bad));
        AssertOutOfRange("l2", () => new L2(bad));
        AssertOutOfRange("l1", () => new L1L2(l1: bad));
        AssertOutOfRange("l2", () => new L1L2(l2: bad));
        AssertOutOfRange("l1", () => Regularizers.L1(bad));
        AssertOutOfRange("l2", () => Regularizers.L1L2(0.1f, bad));
        AssertOutOfRange("l1", () => Regularizers.FromConfig(KerasAssert.Serialized("L1", new() { ["l1"] = (double)bad })));
    }

    private static void AssertOutOfRange(string paramName, Func<object> action) =>
        Assert.AreEqual(paramName, Assert.ThrowsExactly<ArgumentOutOfRangeException>(action).ParamName);

    [TestMethod]
    public void GetConfig_HasKerasKeys()
    {
        KerasAssert.ConfigsEqual(new() { ["l1"] = 0.01 }, new L1().GetConfig());
        KerasAssert.ConfigsEqual(new() { ["l2"] = 0.001 }, new L2(0.001f).GetConfig());
        KerasAssert.ConfigsEqual(new() { ["l1"] = 0.0, ["l2"] = 0.0 }, new L1L2().GetConfig());
        KerasAssert.ConfigsEqual(new() { ["l1"] = 0.3, ["l2"] = 0.7 }, new L1L2(0.3f, 0.7f).GetConfig());
    }

    [TestMethod]
    public void FromConfigOfSerialize_GivesEqualConfigAndPenalty()
    {
        foreach (var reg in new IRegularizer[] { new L1(0.2f), new L2(0.3f), new L1L2(0.4f, 0.5f), new L1L2() })
        {
            var copy = KerasAssert.RoundTrip(reg, Regularizers.FromConfig, Regularizers.Serialize);
            Assert.AreEqual(reg.Call(W()).ToScalar(), copy.Call(W()).ToScalar(), reg.ClassName);
        }
        var l1l2 = (L1L2)Regularizers.FromConfig(KerasAssert.Serialized("l1_l2", new() { ["l2"] = 1e-4 }));
        Assert.AreEqual(0f, l1l2.L1Factor, "missing keys take their defaults");
        Assert.AreEqual(1e-4f, l1l2.L2Factor);
    }

    [TestMethod]
    [DataRow("l1", typeof(L1))]
    [DataRow("L1", typeof(L1))]
    [DataRow("l2", typeof(L2))]
    [DataRow("L2", typeof(L2))]
    [DataRow("l1_l2", typeof(L1L2))]
    [DataRow("l1l2", typeof(L1L2))]
    [DataRow("L1L2", typeof(L1L2))]
    public void Get_ResolvesSnakeCaseAndClassNames(string name, Type expected)
    {
        var reg = Regularizers.Get(name);
        Assert.AreEqual(expected, reg.GetType());
        Assert.AreEqual(expected.Name, reg.ClassName);
        var byConstructor = (IRegularizer)Activator.CreateInstance(expected, expected.GetConstructors()[0].GetParameters().Select(p => p.DefaultValue).ToArray())!;
        KerasAssert.ConfigsEqual(byConstructor.GetConfig(), reg.GetConfig(), name);
        var factory = typeof(Regularizers).GetMethod(expected.Name)!;
        var byFactory = (IRegularizer)factory.Invoke(null, factory.GetParameters().Select(p => p.DefaultValue).ToArray())!;
        KerasAssert.ConfigsEqual(byConstructor.GetConfig(), byFactory.GetConfig(), name);
    }

    [TestMethod]
    public void Get_And_FromConfig_RejectUnknownInput()
    {
        var e = Assert.ThrowsExactly<ArgumentException>(() => Regularizers.Get("l3"));
        Assert.AreEqual("identifier", e.ParamName);
        foreach (var name in Regularizers.Names) StringAssert.Contains(e.Message, name);
        Assert.AreEqual("identifier", Assert.ThrowsExactly<ArgumentNullException>(() => Regularizers.Get(null!)).ParamName);
        var unknownKey = Assert.ThrowsExactly<ArgumentException>(() => Regularizers.FromConfig(KerasAssert.Serialized("L1", new() { ["l2"] = 0.1 })));
        Assert.AreEqual("config", unknownKey.ParamName);
        StringAssert.Contains(unknownKey.Message, "'l2'");
        Assert.AreEqual("config", Assert.ThrowsExactly<ArgumentException>(() => Regularizers.FromConfig(KerasAssert.Serialized("OrthogonalRegularizer"))).ParamName);
        Assert.AreEqual("value", Assert.ThrowsExactly<ArgumentNullException>(() => Regularizers.Serialize(null!)).ParamName);
    }
}
