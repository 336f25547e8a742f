using TfSyncBN.Keras;
using TfSyncBN.Tensors;

namespace TfSyncBN.Tests.Keras;

[TestClass]
public sealed class ConstraintTests
{
    // Columns (axis 0 norms): [3, 4] → 5, [0.3, 0.4] → 0.5, [0, 0] → 0, [0.9, 1.2] → 1.5.
    private static Tensor W() => Tensor.FromArray([3f, 0.3f, 0f, 0.9f, 4f, 0.4f, 0f, 1.2f], [2, 4]);

    private const float Tolerance = 2e-6f;

    [TestMethod]
    public void NonNeg_ZeroesNegativeElements()
    {
        var y = new NonNeg().Call(Tensor.FromArray([-1f, 0f, 2f, -0.5f, float.NaN, 1e-30f], [2, 3])).ToArray();
        CollectionAssert.AreEqual(new[] { 0f, 0f, 2f, 0f }, y.Take(4).ToArray());
        Assert.IsTrue(float.IsNaN(y[4]), "NaN · 0 stays NaN, as in Keras");
        Assert.AreEqual(1e-30f, y[5]);
    }

    [TestMethod]
    public void MaxNorm_ScalesDownColumnsAboveTheMaximumOnly()
    {
        var y = new MaxNorm(2f).Call(W());
        // Column 0 (norm 5) becomes norm 2; the others are below 2 and keep their values (times n/(n + 1e-7)).
        KerasAssert.TensorEqual([1.2f, 0.3f, 0f, 0.9f, 1.6f, 0.4f, 0f, 1.2f], [2, 4], y, Tolerance);
        Assert.IsFalse(y.ToArray().Any(float.IsNaN), "a zero column stays zero");
    }

    [TestMethod]
    public void MaxNorm_HasKerasEpsilonInTheDenominator()
    {
        // A column of norm 1e-6 is multiplied by 1e-6/(1e-7 + 1e-6) = 1/1.1, exactly Keras' w · clip(n, 0, max)/(ε + n).
        var y = new MaxNorm(2f).Call(Tensor.FromArray([6e-7f, 8e-7f], [2, 1])).ToArray();
        Assert.AreEqual(6e-7 / 1.1, y[0], 1e-12);
        Assert.AreEqual(8e-7 / 1.1, y[1], 1e-12);
    }

    [TestMethod]
    public void MaxNorm_AlongRowsAndAlongAllAxes()
    {
        // Rows have norms sqrt(9.09) and sqrt(16.16), both above 2: each becomes norm 2, direction unchanged.
        var rows = new MaxNorm(2f, axis: [1]).Call(W()).ToArray();
        var w = W().ToArray();
        for (int r = 0; r < 2; r++)
        {
            var row = rows.Skip(4 * r).Take(4).ToArray();
            Assert.AreEqual(2.0, Math.Sqrt(row.Sum(v => (double)v * v)), 1e-6, $"row {r} norm");
            double scale = 2 / Math.Sqrt(w.Skip(4 * r).Take(4).Sum(v => (double)v * v));
            for (int c = 0; c < 4; c++) Assert.AreEqual(w[4 * r + c] * scale, row[c], 1e-6, $"row {r} column {c}");
        }
        KerasAssert.Identical(new MaxNorm(2f, axis: [1]).Call(W()), new MaxNorm(2f, axis: [-1]).Call(W()), "negative axis");

        // All axes: the whole matrix (norm sqrt(25.25 + 2.25) = sqrt(27.5)) is scaled to norm 2.
        var all = new MaxNorm(2f, axis: [0, 1]).Call(W()).ToArray();
        double s = 2 / Math.Sqrt(27.5);
        for (int i = 0; i < 8; i++) Assert.AreEqual(w[i] * s, all[i], 1e-6, $"element {i}");
    }

