namespace TfSyncBN.Tensors.Kernels;

/// <summary>
/// Implicit-GEMM convolution on NHWC data: the products of im2col + GEMM (<see cref="ConvKernels"/>) with the patch
/// matrix never written. The GEMM reads each patch row from the input in place, one contiguous segment of KW·C floats
/// per window row (so the window's columns must be adjacent: DW = 1); where the window reaches into the padding, from
/// a zero-padded copy of the input. The managed GEMM kernel only (OpenBLAS takes stored matrices).
/// </summary>
/// <remarks>
/// <para>Forward: <c>y = P·K</c>, P the M×(KH·KW·C) patch matrix (row (n, oy, ox) = the window of that output pixel in
/// (ky, kx, c) order), read in place by the micro-kernel. The same multiply-adds in the same order as im2col followed
/// by the managed GEMM, so the same bits.</para>
/// <para>Kernel gradient: <c>dKᵀ = dYᵀ·P</c>, the GEMM reading P's rows as its B straight from the input (in place, or packed); the same
/// products in the same order as im2col of the whole batch followed by the managed GEMM of <c>Pᵀ·dY</c>, so the same bits.</para>
/// <para>Input gradient (stride 1): <c>dx</c> is the forward convolution of dY with the kernel flipped in space and with
/// its channel axes swapped (<c>K'[ky, kx, f, c] = K[KH−1−ky, KW−1−kx, c, f]</c>), padded by <c>(KH−1)·DH − PadTop</c>
/// rows above and <c>(KW−1) − PadLeft</c> columns left: each dx element is one sum over its window of dY instead of
/// col2im's scattered additions (the same terms; rounding differs).</para>
/// </remarks>
internal static class ConvImplicit
{
    /// <summary>Whether the forward pass and the kernel gradient of <paramref name="g"/> go through here: DW = 1 and the managed GEMM
    /// is the one <see cref="Gemm"/> chooses for the forward product.</summary>
    public static bool Applies(in WindowGeometry g, int filters) => g.DW == 1 && !Gemm.UsesNative(g.N * g.Pixels, filters);

    /// <summary>Whether the input gradient of <paramref name="g"/> goes through here: stride 1, DW = 1, the managed GEMM for
    /// the product it becomes, and at least one micro-kernel tile of input channels (its columns; fewer would waste most
    /// of each tile, where col2im's product has KH·KW times as many).</summary>
    public static bool AppliesToInputGradient(in WindowGeometry g) =>
        g.SH == 1 && g.SW == 1 && g.DW == 1 && g.PadTop <= (g.KH - 1) * g.DH && g.PadLeft <= g.KW - 1 && g.C >= Gemm.TileColumns &&
        !Gemm.UsesNative(g.N * g.H * g.W, g.C);

    /// <summary>
    /// Whether the single-threaded kernel gradient of <paramref name="g"/> reads its patch matrix P (the GEMM's B) where it
    /// lies instead of packing it: when every micro-kernel panel of P's columns lies inside one window row.
    /// </summary>
    internal static bool ReadsPatchesInPlace(in WindowGeometry g) => PatchMatrix.PanelsInsideRows(g.KW * g.C, 0, g.Patch, Gemm.TileColumns);

    /// <summary><c>y[n, oy, ox, f] = Σ_{ky,kx,c} x[n, iy, ix, c]·k[ky, kx, c, f]</c> (y overwritten).</summary>
    public static unsafe void Forward(ReadOnlySpan<float> x, ReadOnlySpan<float> kernel, int filters, in WindowGeometry g, Span<float> y)
    {
        int m = g.N * g.Pixels, k = g.Patch;
        float[]? padded = ConvKernels.PadInput(x, g, out int hp, out int wp);
        try
        {
            fixed (float* px = padded is null ? x : padded, pk = kernel)
                Gemm.Multiply(m, filters, k, new PatchMatrix(px, g, hp, wp), new Gemm.MatrixB(pk, filters, transposed: false), y,
                    accumulate: false, native: false, Gemm.ThreadsFor(m, filters, k));
        }
        finally
        {
            if (padded is not null) NnKernels.Return(padded);
        }
    }

