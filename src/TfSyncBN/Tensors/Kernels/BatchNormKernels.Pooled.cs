using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace TfSyncBN.Tensors.Kernels;

// Batch normalization, ReLU and a max pooling whose windows tile the input, as one op. The full-size ReLU output and
// its gradient are never written: the forward pass writes only the pooled map, the backward passes read the pooled
// gradient and recompute each window's maximum from x with the forward's own arithmetic. Every result is the bits of
// the three separate ops (Affine with ReLU, ConvKernels.MaxPoolForward/Backward, PairSums and Affine with the gate):
// the same per-element arithmetic, and the sums in the same order with the same float32 runs.
internal static partial class BatchNormKernels
{
    /// <summary>Floats per vector of the width the kernels run at.</summary>
    private static int VectorFloats => Vector512.IsHardwareAccelerated ? 16 : Vector256.IsHardwareAccelerated ? 8 : 4;

    /// <summary>
    /// Whether the pooled kernels take <paramref name="g"/>: 2×2 windows with stride 2 that tile a channels-last input
    /// (no padding, even height and width), and a channel count that is a whole number of vectors.
    /// </summary>
    public static bool FusesMaxPool(in WindowGeometry g) =>
        g.KH == 2 && g.KW == 2 && ConvKernels.Tiles(g) && g.C > 0 && g.C % VectorFloats == 0;

    /// <summary>
    /// <c>pooled[n, oy, ox, c] = max over the window of max((x − m[c])·s[c] + o[c], 0)</c> (NHWC x, windows as in
    /// <paramref name="g"/>, which <see cref="FusesMaxPool"/> must accept): <see cref="Affine"/> with ReLU followed by
    /// <see cref="ConvKernels.MaxPoolForward"/>, bit for bit, without the intermediate tensor.
    /// </summary>
    /// <exception cref="ArgumentException"><see cref="FusesMaxPool"/> refuses g, or a span is shorter than g needs.</exception>
    public static unsafe void AffineReluMaxPool(ReadOnlySpan<float> x, in WindowGeometry g, ReadOnlySpan<float> m,
        ReadOnlySpan<float> s, ReadOnlySpan<float> o, Span<float> pooled, int threads = 0)
    {
        CheckPooled(g, x, pooled, nameof(pooled), [m.Length, s.Length, o.Length]);
        fixed (float* xp = x, mp = m, sp = s, op = o, yp = pooled)
            ForWindowRows(g, threads, new PooledForward(xp, yp, g, new PoolConstants(mp, sp, op, null, null, null)));
    }

    /// <summary>A block of <see cref="AffineReluMaxPool"/>: its window rows.</summary>
    private readonly unsafe struct PooledForward(float* x, float* y, WindowGeometry g, PoolConstants k) : IWindowRows
    {
        public void Run(int r0, int r1)
        {
            if (Vector512.IsHardwareAccelerated) PoolForward<V512>(x, y, g, k, r0, r1);
            else if (Vector256.IsHardwareAccelerated) PoolForward<V256>(x, y, g, k, r0, r1);
            else PoolForward<V128>(x, y, g, k, r0, r1);
        }
    }

    /// <summary>
    /// The backward sums of the fused op: <see cref="PairSums"/> of the ReLU-gated max-pool gradient and x, i.e. with
    /// <c>u</c> = <see cref="ConvKernels.MaxPoolBackward"/> of <paramref name="dPooled"/> through the fused forward's
    /// windows, <c>a</c> = 0, <c>v</c> = x and the gate <paramref name="gs"/>, <paramref name="go"/>, bit for bit (same
    /// blocks, same order, same float32 runs).
    /// </summary>
    /// <exception cref="ArgumentException"><see cref="FusesMaxPool"/> refuses g, or a span is shorter than g needs.</exception>
    public static unsafe void PooledPairSums(ReadOnlySpan<float> dPooled, ReadOnlySpan<float> x, in WindowGeometry g,
        ReadOnlySpan<float> b, Span<double> s1, Span<double> s2, ReadOnlySpan<float> gs, ReadOnlySpan<float> go, int threads = 0)
    {
        CheckPooled(g, x, dPooled, nameof(dPooled), [b.Length, gs.Length, go.Length]);
        if (s1.Length < g.C || s2.Length < g.C) throw new ArgumentException($"s1 and s2 need {g.C} channels.", nameof(s1));
        fixed (float* dp = dPooled, xp = x, bp = b, gsp = gs, gop = go)
            SumBlocks(new ChannelLayout(g.N * g.H * g.W, g.C, 1), threads, s1, s2, new PooledSums(dp, xp, g, new PoolConstants(bp, gsp, gop, null, null, null)));
    }

