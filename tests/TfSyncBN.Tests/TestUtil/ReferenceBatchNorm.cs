namespace TfSyncBN.Tests.TestUtil;

/// <summary>
/// Batch normalization in float64 by naive index loops, written independently of the library (textbook formulas):
/// the oracle for the layer tests.
/// </summary>
public static class ReferenceBatchNorm
{
    public sealed record Result(double[] Y, double[] Mean, double[] Variance, double[] Dx, double[] DGamma, double[] DBeta);

    /// <summary>The channel of every flat element: the row-major index over the channel axes.</summary>
    public static int[] ChannelOf(int[] shape, int[] axes, out int channels)
    {
        int size = shape.Aggregate(1, (a, b) => a * b);
        channels = axes.Aggregate(1, (a, ax) => a * shape[ax]);
        var result = new int[size];
        var idx = new int[shape.Length];
        for (int e = 0; e < size; e++)
        {
            int rem = e;
            for (int d = shape.Length - 1; d >= 0; d--)
            {
                idx[d] = rem % shape[d];
                rem /= shape[d];
            }
            int c = 0;
            foreach (int ax in axes) c = c * shape[ax] + idx[ax];
            result[e] = c;
        }
        return result;
    }

    /// <summary>Training-mode batch norm with biased variance over the whole batch, and its gradients for upstream <paramref name="dy"/>.</summary>
    public static Result Training(float[] x, int[] shape, int[] axes, float[]? gamma, float[]? beta, double epsilon, float[]? dy = null, bool[]? keep = null)
    {
        var ch = ChannelOf(shape, axes, out int C);
        int rows = ch.Length / C;
        var count = new double[C];
        var mean = new double[C];
        var variance = new double[C];
        // keep[] is per element here (already expanded over channels by the caller when masking).
        for (int e = 0; e < x.Length; e++) if (keep?[e] ?? true) { mean[ch[e]] += x[e]; count[ch[e]]++; }
        for (int c = 0; c < C; c++) mean[c] = count[c] > 0 ? mean[c] / count[c] : 0;
        for (int e = 0; e < x.Length; e++) if (keep?[e] ?? true) variance[ch[e]] += (x[e] - mean[ch[e]]) * (x[e] - mean[ch[e]]);
        for (int c = 0; c < C; c++) variance[c] = count[c] > 0 ? variance[c] / count[c] : 0;

        var y = new double[x.Length];
        var xhat = new double[x.Length];
        for (int e = 0; e < x.Length; e++)
        {
            int c = ch[e];
            xhat[e] = (x[e] - mean[c]) / Math.Sqrt(variance[c] + epsilon);
            y[e] = (gamma?[c] ?? 1) * xhat[e] + (beta?[c] ?? 0);
        }

        var dx = new double[x.Length];
        var dgamma = new double[C];
        var dbeta = new double[C];
        if (dy is not null)
        {
            // Textbook form: dx = γ/σ · (dy − mean(dy) − x̂·mean(dy·x̂)), means over the kept elements of the channel.
            var mdy = new double[C];
            var mdyx = new double[C];
            for (int e = 0; e < x.Length; e++)
            {
                dgamma[ch[e]] += dy[e] * xhat[e];
                dbeta[ch[e]] += dy[e];
                mdy[ch[e]] += dy[e];
                mdyx[ch[e]] += dy[e] * xhat[e];
            }
            for (int e = 0; e < x.Length; e++)
            {
                int c = ch[e];
                double inv = 1 / Math.Sqrt(variance[c] + epsilon);
                bool k = keep?[e] ?? true;
                dx[e] = (gamma?[c] ?? 1) * inv * (dy[e] - (k ? mdy[c] / count[c] + xhat[e] * mdyx[c] / count[c] : 0));
            }
        }
        _ = rows;
        return new Result(y, mean, variance, dx, dgamma, dbeta);
    }
}
