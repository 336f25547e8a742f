using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace TfSyncBN.Tensors.Kernels;

/// <summary>Fused kernels of the activations and of the bias add: forward maps and their exact backward maps.</summary>
internal static class NnKernels
{
    /// <summary><c>dx = x &gt; 0 ? dy : 0</c> (the ReLU gradient, 0 at x = 0 as in TensorFlow).</summary>
    public static void ReluBackward(ReadOnlySpan<float> x, ReadOnlySpan<float> dy, Span<float> dx)
    {
        int i = 0, w = Vector<float>.Count;
        ref float xr = ref MemoryMarshal.GetReference(x);
        ref float gr = ref MemoryMarshal.GetReference(dy);
        ref float dr = ref MemoryMarshal.GetReference(dx);
        for (; i + w <= x.Length; i += w)
        {
            var xv = Vector.LoadUnsafe(ref xr, (nuint)i);
            var gv = Vector.LoadUnsafe(ref gr, (nuint)i);
            Vector.ConditionalSelect(Vector.GreaterThan(xv, Vector<float>.Zero), gv, Vector<float>.Zero).StoreUnsafe(ref dr, (nuint)i);
        }
        for (; i < x.Length; i++) dx[i] = x[i] > 0 ? dy[i] : 0f;
    }

    /// <summary><c>dx = dy·y·(1 − y)</c>, the sigmoid gradient from its output y.</summary>
    public static void SigmoidBackward(ReadOnlySpan<float> y, ReadOnlySpan<float> dy, Span<float> dx)
    {
        int i = 0, w = Vector<float>.Count;
        ref float yr = ref MemoryMarshal.GetReference(y);
        ref float gr = ref MemoryMarshal.GetReference(dy);
        ref float dr = ref MemoryMarshal.GetReference(dx);
        for (; i + w <= y.Length; i += w)
        {
            var yv = Vector.LoadUnsafe(ref yr, (nuint)i);
            (Vector.LoadUnsafe(ref gr, (nuint)i) * yv * (Vector<float>.One - yv)).StoreUnsafe(ref dr, (nuint)i);
        }
        for (; i < y.Length; i++) dx[i] = dy[i] * y[i] * (1f - y[i]);
    }

    /// <summary><c>dx = dy·(1 − y²)</c>, the tanh gradient from its output y.</summary>
    public static void TanhBackward(ReadOnlySpan<float> y, ReadOnlySpan<float> dy, Span<float> dx)
    {
        int i = 0, w = Vector<float>.Count;
        ref float yr = ref MemoryMarshal.GetReference(y);
        ref float gr = ref MemoryMarshal.GetReference(dy);
        ref float dr = ref MemoryMarshal.GetReference(dx);
        for (; i + w <= y.Length; i += w)
        {
            var yv = Vector.LoadUnsafe(ref yr, (nuint)i);
            (Vector.LoadUnsafe(ref gr, (nuint)i) * (Vector<float>.One - yv * yv)).StoreUnsafe(ref dr, (nuint)i);
        }
        for (; i < y.Length; i++) dx[i] = dy[i] * (1f - y[i] * y[i]);
    }

    /// <summary>
    /// Softmax (or log-softmax) along the middle axis of x viewed as [outer, len, inner]:
    /// <c>y = exp(x − m) / Σ exp(x − m)</c> or <c>y = x − m − log Σ exp(x − m)</c>, with m the maximum along the axis
    /// (so the largest exponent is 0 and nothing overflows).
    /// </summary>
    public static void Softmax(ReadOnlySpan<float> x, Span<float> y, int outer, int len, int inner, bool log)
    {
        if (len == 0) return;
        if (inner == 1)
        {
            for (int o = 0; o < outer; o++)
            {
                var xs = x.Slice(o * len, len);
                var ys = y.Slice(o * len, len);
                float max = TensorPrimitives.Max(xs);
                TensorPrimitives.Subtract(xs, max, ys);
                if (log)
                {
                    float lse = MathF.Log(SumExp(ys));
                    TensorPrimitives.Subtract(ys, lse, ys);
                }
                else
                {
                    TensorPrimitives.Exp(ys, ys);
                    TensorPrimitives.Divide(ys, TensorPrimitives.Sum(ys), ys);
                }
            }
            return;
        }
        // Strided axis: work on whole rows of `inner` lanes, with per-lane max and sum in scratch rows.
        float[] scratch = new float[3 * inner];
        var m = scratch.AsSpan(0, inner);
        var s = scratch.AsSpan(inner, inner);
        var e = scratch.AsSpan(2 * inner, inner);
        for (int o = 0; o < outer; o++)
        {
            var xs = x.Slice(o * len * inner, len * inner);
            var ys = y.Slice(o * len * inner, len * inner);
            xs[..inner].CopyTo(m);
            for (int r = 1; r < len; r++) TensorPrimitives.Max(m, xs.Slice(r * inner, inner), m);
            s.Clear();
            for (int r = 0; r < len; r++)
            {
                var yr = ys.Slice(r * inner, inner);
                TensorPrimitives.Subtract(xs.Slice(r * inner, inner), m, yr);
                if (log)
                {
                    TensorPrimitives.Exp(yr, e);
                    TensorPrimitives.Add(s, e, s);
                }
                else
                {
                    TensorPrimitives.Exp(yr, yr);
                    TensorPrimitives.Add(s, yr, s);
                }
            }
            if (log) TensorPrimitives.Log(s, s);
            for (int r = 0; r < len; r++)
            {
                var yr = ys.Slice(r * inner, inner);
                if (log) TensorPrimitives.Subtract(yr, s, yr);
                else TensorPrimitives.Divide(yr, s, yr);
            }
        }
    }