    /// <summary>A block of <see cref="PooledPairSums"/>: its pixels.</summary>
    private readonly unsafe struct PooledSums(float* dp, float* x, WindowGeometry g, PoolConstants k) : IBlockSums
    {
        public void Sum(int o0, int o1, Span<double> s1, Span<double> s2)
        {
            if (Vector512.IsHardwareAccelerated) PoolSums<V512>(dp, x, g, k, o0, o1, s1, s2);
            else if (Vector256.IsHardwareAccelerated) PoolSums<V256>(dp, x, g, k, o0, o1, s1, s2);
            else PoolSums<V128>(dp, x, g, k, o0, o1, s1, s2);
        }
    }

    /// <summary>
    /// The input gradient of the fused op: <c>dx = du·k[c] + (x − m[c])·s[c] + o[c]</c>, where du is the max-pool
    /// gradient of <paramref name="dPooled"/> (to each window's first maximal position) kept only where the forward
    /// pre-activation <c>(x − m[c])·gs[c] + go[c]</c> is &gt; 0: <see cref="Affine"/> with the gate after
    /// <see cref="ConvKernels.MaxPoolBackward"/>, bit for bit.
    /// </summary>
    /// <exception cref="ArgumentException"><see cref="FusesMaxPool"/> refuses g, or a span is shorter than g needs.</exception>
    public static unsafe void PooledAffine(ReadOnlySpan<float> x, ReadOnlySpan<float> dPooled, in WindowGeometry g,
        ReadOnlySpan<float> m, ReadOnlySpan<float> s, ReadOnlySpan<float> o, ReadOnlySpan<float> k, Span<float> dx,
        ReadOnlySpan<float> gs, ReadOnlySpan<float> go, int threads = 0)
    {
        CheckPooled(g, x, dPooled, nameof(dPooled), [m.Length, s.Length, o.Length, k.Length, gs.Length, go.Length]);
        if (dx.Length < x.Length) throw new ArgumentException("dx must be as long as x.", nameof(dx));
        fixed (float* xp = x, dp = dPooled, mp = m, sp = s, op = o, kp = k, yp = dx, gsp = gs, gop = go)
            ForWindowRows(g, threads, new PooledGradient(xp, dp, yp, g, new PoolConstants(mp, gsp, gop, sp, op, kp)));
    }

    /// <summary>A block of <see cref="PooledAffine"/>: its window rows.</summary>
    private readonly unsafe struct PooledGradient(float* x, float* dp, float* dx, WindowGeometry g, PoolConstants k) : IWindowRows
    {
        public void Run(int r0, int r1)
        {
            if (Vector512.IsHardwareAccelerated) PoolGradient<V512>(x, dp, dx, g, k, r0, r1);
            else if (Vector256.IsHardwareAccelerated) PoolGradient<V256>(x, dp, dx, g, k, r0, r1);
            else PoolGradient<V128>(x, dp, dx, g, k, r0, r1);
        }
    }

