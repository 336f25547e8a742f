using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace TfSyncBN.Tensors.Kernels;

/// <summary>
/// The batch-normalization kernels: one pass for per-channel sums, one pass for the per-channel affine map.
/// Sums are accumulated in float32 vector lanes and flushed to float64 every <see cref="FlushEvery"/> vectors, which
/// bounds float32 rounding to short runs; the rest of the arithmetic on statistics is float64.
/// </summary>
internal static partial class BatchNormKernels
{
    private const int FlushEvery = 256;

    /// <summary>
    /// For each channel c: <c>s1[c] += Σ (u − a[c])</c> and <c>s2[c] += Σ (u − a[c])·(v − b[c])</c> over the channel's elements.
    /// </summary>
    /// <remarks>
    /// Moments use u = v = x with a = b = a per-channel shift (shifted-data variance, stable when |mean| ≫ std);
    /// the backward pass uses u = dy, a = 0, v = x, b = mean. <paramref name="threads"/> 0 takes the thread count
    /// from <see cref="KernelOptions"/>; a positive value forces that many blocks (tests). With a gate
    /// (<paramref name="gs"/> and <paramref name="go"/> not empty, the fused ReLU's backward), <c>u − a[c]</c> counts
    /// only where <c>(v − b[c])·gs[c] + go[c] &gt; 0</c> (the pre-activation of the forward <see cref="Affine"/>,
    /// recomputed bit for bit), and as 0 elsewhere.
    /// </remarks>
    public static unsafe void PairSums(ReadOnlySpan<float> u, ReadOnlySpan<float> v, ChannelLayout layout,
        ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<double> s1, Span<double> s2, int threads = 0,
        ReadOnlySpan<float> gs = default, ReadOnlySpan<float> go = default)
    {
        fixed (float* up = u, vp = v, ap = a, bp = b, gsp = gs, gop = go)
            SumBlocks(layout, threads, s1, s2, new LayoutSums(up, vp, layout, ap, bp, gs.IsEmpty ? null : gsp, gop));
    }

    /// <summary>The sums of outer rows [o0, o1), added into s1 and s2: a block of <see cref="SumBlocks"/>.</summary>
    private interface IBlockSums
    {
        void Sum(int o0, int o1, Span<double> s1, Span<double> s2);
    }

    /// <summary>A block of <see cref="PairSums"/>: its rows of u and v (gated when <paramref name="gs"/> is not null).</summary>
    private readonly unsafe struct LayoutSums(float* u, float* v, ChannelLayout layout, float* a, float* b, float* gs, float* go) : IBlockSums
    {
        public void Sum(int o0, int o1, Span<double> s1, Span<double> s2)
        {
            int C = layout.Channels;
            long perOuter = (long)C * layout.Inner, at = o0 * perOuter;
            int len = (int)((o1 - o0) * perOuter);
            bool gate = gs != null;
            PairSumsSerial(new ReadOnlySpan<float>(u + at, len), new ReadOnlySpan<float>(v + at, len), layout with { Outer = o1 - o0 },
                new ReadOnlySpan<float>(a, C), new ReadOnlySpan<float>(b, C), s1, s2,
                gate ? new ReadOnlySpan<float>(gs, C) : default, gate ? new ReadOnlySpan<float>(go, C) : default, gate);
        }
    }

    /// <summary>
    /// Runs <paramref name="block"/> on near-equal blocks of the layout's outer rows (<paramref name="threads"/> 0: as
    /// many as <see cref="KernelOptions"/> gives the size, else that many) and adds their sums into s1 and s2 in block
    /// order, so a fixed thread count gives fixed bits.
    /// </summary>
    private static void SumBlocks<TBlock>(ChannelLayout layout, int threads, Span<double> s1, Span<double> s2, TBlock block)
        where TBlock : struct, IBlockSums
    {
        int C = layout.Channels;
        long perOuter = (long)C * layout.Inner;
        int parts = threads > 0 ? Math.Max(1, Math.Min(threads, layout.Outer)) : KernelOptions.ThreadsFor(perOuter * layout.Outer, layout.Outer);
        if (parts <= 1)
        {
            block.Sum(0, layout.Outer, s1, s2);
            return;
        }
        // Each block sums into its own slot; the slots are added in block order afterwards. Slots are padded to whole
        // cache lines plus one: the channels-first path adds into its slot after every H·W run, and with few channels
        // two blocks' slots shared a line that the two threads then kept stealing from each other.
        int stride = ((2 * C + 7) / 8 + 1) * 8;
        double[] partial = ArrayPool<double>.Shared.Rent(stride * parts);
        Array.Clear(partial, 0, stride * parts);
        KernelTeam.For(parts, p =>
        {
            var (o0, o1) = Block(layout.Outer, parts, p);
            block.Sum(o0, o1, partial.AsSpan(stride * p, C), partial.AsSpan(stride * p + C, C));
        });
        for (int p = 0; p < parts; p++)
        {
            for (int c = 0; c < C; c++)
            {
                s1[c] += partial[stride * p + c];
                s2[c] += partial[stride * p + C + c];
            }
        }
        ArrayPool<double>.Shared.Return(partial);
    }

