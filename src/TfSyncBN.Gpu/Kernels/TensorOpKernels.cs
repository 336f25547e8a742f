using ILGPU;
using ILGPU.Algorithms;

namespace TfSyncBN.Gpu.Kernels;

/// <summary>
/// The kernels of the tensor ops behind <c>Tensor</c> that <see cref="ElementwiseKernels"/>, <see cref="LossKernels"/>
/// and <see cref="ConvKernels"/> do not cover: scalar operands, ReLU with NaN propagation, softmax along any axis,
/// arg-max, equality counts and the Keras dropout mask. Each thread writes its own outputs; no atomics.
/// </summary>
internal static class TensorOpKernels
{
    /// <summary><c>y = op(x, s)</c>, or <c>op(s, x)</c> when <paramref name="scalarFirst"/> is 1; op 0..5 = add, subtract, multiply, divide, maximum, minimum (as <see cref="ElementwiseKernels"/>).</summary>
    public static void BinaryScalar(Index1D i, ArrayView<float> x, float s, int op, int scalarFirst, ArrayView<float> y)
    {
        float a = scalarFirst == 1 ? s : x[i], b = scalarFirst == 1 ? x[i] : s;
        y[i] = op switch
        {
            0 => a + b,
            1 => a - b,
            2 => a * b,
            3 => a / b,
            4 => float.IsNaN(a) ? a : float.IsNaN(b) ? b : a > b ? a : b > a ? b : a == 0f ? a + b : a,
            _ => float.IsNaN(a) ? a : float.IsNaN(b) ? b : a < b ? a : b < a ? b : a == 0f ? -(-a - b) : a,
        };
    }

    /// <summary><c>y[i] = source[0]</c>.</summary>
    public static void BroadcastScalar(Index1D i, ArrayView<float> source, ArrayView<float> y) => y[i] = source[0];

    /// <summary><c>y = max(x, 0)</c> with NaN propagated and −0 mapped to +0 (as <c>TensorPrimitives.Max(x, 0)</c>).</summary>
    public static void Relu(Index1D i, ArrayView<float> x, ArrayView<float> y)
    {
        float v = x[i];
        y[i] = v > 0f || float.IsNaN(v) ? v : 0f;
    }

    /// <summary>
    /// Softmax (log = 0) or log-softmax (log = 1) of x viewed as [outer, len, inner] along the middle axis, one thread per
    /// (outer, inner) lane: m = the maximum, s = Σ exp(x − m) in increasing index, then <c>exp(x − m)/s</c> or <c>x − m − log s</c>.
    /// </summary>
    public static void Softmax(Index1D lane, ArrayView<float> x, ArrayView<float> y, int len, int inner, int log)
    {
        int o = lane / inner, j = lane - o * inner;
        long at = (long)o * len * inner + j;
        float m = x[at];
        for (int r = 1; r < len; r++) m = XMath.Max(m, x[at + (long)r * inner]);
        float s = 0f;
        for (int r = 0; r < len; r++) s += XMath.Exp(x[at + (long)r * inner] - m);
        if (log == 1)
        {
            float lse = XMath.Log(s);
            for (int r = 0; r < len; r++) y[at + (long)r * inner] = x[at + (long)r * inner] - m - lse;
        }
        else
        {
            for (int r = 0; r < len; r++) y[at + (long)r * inner] = XMath.Exp(x[at + (long)r * inner] - m) / s;
        }
    }

    /// <summary>The softmax gradient per lane: <c>dx = y·(dy − Σ dy·y)</c>, or for log-softmax <c>dx = dy − exp(y)·Σ dy</c>.</summary>
    public static void SoftmaxBackward(Index1D lane, ArrayView<float> y, ArrayView<float> dy, ArrayView<float> dx, int len, int inner, int log)
    {
        int o = lane / inner, j = lane - o * inner;
        long at = (long)o * len * inner + j;
        float s = 0f;
        for (int r = 0; r < len; r++)
        {
            long p = at + (long)r * inner;
            s += log == 1 ? dy[p] : dy[p] * y[p];
        }
        for (int r = 0; r < len; r++)
        {
            long p = at + (long)r * inner;
            dx[p] = log == 1 ? dy[p] - XMath.Exp(y[p]) * s : (dy[p] - s) * y[p];
        }
    }

    /// <summary><c>y[r]</c> = the index of the first maximum of row r of x [rows, classes]; the first NaN wins.</summary>
    public static void ArgMax(Index1D r, ArrayView<float> x, int classes, ArrayView<float> y)
    {
        long at = (long)r.X * classes;
        int best = 0;
        float m = x[at];
        if (!float.IsNaN(m))
        {
            for (int j = 1; j < classes; j++)
            {
                float v = x[at + j];
                if (float.IsNaN(v))
                {
                    best = j;
                    break;
                }
                if (v > m)
                {
                    m = v;
                    best = j;
                }
            }
        }
        y[r] = best;
    }

    /// <summary><c>y[i] = a[i] == b[i] ? 1 : 0</c> (NaN equals nothing).</summary>
    public static void EqualIndicator(Index1D i, ArrayView<float> a, ArrayView<float> b, ArrayView<float> y) => y[i] = a[i] == b[i] ? 1f : 0f;

    /// <summary><c>y[i] = (int)x[i]</c> (class ids stored as floats).</summary>
    public static void ToInt(Index1D i, ArrayView<float> x, ArrayView<int> y) => y[i] = (int)x[i];

    /// <summary>
    /// The Keras <c>Dropout</c> mask, one thread per block of four elements: the words of Philox4x32-10 at counter
    /// (block, call low, call high, replica) with key (k0, k1); element 4·block + j gets <paramref name="scale"/> when word j ≥
    /// <paramref name="threshold"/>, else 0.
    /// </summary>
    public static void DropoutMask(Index1D block, ArrayView<float> mask, uint call0, uint call1, uint replica, uint k0, uint k1, uint threshold, float scale)
    {
        uint c0 = (uint)block.X, c1 = call0, c2 = call1, c3 = replica;
        for (int round = 0; round < 10; round++)
        {
            if (round > 0)
            {
                k0 += 0x9E3779B9u;
                k1 += 0xBB67AE85u;
            }
            ulong p0 = 0xD2511F53ul * c0, p1 = 0xCD9E8D57ul * c2;
            uint n0 = (uint)(p1 >> 32) ^ c1 ^ k0, n2 = (uint)(p0 >> 32) ^ c3 ^ k1;
            c1 = (uint)p1;
            c3 = (uint)p0;
            c0 = n0;
            c2 = n2;
        }
        long at = 4L * block.X;
        long n = mask.Length - at;
        if (n > 0) mask[at] = c0 >= threshold ? scale : 0f;
        if (n > 1) mask[at + 1] = c1 >= threshold ? scale : 0f;
        if (n > 2) mask[at + 2] = c2 >= threshold ? scale : 0f;
        if (n > 3) mask[at + 3] = c3 >= threshold ? scale : 0f;
    }
}
