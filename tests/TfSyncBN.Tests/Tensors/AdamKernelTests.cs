using System.Numerics.Tensors;
using TfSyncBN.Tensors;

namespace TfSyncBN.Tests.Tensors;

/// <summary>
/// The CPU backend's one-pass Adam kernel against the same formulas written as separate whole-array
/// <see cref="TensorPrimitives"/> passes (the kernel's previous form; each operation rounded to float32), bit for bit, and
/// against float64 within float32 rounding.
/// </summary>
[TestClass]
public sealed class AdamKernelTests
{
    [TestMethod]
    [DataRow(1)]
    [DataRow(37)]      // vectors and a scalar tail at every vector width
    [DataRow(4099)]
    public void OnePass_EqualsThePassByPassFormulas_BitForBit(int n)
    {
        var rng = new Random(n);
        float[] w = Values(rng, n, 3), g = Values(rng, n, 1), m = Values(rng, n, 0.5);
        float[] v = Array.ConvertAll(Values(rng, n, 0.5), x => x * x);
        g[0] = 0f;
        m[0] = 0f;
        v[0] = 0f;             // the first step of a zero gradient: w' = w − 0/(0 + ε)
        const float alpha = 0.0031f, beta1 = 0.9f, beta2 = 0.999f, epsilon = 1e-7f;

        float[] wt = new float[n], mt = new float[n], vt = new float[n];
        CpuBackend.AdamUpdate(w, g, m, v, alpha, beta1, beta2, epsilon, wt, mt, vt);

        float[] tmp = new float[n], em = new float[n], ev = new float[n], ew = new float[n];
        TensorPrimitives.Subtract(g, m, tmp);
        TensorPrimitives.MultiplyAdd(tmp, 1f - beta1, m, em);   // (x·y) + z, rounded twice
        TensorPrimitives.Multiply(g, g, tmp);
        TensorPrimitives.Subtract(tmp, v, tmp);
        TensorPrimitives.MultiplyAdd(tmp, 1f - beta2, v, ev);
        TensorPrimitives.Sqrt(ev, tmp);
        TensorPrimitives.Add(tmp, epsilon, tmp);
        TensorPrimitives.Multiply(em, alpha, ew);
        TensorPrimitives.Divide(ew, tmp, ew);
        TensorPrimitives.Subtract(w, ew, ew);
        CollectionAssert.AreEqual(em, mt, "m'");
        CollectionAssert.AreEqual(ev, vt, "v'");
        CollectionAssert.AreEqual(ew, wt, "w'");

        for (int i = 0; i < n; i++)
        {
            double m64 = m[i] + (g[i] - (double)m[i]) * (1 - (double)beta1);
            double v64 = v[i] + ((double)g[i] * g[i] - v[i]) * (1 - (double)beta2);
            double w64 = w[i] - m64 * alpha / (Math.Sqrt(v64) + epsilon);
            Assert.AreEqual(w64, wt[i], 1e-6 * (1 + Math.Abs(w64)), $"w' [{i}] vs float64");
        }
    }

    [TestMethod]
    public void OperandsOfAnotherLength_AreRejected()
    {
        float[] a = new float[4], b = new float[3];
        var e = Assert.ThrowsExactly<ArgumentException>(() => CpuBackend.AdamUpdate(a, a, a, b, 0.1f, 0.9f, 0.999f, 1e-7f, a, a, a));
        StringAssert.Contains(e.Message, "length");
    }

    private static float[] Values(Random rng, int n, double scale) =>
        Enumerable.Range(0, n).Select(_ => (float)((rng.NextDouble() * 2 - 1) * scale)).ToArray();
}
