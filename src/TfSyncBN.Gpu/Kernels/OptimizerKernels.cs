using ILGPU;
using ILGPU.Algorithms;

namespace TfSyncBN.Gpu.Kernels;

/// <summary>Fused in-place optimizer updates (Keras 3 formulas), one thread per weight.</summary>
internal static class OptimizerKernels
{
    /// <summary>
    /// SGD: μ = 0: <c>w ← w − g·η</c>; μ &gt; 0: <c>m ← m·μ − g·η</c>, <c>w ← w + m</c>; Nesterov:
    /// <c>w ← w + (m·μ − g·η)</c> with the new m.
    /// </summary>
    public static void Sgd(Index1D i, ArrayView<float> w, ArrayView<float> g, ArrayView<float> m, OptimizerParameters p)
    {
        float step = g[i] * -p.LearningRate;
        if (p.Momentum == 0f)
        {
            w[i] = w[i] + step;
            return;
        }
        float mNew = m[i] * p.Momentum + step;
        m[i] = mNew;
        w[i] = p.Nesterov != 0 ? w[i] + (mNew * p.Momentum + step) : w[i] + mNew;
    }

    /// <summary>
    /// Adam: <c>m ← m + (g − m)·(1 − β₁)</c>, <c>v ← v + (g² − v)·(1 − β₂)</c>, <c>w ← w − (m·α)/(sqrt(v) + ε)</c>, with the
    /// bias-corrected rate α computed on the host.
    /// </summary>
    public static void Adam(Index1D i, ArrayView<float> w, ArrayView<float> g, ArrayView<float> m, ArrayView<float> v,
        OptimizerParameters p)
    {
        float gi = g[i];
        float mNew = (gi - m[i]) * (1f - p.Beta1) + m[i];
        float vNew = (gi * gi - v[i]) * (1f - p.Beta2) + v[i];
        m[i] = mNew;
        v[i] = vNew;
        w[i] = w[i] - mNew * p.Alpha / (XMath.Sqrt(vNew) + p.Epsilon);
    }
}