    /// <summary>
    /// <c>dk[ky, kx, c, f] = Σ_{n,oy,ox} x[n, iy, ix, c]·dy[n, oy, ox, f]</c> (dk overwritten), computed as its transpose
    /// <c>dYᵀ·P</c>, so that the large operand, P, is the GEMM's B: read in place where its panels lie inside window rows
    /// (<see cref="ReadsPatchesInPlace"/>), else packed by contiguous copies.
    /// </summary>
    public static unsafe void KernelGradient(ReadOnlySpan<float> x, ReadOnlySpan<float> dy, int filters, in WindowGeometry g, Span<float> dk)
    {
        int m = g.N * g.Pixels, k = g.Patch;
        float[]? padded = ConvKernels.PadInput(x, g, out int hp, out int wp);
        float[] transposed = NnKernels.Rent(filters * k);
        try
        {
            fixed (float* px = padded is null ? x : padded, pdy = dy)
                Gemm.Multiply(filters, k, m, new Gemm.MatrixA(pdy, filters, transposed: true), new PatchMatrix(px, g, hp, wp), transposed,
                    accumulate: false, native: false, Gemm.ThreadsFor(filters, k, m));
            for (int e = 0; e < k; e++)
            {
                for (int f = 0; f < filters; f++) dk[e * filters + f] = transposed[f * k + e];
            }
        }
        finally
        {
            if (padded is not null) NnKernels.Return(padded);
            NnKernels.Return(transposed);
        }
    }

    /// <summary>
    /// <c>dx[n, iy, ix, c] = Σ dy[n, oy, ox, f]·k[ky, kx, c, f]</c> over the (oy, ox, ky, kx) with iy = oy − PadTop + ky·DH and
    /// ix = ox − PadLeft + kx (dx overwritten); requires <see cref="AppliesToInputGradient"/>.
    /// </summary>
    public static void InputGradient(ReadOnlySpan<float> kernel, ReadOnlySpan<float> dy, int filters, in WindowGeometry g, Span<float> dx)
    {
        int taps = g.KH * g.KW, c = g.C;
        float[] flipped = NnKernels.Rent(taps * c * filters);
        try
        {
            for (int t = 0; t < taps; t++)
            {
                var src = kernel.Slice((taps - 1 - t) * c * filters, c * filters);
                var dst = flipped.AsSpan(t * filters * c, filters * c);
                for (int ci = 0; ci < c; ci++)
                {
                    for (int f = 0; f < filters; f++) dst[f * c + ci] = src[ci * filters + f];
                }
            }
            var transposed = new WindowGeometry(g.N, g.OH, g.OW, filters, g.KH, g.KW, 1, 1, g.H, g.W,
                (g.KH - 1) * g.DH - g.PadTop, g.KW - 1 - g.PadLeft, g.DH, 1);
            Forward(dy, flipped, c, transposed, dx);
        }
        finally
        {
            NnKernels.Return(flipped);
        }
    }

