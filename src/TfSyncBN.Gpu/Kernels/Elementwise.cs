using ILGPU;
using ILGPU.Algorithms;

namespace TfSyncBN.Gpu.Kernels;

/// <summary>Element-wise kernels: one thread per element, no cross-thread communication.</summary>
internal static class ElementwiseKernels
{
    public static void Fill(Index1D i, ArrayView<float> y, float value) => y[i] = value;

    public static void Add(Index1D i, ArrayView<float> a, ArrayView<float> b, ArrayView<float> y) => y[i] = a[i] + b[i];

    public static void Multiply(Index1D i, ArrayView<float> a, ArrayView<float> b, ArrayView<float> y) => y[i] = a[i] * b[i];

    public static void Subtract(Index1D i, ArrayView<float> a, ArrayView<float> b, ArrayView<float> y) => y[i] = a[i] - b[i];

    public static void Divide(Index1D i, ArrayView<float> a, ArrayView<float> b, ArrayView<float> y) => y[i] = a[i] / b[i];

    /// <summary><c>max(a, b)</c> as <c>TensorPrimitives.Max</c>: a NaN operand is the result (a's first), and +0 &gt; −0.</summary>
    public static void Maximum(Index1D i, ArrayView<float> a, ArrayView<float> b, ArrayView<float> y)
    {
        float x = a[i], z = b[i];
        y[i] = float.IsNaN(x) ? x : float.IsNaN(z) ? z : x > z ? x : z > x ? z : x == 0f ? x + z : x; // equal zeros: +0 unless both are −0
    }

    /// <summary><c>min(a, b)</c> as <c>TensorPrimitives.Min</c>: a NaN operand is the result (a's first), and −0 &lt; +0.</summary>
    public static void Minimum(Index1D i, ArrayView<float> a, ArrayView<float> b, ArrayView<float> y)
    {
        float x = a[i], z = b[i];
        y[i] = float.IsNaN(x) ? x : float.IsNaN(z) ? z : x < z ? x : z < x ? z : x == 0f ? -(-x - z) : x; // equal zeros: −0 unless both are +0
    }

    public static void Scale(Index1D i, ArrayView<float> x, float factor, ArrayView<float> y) => y[i] = x[i] * factor;

    public static void Relu(Index1D i, ArrayView<float> x, ArrayView<float> y)
    {
        float v = x[i];
        y[i] = v > 0f ? v : 0f;
    }

    /// <summary><c>dx = x &gt; 0 ? dy : 0</c>.</summary>
    public static void ReluBackward(Index1D i, ArrayView<float> x, ArrayView<float> dy, ArrayView<float> dx) => dx[i] = x[i] > 0f ? dy[i] : 0f;

    public static void Sigmoid(Index1D i, ArrayView<float> x, ArrayView<float> y) => y[i] = 1f / (1f + XMath.Exp(-x[i]));

    /// <summary><c>dx = dy·y·(1 − y)</c> from the output y.</summary>
    public static void SigmoidBackward(Index1D i, ArrayView<float> y, ArrayView<float> dy, ArrayView<float> dx) => dx[i] = dy[i] * y[i] * (1f - y[i]);

    public static void Tanh(Index1D i, ArrayView<float> x, ArrayView<float> y) => y[i] = XMath.Tanh(x[i]);

    /// <summary><c>dx = dy·(1 − y²)</c> from the output y.</summary>
    public static void TanhBackward(Index1D i, ArrayView<float> y, ArrayView<float> dy, ArrayView<float> dx) => dx[i] = dy[i] * (1f - y[i] * y[i]);

    /// <summary><c>y[r, c] = x[r, c] + bias[c]</c> over rows of <paramref name="channels"/>.</summary>
    public static void BiasAdd(Index1D i, ArrayView<float> x, ArrayView<float> bias, int channels, ArrayView<float> y) =>
        y[i] = x[i] + bias[i % channels];

    /// <summary>float64 → float32 (round to nearest).</summary>
    public static void ToSingle(Index1D i, ArrayView<double> x, ArrayView<float> y) => y[i] = (float)x[i];

    /// <summary>float32 → float64 (exact).</summary>
    public static void ToDouble(Index1D i, ArrayView<float> x, ArrayView<double> y) => y[i] = x[i];

    /// <summary><c>y = x·factor</c> in float64.</summary>
    public static void ScaleDouble(Index1D i, ArrayView<double> x, double factor, ArrayView<double> y) => y[i] = x[i] * factor;

    /// <summary>
    /// Inverted dropout with a counter-based mask: element i is kept when <c>Uniform(seed, i) ≥ rate</c> and then scaled by
    /// <paramref name="scale"/> (= 1/(1 − rate)); dropped elements are 0. The same (seed, i) always gives the same mask, so
    /// the backward pass recomputes it instead of storing it.
    /// </summary>
    public static void Dropout(Index1D i, ArrayView<float> x, uint seed, float rate, float scale, ArrayView<float> y) =>
        y[i] = Uniform(seed, (uint)i.X) >= rate ? x[i] * scale : 0f;

    /// <summary>A uniform float in [0, 1) with 24 random bits from (seed, counter): a 32-bit integer hash (lowbias32 finalizer).</summary>
    public static float Uniform(uint seed, uint counter)
    {
        uint h = counter * 0x9E3779B9u ^ (seed * 0x85EBCA6Bu + 0x68E31DA4u);
        h ^= h >> 16;
        h *= 0x7FEB352Du;
        h ^= h >> 15;
        h *= 0x846CA68Bu;
        h ^= h >> 16;
        return (h >> 8) * (1f / 16777216f);
    }
}
