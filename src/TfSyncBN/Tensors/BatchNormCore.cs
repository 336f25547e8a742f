using TfSyncBN.Distribute;
using TfSyncBN.Tensors.Kernels;

namespace TfSyncBN.Tensors;

/// <summary>Global batch statistics of one training-mode call, per channel (biased variance).</summary>
internal sealed record BatchMoments(double[] Mean, double[] Variance, long Count);

/// <summary>
/// The differentiable batch-normalization operation shared by the layers and <see cref="Ops.BatchNorm"/>.
/// </summary>
/// <remarks>
/// <para>Training: each replica computes its count, mean and M2 per channel with a shifted single pass; when
/// <c>sync</c> spans several replicas, ONE all-reduce(SUM) of the float64 buffer <c>[n | n·mean | M2 + n·mean²]</c>
/// (2C+1 values) gives the count-weighted global mean and biased variance, exact for uneven and empty replicas. The
/// backward pass all-reduces ONE buffer <c>[Σdy | Σdy·(x−μ)]</c> (2C values) and applies
/// <c>dx = γ·inv·(dy − Σdy/N − (x−μ)·inv²·Σdy(x−μ)/N)</c>. The gradients of γ and β stay local to the replica.</para>
/// <para>Inference: <c>y = γ·(x − mean)/sqrt(var + ε) + β</c> with the given statistics and no communication.</para>
/// </remarks>
internal static class BatchNormCore
{
    public static Tensor Training(Tensor x, ChannelLayout layout, Tensor? gamma, Tensor? beta, double epsilon,
        ReplicaContext? sync, out BatchMoments moments)
    {
        int C = layout.Channels;
        long n = layout.Count;
        var mean = new double[C];
        var m2 = new double[C];
        if (n > 0)
        {
            // Shift each channel by its first element: the sums are then of deviations, not of raw values.
            var shift = new float[C];
            for (int c = 0; c < C; c++) shift[c] = x.Data[c * layout.Inner];
            var s1 = new double[C];
            var s2 = new double[C];
            BatchNormKernels.PairSums(x.Data, x.Data, layout, shift, shift, s1, s2);
            for (int c = 0; c < C; c++)
            {
                mean[c] = shift[c] + s1[c] / n;
                m2[c] = Math.Max(s2[c] - s1[c] * s1[c] / n, 0);
            }
        }

        long total = n;
        var variance = new double[C];
        if (sync is { IsDistributed: true })
        {
            var buffer = new double[2 * C + 1];
            buffer[0] = n;
            for (int c = 0; c < C; c++)
            {
                buffer[1 + c] = n * mean[c];
                buffer[1 + C + c] = m2[c] + n * mean[c] * mean[c];
            }
            sync.AllReduceInPlace(ReduceOp.Sum, buffer, "SyncBatchNormalization moments", $"{C} channels");
            total = (long)buffer[0];
            for (int c = 0; c < C; c++)
            {
                mean[c] = total > 0 ? buffer[1 + c] / total : 0;
                variance[c] = total > 0 ? Math.Max(buffer[1 + C + c] / total - mean[c] * mean[c], 0) : 0;
            }
        }
        else
        {
            for (int c = 0; c < C; c++) variance[c] = n > 0 ? m2[c] / n : 0;
        }
        moments = new BatchMoments(mean, variance, total);
        return Normalize(x, layout, mean, variance, gamma, beta, epsilon, training: true, sync, total);
    }

    public static Tensor Inference(Tensor x, ChannelLayout layout, ReadOnlySpan<float> mean, ReadOnlySpan<float> variance,
        Tensor? gamma, Tensor? beta, double epsilon)
    {
        var m = new double[mean.Length];
        var v = new double[variance.Length];
        for (int c = 0; c < m.Length; c++)
        {
            m[c] = mean[c];
            v[c] = variance[c];
        }
        return Normalize(x, layout, m, v, gamma, beta, epsilon, training: false, null, 0);
    }

    private static Tensor Normalize(Tensor x, ChannelLayout layout, double[] mean, double[] variance, Tensor? gamma,
        Tensor? beta, double epsilon, bool training, ReplicaContext? sync, long total)
    {
        int C = layout.Channels;
        var meanF = new float[C];
        var inv = new double[C];
        var scale = new float[C];
        var offset = new float[C];
        for (int c = 0; c < C; c++)
        {
            meanF[c] = (float)mean[c];
            inv[c] = 1.0 / Math.Sqrt(variance[c] + epsilon);
            scale[c] = (float)((gamma?.Data[c] ?? 1f) * inv[c]);
            offset[c] = beta?.Data[c] ?? 0f;
        }
        var y = Tensor.Uninitialized(x.ShapeArray);
        BatchNormKernels.Affine(x.Data, default, layout, meanF, scale, offset, default, y.Data);

        Tensor[] inputs = gamma is null && beta is null ? [x] : gamma is null ? [x, beta!] : beta is null ? [x, gamma] : [x, gamma, beta];
        GradientTape.Record(y, inputs, (dy, needed) =>
        {
            var sumDy = new double[C];
            var sumDyXmu = new double[C];
            BatchNormKernels.PairSums(dy.Data, x.Data, layout, new float[C], meanF, sumDy, sumDyXmu);
            var grads = new Tensor?[inputs.Length];
            int at = 1;
            if (gamma is not null && needed[at]) grads[at] = Tensor.FromFunction(gamma.ShapeArray, c => (float)(inv[c] * sumDyXmu[c]));
            if (gamma is not null) at++;
            if (beta is not null && needed[at]) grads[at] = Tensor.FromFunction(beta.ShapeArray, c => (float)sumDy[c]);
            if (needed[0]) grads[0] = InputGradient(x, dy, layout, gamma, meanF, inv, sumDy, sumDyXmu, training, sync, total);
            return grads;
        });
        return y;
    }

    private static Tensor InputGradient(Tensor x, Tensor dy, ChannelLayout layout, Tensor? gamma, float[] meanF, double[] inv,
        double[] sumDy, double[] sumDyXmu, bool training, ReplicaContext? sync, long total)
    {
        int C = layout.Channels;
        var a = new float[C];
        var k = new float[C];
        var b = new float[C];
        if (training && sync is { IsDistributed: true })
        {
            var buffer = new double[2 * C];
            sumDy.CopyTo(buffer, 0);
            sumDyXmu.CopyTo(buffer, C);
            sync.AllReduceInPlace(ReduceOp.Sum, buffer, "SyncBatchNormalization gradient", $"{C} channels");
            sumDy = buffer[..C];
            sumDyXmu = buffer[C..];
        }
        double count = training ? Math.Max(total, 1) : 1;
        for (int c = 0; c < C; c++)
        {
            double g = (gamma?.Data[c] ?? 1f) * inv[c];
            a[c] = (float)g;
            if (training)
            {
                k[c] = (float)(-g * inv[c] * inv[c] * sumDyXmu[c] / count);
                b[c] = (float)(-g * sumDy[c] / count);
            }
        }
        var dx = Tensor.Uninitialized(x.ShapeArray);
        BatchNormKernels.Affine(x.Data, dy.Data, layout, meanF, k, b, a, dx.Data);
        return dx;
    }
}