    /// <summary>
    /// <c>y = (x − m[c])·s[c] + o[c]</c>, plus <c>g·k[c]</c> when <paramref name="g"/> is not empty; the forward
    /// normalization and the input gradient are both this map. With <paramref name="relu"/> (batch norm fused with a
    /// ReLU): without g, <c>y = max((x − m[c])·s[c] + o[c], 0)</c>; with g, g counts only where the forward
    /// pre-activation <c>(x − m[c])·gs[c] + go[c]</c> is &gt; 0 (the ReLU gradient, recomputed bit for bit from x).
    /// </summary>
    /// <remarks>
    /// An output of at least <see cref="NonTemporalBytes"/> is written with non-temporal stores (unless
    /// <paramref name="nonTemporal"/> says otherwise; each 4 KiB page's first line excepted, see
    /// <see cref="StreamStore"/>): it cannot stay in cache anyway, and an ordinary store first reads each destination
    /// line from memory (read-for-ownership), a third stream on top of reading x and writing y.
    /// </remarks>
    public static unsafe void Affine(ReadOnlySpan<float> x, ReadOnlySpan<float> g, ChannelLayout layout,
        ReadOnlySpan<float> m, ReadOnlySpan<float> s, ReadOnlySpan<float> o, ReadOnlySpan<float> k, Span<float> y, int threads = 0,
        bool? nonTemporal = null, bool relu = false, ReadOnlySpan<float> gs = default, ReadOnlySpan<float> go = default)
    {
        int C = layout.Channels;
        long perOuter = (long)C * layout.Inner;
        int parts = threads > 0 ? Math.Max(1, Math.Min(threads, layout.Outer)) : KernelOptions.ThreadsFor(perOuter * layout.Outer, layout.Outer);
        bool nt = nonTemporal ?? 4L * perOuter * layout.Outer >= NonTemporalBytes;
        if (parts == 1)
        {
            // Pinned: the non-temporal stores take addresses.
            fixed (float* pin = y) AffineSerial(x, g, layout, m, s, o, k, y, nt, relu, gs, go);
            return;
        }
        bool withGradient = !g.IsEmpty;
        bool gated = relu && withGradient;
        fixed (float* xp = x, gp = g, mp = m, sp = s, op = o, kp = k, yp = y, gsp = gs, gop = go)
        {
            nint xi = (nint)xp, gi = (nint)gp, mi = (nint)mp, si = (nint)sp, oi = (nint)op, ki = (nint)kp, yi = (nint)yp, gsi = (nint)gsp, goi = (nint)gop;
            KernelTeam.For(parts, p =>
            {
                var (o0, o1) = Block(layout.Outer, parts, p);
                int len = (int)((o1 - o0) * perOuter);
                long at = o0 * perOuter;
                AffineSerial(new ReadOnlySpan<float>((float*)xi + at, len),
                    withGradient ? new ReadOnlySpan<float>((float*)gi + at, len) : default,
                    layout with { Outer = o1 - o0 }, new ReadOnlySpan<float>((float*)mi, C), new ReadOnlySpan<float>((float*)si, C),
                    new ReadOnlySpan<float>((float*)oi, C), withGradient ? new ReadOnlySpan<float>((float*)ki, C) : default,
                    new Span<float>((float*)yi + at, len), nt, relu,
                    gated ? new ReadOnlySpan<float>((float*)gsi, C) : default, gated ? new ReadOnlySpan<float>((float*)goi, C) : default);
            });
        }
    }

    /// <summary>Block <paramref name="p"/> of <paramref name="parts"/> near-equal contiguous blocks of <paramref name="n"/> rows.</summary>
    private static (int Start, int End) Block(int n, int parts, int p) => ((int)((long)n * p / parts), (int)((long)n * (p + 1) / parts));

    private static void PairSumsSerial(ReadOnlySpan<float> u, ReadOnlySpan<float> v, ChannelLayout layout,
        ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<double> s1, Span<double> s2, ReadOnlySpan<float> gs, ReadOnlySpan<float> go, bool gate)
    {
        if (gate) PairSumsSerial<Yes>(u, v, layout, a, b, s1, s2, gs, go);
        else PairSumsSerial<No>(u, v, layout, a, b, s1, s2, gs, go);
    }

    private static void PairSumsSerial<TR>(ReadOnlySpan<float> u, ReadOnlySpan<float> v, ChannelLayout layout,
        ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<double> s1, Span<double> s2, ReadOnlySpan<float> gs, ReadOnlySpan<float> go)
        where TR : struct, IFlag
    {
        if (Vector512.IsHardwareAccelerated) PairSums<V512, TR>(u, v, layout, a, b, s1, s2, gs, go);
        else if (Vector256.IsHardwareAccelerated) PairSums<V256, TR>(u, v, layout, a, b, s1, s2, gs, go);
        else PairSums<V128, TR>(u, v, layout, a, b, s1, s2, gs, go);
    }

    /// <summary>Outputs at least this large (16 MiB) are written with non-temporal stores (see <see cref="Affine"/>).</summary>
    internal const long NonTemporalBytes = 16L << 20;

    /// <summary><paramref name="y"/> must be pinned when <paramref name="nonTemporal"/>.</summary>
    private static void AffineSerial(ReadOnlySpan<float> x, ReadOnlySpan<float> g, ChannelLayout layout,
        ReadOnlySpan<float> m, ReadOnlySpan<float> s, ReadOnlySpan<float> o, ReadOnlySpan<float> k, Span<float> y, bool nonTemporal,
        bool relu, ReadOnlySpan<float> gs, ReadOnlySpan<float> go)
    {
        if (relu) AffineSerial<Yes>(x, g, layout, m, s, o, k, y, nonTemporal, gs, go);
        else AffineSerial<No>(x, g, layout, m, s, o, k, y, nonTemporal, gs, go);
    }

