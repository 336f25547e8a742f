using TfSyncBN.Keras;
using TfSyncBN.Tensors;

namespace TfSyncBN.Tests.Keras;

[TestClass]
public sealed class InitializerTests
{
    private static readonly int[] Square = [256, 256];

    // ---- constant initializers ---------------------------------------------------------------------------------

    [TestMethod]
    public void Zeros_Ones_Constant_FillExactly()
    {
        KerasAssert.TensorEqual([0, 0, 0, 0, 0, 0], [2, 3], new Zeros().Call([2, 3]), 0f);
        KerasAssert.TensorEqual([1, 1, 1, 1, 1, 1], [3, 2], new Ones().Call([3, 2]), 0f);
        KerasAssert.TensorEqual([2.5f, 2.5f, 2.5f, 2.5f], [2, 1, 2], new Constant(2.5f).Call([2, 1, 2]), 0f);
        KerasAssert.TensorEqual([0, 0], [2], new Constant().Call([2]), 0f);
        Assert.AreEqual(-3f, new Constant(-3f).Call([]).ToScalar(), "rank-0 shape gives a scalar");
        Assert.AreEqual(0, new Ones().Call([4, 0]).Size, "a zero dimension gives an empty tensor");
    }

    [TestMethod]
    public void Call_RejectsNullAndNegativeShapes()
    {
        foreach (IInitializer init in AllWithDefaults())
        {
            var e1 = Assert.ThrowsExactly<ArgumentNullException>(() => init.Call(null!), init.ClassName);
            Assert.AreEqual("shape", e1.ParamName);
            var e2 = Assert.ThrowsExactly<ArgumentException>(() => init.Call([3, -1]), init.ClassName);
            Assert.AreEqual("shape", e2.ParamName);
        }
    }

    // ---- seeding --------------------------------------------------------------------------------------------------

    [TestMethod]
    public void Seeded_SameSeedSameValues_DifferentSeedDifferentValues()
    {
        foreach (var make in SeededFactories())
        {
            var a = make(5);
            var first = a.Call([8, 16]);
            KerasAssert.Identical(first, a.Call([8, 16]), $"{a.ClassName}: second call");
            KerasAssert.Identical(first, make(5).Call([8, 16]), $"{a.ClassName}: another instance, same seed");
            var other = make(6).Call([8, 16]).ToArray();
            int same = first.ToArray().Zip(other).Count(p => p.First == p.Second);
            Assert.IsLessThan(2, same, $"{a.ClassName}: seeds 5 and 6 share {same} of 128 values");
            Assert.AreEqual(first.Size, first.ToArray().Distinct().Count(), $"{a.ClassName}: values repeat");
        }
    }

    [TestMethod]
    public void Unseeded_FreshPerInstance_StableWithinAnInstance()
    {
        foreach (var make in SeededFactories())
        {
            var a = make(null);
            Assert.IsNull(((RandomInitializer)a).Seed);
            Assert.IsNull(a.GetConfig()["seed"], a.ClassName);
            KerasAssert.Identical(a.Call([64]), a.Call([64]), $"{a.ClassName}: one instance");
            CollectionAssert.AreNotEqual(a.Call([64]).ToArray(), make(null).Call([64]).ToArray(), $"{a.ClassName}: two instances");
        }
    }

    // ---- distributions ----------------------------------------------------------------------------------------------

    [TestMethod]
    public void RandomNormal_HasRequestedMeanAndStddev()
    {
        var w = new RandomNormal(mean: 1.5f, stddev: 2f, seed: 11).Call(Square);
        var (mean, variance) = KerasAssert.Moments(w);
        Assert.AreEqual(1.5, mean, 0.04, "mean (standard error 0.008)");
        Assert.AreEqual(2.0, Math.Sqrt(variance), 0.03, "stddev (standard error 0.006)");
        // Shape of the distribution: P(|z| < 1) = 0.6827, P(|z| < 2) = 0.9545, and values beyond 3 stddev exist.
        var z = w.ToArray().Select(v => Math.Abs((v - 1.5) / 2)).ToArray();
        Assert.AreEqual(0.6827, z.Count(v => v < 1) / (double)z.Length, 0.01);
        Assert.AreEqual(0.9545, z.Count(v => v < 2) / (double)z.Length, 0.005);
        Assert.IsGreaterThan(50, z.Count(v => v > 3), "tail beyond 3 stddev (expected about 177)");
    }