    /// <summary>The kernels read through raw pointers: refuse geometries they do not handle and spans shorter than g needs.</summary>
    private static void CheckPooled(in WindowGeometry g, ReadOnlySpan<float> x, ReadOnlySpan<float> pooled, string pooledName, ReadOnlySpan<int> constantLengths)
    {
        if (!FusesMaxPool(g)) throw new ArgumentException($"The pooled batch-norm kernels take 2x2 windows with stride 2 that tile the input and {VectorFloats}k channels, not {g}.", nameof(g));
        if (x.Length < (long)g.N * g.H * g.W * g.C) throw new ArgumentException($"x holds {x.Length} elements, fewer than {g.N}x{g.H}x{g.W}x{g.C}.", nameof(x));
        if (pooled.Length < (long)g.N * g.OH * g.OW * g.C) throw new ArgumentException($"{pooledName} holds {pooled.Length} elements, fewer than {g.N}x{g.OH}x{g.OW}x{g.C}.", pooledName);
        foreach (int length in constantLengths)
            if (length < g.C) throw new ArgumentException($"A per-channel constant holds {length} values, fewer than the {g.C} channels.", "constants");
    }

    /// <summary>
    /// Per-channel constants of the pooled kernels: the pre-activation <c>(x − M)·S + O</c> and, for the input
    /// gradient, <c>dx = du·K + (x − M)·DS + DO</c>.
    /// </summary>
    private readonly unsafe struct PoolConstants(float* m, float* s, float* o, float* ds, float* dO, float* k)
    {
        public readonly float* M = m, S = s, O = o, DS = ds, DO = dO, K = k;
    }

    /// <summary>Window rows [r0, r1) of an elementwise pooled pass: a block of <see cref="ForWindowRows"/>.</summary>
    private interface IWindowRows
    {
        void Run(int r0, int r1);
    }

    /// <summary>Runs <paramref name="part"/> on near-equal blocks of the N·OH window rows, in parallel as the kernel options allow.</summary>
    private static void ForWindowRows<TRows>(in WindowGeometry g, int threads, TRows part) where TRows : struct, IWindowRows
    {
        int rows = g.N * g.OH;
        long elements = (long)g.N * g.H * g.W * g.C;
        int parts = threads > 0 ? Math.Max(1, Math.Min(threads, rows)) : KernelOptions.ThreadsFor(elements, rows);
        if (parts <= 1)
        {
            part.Run(0, rows);
            return;
        }
        KernelTeam.For(parts, p =>
        {
            var (r0, r1) = Block(rows, parts, p);
            part.Run(r0, r1);
        });
    }

    /// <summary>
    /// The pooled value of the 2×2 window whose first element (at channel offset j) is at x, in image rows of
    /// <c>row</c> floats: the ReLU outputs <c>max((x − m)·s + o, 0)</c> of its four positions maximized in
    /// <see cref="ConvKernels.MaxPoolForward"/>'s order (the same operations, so the same bits, NaNs included).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe TV PoolOf<TV>(float* x, nint C, nint row, TV m, TV s, TV o) where TV : struct, IVec<TV>
    {
        TV zero = TV.Splat(0);
        TV r0 = TV.Max(TV.MultiplyAdd(TV.Subtract(TV.Load(ref x[0]), m), s, o), zero);
        TV r1 = TV.Max(TV.MultiplyAdd(TV.Subtract(TV.Load(ref x[C]), m), s, o), zero);
        TV r2 = TV.Max(TV.MultiplyAdd(TV.Subtract(TV.Load(ref x[row]), m), s, o), zero);
        TV r3 = TV.Max(TV.MultiplyAdd(TV.Subtract(TV.Load(ref x[row + C]), m), s, o), zero);
        return TV.Max(TV.Max(TV.Max(r0, r1), r2), r3);
    }

