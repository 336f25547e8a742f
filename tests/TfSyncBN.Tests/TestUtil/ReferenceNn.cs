namespace TfSyncBN.Tests.TestUtil;

/// <summary>Naive float64 loops for the neural-network ops: the independent reference of the op and layer tests.</summary>
public static class ReferenceNn
{
    /// <summary>op(A)·op(B) with op(X) = X or Xᵀ; a is [m,k] (or [k,m]), b is [k,n] (or [n,k]).</summary>
    public static double[] MatMul(float[] a, float[] b, int m, int n, int k, bool transA, bool transB)
    {
        var y = new double[m * n];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double s = 0;
                for (int p = 0; p < k; p++)
                    s += (double)(transA ? a[p * m + i] : a[i * k + p]) * (transB ? b[j * k + p] : b[p * n + j]);
                y[i * n + j] = s;
            }
        return y;
    }

    /// <summary>(OH, OW, padTop, padLeft) by TensorFlow's rule.</summary>
    public static (int OH, int OW, int PadTop, int PadLeft) Geometry(int h, int w, int kh, int kw, int sh, int sw, bool same)
    {
        if (!same) return ((h - kh) / sh + 1, (w - kw) / sw + 1, 0, 0);
        int oh = (int)Math.Ceiling(h / (double)sh), ow = (int)Math.Ceiling(w / (double)sw);
        int ph = Math.Max((oh - 1) * sh + kh - h, 0), pw = Math.Max((ow - 1) * sw + kw - w, 0);
        return (oh, ow, ph / 2, pw / 2);
    }

    /// <summary>NHWC convolution with an [KH, KW, C, F] kernel, zero padding.</summary>
    public static double[] Conv2D(float[] x, int n, int h, int w, int c, float[] k, int kh, int kw, int f, int sh, int sw, bool same, out int[] shape)
    {
        var (oh, ow, pt, pl) = Geometry(h, w, kh, kw, sh, sw, same);
        shape = [n, oh, ow, f];
        var y = new double[n * oh * ow * f];
        for (int b = 0; b < n; b++)
            for (int oy = 0; oy < oh; oy++)
                for (int ox = 0; ox < ow; ox++)
                    for (int o = 0; o < f; o++)
                    {
                        double s = 0;
                        for (int ky = 0; ky < kh; ky++)
                            for (int kx = 0; kx < kw; kx++)
                            {
                                int iy = oy * sh - pt + ky, ix = ox * sw - pl + kx;
                                if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
                                for (int ci = 0; ci < c; ci++)
                                    s += (double)x[((b * h + iy) * w + ix) * c + ci] * k[((ky * kw + kx) * c + ci) * f + o];
                            }
                        y[((b * oh + oy) * ow + ox) * f + o] = s;
                    }
        return y;
    }

    /// <summary>NHWC max pooling; padded positions never win.</summary>
    public static double[] MaxPool(float[] x, int n, int h, int w, int c, int ph, int pw, int sh, int sw, bool same, out int[] shape)
    {
        var (oh, ow, pt, pl) = Geometry(h, w, ph, pw, sh, sw, same);
        shape = [n, oh, ow, c];
        var y = new double[n * oh * ow * c];
        for (int b = 0; b < n; b++)
            for (int oy = 0; oy < oh; oy++)
                for (int ox = 0; ox < ow; ox++)
                    for (int ci = 0; ci < c; ci++)
                    {
                        double m = double.NegativeInfinity;
                        for (int ky = 0; ky < ph; ky++)
                            for (int kx = 0; kx < pw; kx++)
                            {
                                int iy = oy * sh - pt + ky, ix = ox * sw - pl + kx;
                                if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
                                m = Math.Max(m, x[((b * h + iy) * w + ix) * c + ci]);
                            }
                        y[((b * oh + oy) * ow + ox) * c + ci] = m;
                    }
        return y;
    }

    /// <summary>Softmax (or log-softmax) of x viewed as [outer, len, inner] along the middle axis, in float64.</summary>
    public static double[] Softmax(float[] x, int outer, int len, int inner, bool log)
    {
        var y = new double[x.Length];
        for (int o = 0; o < outer; o++)
            for (int i = 0; i < inner; i++)
            {
                double m = double.NegativeInfinity;
                for (int r = 0; r < len; r++) m = Math.Max(m, x[(o * len + r) * inner + i]);
                double s = 0;
                for (int r = 0; r < len; r++) s += Math.Exp(x[(o * len + r) * inner + i] - m);
                for (int r = 0; r < len; r++)
                {
                    double z = x[(o * len + r) * inner + i] - m;
                    y[(o * len + r) * inner + i] = log ? z - Math.Log(s) : Math.Exp(z) / s;
                }
            }
        return y;
    }

    /// <summary>Distinct values spaced by at least <paramref name="gap"/>, in random order (no ties for max pooling).</summary>
    public static float[] Distinct(Random rng, int count, float gap = 0.05f)
    {
        var v = Enumerable.Range(0, count).Select(i => (float)((i - count / 2) * gap)).ToArray();
        rng.Shuffle(v);
        return v;
    }
}
