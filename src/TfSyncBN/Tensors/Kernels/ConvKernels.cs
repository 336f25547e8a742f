using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace TfSyncBN.Tensors.Kernels;

/// <summary>Convolution (direct, implicit GEMM or im2col + <see cref="Gemm"/>), and max and average pooling, on NHWC data.</summary>
internal static class ConvKernels
{
    /// <summary>Target size of one im2col buffer, in floats; images are processed in chunks that fit it.</summary>
    private const int ChunkFloats = 1 << 20;

    private static bool IsPointwise(in WindowGeometry g) => g.KH == 1 && g.KW == 1 && g.SH == 1 && g.SW == 1;

    private static int ImagesPerChunk(in WindowGeometry g) => Math.Clamp(ChunkFloats / Math.Max(1, g.Pixels * g.Patch), 1, Math.Max(1, g.N));

    /// <summary>
    /// The input zero-padded so that every window lies inside: rows [0, hp) and columns [0, wp) of each image hold input
    /// rows and columns from −PadTop and −PadLeft on (a rented array); null when x itself already does (no padding).
    /// </summary>
    internal static float[]? PadInput(ReadOnlySpan<float> x, in WindowGeometry g, out int hp, out int wp)
    {
        hp = Math.Max(g.H + g.PadTop, (g.OH - 1) * g.SH + (g.KH - 1) * g.DH + 1);
        wp = Math.Max(g.W + g.PadLeft, (g.OW - 1) * g.SW + (g.KW - 1) * g.DW + 1);
        if (hp == g.H && wp == g.W) return null;
        int c = g.C, line = g.W * c, pline = wp * c;
        float[] padded = NnKernels.Rent(g.N * hp * pline);
        var p = padded.AsSpan();
        for (int n = 0; n < g.N; n++)
        {
            var image = p.Slice(n * hp * pline, hp * pline);
            image[..(g.PadTop * pline)].Clear();
            for (int iy = 0; iy < g.H; iy++)
            {
                var row = image.Slice((g.PadTop + iy) * pline, pline);
                row[..(g.PadLeft * c)].Clear();
                x.Slice((n * g.H + iy) * line, line).CopyTo(row[(g.PadLeft * c)..]);
                row[(g.PadLeft * c + line)..].Clear();
            }
            image[((g.PadTop + g.H) * pline)..].Clear();
        }
        return padded;
    }

    /// <summary>
    /// Writes the patches of images [n0, n0 + count) as rows of <paramref name="cols"/>: row (n, oy, ox) holds
    /// x[n, oy·SH − PadTop + ky·DH, ox·SW − PadLeft + kx·DW, c] in (ky, kx, c) order, 0 outside the input.
    /// </summary>
    public static void Im2Col(ReadOnlySpan<float> x, in WindowGeometry g, int n0, int count, Span<float> cols)
    {
        var gather = new Gather(x, cols);
        VisitPatches(g, n0, count, ref gather);
    }

    /// <summary>The adjoint of <see cref="Im2Col"/>: adds each patch row of <paramref name="cols"/> back into dx.</summary>
    public static void Col2Im(ReadOnlySpan<float> cols, in WindowGeometry g, int n0, int count, Span<float> dx)
    {
        var scatter = new Scatter(cols, dx);
        VisitPatches(g, n0, count, ref scatter);
    }

    /// <summary>One run of a patch row: <c>length</c> floats from column <c>col</c> of the patch rows, which lie in the
    /// NHWC input from <c>input</c> on, or outside the input (in the padding) when <c>input</c> is −1.</summary>
    private interface IPatchRun
    {
        void Run(int col, int input, int length);
    }

    /// <summary>Im2Col's run: copies the input (zeros outside it) into the patch row.</summary>
    private readonly ref struct Gather(ReadOnlySpan<float> x, Span<float> cols) : IPatchRun
    {
        private readonly ReadOnlySpan<float> x = x;
        private readonly Span<float> cols = cols;

        public void Run(int col, int input, int length)
        {
            var dst = cols.Slice(col, length);
            if (input < 0) dst.Clear();
            else x.Slice(input, length).CopyTo(dst);
        }
    }