    [TestMethod]
    public void MaxNorm_OnAConvKernel_ConstrainsEachFilter()
    {
        // Kernel [2, 2, 1, 2]: filter 0 is all 1 (norm 2), filter 1 all 3 (norm 6). With axis [0, 1, 2] and max 3,
        // filter 0 is kept and filter 1 becomes all 1.5 (norm 3).
        var kernel = Tensor.FromFunction([2, 2, 1, 2], i => i % 2 == 0 ? 1f : 3f);
        var y = new MaxNorm(3f, axis: [0, 1, 2]).Call(kernel);
        KerasAssert.TensorEqual([1f, 1.5f, 1f, 1.5f, 1f, 1.5f, 1f, 1.5f], [2, 2, 1, 2], y, Tolerance);
        KerasAssert.Identical(y, new MaxNorm(3f, axis: [-4, -3, -2]).Call(kernel), "negative axes");
    }

    [TestMethod]
    public void UnitNorm_NormalizesColumns()
    {
        var y = new UnitNorm().Call(W());
        KerasAssert.TensorEqual([0.6f, 0.6f, 0f, 0.6f, 0.8f, 0.8f, 0f, 0.8f], [2, 4], y, Tolerance);
        var rows = new UnitNorm(axis: [1]).Call(W()).ToArray();
        Assert.AreEqual(1.0, Math.Sqrt(rows.Take(4).Sum(v => (double)v * v)), 1e-6);
        Assert.AreEqual(1.0, Math.Sqrt(rows.Skip(4).Sum(v => (double)v * v)), 1e-6);
        // Keras' w / (ε + n): a column of norm 1e-6 becomes norm 1e-6/(1e-7 + 1e-6) = 1/1.1.
        var tiny = new UnitNorm().Call(Tensor.FromArray([6e-7f, 8e-7f], [2, 1])).ToArray();
        Assert.AreEqual(0.6 / 1.1, tiny[0], 1e-6);
        Assert.AreEqual(0.8 / 1.1, tiny[1], 1e-6);
    }

    [TestMethod]
    public void MinMaxNorm_WithRateOne_ClipsNormsIntoTheInterval()
    {
        // Norms 5 → 2, 0.5 → 1, 0 stays 0 (0 · 1/ε), 1.5 is inside [1, 2] and kept.
        var y = new MinMaxNorm(minValue: 1f, maxValue: 2f).Call(W());
        KerasAssert.TensorEqual([1.2f, 0.6f, 0f, 0.9f, 1.6f, 0.8f, 0f, 1.2f], [2, 4], y, Tolerance);
    }

    [TestMethod]
    public void MinMaxNorm_WithPartialRate_MovesNormsPartWay()
    {
        // desired = 0.5·clip(n, 1, 2) + 0.5·n: 5 → 3.5, 0.5 → 0.75, 1.5 → 1.5.
        var y = new MinMaxNorm(1f, 2f, rate: 0.5f).Call(W());
        KerasAssert.TensorEqual([2.1f, 0.45f, 0f, 0.9f, 2.8f, 0.6f, 0f, 1.2f], [2, 4], y, Tolerance);
        // Rate 0 leaves the weights (times n/(n + ε)).
        KerasAssert.TensorEqual(W().ToArray(), [2, 4], new MinMaxNorm(1f, 2f, rate: 0f).Call(W()), Tolerance);
    }

    [TestMethod]
    public void Defaults_AreThoseOfKeras()
    {
        var maxNorm = new MaxNorm();
        Assert.AreEqual(2f, maxNorm.MaxValue);
        CollectionAssert.AreEqual(new[] { 0 }, maxNorm.Axis.ToArray());
        var minMax = new MinMaxNorm();
        Assert.AreEqual(0f, minMax.MinValue);
        Assert.AreEqual(1f, minMax.MaxValue);
        Assert.AreEqual(1f, minMax.Rate);
        CollectionAssert.AreEqual(new[] { 0 }, minMax.Axis.ToArray());
        CollectionAssert.AreEqual(new[] { 0 }, new UnitNorm().Axis.ToArray());
    }

