using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace TfSyncBN.Tensors.Kernels;

/// <summary>A tensor viewed as [Outer, Channels, Inner]: NHWC is [N·H·W, C, 1], NCHW is [N, C, H·W].</summary>
internal readonly record struct ChannelLayout(int Outer, int Channels, int Inner)
{
    /// <summary>Elements per channel.</summary>
    public long Count => (long)Outer * Inner;
}

/// <summary>
/// The batch-normalization kernels: one pass for per-channel sums, one pass for the per-channel affine map.
/// Sums are accumulated in float32 vector lanes and flushed to float64 every <see cref="FlushEvery"/> vectors, which
/// bounds float32 rounding to short runs; the rest of the arithmetic on statistics is float64.
/// </summary>
internal static class BatchNormKernels
{
    private const int FlushEvery = 256;

    /// <summary>
    /// For each channel c: <c>s1[c] += Σ (u − a[c])</c> and <c>s2[c] += Σ (u − a[c])·(v − b[c])</c> over the channel's elements.
    /// </summary>
    /// <remarks>
    /// Moments use u = v = x with a = b = a per-channel shift (shifted-data variance, stable when |mean| ≫ std);
    /// the backward pass uses u = dy, a = 0, v = x, b = mean.
    /// </remarks>
    public static void PairSums(ReadOnlySpan<float> u, ReadOnlySpan<float> v, ChannelLayout layout,
        ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<double> s1, Span<double> s2)
    {
        if (Vector512.IsHardwareAccelerated) PairSums<V512>(u, v, layout, a, b, s1, s2);
        else if (Vector256.IsHardwareAccelerated) PairSums<V256>(u, v, layout, a, b, s1, s2);
        else PairSums<V128>(u, v, layout, a, b, s1, s2);
    }

    /// <summary>
    /// <c>y = (x − m[c])·s[c] + o[c]</c>, plus <c>g·k[c]</c> when <paramref name="g"/> is not empty; the forward
    /// normalization and the input gradient are both this map.
    /// </summary>
    public static void Affine(ReadOnlySpan<float> x, ReadOnlySpan<float> g, ChannelLayout layout,
        ReadOnlySpan<float> m, ReadOnlySpan<float> s, ReadOnlySpan<float> o, ReadOnlySpan<float> k, Span<float> y)
    {
        if (g.IsEmpty) Affine<NoGradient>(x, g, layout, m, s, o, k, y);
        else Affine<WithGradient>(x, g, layout, m, s, o, k, y);
    }

    // Compile-time switches: the JIT removes the untaken branch from each instantiation's inner loop.
    private interface IFlag { static abstract bool On { get; } }
    private readonly struct NoGradient : IFlag { public static bool On => false; }
    private readonly struct WithGradient : IFlag { public static bool On => true; }

    private static void Affine<TG>(ReadOnlySpan<float> x, ReadOnlySpan<float> g, ChannelLayout layout,
        ReadOnlySpan<float> m, ReadOnlySpan<float> s, ReadOnlySpan<float> o, ReadOnlySpan<float> k, Span<float> y) where TG : struct, IFlag
    {
        if (Vector512.IsHardwareAccelerated) Affine<V512, TG>(x, g, layout, m, s, o, k, y);
        else if (Vector256.IsHardwareAccelerated) Affine<V256, TG>(x, g, layout, m, s, o, k, y);
        else Affine<V128, TG>(x, g, layout, m, s, o, k, y);
    }