    /// <summary>
    /// The 2×2 window of <see cref="PoolOf"/> for the backward passes, with its pooled gradient g: for its four
    /// positions (row-major) <c>d = x − m</c> and the routed gradient u, which is g at the window's first maximal
    /// position when the maximum is &gt; 0 and 0 elsewhere (MaxPoolBackward's routing, then the ReLU's gate).
    /// </summary>
    /// <remarks>
    /// The maximum is found over the pre-activations <c>t = d·s + o</c> by a scan with strict comparisons, which keeps
    /// the first of equal values. Where no t is NaN and the maximum is &gt; 0, it is the forward's pooled output (max is
    /// exact), a position's ReLU output equals it exactly when its pre-activation does, and the first such position is
    /// the one the scan found. Where a t is NaN the forward's maximum is NaN, which equals no position, and where the
    /// maximum is ≤ 0 the ReLU's gate drops the gradient: u is 0 in both cases. So the routing needs no IEEE maximum
    /// (a few instructions each) and gives the separate ops' bits.
    /// </remarks>
    private unsafe ref struct Window2x2<TV> where TV : struct, IVec<TV>
    {
        public TV D0, D1, D2, D3, U0, U1, U2, U3;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public Window2x2(float* x, nint C, nint row, TV m, TV s, TV o, TV g)
        {
            D0 = TV.Subtract(TV.Load(ref x[0]), m);
            D1 = TV.Subtract(TV.Load(ref x[C]), m);
            D2 = TV.Subtract(TV.Load(ref x[row]), m);
            D3 = TV.Subtract(TV.Load(ref x[row + C]), m);
            TV t0 = TV.MultiplyAdd(D0, s, o), t1 = TV.MultiplyAdd(D1, s, o), t2 = TV.MultiplyAdd(D2, s, o), t3 = TV.MultiplyAdd(D3, s, o);
            // mi: position i is above every earlier one (a NaN t0 makes every comparison false and best NaN).
            TV m1 = TV.GreaterThanMask(t1, t0), best = TV.Select(m1, t1, t0);
            TV m2 = TV.GreaterThanMask(t2, best);
            best = TV.Select(m2, t2, best);
            TV m3 = TV.GreaterThanMask(t3, best);
            best = TV.Select(m3, t3, best);
            TV nan = TV.Or(TV.UnorderedMask(t1, t2), TV.UnorderedMask(t3, t3));
            TV gated = TV.AndNot(TV.WherePositive(best, g), nan);
            TV later = TV.Or(m2, m3);
            U3 = TV.And(m3, gated);
            U2 = TV.And(TV.AndNot(m2, m3), gated);
            U1 = TV.And(TV.AndNot(m1, later), gated);
            U0 = TV.AndNot(gated, TV.Or(m1, later));
        }
    }

    private static unsafe void PoolForward<TV>(float* x, float* y, WindowGeometry g, PoolConstants k, int r0, int r1) where TV : struct, IVec<TV>
    {
        int W = TV.Count, C = g.C;
        nint row = (nint)g.W * C;
        for (int r = r0; r < r1; r++)
        {
            float* xr = x + 2 * r * row, yr = y + (nint)r * g.OW * C;
            for (int ox = 0; ox < g.OW; ox++)
            {
                for (int j = 0; j < C; j += W)
                    TV.Store(PoolOf(xr + 2 * ox * C + j, C, row, TV.Load(ref k.M[j]), TV.Load(ref k.S[j]), TV.Load(ref k.O[j])), ref yr[ox * C + j]);
            }
        }
    }

    private static unsafe void PoolGradient<TV>(float* x, float* dp, float* dx, WindowGeometry g, PoolConstants k, int r0, int r1)
        where TV : struct, IVec<TV>
    {
        int W = TV.Count, C = g.C;
        nint row = (nint)g.W * C;
        for (int r = r0; r < r1; r++)
        {
            float* xr = x + 2 * r * row, dxr = dx + 2 * r * row, dpr = dp + (nint)r * g.OW * C;
            for (int ox = 0; ox < g.OW; ox++)
            {
                for (int j = 0; j < C; j += W)
                {
                    nint at = 2 * ox * C + j;
                    var w = new Window2x2<TV>(xr + at, C, row, TV.Load(ref k.M[j]), TV.Load(ref k.S[j]), TV.Load(ref k.O[j]), TV.Load(ref dpr[ox * C + j]));
                    TV ds = TV.Load(ref k.DS[j]), dO = TV.Load(ref k.DO[j]), kv = TV.Load(ref k.K[j]);
                    // Affine's gradient map of the routed, gated gradient.
                    TV.Store(TV.MultiplyAdd(w.U0, kv, TV.MultiplyAdd(w.D0, ds, dO)), ref dxr[at]);
                    TV.Store(TV.MultiplyAdd(w.U1, kv, TV.MultiplyAdd(w.D1, ds, dO)), ref dxr[at + C]);
                    TV.Store(TV.MultiplyAdd(w.U2, kv, TV.MultiplyAdd(w.D2, ds, dO)), ref dxr[at + row]);
                    TV.Store(TV.MultiplyAdd(w.U3, kv, TV.MultiplyAdd(w.D3, ds, dO)), ref dxr[at + row + C]);
                }
            }
        }
    }