    /// <summary>Col2Im's run: adds the patch row into the input's gradient (nothing outside the input).</summary>
    private readonly ref struct Scatter(ReadOnlySpan<float> cols, Span<float> dx) : IPatchRun
    {
        private readonly ReadOnlySpan<float> cols = cols;
        private readonly Span<float> dx = dx;

        public void Run(int col, int input, int length)
        {
            if (input < 0) return;
            var dst = dx.Slice(input, length);
            TensorPrimitives.Add(dst, cols.Slice(col, length), dst);
        }
    }

    /// <summary>
    /// Walks the patch rows of images [n0, n0 + count) in order, (n, oy, ox), then (ky, kx): a window row wholly inside
    /// the input (DW = 1) as one run of KW·C floats, a window row above or below the input as one run outside it, else
    /// one run of C floats per tap.
    /// </summary>
    private static void VisitPatches<T>(in WindowGeometry g, int n0, int count, ref T visit) where T : IPatchRun, allows ref struct
    {
        int c = g.C, rowLen = g.Patch, segment = g.KW * c, at = 0;
        for (int n = n0; n < n0 + count; n++)
        {
            for (int oy = 0; oy < g.OH; oy++)
            {
                for (int ox = 0; ox < g.OW; ox++, at += rowLen)
                {
                    for (int ky = 0; ky < g.KH; ky++)
                    {
                        int col = at + ky * segment;
                        int iy = oy * g.SH - g.PadTop + ky * g.DH;
                        if ((uint)iy >= (uint)g.H)
                        {
                            visit.Run(col, -1, segment);
                            continue;
                        }
                        int ix0 = ox * g.SW - g.PadLeft;
                        int lineStart = ((n * g.H + iy) * g.W) * c;
                        if (g.DW == 1 && ix0 >= 0 && ix0 + g.KW <= g.W)
                        {
                            visit.Run(col, lineStart + ix0 * c, segment);
                            continue;
                        }
                        for (int kx = 0; kx < g.KW; kx++)
                        {
                            int ix = ix0 + kx * g.DW;
                            visit.Run(col + kx * c, (uint)ix >= (uint)g.W ? -1 : lineStart + ix * c, c);
                        }
                    }
                }
            }
        }
    }

    /// <summary>
    /// <c>y[n, oy, ox, f] = Σ_{ky,kx,c} x[n, iy, ix, c]·k[ky, kx, c, f]</c>, y of shape [N, OH, OW, F]: 1×1 windows as one
    /// GEMM; else as an implicit GEMM (<see cref="ConvImplicit"/>) where it applies and <paramref name="allowImplicit"/>
    /// (small patches too: faster than the direct loops, BENCHMARKS.md); else small patches directly
    /// (<see cref="ConvDirect"/>) when <paramref name="allowDirect"/>; else through im2col + GEMM.
    /// </summary>
    public static void Conv2DForward(ReadOnlySpan<float> x, ReadOnlySpan<float> kernel, int filters, in WindowGeometry g, Span<float> y,
        bool allowDirect = true, bool allowImplicit = true)
    {
        if (g.N == 0 || g.Pixels == 0) return;
        if (IsPointwise(g) && g.PadTop == 0 && g.PadLeft == 0)
        {
            Gemm.Multiply(g.N * g.Pixels, filters, g.C, x, false, kernel, false, y, accumulate: false);
            return;
        }
        if (allowImplicit && ConvImplicit.Applies(g, filters))
        {
            ConvImplicit.Forward(x, kernel, filters, g, y);
            return;
        }
        if (allowDirect && !IsPointwise(g) && ConvDirect.Applies(g))
        {
            ConvDirect.Forward(x, kernel, filters, g, y);
            return;
        }
        int per = ImagesPerChunk(g), rows = g.Pixels, patch = g.Patch;
        float[] cols = NnKernels.Rent(per * rows * patch);
        try
        {
            for (int n0 = 0; n0 < g.N; n0 += per)
            {
                int count = Math.Min(per, g.N - n0);
                Im2Col(x, g, n0, count, cols);
                Gemm.Multiply(count * rows, filters, patch, cols, false, kernel, false, y.Slice(n0 * rows * filters, count * rows * filters), accumulate: false);
            }
        }
        finally
        {
            NnKernels.Return(cols);
        }
    }

