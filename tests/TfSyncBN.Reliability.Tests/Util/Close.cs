namespace TfSyncBN.Reliability.Tests.Util;

public static class Close
{
    /// <summary>Asserts |a − e| ≤ atol + rtol·|e| element-wise; NaN matches NaN and an infinity the same infinity.</summary>
    public static void Assert(ReadOnlySpan<float> actual, ReadOnlySpan<float> expected, double atol, double rtol, string what)
    {
        Microsoft.VisualStudio.TestTools.UnitTesting.Assert.AreEqual(expected.Length, actual.Length, $"{what}: length");
        for (int i = 0; i < actual.Length; i++)
        {
            float a = actual[i], e = expected[i];
            if (float.IsNaN(e) && float.IsNaN(a)) continue;
            if (float.IsInfinity(e) && a == e) continue;
            if (!(Math.Abs((double)a - e) <= atol + rtol * Math.Abs((double)e)))
                throw new AssertFailedException($"{what}: element {i} is {a:R}, expected {e:R} (atol {atol}, rtol {rtol}).");
        }
    }

    public static void Bitwise(ReadOnlySpan<float> actual, ReadOnlySpan<float> expected, string what)
    {
        Microsoft.VisualStudio.TestTools.UnitTesting.Assert.AreEqual(expected.Length, actual.Length, $"{what}: length");
        for (int i = 0; i < actual.Length; i++)
        {
            if (BitConverter.SingleToInt32Bits(actual[i]) != BitConverter.SingleToInt32Bits(expected[i]))
                throw new AssertFailedException($"{what}: element {i} is {actual[i]:R}, expected exactly {expected[i]:R}.");
        }
    }

    public static float[] Normal(System.Random rng, int n, double mean = 0, double std = 1)
    {
        var v = new float[n];
        for (int i = 0; i < n; i++)
            v[i] = (float)(mean + std * Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble()));
        return v;
    }
}