    [TestMethod]
    public void RandomUniform_StaysInRangeWithUniformMoments()
    {
        var w = new RandomUniform(minval: -1f, maxval: 3f, seed: 12).Call(Square).ToArray();
        Assert.IsTrue(w.All(v => v >= -1f && v < 3f), $"range [{w.Min()}, {w.Max()}]");
        Assert.AreEqual(-1f, w.Min(), 0.001f);
        Assert.AreEqual(3f, w.Max(), 0.001f);
        var (mean, variance) = KerasAssert.Moments(Tensor.FromArray(w));
        Assert.AreEqual(1.0, mean, 0.03, "mean (standard error 0.0045)");
        Assert.AreEqual(16.0 / 12, variance, 0.02, "variance (b - a)²/12 (standard error 0.004)");
        for (int bin = 0; bin < 8; bin++)
        {
            double lo = -1 + bin * 0.5, hi = lo + 0.5;
            Assert.AreEqual(0.125, w.Count(v => v >= lo && v < hi) / (double)w.Length, 0.006, $"bin [{lo}, {hi})");
        }
    }

    [TestMethod]
    public void RandomUniform_EqualBoundsGiveAConstant()
    {
        KerasAssert.TensorEqual([0.5f, 0.5f, 0.5f], [3], new RandomUniform(0.5f, 0.5f, seed: 1).Call([3]), 0f);
    }

    [TestMethod]
    public void TruncatedNormal_NeverBeyondTwoStddev_WithTruncatedVariance()
    {
        var w = new TruncatedNormal(mean: -1f, stddev: 0.5f, seed: 13).Call(Square).ToArray();
        double maxDeviation = w.Max(v => Math.Abs(v + 1.0));
        Assert.IsLessThanOrEqualTo(1.0 + 1e-6, maxDeviation, "never more than 2 stddev from the mean");
        Assert.IsGreaterThan(0.98, maxDeviation, "the truncation is at 2 stddev, not earlier");
        var (mean, variance) = KerasAssert.Moments(Tensor.FromArray(w));
        Assert.AreEqual(-1.0, mean, 0.01);
        Assert.AreEqual(0.5 * VarianceScaling.TruncatedStddev, Math.Sqrt(variance), 0.01, "stddev of a normal truncated at ±2σ is 0.8796σ");
    }

    [TestMethod]
    [DataRow("GlorotUniform", 1.0 / 256)]
    [DataRow("GlorotNormal", 1.0 / 256)]
    [DataRow("HeUniform", 2.0 / 256)]
    [DataRow("HeNormal", 2.0 / 256)]
    public void GlorotAndHe_HaveVarianceScaleOverFan(string name, double expectedVariance)
    {
        var init = Initializers.FromConfig(KerasAssert.Serialized(name, new() { ["seed"] = 21 }));
        var (mean, variance) = KerasAssert.Moments(init.Call(Square));
        Assert.AreEqual(0, mean, 0.01 * Math.Sqrt(expectedVariance), $"{name} mean");
        Assert.AreEqual(expectedVariance, variance, 0.03 * expectedVariance, $"{name} variance");
    }

    [TestMethod]
    public void UniformLimits_FollowTheFans()
    {
        // He uniform on a conv kernel [3, 3, 16, 32]: fan_in = 3·3·16 = 144, limit = sqrt(6/144).
        AssertUniformLimit(new HeUniform(seed: 1).Call([3, 3, 16, 32]), Math.Sqrt(6.0 / 144));
        // Glorot uniform on [3, 3, 16, 32]: fan_avg = (144 + 288)/2 = 216, limit = sqrt(3/216).
        AssertUniformLimit(new GlorotUniform(seed: 2).Call([3, 3, 16, 32]), Math.Sqrt(3.0 / 216));
        // fan_out with scale 0.5 on [20, 50]: limit = sqrt(3·0.5/50).
        AssertUniformLimit(new VarianceScaling(0.5f, VarianceScalingMode.FanOut, VarianceScalingDistribution.Uniform, seed: 3).Call([20, 50]), Math.Sqrt(1.5 / 50));
        // Rank 1 [400]: fan_in = fan_out = 400.
        AssertUniformLimit(new HeUniform(seed: 4).Call([400]), Math.Sqrt(6.0 / 400));
        // Fans below 1 count as 1: [0, 7] is empty, [1, 1] has limit sqrt(6).
        Assert.AreEqual(0, new HeUniform(seed: 5).Call([0, 7]).Size);
        Assert.IsLessThan(Math.Sqrt(6.0), Math.Abs(new HeUniform(seed: 5).Call([1, 1]).ToScalar()));
    }