    /// <summary>
    /// The convolution's gradients: <c>dk = Σ_n colsₙᵀ·dyₙ</c> (when <paramref name="dk"/> is not empty) and
    /// <c>dx = col2im(dy·kᵀ)</c> (when <paramref name="dx"/> is not empty); both are overwritten. For small patches dk is
    /// computed directly (<see cref="ConvDirect"/>) when <paramref name="allowDirect"/>; where an implicit GEMM applies
    /// (<see cref="ConvImplicit"/>) and <paramref name="allowImplicit"/>, dk and dx are computed with no cols buffer.
    /// </summary>
    public static void Conv2DBackward(ReadOnlySpan<float> x, ReadOnlySpan<float> kernel, ReadOnlySpan<float> dy, int filters, in WindowGeometry g,
        Span<float> dx, Span<float> dk, bool allowDirect = true, bool allowImplicit = true)
    {
        if (g.N == 0 || g.Pixels == 0)
        {
            dx.Clear();
            dk.Clear();
            return;
        }
        int rows = g.Pixels, patch = g.Patch;
        bool pointwise = IsPointwise(g) && g.PadTop == 0 && g.PadLeft == 0;
        if (!dk.IsEmpty && allowDirect && !IsPointwise(g) && ConvDirect.Applies(g))
        {
            ConvDirect.KernelGradient(x, dy, filters, g, dk);
            dk = [];
        }
        else if (!dk.IsEmpty && !pointwise && allowImplicit && ConvImplicit.Applies(g, filters))
        {
            ConvImplicit.KernelGradient(x, dy, filters, g, dk);
            dk = [];
        }
        if (!dx.IsEmpty && !pointwise && allowImplicit && ConvImplicit.AppliesToInputGradient(g))
        {
            ConvImplicit.InputGradient(kernel, dy, filters, g, dx);
            dx = [];
        }
        if (dk.IsEmpty && dx.IsEmpty) return;
        if (pointwise)
        {
            int m = g.N * rows;
            if (!dk.IsEmpty) Gemm.Multiply(patch, filters, m, x, true, dy, false, dk, accumulate: false);
            if (!dx.IsEmpty) Gemm.Multiply(m, patch, filters, dy, false, kernel, true, dx, accumulate: false);
            return;
        }
        dx.Clear();
        dk.Clear();
        int per = ImagesPerChunk(g);
        float[] cols = NnKernels.Rent(per * rows * patch);
        try
        {
            for (int n0 = 0; n0 < g.N; n0 += per)
            {
                int count = Math.Min(per, g.N - n0), m = count * rows;
                var dyChunk = dy.Slice(n0 * rows * filters, m * filters);
                if (!dk.IsEmpty)
                {
                    Im2Col(x, g, n0, count, cols);
                    Gemm.Multiply(patch, filters, m, cols, true, dyChunk, false, dk, accumulate: true);
                }
                if (!dx.IsEmpty)
                {
                    Gemm.Multiply(m, patch, filters, dyChunk, false, kernel, true, cols, accumulate: false);
                    Col2Im(cols, g, n0, count, dx);
                }
            }
        }
        finally
        {
            NnKernels.Return(cols);
        }
    }

    /// <summary>
    /// <c>y[n, oy, ox, c] = max over the window's positions inside the input of x[n, iy, ix, c]</c> (padding never wins;
    /// a window with no position inside the input gives −∞, which "same" padding never produces).
    /// </summary>
    public static void MaxPoolForward(ReadOnlySpan<float> x, in WindowGeometry g, Span<float> y)
    {
        if (Tiles(g))
        {
            TiledMaxPoolForward(x, g, y);
            return;
        }
        int c = g.C, at = 0, window = g.KH * g.KW;
        Span<int> position = window <= 1024 ? stackalloc int[window] : new int[window];
        Span<int> offset = window <= 1024 ? stackalloc int[window] : new int[window];
        for (int n = 0; n < g.N; n++)
        {
            for (int oy = 0; oy < g.OH; oy++)
            {
                for (int ox = 0; ox < g.OW; ox++, at += c)
                {
                    var dst = y.Slice(at, c);
                    int count = g.InsidePositions(n, oy, ox, position, offset);
                    for (int i = 0; i < count; i++)
                    {
                        var src = x.Slice(offset[i], c);
                        if (i == 0) src.CopyTo(dst);
                        else TensorPrimitives.Max(dst, src, dst);
                    }
                    if (count == 0) dst.Fill(float.NegativeInfinity);
                }
            }
        }
    }

