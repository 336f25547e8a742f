using ILGPU;
using ILGPU.Algorithms;

namespace TfSyncBN.Gpu.Kernels;

/// <summary>Sparse softmax cross-entropy, one row of <c>classes</c> logits per thread.</summary>
internal static class LossKernels
{
    /// <summary>
    /// <c>logp = x − m − log Σ exp(x − m)</c> (m the row maximum) and <c>loss[r] = −logp[r, label[r]]</c>.
    /// </summary>
    public static void SparseSoftmaxCrossEntropy(Index1D r, ArrayView<float> logits, ArrayView<int> labels, int classes,
        ArrayView<float> loss, ArrayView<float> logp)
    {
        long at = (long)r.X * classes;
        float m = logits[at];
        for (int j = 1; j < classes; j++) m = XMath.Max(m, logits[at + j]);
        float s = 0f;
        for (int j = 0; j < classes; j++) s += XMath.Exp(logits[at + j] - m);
        float lse = XMath.Log(s);
        for (int j = 0; j < classes; j++) logp[at + j] = logits[at + j] - m - lse;
        loss[r] = -logp[at + labels[r]];
    }

    /// <summary><c>dx[r, j] = exp(logp[r, j])·dloss[r] − (j == label[r] ? dloss[r] : 0)</c>.</summary>
    public static void SparseSoftmaxCrossEntropyBackward(Index1D i, ArrayView<float> logp, ArrayView<int> labels,
        ArrayView<float> dloss, int classes, ArrayView<float> dx)
    {
        int r = i / classes, j = i - r * classes;
        float g = dloss[r];
        float d = XMath.Exp(logp[i]) * g;
        dx[i] = j == labels[r] ? d - g : d;
    }
}
