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

public static class TestData
{
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