    /// <summary>
    /// The max-pool gradient: each dy[n, oy, ox, c] goes to the first window position (row-major scan) whose input
    /// equals the output y, as TensorFlow's argmax does; overlapping windows add up.
    /// </summary>
    public static void MaxPoolBackward(ReadOnlySpan<float> x, ReadOnlySpan<float> y, ReadOnlySpan<float> dy, in WindowGeometry g, Span<float> dx)
    {
        if (Tiles(g))
        {
            TiledMaxPoolBackward(x, y, dy, g, dx);
            return;
        }
        dx.Clear();
        int c = g.C, at = 0, w = Vector<float>.Count;
        Span<int> taken = c <= 1024 ? stackalloc int[c] : new int[c];
        int window = g.KH * g.KW;
        Span<int> position = window <= 1024 ? stackalloc int[window] : new int[window];
        Span<int> offset = window <= 1024 ? stackalloc int[window] : new int[window];
        ref float xr = ref MemoryMarshal.GetReference(x);
        ref float dxr = ref MemoryMarshal.GetReference(dx);
        for (int n = 0; n < g.N; n++)
        {
            for (int oy = 0; oy < g.OH; oy++)
            {
                for (int ox = 0; ox < g.OW; ox++, at += c)
                {
                    var yv = y.Slice(at, c);
                    var gv = dy.Slice(at, c);
                    taken.Clear();
                    int count = g.InsidePositions(n, oy, ox, position, offset);
                    for (int i = 0; i < count; i++)
                    {
                        int src = offset[i];
                        int j = 0;
                        for (; j + w <= c; j += w)
                        {
                            var done = Vector.LoadUnsafe(ref MemoryMarshal.GetReference(taken), (nuint)j);
                            var hit = Vector.AsVectorInt32(Vector.Equals(Vector.LoadUnsafe(ref xr, (nuint)(src + j)), Vector.LoadUnsafe(ref MemoryMarshal.GetReference(yv), (nuint)j)));
                            var fresh = Vector.AndNot(hit, done);
                            var add = Vector.ConditionalSelect(fresh, Vector.LoadUnsafe(ref MemoryMarshal.GetReference(gv), (nuint)j), Vector<float>.Zero);
                            ref float d = ref Unsafe(ref dxr, src + j);
                            (Vector.LoadUnsafe(ref d) + add).StoreUnsafe(ref d);
                            (done | hit).StoreUnsafe(ref MemoryMarshal.GetReference(taken), (nuint)j);
                        }
                        for (; j < c; j++)
                        {
                            if (taken[j] == 0 && x[src + j] == yv[j])
                            {
                                dx[src + j] += gv[j];
                                taken[j] = -1;
                            }
                        }
                    }
                }
            }
        }
    }

    /// <summary>
    /// Whether the pooling windows tile the input exactly: strides equal to the window, no padding, no dilation, and
    /// OH·SH = H, OW·SW = W, so every input element lies in exactly one window (e.g. 2×2 pooling of an even-sized image).
    /// </summary>
    internal static bool Tiles(in WindowGeometry g) =>
        g.SH == g.KH && g.SW == g.KW && g.PadTop == 0 && g.PadLeft == 0 && g.DH == 1 && g.DW == 1 &&
        g.OH * g.SH == g.H && g.OW * g.SW == g.W;

    /// <summary><see cref="MaxPoolForward"/> for windows that <see cref="Tiles"/> the input: the same maxima in the same
    /// order (row-major window positions), each vector of channels kept in a register across its window.</summary>
    private static void TiledMaxPoolForward(ReadOnlySpan<float> x, in WindowGeometry g, Span<float> y)
    {
        if (Vector512.IsHardwareAccelerated) TiledMaxPoolForward<V512>(x, g, y);
        else if (Vector256.IsHardwareAccelerated) TiledMaxPoolForward<V256>(x, g, y);
        else TiledMaxPoolForward<V128>(x, g, y);
    }

    /// <summary><see cref="MaxPoolBackward"/> for windows that <see cref="Tiles"/> the input: every dx element is written
    /// once (dy at the window's first maximal position, 0 elsewhere), with no clearing pass.</summary>
    private static void TiledMaxPoolBackward(ReadOnlySpan<float> x, ReadOnlySpan<float> y, ReadOnlySpan<float> dy, in WindowGeometry g, Span<float> dx)
    {
        if (dx.Length < x.Length) throw new ArgumentException("dx must be as long as x.", nameof(dx));
        if (Vector512.IsHardwareAccelerated) TiledMaxPoolBackward<V512>(x, y, dy, g, dx);
        else if (Vector256.IsHardwareAccelerated) TiledMaxPoolBackward<V256>(x, y, dy, g, dx);
        else TiledMaxPoolBackward<V128>(x, y, dy, g, dx);
    }