    private static void AffineSerial<TR>(ReadOnlySpan<float> x, ReadOnlySpan<float> g, ChannelLayout layout,
        ReadOnlySpan<float> m, ReadOnlySpan<float> s, ReadOnlySpan<float> o, ReadOnlySpan<float> k, Span<float> y, bool nonTemporal,
        ReadOnlySpan<float> gs, ReadOnlySpan<float> go) where TR : struct, IFlag
    {
        if (nonTemporal)
        {
            if (g.IsEmpty) Affine<No, Yes, TR>(x, g, layout, m, s, o, k, y, gs, go);
            else Affine<Yes, Yes, TR>(x, g, layout, m, s, o, k, y, gs, go);
            // Non-temporal stores are weakly ordered: fence them before anyone else reads y.
            if (Sse.IsSupported) Sse.StoreFence();
        }
        else
        {
            if (g.IsEmpty) Affine<No, No, TR>(x, g, layout, m, s, o, k, y, gs, go);
            else Affine<Yes, No, TR>(x, g, layout, m, s, o, k, y, gs, go);
        }
    }

    /// <summary>
    /// The channels-last period: the fewest elements that are a whole number of both vectors and channel rows,
    /// lcm(C, W), in vectors; 0 when it is more than <see cref="MaxPeriodVectors"/> (then rows are walked per channel block).
    /// </summary>
    private static int PeriodVectors(int channels, int width)
    {
        long lcm = (long)channels / Gcd(channels, width) * width;
        long vectors = lcm / width;
        return vectors <= MaxPeriodVectors ? (int)vectors : 0;
    }

    private static int Gcd(int a, int b)
    {
        while (b != 0) (a, b) = (b, a % b);
        return a;
    }

    /// <summary>Up to 4 vectors per period: two accumulators each stay in registers (AVX-512 has 32).</summary>
    private const int MaxPeriodVectors = 4;

    // Compile-time switches: the JIT removes the untaken branch from each instantiation's inner loop.
    private interface IFlag { static abstract bool On { get; } }
    private readonly struct No : IFlag { public static bool On => false; }
    private readonly struct Yes : IFlag { public static bool On => true; }

    /// <summary>TG: with the gradient term; TN: non-temporal stores (y pinned); TR: fused ReLU (see <see cref="Affine"/>).</summary>
    private static void Affine<TG, TN, TR>(ReadOnlySpan<float> x, ReadOnlySpan<float> g, ChannelLayout layout,
        ReadOnlySpan<float> m, ReadOnlySpan<float> s, ReadOnlySpan<float> o, ReadOnlySpan<float> k, Span<float> y,
        ReadOnlySpan<float> gs, ReadOnlySpan<float> go)
        where TG : struct, IFlag where TN : struct, IFlag where TR : struct, IFlag
    {
        if (Vector512.IsHardwareAccelerated) Affine<V512, TG, TN, TR>(x, g, layout, m, s, o, k, y, gs, go);
        else if (Vector256.IsHardwareAccelerated) Affine<V256, TG, TN, TR>(x, g, layout, m, s, o, k, y, gs, go);
        else Affine<V128, TG, TN, TR>(x, g, layout, m, s, o, k, y, gs, go);
    }

    /// <summary>One vector of the affine map (see <see cref="Affine"/>); g is read only with <typeparamref name="TG"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TV Map<TV, TG, TR>(ref float xs, ref float gsrc, TV m, TV s, TV o, TV k, TV gs, TV go)
        where TV : struct, IVec<TV> where TG : struct, IFlag where TR : struct, IFlag
    {
        TV d = TV.Subtract(TV.Load(ref xs), m);
        TV t = TV.MultiplyAdd(d, s, o);
        if (TG.On)
        {
            TV gv = TV.Load(ref gsrc);
            if (TR.On) gv = TV.WherePositive(TV.MultiplyAdd(d, gs, go), gv);
            return TV.MultiplyAdd(gv, k, t);
        }
        return TR.On ? TV.Max(t, TV.Splat(0)) : t;
    }

    /// <summary>One element of the affine map, the same arithmetic as <see cref="Map"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Map1<TG, TR>(float x, ref float gsrc, float m, float s, float o, float k, float gs, float go)
        where TG : struct, IFlag where TR : struct, IFlag
    {
        float d = x - m;
        float t = MathF.FusedMultiplyAdd(d, s, o);
        if (TG.On)
        {
            float gv = gsrc;
            // The gate without a branch (a channels-first run's ends take this path, and the gate is data-dependent).
            if (TR.On)
            {
                var on = Vector128.GreaterThan(Vector128.CreateScalarUnsafe(MathF.FusedMultiplyAdd(d, gs, go)), Vector128<float>.Zero);
                gv = (Vector128.CreateScalarUnsafe(gv) & on).ToScalar();
            }
            return MathF.FusedMultiplyAdd(gv, k, t);
        }
        return TR.On ? MathF.Max(t, 0f) : t;
    }

    /// <summary>The gated (fused ReLU backward) <c>du</c>: kept where <c>dv·gs + go &gt; 0</c>, else 0.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TV Gate<TV, TR>(TV du, TV dv, TV gs, TV go) where TV : struct, IVec<TV> where TR : struct, IFlag =>
        TR.On ? TV.WherePositive(TV.MultiplyAdd(dv, gs, go), du) : du;

    /// <summary>One element of <see cref="Gate"/>; <paramref name="dv"/> is the float32 <c>v − b[c]</c>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static double Gate1<TR>(double du, float dv, ReadOnlySpan<float> gs, ReadOnlySpan<float> go, int c) where TR : struct, IFlag =>
        TR.On && !(MathF.FusedMultiplyAdd(dv, gs[c], go[c]) > 0) ? 0 : du;

