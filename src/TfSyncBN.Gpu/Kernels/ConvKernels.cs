using ILGPU;

namespace TfSyncBN.Gpu.Kernels;

/// <summary>im2col/col2im for convolution as a matrix product, and 2-D max pooling; gathers only (no scatter, no atomics).</summary>
internal static class ConvKernels
{
    /// <summary>
    /// <c>cols[r, (ky·KW + kx)·C + c] = x[n, oy·SH − PT + ky, ox·SW − PL + kx, c]</c> (0 outside the input), with
    /// r = (n·OH + oy)·OW + ox: one row per output position, one column per kernel tap and input channel.
    /// </summary>
    public static void Im2Col(Index1D i, ArrayView<float> x, WindowShape g, ArrayView<float> cols)
    {
        long index = i.X;
        int k = g.KH * g.KW * g.C;
        long r = index / k;
        int col = (int)(index - r * k);
        int c = col % g.C, tap = col / g.C;
        int kx = tap % g.KW, ky = tap / g.KW;
        int ox = (int)(r % g.OW);
        long t = r / g.OW;
        int oy = (int)(t % g.OH);
        int n = (int)(t / g.OH);
        int iy = oy * g.SH - g.PadTop + ky, ix = ox * g.SW - g.PadLeft + kx;
        cols[index] = iy >= 0 && iy < g.H && ix >= 0 && ix < g.W ? x[(((long)n * g.H + iy) * g.W + ix) * g.C + c] : 0f;
    }

    /// <summary>
    /// The adjoint of <see cref="Im2Col"/> as a gather: <c>dx[n, iy, ix, c] = Σ cols[r, (ky·KW + kx)·C + c]</c> over the
    /// taps (ky, kx) in increasing order whose output position (oy, ox) reads (iy, ix). Fixed order, one writer per element.
    /// </summary>
    public static void Col2Im(Index1D i, ArrayView<float> cols, WindowShape g, ArrayView<float> dx)
    {
        long index = i.X;
        var p = Position.Of(index, g.H, g.W, g.C);
        int n = p.N, iy = p.Y, ix = p.X, c = p.C;
        int k = g.KH * g.KW * g.C;
        float acc = 0f;
        for (int ky = 0; ky < g.KH; ky++)
        {
            int ty = iy + g.PadTop - ky;
            if (ty < 0 || ty % g.SH != 0) continue;
            int oy = ty / g.SH;
            if (oy >= g.OH) continue;
            for (int kx = 0; kx < g.KW; kx++)
            {
                int tx = ix + g.PadLeft - kx;
                if (tx < 0 || tx % g.SW != 0) continue;
                int ox = tx / g.SW;
                if (ox >= g.OW) continue;
                long r = ((long)n * g.OH + oy) * g.OW + ox;
                acc += cols[r * k + (ky * g.KW + kx) * g.C + c];
            }
        }
        dx[index] = acc;
    }

    /// <summary><c>y[n, oy, ox, c]</c> = the maximum over the window positions inside the input.</summary>
    public static void MaxPool(Index1D i, ArrayView<float> x, WindowShape g, ArrayView<float> y)
    {
        long index = i.X;
        var p = Position.Of(index, g.OH, g.OW, g.C);
        int n = p.N, oy = p.Y, ox = p.X, c = p.C;
        long at = ArgMax(x, g, n, oy, ox, c);
        y[index] = x[at];
    }

    /// <summary>
    /// The max-pooling gradient as a gather: <c>dx[n, iy, ix, c] = Σ dy[n, oy, ox, c]</c> over the windows (in increasing
    /// oy, then ox) whose first maximal position (row-major) is (iy, ix). The argmax is recomputed from x.
    /// </summary>
    public static void MaxPoolBackward(Index1D i, ArrayView<float> x, ArrayView<float> dy, WindowShape g, ArrayView<float> dx)
    {
        long index = i.X;
        var p = Position.Of(index, g.H, g.W, g.C);
        int n = p.N, iy = p.Y, ix = p.X, c = p.C;
        // Windows containing iy: oy·SH − PT ≤ iy ≤ oy·SH − PT + KH − 1.
        int oyLo = iy + g.PadTop - g.KH + 1;
        oyLo = oyLo <= 0 ? 0 : (oyLo + g.SH - 1) / g.SH;
        int oyHi = (iy + g.PadTop) / g.SH;
        if (oyHi > g.OH - 1) oyHi = g.OH - 1;
        int oxLo = ix + g.PadLeft - g.KW + 1;
        oxLo = oxLo <= 0 ? 0 : (oxLo + g.SW - 1) / g.SW;
        int oxHi = (ix + g.PadLeft) / g.SW;
        if (oxHi > g.OW - 1) oxHi = g.OW - 1;
        float acc = 0f;
        for (int oy = oyLo; oy <= oyHi; oy++)
            for (int ox = oxLo; ox <= oxHi; ox++)
                if (ArgMax(x, g, n, oy, ox, c) == index)
                    acc += dy[(((long)n * g.OH + oy) * g.OW + ox) * g.C + c];
        dx[index] = acc;
    }

    /// <summary>The flat index of the first maximal input position (row-major) of one window.</summary>
    private static long ArgMax(ArrayView<float> x, WindowShape g, int n, int oy, int ox, int c)
    {
        long best = -1;
        float max = 0f;
        for (int ky = 0; ky < g.KH; ky++)
        {
            int iy = oy * g.SH - g.PadTop + ky;
            if (iy < 0 || iy >= g.H) continue;
            for (int kx = 0; kx < g.KW; kx++)
            {
                int ix = ox * g.SW - g.PadLeft + kx;
                if (ix < 0 || ix >= g.W) continue;
                long at = (((long)n * g.H + iy) * g.W + ix) * g.C + c;
                float v = x[at];
                if (best < 0 || v > max)
                {
                    best = at;
                    max = v;
                }
            }
        }
        return best;
    }
}

/// <summary>The (n, y, x, c) coordinates of a flat NHWC index.</summary>
internal struct Position
{
    public int N, Y, X, C;

    public static Position Of(long index, int h, int w, int c)
    {
        var p = new Position { C = (int)(index % c) };
        long t = index / c;
        p.X = (int)(t % w);
        t /= w;
        p.Y = (int)(t % h);
        p.N = (int)(t / h);
        return p;
    }
}