    /// <summary>What a tiling pooling does at one window.</summary>
    private interface ITileOp
    {
        /// <summary>Handles the window whose first input element is at <paramref name="origin"/> and whose output pixel
        /// is at <paramref name="at"/> (offsets of channel 0).</summary>
        void Window(in WindowGeometry g, nint origin, nint at);
    }

    /// <summary>Calls <paramref name="op"/> for every window of a geometry that <see cref="Tiles"/> its input, in output order.</summary>
    private static void ForEachTile<TOp>(in WindowGeometry g, ref TOp op) where TOp : struct, ITileOp, allows ref struct
    {
        nint at = 0;
        for (int n = 0; n < g.N; n++)
        {
            for (int oy = 0; oy < g.OH; oy++)
            {
                for (int ox = 0; ox < g.OW; ox++, at += g.C)
                    op.Window(g, ((nint)(n * g.H + oy * g.KH) * g.W + ox * g.KW) * g.C, at);
            }
        }
    }

    private static void TiledMaxPoolForward<TV>(ReadOnlySpan<float> x, in WindowGeometry g, Span<float> y) where TV : struct, IVec<TV>
    {
        var op = new MaxTile<TV>(ref MemoryMarshal.GetReference(x), ref MemoryMarshal.GetReference(y));
        ForEachTile(g, ref op);
    }

    private static void TiledMaxPoolBackward<TV>(ReadOnlySpan<float> x, ReadOnlySpan<float> y, ReadOnlySpan<float> dy, in WindowGeometry g, Span<float> dx)
        where TV : struct, IVec<TV>
    {
        var op = new ArgMaxGradientTile<TV>(ref MemoryMarshal.GetReference(x), ref MemoryMarshal.GetReference(y), ref MemoryMarshal.GetReference(dy),
            ref MemoryMarshal.GetReference(dx));
        ForEachTile(g, ref op);
    }

    /// <summary>y at the window = the maximum of its positions, row-major (vectors of channels, then a scalar tail).</summary>
    private ref struct MaxTile<TV>(ref float x, ref float y) : ITileOp where TV : struct, IVec<TV>
    {
        private readonly ref float xr = ref x;
        private readonly ref float yr = ref y;

        public readonly void Window(in WindowGeometry g, nint origin, nint at)
        {
            int c = g.C, w = TV.Count, j = 0;
            for (; j + w <= c; j += w)
            {
                TV m = TV.Load(ref Unsafe(ref xr, origin + j));
                for (int ky = 0; ky < g.KH; ky++)
                {
                    for (int kx = ky == 0 ? 1 : 0; kx < g.KW; kx++)
                        m = TV.Max(m, TV.Load(ref Unsafe(ref xr, origin + ((nint)ky * g.W + kx) * c + j)));
                }
                TV.Store(m, ref Unsafe(ref yr, at + j));
            }
            for (; j < c; j++)
            {
                float m = Unsafe(ref xr, origin + j);
                for (int ky = 0; ky < g.KH; ky++)
                {
                    for (int kx = ky == 0 ? 1 : 0; kx < g.KW; kx++)
                        m = MathF.Max(m, Unsafe(ref xr, origin + ((nint)ky * g.W + kx) * c + j));
                }
                Unsafe(ref yr, at + j) = m;
            }
        }
    }