    /// <summary>Stores one vector: with <typeparamref name="TN"/> as <see cref="StreamStore.Store{TV}"/>, else ordinarily.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Put<TV, TN>(TV value, ref float destination) where TV : struct, IVec<TV> where TN : struct, IFlag
    {
        if (TN.On) StreamStore.Store(value, ref destination);
        else TV.Store(value, ref destination);
    }

    /// <summary>Elements before <paramref name="at"/> is aligned to a whole vector (0 when not <typeparamref name="TN"/>).</summary>
    private static unsafe int AlignPeel<TV, TN>(ref float at) where TV : struct, IVec<TV> where TN : struct, IFlag
    {
        if (!TN.On) return 0;
        int bytes = TV.Count * sizeof(float);
        int misalign = (int)((nint)Unsafe.AsPointer(ref at) & (bytes - 1));
        return misalign == 0 ? 0 : (bytes - misalign) / sizeof(float);
    }

    private static void PairSums<TV, TR>(ReadOnlySpan<float> u, ReadOnlySpan<float> v, ChannelLayout L,
        ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<double> s1, Span<double> s2, ReadOnlySpan<float> gs, ReadOnlySpan<float> go)
        where TV : struct, IVec<TV> where TR : struct, IFlag
    {
        int W = TV.Count, C = L.Channels;
        ref float ur = ref MemoryMarshal.GetReference(u);
        ref float vr = ref MemoryMarshal.GetReference(v);
        Span<double> lanes1 = stackalloc double[W], lanes2 = stackalloc double[W];
        if (L.Inner == 1 && PeriodVectors(C, W) is var pv and > 0)
        {
            // The ungated sums (moments, the plain backward) keep a loop of their own: sharing the gated one's loop
            // made them slower (BENCHMARKS.md, "In-process A/B").
            bool same = Unsafe.AreSame(ref ur, ref vr) && u.Length == v.Length && a == b;
            if (!TR.On && same) PairSumsStream<TV, Yes>(u, v, L, a, b, s1, s2, pv);
            else if (!TR.On) PairSumsStream<TV, No>(u, v, L, a, b, s1, s2, pv);
            else PairSumsStreamGated<TV, TR>(u, v, L, a, b, s1, s2, gs, go, pv);
            return;
        }
        if (L.Inner == 1)
        {
            // Channels last: each vector of channels keeps its accumulators in registers across all rows.
            int c = 0;
            for (; c + W <= C; c += W)
            {
                TV a0 = TV.Load(ref Unsafe.AsRef(in a[c])), b0 = TV.Load(ref Unsafe.AsRef(in b[c]));
                TV gs0 = TR.On ? TV.Load(ref Unsafe.AsRef(in gs[c])) : default, go0 = TR.On ? TV.Load(ref Unsafe.AsRef(in go[c])) : default;
                lanes1.Clear();
                lanes2.Clear();
                TV acc1 = TV.Splat(0), acc2 = TV.Splat(0);
                for (int r = 0, run = 0; r < L.Outer; r++)
                {
                    nint at = (nint)r * C + c;
                    TV dv = TV.Subtract(TV.Load(ref Unsafe.Add(ref vr, at)), b0);
                    TV du = Gate<TV, TR>(TV.Subtract(TV.Load(ref Unsafe.Add(ref ur, at)), a0), dv, gs0, go0);
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
                    float v1 = Unsafe.Add(ref vr, at);
                    double du = Gate1<TR>(Unsafe.Add(ref ur, at) - a[c], v1 - b[c], gs, go, c), dv = v1 - b[c];
                    t1 += du;
                    t2 += du * dv;
                }
                s1[c] += t1;
                s2[c] += t2;
            }
            return;
        }

        // Channels first: each (outer, channel) pair owns a contiguous run of Inner elements (typically H·W = a few
        // hundred to a few thousand). Two independent accumulator pairs halve the add/FMA dependency chain (one pair
        // was compute-bound in cache, so a second thread could not help), and the float32 partials go to float64 with
        // a vector tree (SumWide) instead of scalar lane loops, which cost as much as the run itself. (Four pairs were
        // no faster in cache and slower on the two-stream backward sums from memory.)
        int n = L.Inner;
        TV zero = TV.Splat(0);
        for (int o = 0; o < L.Outer; o++)
        {
            for (int c = 0; c < C; c++)
            {
                nint start = ((nint)o * C + c) * n;
                float ac = a[c], bc = b[c];
                TV av = TV.Splat(ac), bv = TV.Splat(bc);
                TV gsv = TR.On ? TV.Splat(gs[c]) : default, gov = TR.On ? TV.Splat(go[c]) : default;
                TV p0 = zero, p1 = zero, q0 = zero, q1 = zero;
                double t1 = 0, t2 = 0;
                int i = 0;
                for (int run = 0; i + 2 * W <= n; i += 2 * W)
                {
                    ref float u0 = ref Unsafe.Add(ref ur, start + i);
                    ref float v0 = ref Unsafe.Add(ref vr, start + i);
                    TV dv = TV.Subtract(TV.Load(ref v0), bv);
                    TV du = Gate<TV, TR>(TV.Subtract(TV.Load(ref u0), av), dv, gsv, gov);
                    p0 = TV.Add(p0, du);
                    q0 = TV.MultiplyAdd(du, dv, q0);
                    dv = TV.Subtract(TV.Load(ref Unsafe.Add(ref v0, W)), bv);
                    du = Gate<TV, TR>(TV.Subtract(TV.Load(ref Unsafe.Add(ref u0, W)), av), dv, gsv, gov);
                    p1 = TV.Add(p1, du);
                    q1 = TV.MultiplyAdd(du, dv, q1);
                    if (++run == FlushEvery)
                    {
                        t1 += TV.SumWide(TV.Add(p0, p1));
                        t2 += TV.SumWide(TV.Add(q0, q1));
                        p0 = p1 = q0 = q1 = zero;
                        run = 0;
                    }
                }
                for (; i + W <= n; i += W)
                {
                    TV dv = TV.Subtract(TV.Load(ref Unsafe.Add(ref vr, start + i)), bv);
                    TV du = Gate<TV, TR>(TV.Subtract(TV.Load(ref Unsafe.Add(ref ur, start + i)), av), dv, gsv, gov);
                    p0 = TV.Add(p0, du);
                    q0 = TV.MultiplyAdd(du, dv, q0);
                }
                t1 += TV.SumWide(TV.Add(p0, p1));
                t2 += TV.SumWide(TV.Add(q0, q1));
                for (; i < n; i++)
                {
                    float v1 = Unsafe.Add(ref vr, start + i);
                    double du = Gate1<TR>(Unsafe.Add(ref ur, start + i) - ac, v1 - bc, gs, go, c), dv = v1 - bc;
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

    private static void Affine<TV, TG, TN, TR>(ReadOnlySpan<float> x, ReadOnlySpan<float> g, ChannelLayout L,
        ReadOnlySpan<float> m, ReadOnlySpan<float> s, ReadOnlySpan<float> o, ReadOnlySpan<float> k, Span<float> y,
        ReadOnlySpan<float> gs, ReadOnlySpan<float> go)
        where TV : struct, IVec<TV> where TG : struct, IFlag where TN : struct, IFlag where TR : struct, IFlag
    {
        bool gated = TG.On && TR.On;
        int W = TV.Count, C = L.Channels;
        ref float xr = ref MemoryMarshal.GetReference(x);
        ref float gr = ref MemoryMarshal.GetReference(g);
        ref float yr = ref MemoryMarshal.GetReference(y);
        if (L.Inner == 1 && PeriodVectors(C, W) is var pv and > 0)
        {
            AffineStream<TV, TG, TN, TR>(x, g, L, m, s, o, k, y, gs, go, pv);
            return;
        }
        if (L.Inner == 1)
        {
            ref float mr = ref MemoryMarshal.GetReference(m);
            ref float sr = ref MemoryMarshal.GetReference(s);
            ref float or = ref MemoryMarshal.GetReference(o);
            ref float kr = ref MemoryMarshal.GetReference(k);
            ref float gsr = ref MemoryMarshal.GetReference(gs);
            ref float gor = ref MemoryMarshal.GetReference(go);
            for (int r = 0; r < L.Outer; r++)
            {
                nint row = (nint)r * C;
                int c = 0;
                for (; c + W <= C; c += W)
                {
                    TV t = Map<TV, TG, TR>(ref Unsafe.Add(ref xr, row + c), ref Unsafe.Add(ref gr, row + c), TV.Load(ref Unsafe.Add(ref mr, c)),
                        TV.Load(ref Unsafe.Add(ref sr, c)), TV.Load(ref Unsafe.Add(ref or, c)), TG.On ? TV.Load(ref Unsafe.Add(ref kr, c)) : default,
                        gated ? TV.Load(ref Unsafe.Add(ref gsr, c)) : default, gated ? TV.Load(ref Unsafe.Add(ref gor, c)) : default);
                    TV.Store(t, ref Unsafe.Add(ref yr, row + c));
                }
                for (; c < C; c++)
                    Unsafe.Add(ref yr, row + c) = Map1<TG, TR>(Unsafe.Add(ref xr, row + c), ref Unsafe.Add(ref gr, row + c), m[c], s[c], o[c],
                        TG.On ? k[c] : 0f, gated ? gs[c] : 0f, gated ? go[c] : 0f);
            }
            return;
        }

        int n = L.Inner;
        for (int q = 0; q < L.Outer; q++)
        {
            for (int c = 0; c < C; c++)
            {
                nint start = ((nint)q * C + c) * n;
                float mc = m[c], sc = s[c], oc = o[c], kc = TG.On ? k[c] : 0f, gsc = gated ? gs[c] : 0f, goc = gated ? go[c] : 0f;
                TV mv = TV.Splat(mc), sv = TV.Splat(sc), ov = TV.Splat(oc), kv = TV.Splat(kc), gsv = TV.Splat(gsc), gov = TV.Splat(goc);
                int i = 0;
                for (int peel = Math.Min(n, AlignPeel<TV, TN>(ref Unsafe.Add(ref yr, start))); i < peel; i++)
                    Unsafe.Add(ref yr, start + i) = Map1<TG, TR>(Unsafe.Add(ref xr, start + i), ref Unsafe.Add(ref gr, start + i), mc, sc, oc, kc, gsc, goc);
                for (; i + W <= n; i += W)
                    Put<TV, TN>(Map<TV, TG, TR>(ref Unsafe.Add(ref xr, start + i), ref Unsafe.Add(ref gr, start + i), mv, sv, ov, kv, gsv, gov),
                        ref Unsafe.Add(ref yr, start + i));
                for (; i < n; i++)
                    Unsafe.Add(ref yr, start + i) = Map1<TG, TR>(Unsafe.Add(ref xr, start + i), ref Unsafe.Add(ref gr, start + i), mc, sc, oc, kc, gsc, goc);
            }
        }
    }

    /// <summary>
    /// Channels last with a short period (lcm(C, W) ≤ 4 vectors): the data is one stream of periods, each lane always
    /// meets the same channel, so the per-channel constants are tiled once into vectors and every vector of the stream
    /// is loaded exactly once, in address order (small C, and C = 64, read as fast as a copy). With
    /// <typeparamref name="TS"/> (the moments: u and v are the same data with the same shift), <c>v − b</c> is
    /// <c>u − a</c> and is loaded and computed once.
    /// </summary>
    private static void PairSumsStream<TV, TS>(ReadOnlySpan<float> u, ReadOnlySpan<float> v, ChannelLayout L,
        ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<double> s1, Span<double> s2, int V) where TV : struct, IVec<TV> where TS : struct, IFlag
    {
        int W = TV.Count, C = L.Channels, P = V * W;
        Span<float> at = stackalloc float[MaxPeriodVectors * W], bt = stackalloc float[MaxPeriodVectors * W];
        for (int j = 0; j < P; j++)
        {
            at[j] = a[j % C];
            bt[j] = b[j % C];
        }
        Span<double> lanes1 = stackalloc double[P], lanes2 = stackalloc double[P];
        lanes1.Clear();
        lanes2.Clear();
        TV a0 = TV.Load(ref at[0]), a1 = TV.Load(ref at[W % P]), a2 = TV.Load(ref at[2 * W % P]), a3 = TV.Load(ref at[3 * W % P]);
        TV b0 = TV.Load(ref bt[0]), b1 = TV.Load(ref bt[W % P]), b2 = TV.Load(ref bt[2 * W % P]), b3 = TV.Load(ref bt[3 * W % P]);
        TV zero = TV.Splat(0);
        TV p0 = zero, p1 = zero, p2 = zero, p3 = zero, q0 = zero, q1 = zero, q2 = zero, q3 = zero;
        ref float ur = ref MemoryMarshal.GetReference(u);
        ref float vr = ref MemoryMarshal.GetReference(v);
        long total = (long)L.Outer * C, periods = total / P;
        nint pos = 0;
        int run = 0;
        for (long q = 0; q < periods; q++, pos += P)
        {
            TV du = TV.Subtract(TV.Load(ref Unsafe.Add(ref ur, pos)), a0);
            p0 = TV.Add(p0, du);
            q0 = TV.MultiplyAdd(du, TS.On ? du : TV.Subtract(TV.Load(ref Unsafe.Add(ref vr, pos)), b0), q0);
            if (V > 1)
            {
                du = TV.Subtract(TV.Load(ref Unsafe.Add(ref ur, pos + W)), a1);
                p1 = TV.Add(p1, du);
                q1 = TV.MultiplyAdd(du, TS.On ? du : TV.Subtract(TV.Load(ref Unsafe.Add(ref vr, pos + W)), b1), q1);
            }
            if (V > 2)
            {
                du = TV.Subtract(TV.Load(ref Unsafe.Add(ref ur, pos + 2 * W)), a2);
                p2 = TV.Add(p2, du);
                q2 = TV.MultiplyAdd(du, TS.On ? du : TV.Subtract(TV.Load(ref Unsafe.Add(ref vr, pos + 2 * W)), b2), q2);
            }
            if (V > 3)
            {
                du = TV.Subtract(TV.Load(ref Unsafe.Add(ref ur, pos + 3 * W)), a3);
                p3 = TV.Add(p3, du);
                q3 = TV.MultiplyAdd(du, TS.On ? du : TV.Subtract(TV.Load(ref Unsafe.Add(ref vr, pos + 3 * W)), b3), q3);
            }
            if (++run == FlushEvery)
            {
                FlushPeriod(ref p0, ref p1, ref p2, ref p3, lanes1, V);
                FlushPeriod(ref q0, ref q1, ref q2, ref q3, lanes2, V);
                run = 0;
            }
        }
        FlushPeriod(ref p0, ref p1, ref p2, ref p3, lanes1, V);
        FlushPeriod(ref q0, ref q1, ref q2, ref q3, lanes2, V);
        StreamTail<No>(u, v, a, b, s1, s2, default, default, lanes1, lanes2, periods * P, total, C);
    }

    /// <summary><see cref="PairSumsStream"/> with the fused ReLU's gate (see <see cref="PairSums(ReadOnlySpan{float}, ReadOnlySpan{float}, ChannelLayout, ReadOnlySpan{float}, ReadOnlySpan{float}, Span{double}, Span{double}, int, ReadOnlySpan{float}, ReadOnlySpan{float})"/>).</summary>
    private static void PairSumsStreamGated<TV, TR>(ReadOnlySpan<float> u, ReadOnlySpan<float> v, ChannelLayout L,
        ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<double> s1, Span<double> s2, ReadOnlySpan<float> gs, ReadOnlySpan<float> go, int V)
        where TV : struct, IVec<TV> where TR : struct, IFlag
    {
        int W = TV.Count, C = L.Channels, P = V * W;
        Span<float> at = stackalloc float[MaxPeriodVectors * W], bt = stackalloc float[MaxPeriodVectors * W];
        Span<float> st = stackalloc float[MaxPeriodVectors * W], ot = stackalloc float[MaxPeriodVectors * W];
        for (int j = 0; j < P; j++)
        {
            at[j] = a[j % C];
            bt[j] = b[j % C];
            st[j] = TR.On ? gs[j % C] : 0f;
            ot[j] = TR.On ? go[j % C] : 0f;
        }
        TV g0 = default, g1 = default, g2 = default, g3 = default, h0 = default, h1 = default, h2 = default, h3 = default;
        if (TR.On)
        {
            (g0, g1, g2, g3) = (TV.Load(ref st[0]), TV.Load(ref st[W % P]), TV.Load(ref st[2 * W % P]), TV.Load(ref st[3 * W % P]));
            (h0, h1, h2, h3) = (TV.Load(ref ot[0]), TV.Load(ref ot[W % P]), TV.Load(ref ot[2 * W % P]), TV.Load(ref ot[3 * W % P]));
        }
        Span<double> lanes1 = stackalloc double[P], lanes2 = stackalloc double[P];
        lanes1.Clear();
        lanes2.Clear();
        TV a0 = TV.Load(ref at[0]), a1 = TV.Load(ref at[W % P]), a2 = TV.Load(ref at[2 * W % P]), a3 = TV.Load(ref at[3 * W % P]);
        TV b0 = TV.Load(ref bt[0]), b1 = TV.Load(ref bt[W % P]), b2 = TV.Load(ref bt[2 * W % P]), b3 = TV.Load(ref bt[3 * W % P]);
        TV zero = TV.Splat(0);
        TV p0 = zero, p1 = zero, p2 = zero, p3 = zero, q0 = zero, q1 = zero, q2 = zero, q3 = zero;
        ref float ur = ref MemoryMarshal.GetReference(u);
        ref float vr = ref MemoryMarshal.GetReference(v);
        long total = (long)L.Outer * C, periods = total / P;
        nint pos = 0;
        int run = 0;
        for (long q = 0; q < periods; q++, pos += P)
        {
            TV dv = TV.Subtract(TV.Load(ref Unsafe.Add(ref vr, pos)), b0);
            TV du = Gate<TV, TR>(TV.Subtract(TV.Load(ref Unsafe.Add(ref ur, pos)), a0), dv, g0, h0);
            p0 = TV.Add(p0, du);
            q0 = TV.MultiplyAdd(du, dv, q0);
            if (V > 1)
            {
                dv = TV.Subtract(TV.Load(ref Unsafe.Add(ref vr, pos + W)), b1);
                du = Gate<TV, TR>(TV.Subtract(TV.Load(ref Unsafe.Add(ref ur, pos + W)), a1), dv, g1, h1);
                p1 = TV.Add(p1, du);
                q1 = TV.MultiplyAdd(du, dv, q1);
            }
            if (V > 2)
            {
                dv = TV.Subtract(TV.Load(ref Unsafe.Add(ref vr, pos + 2 * W)), b2);
                du = Gate<TV, TR>(TV.Subtract(TV.Load(ref Unsafe.Add(ref ur, pos + 2 * W)), a2), dv, g2, h2);
                p2 = TV.Add(p2, du);
                q2 = TV.MultiplyAdd(du, dv, q2);
            }
            if (V > 3)
            {
                dv = TV.Subtract(TV.Load(ref Unsafe.Add(ref vr, pos + 3 * W)), b3);
                du = Gate<TV, TR>(TV.Subtract(TV.Load(ref Unsafe.Add(ref ur, pos + 3 * W)), a3), dv, g3, h3);
                p3 = TV.Add(p3, du);
                q3 = TV.MultiplyAdd(du, dv, q3);
            }
            if (++run == FlushEvery)
            {
                FlushPeriod(ref p0, ref p1, ref p2, ref p3, lanes1, V);
                FlushPeriod(ref q0, ref q1, ref q2, ref q3, lanes2, V);
                run = 0;
            }
        }
        FlushPeriod(ref p0, ref p1, ref p2, ref p3, lanes1, V);
        FlushPeriod(ref q0, ref q1, ref q2, ref q3, lanes2, V);
        StreamTail<TR>(u, v, a, b, s1, s2, gs, go, lanes1, lanes2, periods * P, total, C);
    }

    /// <summary>
    /// The end of a <see cref="PairSumsStream"/>: the last partial period, scalar (element e belongs to channel e mod C;
    /// a period is whole rows), then the period lanes added into their channels.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void StreamTail<TR>(ReadOnlySpan<float> u, ReadOnlySpan<float> v, ReadOnlySpan<float> a, ReadOnlySpan<float> b,
        Span<double> s1, Span<double> s2, ReadOnlySpan<float> gs, ReadOnlySpan<float> go, ReadOnlySpan<double> lanes1,
        ReadOnlySpan<double> lanes2, long from, long total, int C) where TR : struct, IFlag
    {
        for (long e = from; e < total; e++)
        {
            int c = (int)(e % C);
            float v1 = v[(int)e];
            double du = Gate1<TR>(u[(int)e] - a[c], v1 - b[c], gs, go, c), dv = v1 - b[c];
            s1[c] += du;
            s2[c] += du * dv;
        }
        for (int j = 0; j < lanes1.Length; j++)
        {
            s1[j % C] += lanes1[j];
            s2[j % C] += lanes2[j];
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void FlushPeriod<TV>(ref TV x0, ref TV x1, ref TV x2, ref TV x3, Span<double> lanes, int V) where TV : struct, IVec<TV>
    {
        int W = TV.Count;
        TV.AccumulateInto(x0, lanes);
        if (V > 1) TV.AccumulateInto(x1, lanes[W..]);
        if (V > 2) TV.AccumulateInto(x2, lanes[(2 * W)..]);
        if (V > 3) TV.AccumulateInto(x3, lanes[(3 * W)..]);
        x0 = x1 = x2 = x3 = TV.Splat(0);
    }

    /// <summary>The affine map over a channels-last stream with a short period (see <see cref="PairSumsStream"/>).</summary>
    private static void AffineStream<TV, TG, TN, TR>(ReadOnlySpan<float> x, ReadOnlySpan<float> g, ChannelLayout L,
        ReadOnlySpan<float> m, ReadOnlySpan<float> s, ReadOnlySpan<float> o, ReadOnlySpan<float> k, Span<float> y,
        ReadOnlySpan<float> gs, ReadOnlySpan<float> go, int V)
        where TV : struct, IVec<TV> where TG : struct, IFlag where TN : struct, IFlag where TR : struct, IFlag
    {
        bool gated = TG.On && TR.On;
        int W = TV.Count, C = L.Channels, P = V * W;
        int T = MaxPeriodVectors * W;
        long total = (long)L.Outer * C;
        // With non-temporal stores the vector part starts where y is aligned; the tiles start at that element's channel.
        int e0 = (int)Math.Min(total, AlignPeel<TV, TN>(ref MemoryMarshal.GetReference(y)));
        Span<float> tiles = stackalloc float[6 * T];
        Span<float> mt = tiles[..T], st = tiles[T..(2 * T)], ot = tiles[(2 * T)..(3 * T)], kt = tiles[(3 * T)..(4 * T)];
        Span<float> gst = tiles[(4 * T)..(5 * T)], got = tiles[(5 * T)..];
        for (int j = 0; j < P; j++)
        {
            int c = (e0 + j) % C;
            mt[j] = m[c];
            st[j] = s[c];
            ot[j] = o[c];
            kt[j] = TG.On ? k[c] : 0f;
            gst[j] = gated ? gs[c] : 0f;
            got[j] = gated ? go[c] : 0f;
        }
        TV m0 = TV.Load(ref mt[0]), m1 = TV.Load(ref mt[W % P]), m2 = TV.Load(ref mt[2 * W % P]), m3 = TV.Load(ref mt[3 * W % P]);
        TV s0 = TV.Load(ref st[0]), s1 = TV.Load(ref st[W % P]), s2 = TV.Load(ref st[2 * W % P]), s3 = TV.Load(ref st[3 * W % P]);
        TV o0 = TV.Load(ref ot[0]), o1 = TV.Load(ref ot[W % P]), o2 = TV.Load(ref ot[2 * W % P]), o3 = TV.Load(ref ot[3 * W % P]);
        TV k0 = TV.Load(ref kt[0]), k1 = TV.Load(ref kt[W % P]), k2 = TV.Load(ref kt[2 * W % P]), k3 = TV.Load(ref kt[3 * W % P]);
        TV g0 = default, g1 = default, g2 = default, g3 = default, h0 = default, h1 = default, h2 = default, h3 = default;
        if (gated)
        {
            (g0, g1, g2, g3) = (TV.Load(ref gst[0]), TV.Load(ref gst[W % P]), TV.Load(ref gst[2 * W % P]), TV.Load(ref gst[3 * W % P]));
            (h0, h1, h2, h3) = (TV.Load(ref got[0]), TV.Load(ref got[W % P]), TV.Load(ref got[2 * W % P]), TV.Load(ref got[3 * W % P]));
        }
        ref float xr = ref MemoryMarshal.GetReference(x);
        ref float gr = ref MemoryMarshal.GetReference(g);
        ref float yr = ref MemoryMarshal.GetReference(y);
        for (int e = 0; e < e0; e++)
        {
            int c = e % C;
            Unsafe.Add(ref yr, e) = Map1<TG, TR>(Unsafe.Add(ref xr, e), ref Unsafe.Add(ref gr, e), m[c], s[c], o[c],
                TG.On ? k[c] : 0f, gated ? gs[c] : 0f, gated ? go[c] : 0f);
        }
        long periods = (total - e0) / P;
        nint pos = e0;
        for (long q = 0; q < periods; q++, pos += P)
        {
            Put<TV, TN>(Map<TV, TG, TR>(ref Unsafe.Add(ref xr, pos), ref Unsafe.Add(ref gr, pos), m0, s0, o0, k0, g0, h0), ref Unsafe.Add(ref yr, pos));
            if (V > 1)
            {
                Put<TV, TN>(Map<TV, TG, TR>(ref Unsafe.Add(ref xr, pos + W), ref Unsafe.Add(ref gr, pos + W), m1, s1, o1, k1, g1, h1),
                    ref Unsafe.Add(ref yr, pos + W));
            }
            if (V > 2)
            {
                Put<TV, TN>(Map<TV, TG, TR>(ref Unsafe.Add(ref xr, pos + 2 * W), ref Unsafe.Add(ref gr, pos + 2 * W), m2, s2, o2, k2, g2, h2),
                    ref Unsafe.Add(ref yr, pos + 2 * W));
            }
            if (V > 3)
            {
                Put<TV, TN>(Map<TV, TG, TR>(ref Unsafe.Add(ref xr, pos + 3 * W), ref Unsafe.Add(ref gr, pos + 3 * W), m3, s3, o3, k3, g3, h3),
                    ref Unsafe.Add(ref yr, pos + 3 * W));
            }
        }
        for (long e = e0 + periods * P; e < total; e++)
        {
            int c = (int)(e % C);
            Unsafe.Add(ref yr, (nint)e) = Map1<TG, TR>(Unsafe.Add(ref xr, (nint)e), ref Unsafe.Add(ref gr, (nint)e), m[c], s[c], o[c],
                TG.On ? k[c] : 0f, gated ? gs[c] : 0f, gated ? go[c] : 0f);
        }
    }
}
