using TfSyncBN.Keras;

namespace TfSyncBN.Tests.Keras;

[TestClass]
public sealed class StatelessRandomTests
{
    // Random123's published known-answer vectors for Philox4x32-10 (tests/kat_vectors): counter, key, output.
    [TestMethod]
    [DataRow(0u, 0u, 0u, 0u, 0u, 0u, 0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u)]
    [DataRow(0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu, 0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu)]
    [DataRow(0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u, 0xa4093822u, 0x299f31d0u, 0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u)]
    public void Philox_MatchesRandom123KnownAnswers(uint c0, uint c1, uint c2, uint c3, uint k0, uint k1, uint x0, uint x1, uint x2, uint x3)
    {
        var block = StatelessRandom.Philox(c0, c1, c2, c3, k0, k1);
        Assert.AreEqual(new StatelessRandom.Block(x0, x1, x2, x3), block);
    }

    [TestMethod]
    public void Log_AgreesWithMathLogToAFewUlps()
    {
        double[] xs = [1.0, 0.5, 0.75, Math.Sqrt(0.5), 0.70710678118654757, 0.999999999, 1e-3, 1.1102230246251565e-16, 0.3, 0.123456789];
        foreach (double x in xs.Concat(Enumerable.Range(1, 2000).Select(i => i / 2001.0)))
        {
            double expected = Math.Log(x);
            Assert.AreEqual(expected, StatelessRandom.Log(x), 4e-16 * Math.Max(1, Math.Abs(expected)), $"ln {x:R}");
        }
    }

    [TestMethod]
    public void SinCosTurns_AgreesWithMathSinCos()
    {
        uint[] ws = [0, 1, 0x3FFFFFFF, 0x40000000, 0x7FFFFFFF, 0x80000000, 0xC0000000, 0xFFFFFFFF, 0x12345678, 0x9ABCDEF0];
        foreach (uint w in ws.Concat(Enumerable.Range(0, 4096).Select(i => (uint)i * 1048573u)))
        {
            double angle = 2 * Math.PI * (w / 4294967296.0);
            StatelessRandom.SinCosTurns(w, out double sin, out double cos);
            Assert.AreEqual(Math.Sin(angle), sin, 2e-15, $"sin at w = {w}");
            Assert.AreEqual(Math.Cos(angle), cos, 2e-15, $"cos at w = {w}");
        }
    }

    [TestMethod]
    public void SeededValues_ArePinned()
    {
        // Regression pins: these values must never change, or saved seeds would initialize differently.
        KerasAssert.TensorEqual(UniformPin, [4], new RandomUniform(-1f, 1f, seed: 42).Call([4]), 0f);
        KerasAssert.TensorEqual(NormalPin, [4], new RandomNormal(0f, 1f, seed: 42).Call([4]), 0f);
        KerasAssert.TensorEqual(NormalPin, [4], new TruncatedNormal(0f, 1f, seed: 42).Call([4]), 0f, "(all within 2 stddev)");

        // Element 53 is the first normal sample beyond 2 stddev; the truncated normal redraws it.
        var normal = new RandomNormal(0f, 1f, seed: 42).Call([54]).ToArray();
        var truncated = new TruncatedNormal(0f, 1f, seed: 42).Call([54]).ToArray();
        Assert.AreEqual(2.135988f, normal[53]);
        Assert.AreEqual(1.5027529f, truncated[53]);
        CollectionAssert.AreEqual(normal.Take(53).ToArray(), truncated.Take(53).ToArray());
    }

    private static readonly float[] UniformPin = [0.22591977f, 0.9754373f, 0.65173364f, 0.45919853f];
    private static readonly float[] NormalPin = [0.8864975f, -0.15660962f, -0.4941005f, -0.67989165f];

    [TestMethod]
    public void Values_DependOnlyOnSeedAndFlatIndex()
    {
        var init = new RandomNormal(seed: 7);
        var small = init.Call([6]).ToArray();
        var reshaped = init.Call([2, 3]).ToArray();
        var larger = init.Call([5, 3]).ToArray();
        CollectionAssert.AreEqual(small, reshaped);
        CollectionAssert.AreEqual(small, larger.Take(6).ToArray());
    }

    [TestMethod]
    public void ParallelFill_IsIdenticalToSerialFill()
    {
        // 100,000 elements are filled in parallel chunks; 10,000 in one serial loop. The overlap must agree bit for bit.
        foreach (IInitializer init in new IInitializer[] { new RandomUniform(seed: 3), new RandomNormal(seed: 3), new TruncatedNormal(seed: 3) })
        {
            var big = init.Call([100_000]).ToArray();
            var again = init.Call([100_000]).ToArray();
            var serial = init.Call([10_000]).ToArray();
            CollectionAssert.AreEqual(big, again, init.ClassName);
            CollectionAssert.AreEqual(serial, big.Take(10_000).ToArray(), init.ClassName);
        }
    }

    [TestMethod]
    public void UnseededKeys_AreFreshAndNeverThoseOfASeed()
    {
        var keys = Enumerable.Range(0, 100).Select(_ => StatelessRandom.FreshKey()).ToList();
        Assert.AreEqual(100, keys.Distinct().Count());
        Assert.IsTrue(keys.All(k => k >> 32 != 0), "fresh keys have a non-zero high word");
        Assert.AreEqual(0UL, StatelessRandom.KeyFromSeed(-1) >> 32);
        Assert.AreNotEqual(StatelessRandom.KeyFromSeed(1), StatelessRandom.KeyFromSeed(-1));
    }
}