    [TestMethod]
    public void Axis_IsCopiedAndReadOnly()
    {
        int[] axis = [0, 1];
        var c = new MaxNorm(axis: axis);
        axis[0] = 1;
        CollectionAssert.AreEqual(new[] { 0, 1 }, c.Axis.ToArray());
        Assert.ThrowsExactly<NotSupportedException>(() => ((IList<int>)c.Axis)[0] = 1);
    }

    [TestMethod]
    public void Constraint_PlugsIntoAVariable()
    {
        var v = new Variable(W(), weightConstraint: Constraints.MaxNorm(2f).Call);
        KerasAssert.TensorEqual([1.2f, 0.3f, 0f, 0.9f, 1.6f, 0.4f, 0f, 1.2f], [2, 4], v.Constraint!(v.Value), Tolerance);
    }

    [TestMethod]
    public void Call_RejectsNullAndAxesThatDoNotFitTheWeights()
    {
        foreach (var c in new IConstraint[] { new NonNeg(), new UnitNorm(), new MaxNorm(), new MinMaxNorm() })
            Assert.AreEqual("weights", Assert.ThrowsExactly<ArgumentNullException>(() => c.Call(null!), c.ClassName).ParamName);
        foreach (var c in new IConstraint[] { new UnitNorm(axis: [2]), new MaxNorm(axis: [-3]), new MinMaxNorm(axis: [0, -2]) })
        {
            var e = Assert.ThrowsExactly<ArgumentException>(() => c.Call(W()), c.ClassName);
            Assert.AreEqual("weights", e.ParamName);
            StringAssert.Contains(e.Message, "[2, 4]");
        }
        Assert.AreEqual("weights", Assert.ThrowsExactly<ArgumentException>(() => new MaxNorm().Call(Tensor.Scalar(3f))).ParamName, "rank 0 has no axis 0");
    }

    [TestMethod]
    public void Constructors_RejectBadArgumentsNamingThem()
    {
        AssertOutOfRange("maxValue", () => new MaxNorm(-1f));
        AssertOutOfRange("maxValue", () => new MaxNorm(float.NaN));
        AssertOutOfRange("maxValue", () => new MaxNorm(float.PositiveInfinity));
        AssertOutOfRange("minValue", () => new MinMaxNorm(minValue: -0.1f));
        AssertOutOfRange("maxValue", () => new MinMaxNorm(minValue: 2f, maxValue: 1f));
        AssertOutOfRange("rate", () => new MinMaxNorm(rate: 1.5f));
        AssertOutOfRange("rate", () => new MinMaxNorm(rate: -0.1f));
        AssertOutOfRange("rate", () => new MinMaxNorm(rate: float.NaN));
        AssertOutOfRange("maxValue", () => Constraints.FromConfig(KerasAssert.Serialized("max_norm", new() { ["max_value"] = -2.0 })));
        foreach (var make in new Func<object>[] { () => new UnitNorm(axis: [1, 1]), () => new MaxNorm(axis: [0, 0]), () => new MinMaxNorm(axis: [2, 1, 2]) })
            Assert.AreEqual("axis", Assert.ThrowsExactly<ArgumentException>(make).ParamName);
    }

    private static void AssertOutOfRange(string paramName, Func<object> action) =>
        Assert.AreEqual(paramName, Assert.ThrowsExactly<ArgumentOutOfRangeException>(action).ParamName);

    [TestMethod]
    public void GetConfig_HasKerasKeys()
    {
        KerasAssert.ConfigsEqual(new Dictionary<string, object?>(), new NonNeg().GetConfig());
        KerasAssert.ConfigsEqual(new() { ["axis"] = 0 }, new UnitNorm().GetConfig());
        KerasAssert.ConfigsEqual(new() { ["max_value"] = 2.0, ["axis"] = 0 }, new MaxNorm().GetConfig());
        KerasAssert.ConfigsEqual(new() { ["max_value"] = 3.0, ["axis"] = new[] { 0, 1, 2 } }, new MaxNorm(3f, [0, 1, 2]).GetConfig());
        KerasAssert.ConfigsEqual(new() { ["min_value"] = 0.5, ["max_value"] = 1.5, ["rate"] = 0.1, ["axis"] = -1 },
            new MinMaxNorm(0.5f, 1.5f, 0.1f, [-1]).GetConfig());
    }