    /// <summary>
    /// The sums of pixels [o0, o1) in pixel order, as <see cref="PairSums"/>'s channels-last paths add them: per
    /// channel, float32 sums over runs of <see cref="FlushEvery"/> pixels, each run added into a float64 lane, the
    /// lanes added into s1 and s2 at the end. Each window row's routed gradient is first written to a scratch of two
    /// image rows (each window computed once), then added pixel by pixel.
    /// </summary>
    private static unsafe void PoolSums<TV>(float* dp, float* x, WindowGeometry g, PoolConstants k, int o0, int o1,
        Span<double> s1, Span<double> s2) where TV : struct, IVec<TV>
    {
        if (o0 >= o1) return;
        int W = TV.Count, C = g.C;
        nint row = (nint)g.W * C;
        float[] scratch = ArrayPool<float>.Shared.Rent((int)(2 * row) + 2 * C);
        double[] lanes = ArrayPool<double>.Shared.Rent(2 * C);
        Array.Clear(scratch, (int)(2 * row), 2 * C);
        Array.Clear(lanes, 0, 2 * C);
        fixed (float* du = scratch)
        {
            float* acc = du + 2 * row;
            int run = 0;
            for (int r = o0 / g.W / 2; r <= (o1 - 1) / g.W / 2; r++)
            {
                float* xr = x + 2 * r * row, dpr = dp + (nint)r * g.OW * C;
                for (int ox = 0; ox < g.OW; ox++)
                {
                    for (int j = 0; j < C; j += W)
                    {
                        nint at = 2 * ox * C + j;
                        var w = new Window2x2<TV>(xr + at, C, row, TV.Load(ref k.M[j]), TV.Load(ref k.S[j]), TV.Load(ref k.O[j]), TV.Load(ref dpr[ox * C + j]));
                        TV.Store(w.U0, ref du[at]);
                        TV.Store(w.U1, ref du[at + C]);
                        TV.Store(w.U2, ref du[at + row]);
                        TV.Store(w.U3, ref du[at + row + C]);
                    }
                }
                // The window row's two image rows lie one after the other in the scratch and in x.
                int first = 2 * r * g.W, p0 = Math.Max(o0, first), p1 = Math.Min(o1, first + 2 * g.W);
                AddPixels<TV>(du + (nint)(p0 - first) * C, x + (nint)p0 * C, k.M, p1 - p0, C, acc, lanes, ref run);
            }
            for (int j = 0; j < 2 * C; j += W)
                TV.AccumulateInto(TV.Load(ref acc[j]), lanes.AsSpan(j, W));
        }
        for (int c = 0; c < C; c++)
        {
            s1[c] += lanes[c];
            s2[c] += lanes[C + c];
        }
        ArrayPool<float>.Shared.Return(scratch);
        ArrayPool<double>.Shared.Return(lanes);
    }