    private static float SumExp(ReadOnlySpan<float> shifted)
    {
        // Σ exp over a row without a scratch buffer: chunks on the stack.
        Span<float> buf = stackalloc float[256];
        float sum = 0;
        for (int i = 0; i < shifted.Length; i += buf.Length)
        {
            int n = Math.Min(buf.Length, shifted.Length - i);
            TensorPrimitives.Exp(shifted.Slice(i, n), buf[..n]);
            sum += TensorPrimitives.Sum(buf[..n]);
        }
        return sum;
    }

    /// <summary>
    /// The softmax gradient <c>dx = y·(dy − Σ dy·y)</c>, or the log-softmax gradient <c>dx = dy − exp(y)·Σ dy</c>,
    /// the sums running along the middle axis of [outer, len, inner].
    /// </summary>
    public static void SoftmaxBackward(ReadOnlySpan<float> y, ReadOnlySpan<float> dy, Span<float> dx, int outer, int len, int inner, bool log)
    {
        if (len == 0) return;
        if (inner == 1)
        {
            for (int o = 0; o < outer; o++)
            {
                var ys = y.Slice(o * len, len);
                var gs = dy.Slice(o * len, len);
                var ds = dx.Slice(o * len, len);
                if (log)
                {
                    float total = TensorPrimitives.Sum(gs);
                    TensorPrimitives.Exp(ys, ds);
                    TensorPrimitives.MultiplyAdd(ds, -total, gs, ds);
                }
                else
                {
                    float dot = TensorPrimitives.Dot(gs, ys);
                    TensorPrimitives.Subtract(gs, dot, ds);
                    TensorPrimitives.Multiply(ds, ys, ds);
                }
            }
            return;
        }
        float[] scratch = new float[inner];
        var s = scratch.AsSpan();
        for (int o = 0; o < outer; o++)
        {
            int baseAt = o * len * inner;
            s.Clear();
            for (int r = 0; r < len; r++)
            {
                var g = dy.Slice(baseAt + r * inner, inner);
                if (log) TensorPrimitives.Add(s, g, s);
                else TensorPrimitives.MultiplyAdd(g, y.Slice(baseAt + r * inner, inner), s, s);
            }
            for (int r = 0; r < len; r++)
            {
                var yr = y.Slice(baseAt + r * inner, inner);
                var g = dy.Slice(baseAt + r * inner, inner);
                var d = dx.Slice(baseAt + r * inner, inner);
                if (log)
                {
                    TensorPrimitives.Exp(yr, d);
                    TensorPrimitives.Multiply(d, s, d);
                    TensorPrimitives.Subtract(g, d, d);
                }
                else
                {
                    TensorPrimitives.Subtract(g, s, d);
                    TensorPrimitives.Multiply(d, yr, d);
                }
            }
        }
    }

    /// <summary><c>y[r, c] = x[r, c] + bias[c]</c> for every row r of x viewed as [rows, C].</summary>
    public static void BiasAdd(ReadOnlySpan<float> x, ReadOnlySpan<float> bias, Span<float> y)
    {
        int c = bias.Length;
        for (int at = 0; at < x.Length; at += c) TensorPrimitives.Add(x.Slice(at, c), bias, y.Slice(at, c));
    }

    /// <summary><c>db[c] = Σ_r dy[r, c]</c>: column sums of dy viewed as [rows, C].</summary>
    public static void ColumnSums(ReadOnlySpan<float> dy, Span<float> db)
    {
        db.Clear();
        int c = db.Length;
        for (int at = 0; at < dy.Length; at += c) TensorPrimitives.Add(db, dy.Slice(at, c), db);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static float[] Rent(int size) => System.Buffers.ArrayPool<float>.Shared.Rent(Math.Max(size, 1));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Return(float[] buffer) => System.Buffers.ArrayPool<float>.Shared.Return(buffer);
}
