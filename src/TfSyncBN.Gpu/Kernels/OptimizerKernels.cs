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

    /// <summary>
    /// SGD into new buffers, in the operation order of the CPU backend: <c>s = g·(−η)</c>; without momentum (Nesterov −1, m unused):
    /// <c>wNew = w + s</c>; else <c>mNew = m·μ + s</c> and <c>wNew = w + mNew</c> (Nesterov 0), or <c>wNew = w + (mNew·μ + s)</c> (Nesterov 1).
    /// </summary>
    public static void SgdInto(Index1D i, ArrayView<float> w, ArrayView<float> g, ArrayView<float> m, OptimizerParameters p,
        ArrayView<float> wNew, ArrayView<float> mNew)
    {
        float step = g[i] * -p.LearningRate;
        if (p.Nesterov < 0)
        {
            wNew[i] = w[i] + step;
            return;
        }
        float mi = m[i] * p.Momentum + step;
        mNew[i] = mi;
        wNew[i] = p.Nesterov > 0 ? w[i] + (mi * p.Momentum + step) : w[i] + mi;
    }

    /// <summary>
    /// Adam into new buffers, in the operation order of the CPU backend: <c>mNew = (g − m)·(1 − β₁) + m</c>,
    /// <c>vNew = (g·g − v)·(1 − β₂) + v</c>, <c>wNew = w − (mNew·α)/(sqrt(vNew) + ε)</c>, with <see cref="OptimizerParameters.Beta1"/>
    /// and <see cref="OptimizerParameters.Beta2"/> holding 1 − β₁ and 1 − β₂ rounded to float32 on the host.
    /// </summary>
    public static void AdamInto(Index1D i, ArrayView<float> w, ArrayView<float> g, ArrayView<float> m, ArrayView<float> v,
        OptimizerParameters p, ArrayView<float> wNew, ArrayView<float> mNew, ArrayView<float> vNew)
    {
        float gi = g[i];
        float mi = (gi - m[i]) * p.Beta1 + m[i];
        float vi = (gi * gi - v[i]) * p.Beta2 + v[i];
        mNew[i] = mi;
        vNew[i] = vi;
        wNew[i] = w[i] - mi * p.Alpha / (XMath.Sqrt(vi) + p.Epsilon);
    }
}