    private static void AssertUniformLimit(Tensor w, double limit)
    {
        var v = w.ToArray();
        Assert.IsTrue(v.All(x => x >= -limit && x < limit), $"values within ±{limit}");
        Assert.IsGreaterThan(0.95 * limit, v.Max(), $"max near {limit}");
        Assert.IsLessThan(-0.95 * limit, v.Min(), $"min near {-limit}");
    }

    [TestMethod]
    public void TruncatedAndUntruncatedVarianceScaling_UseKerasStddev()
    {
        // fan_in = 100, scale 2: target variance 0.02 for both; truncated samples never exceed 2·sqrt(0.02)/0.8796.
        var truncated = new VarianceScaling(2f, VarianceScalingMode.FanIn, VarianceScalingDistribution.TruncatedNormal, seed: 8).Call([100, 1000]);
        var untruncated = new VarianceScaling(2f, VarianceScalingMode.FanIn, VarianceScalingDistribution.UntruncatedNormal, seed: 8).Call([100, 1000]);
        Assert.AreEqual(0.02, KerasAssert.Moments(truncated).Variance, 0.0006);
        Assert.AreEqual(0.02, KerasAssert.Moments(untruncated).Variance, 0.0006);
        double bound = 2 * Math.Sqrt(0.02) / VarianceScaling.TruncatedStddev;
        Assert.IsLessThanOrEqualTo(bound * (1 + 1e-6), truncated.ToArray().Max(v => Math.Abs((double)v)));
        Assert.IsGreaterThan(bound, untruncated.ToArray().Max(v => Math.Abs((double)v)), "the untruncated normal has tails");
    }

    [TestMethod]
    public void ComputeFans_MatchesKeras()
    {
        Assert.AreEqual((1L, 1L), VarianceScaling.ComputeFans([]));
        Assert.AreEqual((7L, 7L), VarianceScaling.ComputeFans([7]));
        Assert.AreEqual((3L, 5L), VarianceScaling.ComputeFans([3, 5]));
        Assert.AreEqual((20L, 30L), VarianceScaling.ComputeFans([5, 4, 6]), "Conv1D kernel [width, in, out]");
        Assert.AreEqual((144L, 288L), VarianceScaling.ComputeFans([3, 3, 16, 32]), "Conv2D kernel [rows, cols, in, out]");
        Assert.AreEqual((0L, 0L), VarianceScaling.ComputeFans([0, 3, 4, 5]));
        Assert.AreEqual((40_000_000_000L, 40_000_000_000L), VarianceScaling.ComputeFans([200_000, 200_000, 1, 1]), "no int overflow");
    }

    [TestMethod]
    public void GlorotAndHe_AreVarianceScalingPresets()
    {
        AssertPreset(new GlorotUniform(), 1f, VarianceScalingMode.FanAvg, VarianceScalingDistribution.Uniform);
        AssertPreset(new GlorotNormal(), 1f, VarianceScalingMode.FanAvg, VarianceScalingDistribution.TruncatedNormal);
        AssertPreset(new HeUniform(), 2f, VarianceScalingMode.FanIn, VarianceScalingDistribution.Uniform);
        AssertPreset(new HeNormal(), 2f, VarianceScalingMode.FanIn, VarianceScalingDistribution.TruncatedNormal);
        // Same seed, same parameters: a preset draws exactly what the equivalent VarianceScaling draws.
        KerasAssert.Identical(
            new VarianceScaling(2f, VarianceScalingMode.FanIn, VarianceScalingDistribution.TruncatedNormal, seed: 9).Call([30, 40]),
            new HeNormal(seed: 9).Call([30, 40]));
    }

    private static void AssertPreset(VarianceScaling init, float scale, VarianceScalingMode mode, VarianceScalingDistribution distribution)
    {
        Assert.AreEqual(scale, init.Scale, init.ClassName);
        Assert.AreEqual(mode, init.Mode, init.ClassName);
        Assert.AreEqual(distribution, init.Distribution, init.ClassName);
    }

    // ---- argument checks ----------------------------------------------------------------------------------------

