using TfSyncBN.Keras;
using TfSyncBN.Tensors;

namespace TfSyncBN.Tests.TestUtil;

/// <summary>An initializer with fixed values, so tests control γ, β and the moving statistics exactly.</summary>
public sealed class FixedInitializer(params float[] values) : IInitializer
{
    public string ClassName => "FixedInitializer";

    public IReadOnlyDictionary<string, object?> GetConfig() => new Dictionary<string, object?> { ["values"] = values };

    public Tensor Call(IReadOnlyList<int> shape) => Tensor.FromArray(values, shape);
}


/// <summary>Seeded random test data. Every test that needs random numbers starts from <see cref="NewRandom"/>.</summary>
public static class TestData
{
    /// <summary>The project-wide seed for test data.</summary>
    public const int Seed = 20261123;

    /// <summary>A fresh generator with the project seed (or another one, for a second independent stream).</summary>
    public static Random NewRandom(int seed = Seed) => new(seed);

    /// <summary>A tensor of <paramref name="shape"/> with elements uniform in [<paramref name="low"/>, <paramref name="high"/>).</summary>
    public static Tensor Uniform(Random random, int[] shape, float low = -1f, float high = 1f) =>
        Tensor.FromFunction(shape, _ => low + (high - low) * random.NextSingle());

    /// <summary>Uniform in ±[<paramref name="minAbs"/>, <paramref name="maxAbs"/>): random sign, magnitude bounded away from 0.</summary>
    public static Tensor AwayFromZero(Random random, int[] shape, float minAbs = 0.2f, float maxAbs = 1.5f) =>
        Tensor.FromFunction(shape, _ => (random.Next(2) == 0 ? -1f : 1f) * (minAbs + (maxAbs - minAbs) * random.NextSingle()));

    /// <summary>
    /// Two tensors whose every pair of elements that can meet under broadcasting differs by at least <paramref name="gap"/>
    /// (so Maximum/Minimum are differentiable there and a finite-difference step below <paramref name="gap"/>/2 never
    /// crosses the kink). Elements of <paramref name="bShape"/> are redrawn until they keep their distance from all of
    /// <paramref name="aShape"/>'s, which is stricter than needed and simple.
    /// </summary>
    public static (Tensor A, Tensor B) Separated(Random random, int[] aShape, int[] bShape, float gap = 0.1f)
    {
        var a = Uniform(random, aShape, -2f, 2f).ToArray();
        var b = new float[Tensor.Zeros(bShape).Size];
        for (int j = 0; j < b.Length; j++)
        {
            do b[j] = -2f + 4f * random.NextSingle();
            while (a.Any(v => Math.Abs(v - b[j]) < gap));
        }
        return (Tensor.FromArray(a, aShape), Tensor.FromArray(b, bShape));
    }

    /// <summary>Row-major strides of <paramref name="shape"/>.</summary>
    public static int[] Strides(IReadOnlyList<int> shape)
    {
        var s = new int[shape.Count];
        int acc = 1;
        for (int i = shape.Count - 1; i >= 0; i--)
        {
            s[i] = acc;
            acc *= shape[i];
        }
        return s;
    }

    /// <summary>The multi-index of flat index <paramref name="flat"/> in <paramref name="shape"/>.</summary>
    public static int[] Unravel(int flat, IReadOnlyList<int> shape)
    {
        var idx = new int[shape.Count];
        for (int i = shape.Count - 1; i >= 0; i--)
        {
            idx[i] = flat % shape[i];
            flat /= shape[i];
        }
        return idx;
    }

    /// <summary>The flat index of <paramref name="index"/> in <paramref name="shape"/>.</summary>
    public static int Ravel(IReadOnlyList<int> index, IReadOnlyList<int> shape)
    {
        int flat = 0;
        for (int i = 0; i < shape.Count; i++) flat = flat * shape[i] + index[i];
        return flat;
    }

    /// <summary>Asserts equal shapes and element-wise closeness (|e − a| ≤ <paramref name="delta"/>).</summary>
    public static void AssertClose(IReadOnlyList<float> expected, Tensor actual, float delta, IReadOnlyList<int>? expectedShape = null, string what = "")
    {
        if (expectedShape is not null) CollectionAssert.AreEqual(expectedShape.ToArray(), actual.Shape.ToArray(), $"{what}: shape");
        var a = actual.ToArray();
        Assert.AreEqual(expected.Count, a.Length, $"{what}: element count");
        for (int i = 0; i < a.Length; i++) Assert.AreEqual(expected[i], a[i], delta, $"{what}: element {i}");
    }

    public static float[] Normal(Random rng, int n, double mean = 0, double std = 1) =>
        Enumerable.Range(0, n).Select(_ =>
        {
            double u1 = 1 - rng.NextDouble(), u2 = rng.NextDouble();
            return (float)(mean + std * Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2));
        }).ToArray();

    /// <summary>Splits <paramref name="total"/> rows into <paramref name="parts"/> random sizes; with <paramref name="withEmpty"/> one part is empty.</summary>
    public static int[] UnevenSplit(Random rng, int total, int parts, bool withEmpty)
    {
        var sizes = new int[parts];
        int empty = withEmpty && parts > 1 ? rng.Next(parts) : -1;
        // Every non-empty part gets at least one row, the rest go at random.
        for (int p0 = 0; p0 < parts; p0++) if (p0 != empty && total > 0) { sizes[p0]++; total--; }
        for (int i = 0; i < total; i++)
        {
            int p;
            do p = rng.Next(parts); while (p == empty);
            sizes[p]++;
        }
        return sizes;
    }

    public static int[] Offsets(int[] sizes)
    {
        var starts = new int[sizes.Length];
        for (int i = 1; i < sizes.Length; i++) starts[i] = starts[i - 1] + sizes[i - 1];
        return starts;
    }

    public static void AssertClose(ReadOnlySpan<float> actual, ReadOnlySpan<double> expected, double atol, double rtol, string what)
    {
        Assert.AreEqual(expected.Length, actual.Length, $"{what}: length");
        for (int i = 0; i < actual.Length; i++)
        {
            double tol = atol + rtol * Math.Abs(expected[i]);
            if (!(Math.Abs(actual[i] - expected[i]) <= tol))
                Assert.Fail($"{what}[{i}]: expected {expected[i]:R}, got {actual[i]:R} (|diff| {Math.Abs(actual[i] - expected[i]):E2} > {tol:E2})");
        }
    }

    public static void AssertClose(ReadOnlySpan<float> actual, ReadOnlySpan<float> expected, double atol, double rtol, string what) =>
        AssertClose(actual, expected.ToArray().Select(v => (double)v).ToArray(), atol, rtol, what);

    public static double MaxAbsDiff(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        double m = 0;
        for (int i = 0; i < a.Length; i++) m = Math.Max(m, Math.Abs(a[i] - b[i]));
        return m;
    }
}