    [TestMethod]
    public void FromConfigOfSerialize_GivesEqualConfigAndOutputs()
    {
        IConstraint[] all = [new NonNeg(), new UnitNorm([1]), new MaxNorm(1f, [0, 1]), new MinMaxNorm(0.5f, 1f, 0.7f, [-1])];
        foreach (var c in all)
        {
            var copy = KerasAssert.RoundTrip(c, Constraints.FromConfig, Constraints.Serialize);
            KerasAssert.Identical(c.Call(W()), copy.Call(W()), c.ClassName);
        }
    }

    [TestMethod]
    public void FromConfig_ReadsAxisAsAnIntOrAList()
    {
        var one = (MaxNorm)Constraints.FromConfig(KerasAssert.Serialized("MaxNorm", new() { ["axis"] = 1.0 }));
        CollectionAssert.AreEqual(new[] { 1 }, one.Axis.ToArray());
        Assert.AreEqual(2f, one.MaxValue, "missing keys take their defaults");
        var list = (UnitNorm)Constraints.FromConfig(KerasAssert.Serialized("unit_norm", new() { ["axis"] = new List<object> { 0L, 1L } }));
        CollectionAssert.AreEqual(new[] { 0, 1 }, list.Axis.ToArray());
        var bad = Assert.ThrowsExactly<ArgumentException>(() => Constraints.FromConfig(KerasAssert.Serialized("UnitNorm", new() { ["axis"] = 0.5 })));
        Assert.AreEqual("config", bad.ParamName);
    }

    [TestMethod]
    [DataRow("non_neg", typeof(NonNeg))]
    [DataRow("NonNeg", typeof(NonNeg))]
    [DataRow("unit_norm", typeof(UnitNorm))]
    [DataRow("UnitNorm", typeof(UnitNorm))]
    [DataRow("max_norm", typeof(MaxNorm))]
    [DataRow("MaxNorm", typeof(MaxNorm))]
    [DataRow("min_max_norm", typeof(MinMaxNorm))]
    [DataRow("MinMaxNorm", typeof(MinMaxNorm))]
    public void Get_ResolvesSnakeCaseAndClassNames(string name, Type expected)
    {
        var c = Constraints.Get(name);
        Assert.AreEqual(expected, c.GetType());
        Assert.AreEqual(expected.Name, c.ClassName);
        var byConstructor = (IConstraint)Activator.CreateInstance(expected, expected.GetConstructors()[0].GetParameters().Select(p => p.DefaultValue).ToArray())!;
        KerasAssert.ConfigsEqual(byConstructor.GetConfig(), c.GetConfig(), name);
        var factory = typeof(Constraints).GetMethod(expected.Name)!;
        var byFactory = (IConstraint)factory.Invoke(null, factory.GetParameters().Select(p => p.DefaultValue).ToArray())!;
        KerasAssert.ConfigsEqual(byConstructor.GetConfig(), byFactory.GetConfig(), name);
    }

    [TestMethod]
    public void Get_And_FromConfig_RejectUnknownInput()
    {
        var e = Assert.ThrowsExactly<ArgumentException>(() => Constraints.Get("maxnorm"));
        Assert.AreEqual("identifier", e.ParamName);
        foreach (var name in Constraints.Names) StringAssert.Contains(e.Message, name);
        Assert.AreEqual("identifier", Assert.ThrowsExactly<ArgumentNullException>(() => Constraints.Get(null!)).ParamName);
        var unknownKey = Assert.ThrowsExactly<ArgumentException>(() => Constraints.FromConfig(KerasAssert.Serialized("NonNeg", new() { ["axis"] = 0 })));
        StringAssert.Contains(unknownKey.Message, "none");
        Assert.AreEqual("value", Assert.ThrowsExactly<ArgumentNullException>(() => Constraints.Serialize(null!)).ParamName);
    }
}