    [TestMethod]
    public void Constructors_RejectBadArgumentsNamingThem()
    {
        AssertOutOfRange("stddev", () => new RandomNormal(stddev: -1f));
        AssertOutOfRange("mean", () => new RandomNormal(mean: float.NaN));
        AssertOutOfRange("stddev", () => new TruncatedNormal(stddev: float.PositiveInfinity));
        AssertOutOfRange("mean", () => new TruncatedNormal(mean: float.NegativeInfinity));
        AssertOutOfRange("maxval", () => new RandomUniform(minval: 1f, maxval: 0f));
        AssertOutOfRange("minval", () => new RandomUniform(minval: float.NaN));
        AssertOutOfRange("scale", () => new VarianceScaling(scale: 0f));
        AssertOutOfRange("scale", () => new VarianceScaling(scale: float.PositiveInfinity));
        AssertOutOfRange("mode", () => new VarianceScaling(mode: (VarianceScalingMode)7));
        AssertOutOfRange("distribution", () => new VarianceScaling(distribution: (VarianceScalingDistribution)(-1)));
    }

    private static void AssertOutOfRange(string paramName, Func<object> action) =>
        Assert.AreEqual(paramName, Assert.ThrowsExactly<ArgumentOutOfRangeException>(action).ParamName);

    // ---- configs, names, factories ------------------------------------------------------------------------------

    [TestMethod]
    public void GetConfig_HasKerasKeysAndValues()
    {
        KerasAssert.ConfigsEqual(new Dictionary<string, object?>(), new Zeros().GetConfig());
        KerasAssert.ConfigsEqual(new Dictionary<string, object?>(), new Ones().GetConfig());
        KerasAssert.ConfigsEqual(new() { ["value"] = 0.1 }, new Constant(0.1f).GetConfig());
        KerasAssert.ConfigsEqual(new() { ["seed"] = 7, ["mean"] = 0.0, ["stddev"] = 0.05 }, new RandomNormal(seed: 7).GetConfig());
        KerasAssert.ConfigsEqual(new() { ["seed"] = null, ["mean"] = 0.0, ["stddev"] = 0.05 }, new TruncatedNormal().GetConfig());
        KerasAssert.ConfigsEqual(new() { ["seed"] = -3, ["minval"] = -0.05, ["maxval"] = 0.05 }, new RandomUniform(seed: -3).GetConfig());
        KerasAssert.ConfigsEqual(new() { ["seed"] = 1, ["scale"] = 0.3, ["mode"] = "fan_out", ["distribution"] = "untruncated_normal" },
            new VarianceScaling(0.3f, VarianceScalingMode.FanOut, VarianceScalingDistribution.UntruncatedNormal, 1).GetConfig());
        KerasAssert.ConfigsEqual(new() { ["seed"] = null, ["scale"] = 1.0, ["mode"] = "fan_in", ["distribution"] = "truncated_normal" },
            new VarianceScaling().GetConfig());
        KerasAssert.ConfigsEqual(new() { ["seed"] = 4 }, new GlorotUniform(4).GetConfig());
        KerasAssert.ConfigsEqual(new() { ["seed"] = null }, new HeNormal().GetConfig());
        Assert.AreEqual(0.05, (double)new RandomNormal().GetConfig()["stddev"]!, 0.0, "floats are stored as their shortest decimal");
    }

    [TestMethod]
    public void FromConfigOfSerialize_GivesEqualConfigAndValues()
    {
        IInitializer[] all =
        [
            new Zeros(), new Ones(), new Constant(-0.7f), new RandomNormal(0.2f, 0.3f, 1), new RandomUniform(-2f, 5f, 2),
            new TruncatedNormal(1f, 0.1f, 3), new VarianceScaling(0.4f, VarianceScalingMode.FanAvg, VarianceScalingDistribution.Uniform, 4),
            new GlorotNormal(5), new GlorotUniform(6), new HeNormal(7), new HeUniform(8),
        ];
        foreach (var init in all)
        {
            var copy = KerasAssert.RoundTrip(init, Initializers.FromConfig, Initializers.Serialize);
            KerasAssert.Identical(init.Call([5, 7]), copy.Call([5, 7]), init.ClassName);
        }
    }