    /// <summary>
    /// Adds <paramref name="pixels"/> pixels of u (gated gradients) and <c>v − b</c> into the float32 sums
    /// <paramref name="acc"/> (<c>[Σu | Σu·(v − b)]</c>, 2C), flushing them into <paramref name="lanes"/> whenever
    /// <paramref name="run"/> reaches <see cref="FlushEvery"/> pixels: <see cref="PairSumsStream"/>'s arithmetic.
    /// </summary>
    private static unsafe void AddPixels<TV>(float* u, float* v, float* b, int pixels, int C, float* acc, double[] lanes, ref int run)
        where TV : struct, IVec<TV>
    {
        int W = TV.Count, end = run;
        for (int j = 0; j < C; j += 4 * W)
        {
            int V = Math.Min(4, (C - j) / W), count = run;
            for (int i = 0; i < pixels;)
            {
                // Up to the next flush, in a loop of its own: without a flush inside, the JIT keeps the sums in registers.
                int n = Math.Min(pixels - i, FlushEvery - count);
                AddRun<TV>(u + (nint)i * C + j, v + (nint)i * C + j, b + j, acc + j, acc + C + j, n, C, V);
                i += n;
                count += n;
                if (count < FlushEvery) continue;
                for (int t = 0; t < V * W; t += W)
                {
                    TV.AccumulateInto(TV.Load(ref acc[j + t]), lanes.AsSpan(j + t, W));
                    TV.AccumulateInto(TV.Load(ref acc[C + j + t]), lanes.AsSpan(C + j + t, W));
                    TV.Store(TV.Splat(0), ref acc[j + t]);
                    TV.Store(TV.Splat(0), ref acc[C + j + t]);
                }
                count = 0;
            }
            end = count;
        }
        run = end;
    }

    /// <summary>
    /// <c>p += u</c> and <c>q += u·(v − b)</c> over <paramref name="pixels"/> pixels (rows <paramref name="C"/> floats
    /// apart) for <paramref name="V"/> ≤ 4 channel vectors, the sums held in registers.
    /// </summary>
    private static unsafe void AddRun<TV>(float* u, float* v, float* b, float* p, float* q, int pixels, int C, int V)
        where TV : struct, IVec<TV>
    {
        int W = TV.Count;
        TV zero = TV.Splat(0);
        TV p0 = TV.Load(ref p[0]), q0 = TV.Load(ref q[0]), b0 = TV.Load(ref b[0]);
        TV p1 = zero, p2 = zero, p3 = zero, q1 = zero, q2 = zero, q3 = zero, b1 = zero, b2 = zero, b3 = zero;
        if (V > 1) (p1, q1, b1) = (TV.Load(ref p[W]), TV.Load(ref q[W]), TV.Load(ref b[W]));
        if (V > 2) (p2, q2, b2) = (TV.Load(ref p[2 * W]), TV.Load(ref q[2 * W]), TV.Load(ref b[2 * W]));
        if (V > 3) (p3, q3, b3) = (TV.Load(ref p[3 * W]), TV.Load(ref q[3 * W]), TV.Load(ref b[3 * W]));
        for (int i = 0; i < pixels; i++, u += C, v += C)
        {
            TV du = TV.Load(ref u[0]);
            p0 = TV.Add(p0, du);
            q0 = TV.MultiplyAdd(du, TV.Subtract(TV.Load(ref v[0]), b0), q0);
            if (V > 1)
            {
                du = TV.Load(ref u[W]);
                p1 = TV.Add(p1, du);
                q1 = TV.MultiplyAdd(du, TV.Subtract(TV.Load(ref v[W]), b1), q1);
            }
            if (V > 2)
            {
                du = TV.Load(ref u[2 * W]);
                p2 = TV.Add(p2, du);
                q2 = TV.MultiplyAdd(du, TV.Subtract(TV.Load(ref v[2 * W]), b2), q2);
            }
            if (V > 3)
            {
                du = TV.Load(ref u[3 * W]);
                p3 = TV.Add(p3, du);
                q3 = TV.MultiplyAdd(du, TV.Subtract(TV.Load(ref v[3 * W]), b3), q3);
            }
        }
        TV.Store(p0, ref p[0]);
        TV.Store(q0, ref q[0]);
        if (V > 1)
        {
            TV.Store(p1, ref p[W]);
            TV.Store(q1, ref q[W]);
        }
        if (V > 2)
        {
            TV.Store(p2, ref p[2 * W]);
            TV.Store(q2, ref q[2 * W]);
        }
        if (V > 3)
        {
            TV.Store(p3, ref p[3 * W]);
            TV.Store(q3, ref q[3 * W]);
        }
    }
}