    /// <summary>
    /// The M×(KH·KW·C) patch matrix of a padded input (row (n, oy, ox) = an output pixel, column (ky, kx, c) = a window
    /// element): element ((n, oy, ox), (ky, kx, c)) is <c>data[((n·hp + oy·SH + ky·DH)·wp + ox·SW + kx)·C + c]</c>. As
    /// the GEMM's A its rows are read in place (never packed); as B its panels are read in place where each lies inside one
    /// window row (<see cref="ReadsInPlace"/>), else packed by contiguous copies.
    /// </summary>
    private readonly unsafe struct PatchMatrix(float* data, WindowGeometry g, int hp, int wp) : Gemm.IOperandA, Gemm.IOperandB
    {
        /// <summary>One window row: KW·C contiguous floats.</summary>
        private readonly int segment = g.KW * g.C;

        /// <summary>From one window row to the next.</summary>
        private readonly nint rowJump = (nint)g.DH * wp * g.C;

        /// <summary>Writes the offsets of window (0, 0) of output pixels [first, first + bases.Length) into <paramref name="bases"/>.</summary>
        private void PixelBases(int first, Span<nint> bases)
        {
            int ow = g.OW, oh = g.OH, sh = g.SH, sw = g.SW, c = g.C, h = hp, w = wp;   // locals: bases could alias the fields
            int n = first / g.Pixels, oy = first % g.Pixels / ow, ox = first % ow;
            for (int t = 0; t < bases.Length; t++)
            {
                bases[t] = (((nint)n * h + oy * sh) * w + ox * sw) * c;
                if (++ox < ow) continue;
                ox = 0;
                if (++oy < oh) continue;
                oy = 0;
                n++;
            }
        }

        /// <summary>Where window element <paramref name="e"/> lies relative to window (0, 0).</summary>
        private nint PatchOffset(int e) => e / segment * rowJump + e % segment;

        public bool UsesRowScratch => true;

        public int Begin(int i, int m, Span<nint> scratch)
        {
            PixelBases(i, scratch);
            return m;
        }

        public ref float Panel(int i, ReadOnlySpan<nint> scratch, int rows, int pc, out Gemm.Walk walk)
        {
            // Row j's offset from row 0; missing rows repeat row 0.
            static nint R(ReadOnlySpan<nint> bases, int j, int rows) => j < rows ? bases[j] - bases[0] : 0;
            int q = pc % segment;
            walk = new Gemm.Walk(R(scratch, 1, rows), R(scratch, 2, rows), R(scratch, 3, rows), R(scratch, 4, rows), R(scratch, 5, rows),
                segment - q, segment, rowJump - segment);
            return ref data[scratch[0] + PatchOffset(pc)];
        }

        void Gemm.IOperandA.Pack(int i, int pc, int mc, int kc, Span<float> dst) =>
            throw new InvalidOperationException("A patch matrix as A is read in place, never packed.");

        /// <summary>In place when every nr-wide panel of [col0, col0 + n) lies inside one window row (its columns contiguous in x).</summary>
        public bool ReadsInPlace(int col0, int n, int nr) => PanelsInsideRows(segment, col0, n, nr);

        /// <summary>Whether columns [col0, col0 + n) fall into whole nr-wide panels that each lie inside one window row of <paramref name="segment"/> columns.</summary>
        public static bool PanelsInsideRows(int segment, int col0, int n, int nr)
        {
            if (n % nr != 0) return false;
            for (int j = col0; j < col0 + n; j += nr)
                if (j % segment + nr > segment) return false;
            return true;
        }

        public void RowOffsets(int pc, Span<nint> rows) => PixelBases(pc, rows);

        public ref float Column(int j) => ref data[PatchOffset(j)];

        public void Pack(int pc, int jc, int kc, int nc, int nr, Span<float> dst)
        {
            Span<nint> bases = stackalloc nint[kc];
            PixelBases(pc, bases);
            float* x = data;
            // A panel's columns as runs inside one window row each: [start, start + length) from offset.
            Span<int> start = stackalloc int[nr], length = stackalloc int[nr];
            Span<nint> offset = stackalloc nint[nr];
            for (int jr = 0; jr < nc; jr += nr)
            {
                int w = Math.Min(nr, nc - jr), first = jc + jr;
                int runs = 0;
                for (int j = 0; j < w; j += length[runs++])
                {
                    start[runs] = j;
                    length[runs] = Math.Min(segment - (first + j) % segment, w - j);
                    offset[runs] = PatchOffset(first + j);
                }
                fixed (float* panel = dst.Slice(jr * kc, kc * nr))
                {
                    for (int p = 0; p < kc; p++)
                    {
                        float* s = x + bases[p], row = panel + p * nr;
                        for (int r = 0; r < runs; r++) Gemm.Copy(s + offset[r], row + start[r], length[r]);
                        for (int j = w; j < nr; j++) row[j] = 0;
                    }
                }
            }
        }
    }
}