    private static void PairSums<TV>(ReadOnlySpan<float> u, ReadOnlySpan<float> v, ChannelLayout L,
        ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<double> s1, Span<double> s2) where TV : struct, IVec<TV>
    {
        int W = TV.Count, C = L.Channels;
        ref float ur = ref MemoryMarshal.GetReference(u);
        ref float vr = ref MemoryMarshal.GetReference(v);
        Span<double> lanes1 = stackalloc double[W], lanes2 = stackalloc double[W];
        if (L.Inner == 1)
        {
            // Channels last: each vector of channels keeps its accumulators in registers across all rows.
            int c = 0;
            for (; c + W <= C; c += W)
            {
                TV a0 = TV.Load(ref Unsafe.AsRef(in a[c])), b0 = TV.Load(ref Unsafe.AsRef(in b[c]));
                lanes1.Clear();
                lanes2.Clear();
                TV acc1 = TV.Splat(0), acc2 = TV.Splat(0);
                for (int r = 0, run = 0; r < L.Outer; r++)
                {
                    nint at = (nint)r * C + c;
                    TV du = TV.Subtract(TV.Load(ref Unsafe.Add(ref ur, at)), a0);
                    TV dv = TV.Subtract(TV.Load(ref Unsafe.Add(ref vr, at)), b0);
                    acc1 = TV.Add(acc1, du);
                    acc2 = TV.MultiplyAdd(du, dv, acc2);
                    if (++run == FlushEvery)
                    {
                        Flush(ref acc1, ref acc2, lanes1, lanes2);
                        run = 0;
                    }
                }
                Flush(ref acc1, ref acc2, lanes1, lanes2);
                for (int i = 0; i < W; i++)
                {
                    s1[c + i] += lanes1[i];
                    s2[c + i] += lanes2[i];
                }
            }
            for (; c < C; c++)
            {
                double t1 = 0, t2 = 0;
                for (int r = 0; r < L.Outer; r++)
                {
                    nint at = (nint)r * C + c;
                    double du = Unsafe.Add(ref ur, at) - a[c], dv = Unsafe.Add(ref vr, at) - b[c];
                    t1 += du;
                    t2 += du * dv;
                }
                s1[c] += t1;
                s2[c] += t2;
            }
            return;
        }

        // Channels first: each (outer, channel) pair owns a contiguous run of Inner elements.
        int n = L.Inner;
        for (int o = 0; o < L.Outer; o++)
        {
            for (int c = 0; c < C; c++)
            {
                nint start = ((nint)o * C + c) * n;
                float ac = a[c], bc = b[c];
                TV av = TV.Splat(ac), bv = TV.Splat(bc), acc1 = TV.Splat(0), acc2 = TV.Splat(0);
                lanes1.Clear();
                lanes2.Clear();
                int i = 0;
                for (int run = 0; i + W <= n; i += W)
                {
                    TV du = TV.Subtract(TV.Load(ref Unsafe.Add(ref ur, start + i)), av);
                    TV dv = TV.Subtract(TV.Load(ref Unsafe.Add(ref vr, start + i)), bv);
                    acc1 = TV.Add(acc1, du);
                    acc2 = TV.MultiplyAdd(du, dv, acc2);
                    if (++run == FlushEvery)
                    {
                        Flush(ref acc1, ref acc2, lanes1, lanes2);
                        run = 0;
                    }
                }
                Flush(ref acc1, ref acc2, lanes1, lanes2);
                double t1 = 0, t2 = 0;
                for (int j = 0; j < W; j++)
                {
                    t1 += lanes1[j];
                    t2 += lanes2[j];
                }
                for (; i < n; i++)
                {
                    double du = Unsafe.Add(ref ur, start + i) - ac, dv = Unsafe.Add(ref vr, start + i) - bc;
                    t1 += du;
                    t2 += du * dv;
                }
                s1[c] += t1;
                s2[c] += t2;
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Flush<TV>(ref TV acc1, ref TV acc2, Span<double> lanes1, Span<double> lanes2) where TV : struct, IVec<TV>
    {
        TV.AccumulateInto(acc1, lanes1);
        TV.AccumulateInto(acc2, lanes2);
        acc1 = TV.Splat(0);
        acc2 = TV.Splat(0);
    }

    private static void Affine<TV, TG>(ReadOnlySpan<float> x, ReadOnlySpan<float> g, ChannelLayout L,
        ReadOnlySpan<float> m, ReadOnlySpan<float> s, ReadOnlySpan<float> o, ReadOnlySpan<float> k, Span<float> y)
        where TV : struct, IVec<TV> where TG : struct, IFlag
    {
        int W = TV.Count, C = L.Channels;
        ref float xr = ref MemoryMarshal.GetReference(x);
        ref float gr = ref MemoryMarshal.GetReference(g);
        ref float yr = ref MemoryMarshal.GetReference(y);
        if (L.Inner == 1)
        {
            ref float mr = ref MemoryMarshal.GetReference(m);
            ref float sr = ref MemoryMarshal.GetReference(s);
            ref float or = ref MemoryMarshal.GetReference(o);
            ref float kr = ref MemoryMarshal.GetReference(k);
            for (int r = 0; r < L.Outer; r++)
            {
                nint row = (nint)r * C;
                int c = 0;
                for (; c + W <= C; c += W)
                {
                    TV t = TV.MultiplyAdd(TV.Subtract(TV.Load(ref Unsafe.Add(ref xr, row + c)), TV.Load(ref Unsafe.Add(ref mr, c))),
                        TV.Load(ref Unsafe.Add(ref sr, c)), TV.Load(ref Unsafe.Add(ref or, c)));
                    if (TG.On) t = TV.MultiplyAdd(TV.Load(ref Unsafe.Add(ref gr, row + c)), TV.Load(ref Unsafe.Add(ref kr, c)), t);
                    TV.Store(t, ref Unsafe.Add(ref yr, row + c));
                }
                for (; c < C; c++)
                {
                    float t = MathF.FusedMultiplyAdd(Unsafe.Add(ref xr, row + c) - m[c], s[c], o[c]);
                    if (TG.On) t = MathF.FusedMultiplyAdd(Unsafe.Add(ref gr, row + c), k[c], t);
                    Unsafe.Add(ref yr, row + c) = t;
                }
            }
            return;
        }

        int n = L.Inner;
        for (int q = 0; q < L.Outer; q++)
        {
            for (int c = 0; c < C; c++)
            {
                nint start = ((nint)q * C + c) * n;
                float kc = TG.On ? k[c] : 0f;
                TV mv = TV.Splat(m[c]), sv = TV.Splat(s[c]), ov = TV.Splat(o[c]), kv = TV.Splat(kc);
                int i = 0;
                for (; i + W <= n; i += W)
                {
                    TV t = TV.MultiplyAdd(TV.Subtract(TV.Load(ref Unsafe.Add(ref xr, start + i)), mv), sv, ov);
                    if (TG.On) t = TV.MultiplyAdd(TV.Load(ref Unsafe.Add(ref gr, start + i)), kv, t);
                    TV.Store(t, ref Unsafe.Add(ref yr, start + i));
                }
                for (; i < n; i++)
                {
                    float t = MathF.FusedMultiplyAdd(Unsafe.Add(ref xr, start + i) - m[c], s[c], o[c]);
                    if (TG.On) t = MathF.FusedMultiplyAdd(Unsafe.Add(ref gr, start + i), kc, t);
                    Unsafe.Add(ref yr, start + i) = t;
                }
            }
        }
    }
}