    /// <summary>dx at the window = dy at its first position (row-major) equal to y, 0 at the others.</summary>
    private ref struct ArgMaxGradientTile<TV>(ref float x, ref float y, ref float dy, ref float dx) : ITileOp where TV : struct, IVec<TV>
    {
        private readonly ref float xr = ref x;
        private readonly ref float yr = ref y;
        private readonly ref float gr = ref dy;
        private readonly ref float dxr = ref dx;

        public readonly void Window(in WindowGeometry g, nint origin, nint at)
        {
            int c = g.C, w = TV.Count, j = 0;
            for (; j + w <= c; j += w)
            {
                TV yv = TV.Load(ref Unsafe(ref yr, at + j)), gv = TV.Load(ref Unsafe(ref gr, at + j)), done = TV.Splat(0);
                for (int ky = 0; ky < g.KH; ky++)
                {
                    for (int kx = 0; kx < g.KW; kx++)
                    {
                        nint src = origin + ((nint)ky * g.W + kx) * c + j;
                        TV hit = TV.EqualMask(TV.Load(ref Unsafe(ref xr, src)), yv);
                        TV.Store(TV.And(TV.AndNot(hit, done), gv), ref Unsafe(ref dxr, src));
                        done = TV.Or(done, hit);
                    }
                }
            }
            for (; j < c; j++)
            {
                bool done = false;
                float yj = Unsafe(ref yr, at + j), gj = Unsafe(ref gr, at + j);
                for (int ky = 0; ky < g.KH; ky++)
                {
                    for (int kx = 0; kx < g.KW; kx++)
                    {
                        nint src = origin + ((nint)ky * g.W + kx) * c + j;
                        bool take = !done && Unsafe(ref xr, src) == yj;
                        Unsafe(ref dxr, src) = take ? gj : 0f;
                        done |= take;
                    }
                }
            }
        }
    }

    /// <summary>
    /// <c>y[n, oy, ox, c] = (1/k)·Σ x[n, iy, ix, c]</c> over the k window positions inside the input (TensorFlow's
    /// "same" average pooling: padding is not counted; a window with no position inside gives 0).
    /// </summary>
    public static void AvgPoolForward(ReadOnlySpan<float> x, in WindowGeometry g, Span<float> y)
    {
        int c = g.C, at = 0;
        for (int n = 0; n < g.N; n++)
        {
            for (int oy = 0; oy < g.OH; oy++)
            {
                for (int ox = 0; ox < g.OW; ox++, at += c)
                {
                    var dst = y.Slice(at, c);
                    dst.Clear();
                    int count = 0;
                    for (int ky = 0; ky < g.KH; ky++)
                    {
                        int iy = oy * g.SH - g.PadTop + ky;
                        if ((uint)iy >= (uint)g.H) continue;
                        for (int kx = 0; kx < g.KW; kx++)
                        {
                            int ix = ox * g.SW - g.PadLeft + kx;
                            if ((uint)ix >= (uint)g.W) continue;
                            TensorPrimitives.Add(dst, x.Slice(((n * g.H + iy) * g.W + ix) * c, c), dst);
                            count++;
                        }
                    }
                    if (count > 1) TensorPrimitives.Multiply(dst, 1f / count, dst);
                }
            }
        }
    }

    /// <summary>The average-pool gradient: each dy[n, oy, ox, c]/k is added to the k window positions inside the input.</summary>
    public static void AvgPoolBackward(ReadOnlySpan<float> dy, in WindowGeometry g, Span<float> dx)
    {
        dx.Clear();
        int c = g.C, at = 0;
        float[] scaled = NnKernels.Rent(c);
        try
        {
            var share = scaled.AsSpan(0, c);
            for (int n = 0; n < g.N; n++)
            {
                for (int oy = 0; oy < g.OH; oy++)
                {
                    int y0 = Math.Max(oy * g.SH - g.PadTop, 0), y1 = Math.Min(oy * g.SH - g.PadTop + g.KH, g.H);
                    for (int ox = 0; ox < g.OW; ox++, at += c)
                    {
                        int x0 = Math.Max(ox * g.SW - g.PadLeft, 0), x1 = Math.Min(ox * g.SW - g.PadLeft + g.KW, g.W);
                        int count = Math.Max(y1 - y0, 0) * Math.Max(x1 - x0, 0);
                        if (count == 0) continue;
                        TensorPrimitives.Multiply(dy.Slice(at, c), 1f / count, share);
                        for (int iy = y0; iy < y1; iy++)
                        {
                            for (int ix = x0; ix < x1; ix++)
                            {
                                var dst = dx.Slice(((n * g.H + iy) * g.W + ix) * c, c);
                                TensorPrimitives.Add(dst, share, dst);
                            }
                        }
                    }
                }
            }
        }
        finally
        {
            NnKernels.Return(scaled);
        }
    }

    private static ref float Unsafe(ref float r, nint offset) => ref System.Runtime.CompilerServices.Unsafe.Add(ref r, offset);
}