    [TestMethod]
    public void FromConfig_AcceptsJsonStyleNumbersAndKerasStrings()
    {
        var init = (RandomNormal)Initializers.FromConfig(KerasAssert.Serialized("RandomNormal", new() { ["mean"] = 1L, ["stddev"] = 0.25m, ["seed"] = 9.0 }));
        Assert.AreEqual(1f, init.Mean);
        Assert.AreEqual(0.25f, init.Stddev);
        Assert.AreEqual(9, init.Seed);

        var vs = (VarianceScaling)Initializers.FromConfig(KerasAssert.Serialized("variance_scaling", new() { ["mode"] = "fan_avg", ["distribution"] = "Normal" }));
        Assert.AreEqual(VarianceScalingMode.FanAvg, vs.Mode);
        Assert.AreEqual(VarianceScalingDistribution.TruncatedNormal, vs.Distribution, "Keras lower-cases the distribution and reads 'normal' as truncated_normal");

        var glorot = Initializers.FromConfig(KerasAssert.Serialized("GlorotUniform"));
        Assert.IsInstanceOfType<GlorotUniform>(glorot, "a missing config means defaults");
    }

    [TestMethod]
    public void FromConfig_RejectsBadInput()
    {
        Assert.AreEqual("config", Assert.ThrowsExactly<ArgumentNullException>(() => Initializers.FromConfig(null!)).ParamName);
        var missing = Assert.ThrowsExactly<ArgumentException>(() => Initializers.FromConfig(new Dictionary<string, object?> { ["config"] = null }));
        Assert.AreEqual("config", missing.ParamName);
        var unknown = Assert.ThrowsExactly<ArgumentException>(() => Initializers.FromConfig(KerasAssert.Serialized("Orthogonal")));
        Assert.AreEqual("config", unknown.ParamName);
        StringAssert.Contains(unknown.Message, "glorot_uniform");
        var typo = Assert.ThrowsExactly<ArgumentException>(() => Initializers.FromConfig(KerasAssert.Serialized("RandomNormal", new() { ["stdev"] = 1.0 })));
        StringAssert.Contains(typo.Message, "stdev");
        StringAssert.Contains(typo.Message, "stddev");
        var wrongType = Assert.ThrowsExactly<ArgumentException>(() => Initializers.FromConfig(KerasAssert.Serialized("RandomNormal", new() { ["stddev"] = "wide" })));
        Assert.AreEqual("config", wrongType.ParamName);
        var badMode = Assert.ThrowsExactly<ArgumentException>(() => Initializers.FromConfig(KerasAssert.Serialized("VarianceScaling", new() { ["mode"] = "fan_sum" })));
        StringAssert.Contains(badMode.Message, "fan_avg");
        var range = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => Initializers.FromConfig(KerasAssert.Serialized("RandomNormal", new() { ["stddev"] = -1.0 })));
        Assert.AreEqual("stddev", range.ParamName);
    }

    [TestMethod]
    [DataRow("zeros", typeof(Zeros))]
    [DataRow("zero", typeof(Zeros))]
    [DataRow("Zeros", typeof(Zeros))]
    [DataRow("ones", typeof(Ones))]
    [DataRow("one", typeof(Ones))]
    [DataRow("Ones", typeof(Ones))]
    [DataRow("constant", typeof(Constant))]
    [DataRow("Constant", typeof(Constant))]
    [DataRow("random_normal", typeof(RandomNormal))]
    [DataRow("normal", typeof(RandomNormal))]
    [DataRow("RandomNormal", typeof(RandomNormal))]
    [DataRow("random_uniform", typeof(RandomUniform))]
    [DataRow("uniform", typeof(RandomUniform))]
    [DataRow("RandomUniform", typeof(RandomUniform))]
    [DataRow("truncated_normal", typeof(TruncatedNormal))]
    [DataRow("TruncatedNormal", typeof(TruncatedNormal))]
    [DataRow("variance_scaling", typeof(VarianceScaling))]
    [DataRow("VarianceScaling", typeof(VarianceScaling))]
    [DataRow("glorot_normal", typeof(GlorotNormal))]
    [DataRow("GlorotNormal", typeof(GlorotNormal))]
    [DataRow("glorot_uniform", typeof(GlorotUniform))]
    [DataRow("GlorotUniform", typeof(GlorotUniform))]
    [DataRow("he_normal", typeof(HeNormal))]
    [DataRow("HeNormal", typeof(HeNormal))]
    [DataRow("he_uniform", typeof(HeUniform))]
    [DataRow("HeUniform", typeof(HeUniform))]
    public void Get_ResolvesSnakeCaseAndClassNames(string name, Type expected)
    {
        var init = Initializers.Get(name);
        Assert.AreEqual(expected, init.GetType());
        Assert.AreEqual(expected.Name, init.ClassName);
        // Defaults agree between the constructor, the registry and the factory.
        var byConstructor = (IInitializer)Activator.CreateInstance(expected, expected.GetConstructors()[0].GetParameters().Select(p => p.DefaultValue).ToArray())!;
        KerasAssert.ConfigsEqual(byConstructor.GetConfig(), init.GetConfig(), name);
        var factory = typeof(Initializers).GetMethod(expected.Name)!;
        var byFactory = (IInitializer)factory.Invoke(null, factory.GetParameters().Select(p => p.DefaultValue).ToArray())!;
        KerasAssert.ConfigsEqual(byConstructor.GetConfig(), byFactory.GetConfig(), name);
        CollectionAssert.Contains(Initializers.Names.ToList(), name);
    }

    [TestMethod]
    public void Get_RejectsUnknownNamesListingTheAcceptedOnes()
    {
        var e = Assert.ThrowsExactly<ArgumentException>(() => Initializers.Get("glorot-uniform"));
        Assert.AreEqual("identifier", e.ParamName);
        StringAssert.Contains(e.Message, "glorot-uniform");
        foreach (var name in Initializers.Names) StringAssert.Contains(e.Message, name);
        Assert.ThrowsExactly<ArgumentException>(() => Initializers.Get("Glorot_Uniform"), "names are case-sensitive, as in Keras");
        Assert.AreEqual("identifier", Assert.ThrowsExactly<ArgumentNullException>(() => Initializers.Get(null!)).ParamName);
    }

    [TestMethod]
    public void Factories_MirrorTheConstructors()
    {
        KerasAssert.ConfigsEqual(new Constant(3f).GetConfig(), Initializers.Constant(3f).GetConfig());
        KerasAssert.Identical(new RandomNormal(1f, 2f, 3).Call([10]), Initializers.RandomNormal(1f, 2f, 3).Call([10]));
        KerasAssert.Identical(new RandomUniform(1f, 2f, 3).Call([10]), Initializers.RandomUniform(1f, 2f, 3).Call([10]));
        KerasAssert.Identical(new TruncatedNormal(1f, 2f, 3).Call([10]), Initializers.TruncatedNormal(1f, 2f, 3).Call([10]));
        KerasAssert.Identical(new GlorotUniform(1).Call([4, 4]), Initializers.GlorotUniform(seed: 1).Call([4, 4]));
        KerasAssert.Identical(new GlorotNormal(1).Call([4, 4]), Initializers.GlorotNormal(seed: 1).Call([4, 4]));
        KerasAssert.Identical(new HeUniform(1).Call([4, 4]), Initializers.HeUniform(seed: 1).Call([4, 4]));
        KerasAssert.Identical(new HeNormal(1).Call([4, 4]), Initializers.HeNormal(seed: 1).Call([4, 4]));
        var vs = Initializers.VarianceScaling(3f, VarianceScalingMode.FanOut, VarianceScalingDistribution.Uniform, 2);
        KerasAssert.Identical(new VarianceScaling(3f, VarianceScalingMode.FanOut, VarianceScalingDistribution.Uniform, 2).Call([4, 4]), vs.Call([4, 4]));
    }

    [TestMethod]
    public void Serialize_HasClassNameAndConfig()
    {
        var s = Initializers.Serialize(new HeUniform(seed: 3));
        Assert.AreEqual("HeUniform", s["class_name"]);
        KerasAssert.ConfigsEqual(new() { ["seed"] = 3 }, (IReadOnlyDictionary<string, object?>)s["config"]!);
        Assert.AreEqual("value", Assert.ThrowsExactly<ArgumentNullException>(() => Initializers.Serialize(null!)).ParamName);
    }

    private static IEnumerable<IInitializer> AllWithDefaults() => Initializers.Names.Select(Initializers.Get);

    private static IEnumerable<Func<int?, IInitializer>> SeededFactories() =>
    [
        s => new RandomNormal(seed: s), s => new RandomUniform(seed: s), s => new TruncatedNormal(seed: s),
        s => new VarianceScaling(seed: s), s => new GlorotNormal(s), s => new GlorotUniform(s), s => new HeNormal(s), s => new HeUniform(s),
    ];
}
