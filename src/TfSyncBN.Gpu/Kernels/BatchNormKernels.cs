using ILGPU;
using ILGPU.Algorithms;

namespace TfSyncBN.Gpu.Kernels;

/// <summary>Batch-norm coefficients, normalization and backward over a <see cref="ChannelLayout"/>.</summary>
internal static class BatchNormKernels
{
    /// <summary>
    /// Per channel, in float64: <c>inv = 1/sqrt(variance + ε)</c>, <c>scale = γ·inv</c>, <c>shift = β − mean·scale</c>
    /// (γ = 1 and β = 0 when the flags are 0), each rounded once to float32.
    /// </summary>
    public static void Coefficients(Index1D c, ArrayView<double> mean, ArrayView<double> variance, ArrayView<float> gamma,
        ArrayView<float> beta, int hasGamma, int hasBeta, double epsilon, ArrayView<float> inv, ArrayView<float> scale,
        ArrayView<float> shift)
    {
        double i = 1.0 / XMath.Sqrt(variance[c] + epsilon);
        double s = hasGamma != 0 ? gamma[c] * i : i;
        inv[c] = (float)i;
        scale[c] = (float)s;
        shift[c] = (float)((hasBeta != 0 ? beta[c] : 0.0) - mean[c] * s);
    }

    /// <summary><c>y = x·scale[c] + shift[c]</c>.</summary>
    public static void Normalize(Index1D i, ArrayView<float> x, ArrayView<float> scale, ArrayView<float> shift, ChannelLayout l,
        ArrayView<float> y)
    {
        int c = (int)((i.X / l.Inner) % l.Channels);
        y[i] = x[i] * scale[c] + shift[c];
    }

    /// <summary>
    /// <c>dx = γ·inv·(dy − Σdy/N − (x − μ)·inv²·Σdy(x − μ)/N)</c> in float64, rounded once, with the (global) sums and
    /// count N.
    /// </summary>
    public static void BackwardInput(Index1D i, ArrayView<float> x, ArrayView<float> dy, ArrayView<double> mean,
        ArrayView<float> inv, ArrayView<float> gamma, int hasGamma, ArrayView<double> sumDy, ArrayView<double> sumDyXmu,
        double invCount, ChannelLayout l, ArrayView<float> dx)
    {
        int c = (int)((i.X / l.Inner) % l.Channels);
        double iv = inv[c];
        double g = hasGamma != 0 ? gamma[c] : 1.0;
        double xmu = x[i] - mean[c];
        dx[i] = (float)(g * iv * (dy[i] - sumDy[c] * invCount - xmu * iv * iv * sumDyXmu[c] * invCount));
    }

    /// <summary><c>dγ = Σdy(x − μ)·inv</c>, <c>dβ = Σdy</c> from the local sums.</summary>
    public static void ParameterGradients(Index1D c, ArrayView<double> sumDy, ArrayView<double> sumDyXmu, ArrayView<float> inv,
        ArrayView<float> dgamma, ArrayView<float> dbeta)
    {
        dgamma[c] = (float)(sumDyXmu[c] * inv[c]);
        dbeta[c] = (float)sumDy[c];
    }
}
