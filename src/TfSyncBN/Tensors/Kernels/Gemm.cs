using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace TfSyncBN.Tensors.Kernels;

/// <summary>
/// Single-precision matrix multiplication <c>C (+)= op(A)·op(B)</c> on row-major spans, where <c>op</c> is the identity
/// or the transpose: the hot path of <c>Dense</c> and of <c>Conv2D</c>, forward and backward. The managed kernel also
/// takes operands that are not stored matrices (<see cref="IOperandA"/>, <see cref="IOperandB"/>: a convolution's
/// patch matrix read from its input, <see cref="ConvImplicit"/>).
/// </summary>
/// <remarks>
/// <para>Two implementations behind one entry point: OpenBLAS's <c>cblas_sgemm</c> (<see cref="NativeBlas"/>) when it
/// is installed, <see cref="KernelOptions.UseNativeBlas"/> is true and its kernels are as wide as the CPU's vectors
/// (<see cref="UsesNative(int, int)"/>), otherwise the managed kernel below. Both
/// accumulate in float32; their results differ by rounding only (a different order of the k terms).</para>
/// <para>Threads: outside a multi-replica <c>Run</c>, a large product is split into up to
/// <see cref="KernelOptions.MaxThreads"/> contiguous slabs of C rows (or of C columns when C is wider than tall), one
/// call per slab on its own thread; each element of C is computed by one call, so for a fixed thread count the
/// results are the same bits on every run. Inside a multi-replica <c>Run</c> every product runs on the replica's
/// thread alone (OpenBLAS's own pool is held at one thread).</para>
/// <para>The managed kernel is the classic blocked scheme (Goto/BLIS): K is cut into blocks of <see cref="KC"/> (a short rest joins the
/// last: <see cref="KBlock"/>), M into blocks of
/// <see cref="MC"/>, N into blocks of <see cref="NC"/>. Each block of op(B) is packed into NR-wide column panels
/// ([k][NR], contiguous). When A is not transposed, the micro-kernel reads each whole panel of MR rows of op(A) in
/// place (MR unit-stride streams, a row-major block of op(A) being as cache-friendly as its packed copy); otherwise, and
/// for the last partial panel, op(A) is packed into MR-tall row panels ([k][MR]), zero-padded at the bottom. The micro-kernel keeps an MR×NR tile of C in
/// 2·MR vector registers (MR = 6, NR = two vectors: 6×32 with AVX-512, 6×16 with AVX2) and performs one broadcast
/// and two fused multiply-adds per row and step of k, in increasing k within each block of k, then adds the tile to C
/// (stores it, for the first block of k when not accumulating: C is never cleared first). Rows read in place may be
/// walked in segments (<see cref="Walk"/>: a convolution's window rows). Pack buffers come from
/// <see cref="ArrayPool{T}"/>.</para>
/// </remarks>
internal static class Gemm
{
    /// <summary>Rows of the micro-kernel's tile of C.</summary>
    internal const int MR = 6;

    /// <summary>Columns of the micro-kernel's tile of C on this machine (two vectors).</summary>
    internal static int TileColumns => 2 * (Vector512.IsHardwareAccelerated ? Vector512<float>.Count : Vector256.IsHardwareAccelerated ? Vector256<float>.Count : Vector128<float>.Count);

    /// <summary>Steps of k per block.</summary>
    private const int KC = 256;

    /// <summary>
    /// The longest block of k, the last one: a rest of up to KC + KC/8 steps is one block (<see cref="KBlock"/>). The
    /// micro-kernel's panels of op(B) and op(A), KCMax·(NR + MR) floats (43 KiB with AVX-512), still fit a 48 KiB L1 cache.
    /// </summary>
    private const int KCMax = KC + KC / 8;

    private const int MC = 120;
    private const int NC = 1024;

    /// <summary>
    /// The widest transposed A read in place (its leading dimension, in floats): each step of k then touches one or two
    /// cache lines per panel, within 1 KiB of the last step's.
    /// </summary>
    internal const int TransposedInPlaceMaxLda = 256;

    /// <summary>Multiply-adds per thread below which a product is not split further (with the default
    /// <see cref="KernelOptions.MinElementsPerThread"/>: 2·2^20).</summary>
    private const int WorkScale = 16;

    /// <summary>Slabs are multiples of this many rows or columns.</summary>
    private const int SlabAlign = 16;

    /// <summary>
    /// <c>C = op(A)·op(B)</c>, or <c>C += op(A)·op(B)</c> when <paramref name="accumulate"/>; op(A) is m×k, op(B) is k×n,
    /// C is m×n (row-major, contiguous).
    /// </summary>
    /// <remarks>A is m×k row-major, or k×m row-major when <c>transA</c>; B is k×n row-major, or n×k row-major when <c>transB</c>.</remarks>
    public static void Multiply(int m, int n, int k, ReadOnlySpan<float> a, bool transA, ReadOnlySpan<float> b, bool transB,
        Span<float> c, bool accumulate) =>
        Multiply(m, n, k, a, transA, b, transB, c, accumulate, UsesNative(m, n),
            ThreadsFor(m, n, k));

    /// <summary>
    /// Whether an m×n product goes to OpenBLAS: when it is loaded and <see cref="KernelOptions.UseNativeBlas"/> is true,
    /// unless the CPU has 512-bit vectors that OpenBLAS's kernels do not use (e.g. under <c>OPENBLAS_CORETYPE=Haswell</c>)
    /// and C is at least one managed micro-kernel tile wide and four tall (n ≥ 32, m ≥ 4·<see cref="MR"/>): there the
    /// managed AVX-512 kernel is the faster one (BENCHMARKS.md, GEMM table; shorter products such as the 9-row kernel
    /// gradient of a 3×3 single-channel convolution spend a third of each tile on padding). The choice depends on the
    /// shape only, so results stay deterministic.
    /// </summary>
    internal static bool UsesNative(int m, int n) =>
        UsesNative(m, n, KernelOptions.UseNativeBlas && NativeBlas.IsAvailable, NativeBlas.Has512BitKernels, Vector512.IsHardwareAccelerated);

    /// <summary><see cref="UsesNative(int, int)"/> with the machine's facts given.</summary>
    internal static bool UsesNative(int m, int n, bool nativeAllowed, bool blas512, bool cpu512) =>
        nativeAllowed && (blas512 || !cpu512 || n < 2 * Vector512<float>.Count || m < 4 * MR);

    /// <summary>The thread count of an m×n×k product outside a multi-replica <c>Run</c> (at most <see cref="KernelOptions.MaxThreads"/>).</summary>
    internal static int ThreadsFor(int m, int n, int k) => KernelOptions.ThreadsFor((long)m * n * k / WorkScale, Math.Max(m, n) / SlabAlign);

    /// <summary>As the public overload, with the implementation and the thread count given (tests, benchmarks).</summary>
    internal static unsafe void Multiply(int m, int n, int k, ReadOnlySpan<float> a, bool transA, ReadOnlySpan<float> b, bool transB,
        Span<float> c, bool accumulate, bool native, int threads)
    {
        fixed (float* pa = a, pb = b)
            Multiply(m, n, k, new MatrixA(pa, transA ? m : k, transA), new MatrixB(pb, transB ? k : n, transB), c, accumulate, native, threads);
    }

    /// <summary>
    /// <c>C (+)= op(A)·op(B)</c> with op(A) (m×k) and op(B) (k×n) given by <paramref name="a"/> and <paramref name="b"/> (their
    /// storage pinned by the caller) and C m×n row-major, on <paramref name="threads"/> threads; <paramref name="native"/>
    /// (OpenBLAS) only for a <see cref="MatrixA"/> and a <see cref="MatrixB"/>.
    /// </summary>
    internal static unsafe void Multiply<TA, TB>(int m, int n, int k, TA a, TB b, Span<float> c, bool accumulate, bool native, int threads)
        where TA : struct, IOperandA where TB : struct, IOperandB
    {
        if (m == 0 || n == 0) return;
        if (k == 0)
        {
            if (!accumulate) c[..(m * n)].Clear();
            return;
        }
        if (threads <= 1)
        {
            Block(0, 0, m, n, k, a, b, c, n, accumulate, native);
            return;
        }
        bool byRows = m >= n;
        int extent = byRows ? m : n;
        int slab = (extent + threads - 1) / threads;
        slab = (slab + SlabAlign - 1) / SlabAlign * SlabAlign;
        int parts = (extent + slab - 1) / slab;
        int cLen = c.Length;
        fixed (float* pc = c)
        {
            float* cp = pc;
            KernelTeam.For(parts, p =>
            {
                int start = p * slab, size = Math.Min(slab, extent - start);
                var C = new Span<float>(cp, cLen);
                if (byRows) Block(start, 0, size, n, k, a, b, C[(start * n)..], n, accumulate, native);
                else Block(0, start, m, size, k, a, b, C[start..], n, accumulate, native);
            });
        }
    }

    /// <summary>Rows [row0, row0 + m) of op(A) times columns [col0, col0 + n) of op(B), on the calling thread.</summary>
    private static unsafe void Block<TA, TB>(int row0, int col0, int m, int n, int k, TA a, TB b, Span<float> c, int ldc, bool accumulate, bool native)
        where TA : struct, IOperandA where TB : struct, IOperandB
    {
        if (native)
        {
            if (typeof(TA) != typeof(MatrixA) || typeof(TB) != typeof(MatrixB))
                throw new ArgumentException("Only stored matrices go to OpenBLAS.", nameof(native));
            var sa = Unsafe.As<TA, MatrixA>(ref a);
            var sb = Unsafe.As<TB, MatrixB>(ref b);
            var spanA = sa.Transposed
                ? new ReadOnlySpan<float>(sa.Data + row0, (k - 1) * sa.Lda + m)
                : new ReadOnlySpan<float>(sa.Data + (nint)row0 * sa.Lda, (m - 1) * sa.Lda + k);
            var spanB = sb.Transposed
                ? new ReadOnlySpan<float>(sb.Data + (nint)col0 * sb.Ldb, (n - 1) * sb.Ldb + k)
                : new ReadOnlySpan<float>(sb.Data + col0, (k - 1) * sb.Ldb + n);
            NativeBlas.Multiply(m, n, k, spanA, sa.Lda, sa.Transposed, spanB, sb.Ldb, sb.Transposed, c, ldc, accumulate);
            return;
        }
        if (Vector512.IsHardwareAccelerated) Run<V512, TA, TB>(row0, col0, m, n, k, ref a, ref b, c, ldc, accumulate);
        else if (Vector256.IsHardwareAccelerated) Run<V256, TA, TB>(row0, col0, m, n, k, ref a, ref b, c, ldc, accumulate);
        else Run<V128, TA, TB>(row0, col0, m, n, k, ref a, ref b, c, ldc, accumulate);
    }

    /// <summary>The blocked product; unless <paramref name="accumulate"/>, the first block of k stores into C instead of adding (C's old contents are never read).</summary>
    private static void Run<TV, TA, TB>(int row0, int col0, int m, int n, int k, ref TA a, ref TB b, Span<float> c, int ldc, bool accumulate)
        where TV : struct, IVec<TV> where TA : struct, IOperandA where TB : struct, IOperandB
    {
        int nr = 2 * TV.Count;
        int ncMax = Math.Min(NC, RoundUp(n, nr)), mcMax = Math.Min(MC, RoundUp(m, MR)), kcMax = Math.Min(KCMax, k);
        // B's panels are read where they lie when the operand allows it (a convolution's patch matrix), else packed.
        bool bInPlace = b.ReadsInPlace(col0, n, nr);
        float[] bPack = ArrayPool<float>.Shared.Rent(bInPlace ? 0 : kcMax * ncMax);
        nint[] bRows = ArrayPool<nint>.Shared.Rent(bInPlace ? kcMax : 0);
        ref nint br = ref bInPlace ? ref bRows[0] : ref Unsafe.NullRef<nint>();
        float[] aPack = ArrayPool<float>.Shared.Rent(kcMax * mcMax);
        // Row offsets are written once per product (not per block of k or of columns): Begin covers all m rows.
        nint[]? rowScratch = a.UsesRowScratch ? ArrayPool<nint>.Shared.Rent(m) : null;
        var rows = rowScratch.AsSpan(0, rowScratch is null ? 0 : m);
        int inPlaceRows = a.Begin(row0, m, rows);
        try
        {
            for (int jc = 0; jc < n; jc += NC)
            {
                int nc = Math.Min(NC, n - jc);
                for (int pc = 0, kc; pc < k; pc += kc)
                {
                    kc = KBlock(k - pc);
                    bool store = pc == 0 && !accumulate;
                    if (bInPlace) b.RowOffsets(pc, bRows.AsSpan(0, kc));
                    else b.Pack(pc, col0 + jc, kc, nc, nr, bPack);
                    for (int ic = 0; ic < m; ic += MC)
                    {
                        int mc = Math.Min(MC, m - ic);
                        // The first inPlace rows are read where they are stored; the others are packed. (MC is a
                        // multiple of MR, so every block but the last reads all its rows in place when A's rows are.)
                        int inPlace = Math.Clamp(inPlaceRows - ic, 0, mc);
                        if (inPlace < mc) a.Pack(row0 + ic + inPlace, pc, mc - inPlace, kc, aPack);
                        for (int jr = 0; jr < nc; jr += nr)
                        {
                            ref float bp = ref bInPlace ? ref b.Column(col0 + jc + jr) : ref bPack[jr * kc];
                            int nLeft = Math.Min(nr, nc - jr);
                            for (int ir = 0; ir < inPlace; ir += MR)
                            {
                                int mLeft = Math.Min(MR, inPlace - ir);
                                ref float cTile = ref c[(ic + ir) * ldc + jc + jr];
                                ref float aRows = ref a.Panel(row0 + ic + ir, rows.IsEmpty ? rows : rows[(ic + ir)..], mLeft, pc, out var walk);
                                if (bInPlace) Tile<TV, Direct, Direct>(kc, ref aRows, walk, ref bp, ref br, ref cTile, ldc, mLeft, nLeft, store);
                                else Tile<TV, Direct, Packed>(kc, ref aRows, walk, ref bp, ref br, ref cTile, ldc, mLeft, nLeft, store);
                            }
                            for (int ir = inPlace; ir < mc; ir += MR)
                            {
                                int mLeft = Math.Min(MR, mc - ir);
                                ref float cTile = ref c[(ic + ir) * ldc + jc + jr];
                                ref float aPanel = ref aPack[(ir - inPlace) * kc];
                                if (bInPlace) Tile<TV, Packed, Direct>(kc, ref aPanel, default, ref bp, ref br, ref cTile, ldc, mLeft, nLeft, store);
                                else Tile<TV, Packed, Packed>(kc, ref aPanel, default, ref bp, ref br, ref cTile, ldc, mLeft, nLeft, store);
                            }
                        }
                    }
                }
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(aPack);
            ArrayPool<float>.Shared.Return(bPack);
            ArrayPool<nint>.Shared.Return(bRows);
            if (rowScratch is not null) ArrayPool<nint>.Shared.Return(rowScratch);
        }
    }

    private static int RoundUp(int x, int to) => (x + to - 1) / to * to;

    /// <summary>
    /// The length of the next block of k when <paramref name="rest"/> steps of k are left: all of them up to
    /// <see cref="KCMax"/>, else <see cref="KC"/>. (A short last block, e.g. k = 288 as 256 + 32, would load and store all
    /// of C once more for a few steps of k.)
    /// </summary>
    internal static int KBlock(int rest) => rest <= KCMax ? rest : KC;

    /// <summary>op(B) of a product, packed for the micro-kernel. Row and column indices are those of the whole op(B).</summary>
    internal interface IOperandB
    {
        /// <summary>Packs rows [pc, pc + kc) × columns [jc, jc + nc) into nr-wide panels, each [kc][nr], zero-padded on the right.</summary>
        void Pack(int pc, int jc, int kc, int nc, int nr, Span<float> dst);

        /// <summary>
        /// Whether the micro-kernel can read columns [col0, col0 + n) where they lie, as whole nr-wide panels whose rows are
        /// nr contiguous floats: row p of the panel at column j at <see cref="Column"/>(j) + the p-th of
        /// <see cref="RowOffsets"/>. Then B is never packed.
        /// </summary>
        bool ReadsInPlace(int col0, int n, int nr);

        /// <summary>Where row p of each in-place panel lies relative to its <see cref="Column"/>, for p in [pc, pc + rows.Length).</summary>
        void RowOffsets(int pc, Span<nint> rows);

        /// <summary>Element (0, j) of an in-place panel starting at column j, to which <see cref="RowOffsets"/> add.</summary>
        ref float Column(int j);
    }

    /// <summary>
    /// op(B) stored row-major with leading dimension <paramref name="ldb"/>: element (p, j) at <c>data[p·ldb + j]</c>, or at
    /// <c>data[j·ldb + p]</c> when <paramref name="transposed"/>.
    /// </summary>
    internal readonly unsafe struct MatrixB(float* data, int ldb, bool transposed) : IOperandB
    {
        public float* Data { get; } = data;
        public int Ldb { get; } = ldb;
        public bool Transposed { get; } = transposed;

        public bool ReadsInPlace(int col0, int n, int nr) => false;

        public void RowOffsets(int pc, Span<nint> rows) => throw new InvalidOperationException("A stored B is packed, never read in place.");

        public ref float Column(int j) => throw new InvalidOperationException("A stored B is packed, never read in place.");

        public void Pack(int pc, int jc, int kc, int nc, int nr, Span<float> dst)
        {
            // Locals, not fields: the stores into dst could alias this struct, so field reads would repeat per element.
            float* data = Data;
            nint ldb = Ldb;
            bool transposed = Transposed;
            for (int jr = 0; jr < nc; jr += nr)
            {
                int w = Math.Min(nr, nc - jr);
                fixed (float* panel = dst.Slice(jr * kc, kc * nr))
                {
                    int p = 0;
                    if (transposed && w == nr && Avx.IsSupported)
                    {
                        // Whole panels of a transposed B: 8×8 blocks transposed in registers, not gathered element by
                        // element; the rest of k (and a narrower last panel) element by element below.
                        float* columns = data + (jc + jr) * ldb + pc;
                        for (; p + 8 <= kc; p += 8)
                            for (int j = 0; j < nr; j += 8) Transpose8x8(columns + j * ldb + p, ldb, panel + p * nr + j, nr);
                    }
                    for (; p < kc; p++)
                    {
                        float* row = panel + p * nr;
                        if (!transposed) Copy(data + (pc + p) * ldb + jc + jr, row, w);
                        else
                        {
                            float* column = data + (jc + jr) * ldb + pc + p;
                            for (int j = 0; j < w; j++) row[j] = column[j * ldb];
                        }
                        for (int j = w; j < nr; j++) row[j] = 0;
                    }
                }
            }
        }
    }

    /// <summary>
    /// Writes the transpose of the 8×8 block at <paramref name="from"/> (rows <paramref name="fromStride"/> floats apart)
    /// to <paramref name="to"/> (rows <paramref name="toStride"/> apart): <c>to[q·toStride + i] = from[i·fromStride + q]</c>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void Transpose8x8(float* from, nint fromStride, float* to, nint toStride)
    {
        Vector256<float> r0 = Avx.LoadVector256(from), r1 = Avx.LoadVector256(from + fromStride),
            r2 = Avx.LoadVector256(from + 2 * fromStride), r3 = Avx.LoadVector256(from + 3 * fromStride),
            r4 = Avx.LoadVector256(from + 4 * fromStride), r5 = Avx.LoadVector256(from + 5 * fromStride),
            r6 = Avx.LoadVector256(from + 6 * fromStride), r7 = Avx.LoadVector256(from + 7 * fromStride);
        // Pairs of rows interleaved, then pairs of pairs: each 128-bit lane holds a 4×4 block transposed.
        Vector256<float> t0 = Avx.UnpackLow(r0, r1), t1 = Avx.UnpackHigh(r0, r1), t2 = Avx.UnpackLow(r2, r3), t3 = Avx.UnpackHigh(r2, r3),
            t4 = Avx.UnpackLow(r4, r5), t5 = Avx.UnpackHigh(r4, r5), t6 = Avx.UnpackLow(r6, r7), t7 = Avx.UnpackHigh(r6, r7);
        Vector256<float> s0 = Avx.Shuffle(t0, t2, 0x44), s1 = Avx.Shuffle(t0, t2, 0xEE), s2 = Avx.Shuffle(t1, t3, 0x44), s3 = Avx.Shuffle(t1, t3, 0xEE),
            s4 = Avx.Shuffle(t4, t6, 0x44), s5 = Avx.Shuffle(t4, t6, 0xEE), s6 = Avx.Shuffle(t5, t7, 0x44), s7 = Avx.Shuffle(t5, t7, 0xEE);
        // Low lanes of rows 0-3 with low lanes of rows 4-7 are columns 0-3; the high lanes, columns 4-7.
        Avx.Store(to, Avx.Permute2x128(s0, s4, 0x20));
        Avx.Store(to + toStride, Avx.Permute2x128(s1, s5, 0x20));
        Avx.Store(to + 2 * toStride, Avx.Permute2x128(s2, s6, 0x20));
        Avx.Store(to + 3 * toStride, Avx.Permute2x128(s3, s7, 0x20));
        Avx.Store(to + 4 * toStride, Avx.Permute2x128(s0, s4, 0x31));
        Avx.Store(to + 5 * toStride, Avx.Permute2x128(s1, s5, 0x31));
        Avx.Store(to + 6 * toStride, Avx.Permute2x128(s2, s6, 0x31));
        Avx.Store(to + 7 * toStride, Avx.Permute2x128(s3, s7, 0x31));
    }

    /// <summary>Copies <paramref name="count"/> floats (a call to <c>Memmove</c> per panel row of 32 floats cost more than its copy).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static unsafe void Copy(float* from, float* to, int count)
    {
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            for (; i + 16 <= count; i += 16) Vector512.Store(Vector512.Load(from + i), to + i);
        }
        if (Vector256.IsHardwareAccelerated)
        {
            for (; i + 8 <= count; i += 8) Vector256.Store(Vector256.Load(from + i), to + i);
        }
        for (; i < count; i++) to[i] = from[i];
    }

    /// <summary>
    /// Where a micro-kernel reads MR rows of op(A) in place: row i's element at step p of the walk is at
    /// <c>ap + Ri + (offset of step p)</c> (R0 = 0), the steps <see cref="Step"/> floats apart within a segment: the first
    /// <see cref="First"/> steps form one segment, then after a further jump of <see cref="Gap"/> the next
    /// <see cref="Segment"/>, and so on (a stored matrix is one segment; the patch rows of a convolution's input are one
    /// segment per window row).
    /// </summary>
    internal readonly record struct Walk(nint R1, nint R2, nint R3, nint R4, nint R5, int First, int Segment, nint Gap, nint Step = 1)
    {
        /// <summary>MR rows <paramref name="lda"/> apart, one segment.</summary>
        public static Walk Rows(nint lda) => new(lda, 2 * lda, 3 * lda, 4 * lda, 5 * lda, int.MaxValue, int.MaxValue, 0);

        /// <summary>
        /// MR adjacent rows of a transposed A (row i's elements <paramref name="lda"/> apart), one segment; rows from
        /// <paramref name="rows"/> on repeat row 0.
        /// </summary>
        public static Walk Columns(nint lda, int rows) =>
            new(rows > 1 ? 1 : 0, rows > 2 ? 2 : 0, rows > 3 ? 3 : 0, rows > 4 ? 4 : 0, rows > 5 ? 5 : 0, int.MaxValue, int.MaxValue, 0, lda);
    }

    /// <summary>
    /// op(A) of a product: which rows the micro-kernel reads in place (<see cref="Begin"/>, <see cref="Panel"/>) and how
    /// the others are packed (<see cref="Pack"/>). Row indices are those of the whole op(A).
    /// </summary>
    internal interface IOperandA
    {
        /// <summary>Whether <see cref="Begin"/> writes one offset per row into its scratch (else the scratch is empty).</summary>
        bool UsesRowScratch { get; }

        /// <summary>
        /// Starts a product over rows [<paramref name="i"/>, i + <paramref name="m"/>): returns how many of them, from i, are read in
        /// place (a multiple of MR unless all), writing whatever <see cref="Panel"/> needs into <paramref name="scratch"/> (m long
        /// when <see cref="UsesRowScratch"/>).
        /// </summary>
        int Begin(int i, int m, Span<nint> scratch);

        /// <summary>
        /// The in-place panel of rows [<paramref name="i"/>, i + <paramref name="rows"/>) (rows ≤ MR; missing rows repeat row i),
        /// from column <paramref name="pc"/>: its first element, and in <paramref name="walk"/> how the micro-kernel steps
        /// through it. <paramref name="scratch"/> is <see cref="Begin"/>'s, from this panel's first row.
        /// </summary>
        ref float Panel(int i, ReadOnlySpan<nint> scratch, int rows, int pc, out Walk walk);

        /// <summary>Packs rows [i, i + mc) × columns [pc, pc + kc) into MR-tall panels, each [kc][MR], zero-padded at the bottom.</summary>
        void Pack(int i, int pc, int mc, int kc, Span<float> dst);
    }

    /// <summary>
    /// op(A) stored row-major with leading dimension <paramref name="lda"/>: element (i, p) at <c>data[i·lda + p]</c>, or
    /// at <c>data[p·lda + i]</c> when <paramref name="transposed"/>. Whole panels of rows are read in place; so is a
    /// transposed A with <c>lda</c> ≤ <see cref="TransposedInPlaceMaxLda"/> (MR adjacent floats per step of k, e.g. dYᵀ
    /// of a convolution's kernel gradient), every panel; a wider transposed A is packed.
    /// </summary>
    internal readonly unsafe struct MatrixA(float* data, int lda, bool transposed) : IOperandA
    {
        public float* Data { get; } = data;
        public int Lda { get; } = lda;
        public bool Transposed { get; } = transposed;
        private int Row => Transposed ? 1 : Lda;
        private int Column => Transposed ? Lda : 1;

        public bool UsesRowScratch => false;

        public int Begin(int i, int m, Span<nint> scratch) => !Transposed ? m / MR * MR : Lda <= TransposedInPlaceMaxLda ? m : 0;

        public ref float Panel(int i, ReadOnlySpan<nint> scratch, int rows, int pc, out Walk walk)
        {
            walk = Transposed ? Walk.Columns(Lda, rows) : Walk.Rows(Row);
            return ref Data[(nint)i * Row + (nint)pc * Column];
        }

        public void Pack(int ic, int pc, int mc, int kc, Span<float> dst)
        {
            // Locals, not fields (see MatrixB.Pack).
            float* data = Data;
            nint row = Row, column = Column;
            for (int ir = 0; ir < mc; ir += MR)
            {
                int h = Math.Min(MR, mc - ir);
                var panel = dst.Slice(ir * kc, kc * MR);
                if (Transposed)
                {
                    // Transposed A: the MR rows of one k step are contiguous; whole panels copy them as 4 + 2 floats
                    // (a call per six floats cost more than the copy).
                    float* src = data + pc * column + ic + ir;
                    if (h == MR)
                    {
                        fixed (float* d = panel)
                        {
                            for (int p = 0; p < kc; p++)
                            {
                                float* s = src + p * column, t = d + p * MR;
                                Vector128.Store(Vector128.Load(s), t);
                                *(ulong*)(t + 4) = *(ulong*)(s + 4);
                            }
                        }
                        continue;
                    }
                    // The last panel's rows as scalars: a CopyTo and a Clear per k step cost more than their few floats.
                    fixed (float* d = panel)
                    {
                        for (int p = 0; p < kc; p++)
                        {
                            float* s = src + p * column, t = d + p * MR;
                            int i = 0;
                            for (; i < h; i++) t[i] = s[i];
                            for (; i < MR; i++) t[i] = 0;
                        }
                    }
                    continue;
                }
                if (h < MR) panel.Clear();
                for (int i = 0; i < h; i++)
                {
                    float* src = data + (ic + ir + i) * row + pc;
                    for (int p = 0; p < kc; p++) panel[p * MR + i] = src[p];
                }
            }
        }
    }

    /// <summary>Where the micro-kernel reads an operand's panel.</summary>
    private interface IPanelLayout
    {
        /// <summary>
        /// True: in place (A: its MR rows as its <see cref="Walk"/> says; B: row p at <c>bp + rows[p]</c>); false: a packed
        /// panel (A: row i, step p at <c>ap[p·MR + i]</c>; B: row p at <c>bp[p·NR]</c>).
        /// </summary>
        static abstract bool InPlace { get; }
    }

    private readonly struct Packed : IPanelLayout { public static bool InPlace => false; }

    /// <summary>An operand read where it lies (A along its <see cref="Walk"/>, B through its row offsets).</summary>
    private readonly struct Direct : IPanelLayout { public static bool InPlace => true; }

    /// <summary>One MR×NR tile of C: the micro-kernel, or <see cref="EdgeTile"/> when only part of the tile exists.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Tile<TV, TA, TB>(int kc, ref float ap, in Walk walk, ref float bp, ref nint bRows, ref float c, int ldc,
        int mLeft, int nLeft, bool store) where TV : struct, IVec<TV> where TA : struct, IPanelLayout where TB : struct, IPanelLayout
    {
        if (mLeft == MR && nLeft == 2 * TV.Count) MicroKernel<TV, TA, TB>(kc, ref ap, walk, ref bp, ref bRows, ref c, ldc, store);
        else EdgeTile<TV, TA, TB>(kc, ref ap, walk, ref bp, ref bRows, ref c, ldc, mLeft, nLeft, store);
    }

    /// <summary>
    /// C += Apanel·Bpanel (C = Apanel·Bpanel when <paramref name="store"/>) for one whole MR×NR tile; A is a packed panel
    /// or MR rows read in place along <paramref name="walk"/> (<typeparamref name="TA"/>). The same multiply-adds in the
    /// same order either way.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void MicroKernel<TV, TA, TB>(int kc, ref float ap, in Walk walk, ref float bp, ref nint bRows, ref float c, int ldc, bool store)
        where TV : struct, IVec<TV> where TA : struct, IPanelLayout where TB : struct, IPanelLayout
    {
        int w = TV.Count;
        // Offsets of rows 1-5 and the step per k.
        nint r1 = TA.InPlace ? walk.R1 : 1, r2 = TA.InPlace ? walk.R2 : 2, r3 = TA.InPlace ? walk.R3 : 3, r4 = TA.InPlace ? walk.R4 : 4,
            r5 = TA.InPlace ? walk.R5 : 5, step = TA.InPlace ? walk.Step : MR;
        TV c00 = TV.Splat(0), c01 = TV.Splat(0), c10 = TV.Splat(0), c11 = TV.Splat(0), c20 = TV.Splat(0), c21 = TV.Splat(0);
        TV c30 = TV.Splat(0), c31 = TV.Splat(0), c40 = TV.Splat(0), c41 = TV.Splat(0), c50 = TV.Splat(0), c51 = TV.Splat(0);
        int left = kc, len = TA.InPlace ? Math.Min(walk.First, kc) : kc;
        while (true)
        {
            for (int p = 0; p < len; p++)
            {
                ref float b = ref TB.InPlace ? ref Unsafe.Add(ref bp, bRows) : ref bp;
                TV b0 = TV.Load(ref b), b1 = TV.Load(ref Unsafe.Add(ref b, w));
                TV a = TV.Splat(ap);
                c00 = TV.MultiplyAdd(a, b0, c00); c01 = TV.MultiplyAdd(a, b1, c01);
                a = TV.Splat(Unsafe.Add(ref ap, r1));
                c10 = TV.MultiplyAdd(a, b0, c10); c11 = TV.MultiplyAdd(a, b1, c11);
                a = TV.Splat(Unsafe.Add(ref ap, r2));
                c20 = TV.MultiplyAdd(a, b0, c20); c21 = TV.MultiplyAdd(a, b1, c21);
                a = TV.Splat(Unsafe.Add(ref ap, r3));
                c30 = TV.MultiplyAdd(a, b0, c30); c31 = TV.MultiplyAdd(a, b1, c31);
                a = TV.Splat(Unsafe.Add(ref ap, r4));
                c40 = TV.MultiplyAdd(a, b0, c40); c41 = TV.MultiplyAdd(a, b1, c41);
                a = TV.Splat(Unsafe.Add(ref ap, r5));
                c50 = TV.MultiplyAdd(a, b0, c50); c51 = TV.MultiplyAdd(a, b1, c51);
                ap = ref Unsafe.Add(ref ap, step);
                if (TB.InPlace) bRows = ref Unsafe.Add(ref bRows, 1);
                else bp = ref Unsafe.Add(ref bp, 2 * w);
            }
            left -= len;
            if (!TA.InPlace || left == 0) break;
            ap = ref Unsafe.Add(ref ap, walk.Gap);
            len = Math.Min(walk.Segment, left);
        }
        PutRow(c00, c01, ref c, w, store);
        PutRow(c10, c11, ref Unsafe.Add(ref c, ldc), w, store);
        PutRow(c20, c21, ref Unsafe.Add(ref c, 2 * ldc), w, store);
        PutRow(c30, c31, ref Unsafe.Add(ref c, 3 * ldc), w, store);
        PutRow(c40, c41, ref Unsafe.Add(ref c, 4 * ldc), w, store);
        PutRow(c50, c51, ref Unsafe.Add(ref c, 5 * ldc), w, store);
    }

    /// <summary>
    /// One MR×NR tile of which only C[0..mLeft, 0..nLeft] exists: the micro-kernel stores into a scratch tile, whose
    /// part inside C is then added to C (stored when <paramref name="store"/>). (Kept out of the micro-kernel so that its
    /// loop holds every accumulator in a register whatever the JIT's profile data.)
    /// </summary>
    private static void EdgeTile<TV, TA, TB>(int kc, ref float ap, in Walk walk, ref float bp, ref nint bRows, ref float c, int ldc,
        int mLeft, int nLeft, bool store) where TV : struct, IVec<TV> where TA : struct, IPanelLayout where TB : struct, IPanelLayout
    {
        int nrw = 2 * TV.Count;
        Span<float> tile = stackalloc float[MR * 2 * Vector512<float>.Count];
        MicroKernel<TV, TA, TB>(kc, ref ap, walk, ref bp, ref bRows, ref MemoryMarshal.GetReference(tile), nrw, store: true);
        for (int i = 0; i < mLeft; i++)
        {
            ref float row = ref Unsafe.Add(ref c, i * ldc);
            for (int j = 0; j < nLeft; j++)
            {
                if (store) Unsafe.Add(ref row, j) = tile[i * nrw + j];
                else Unsafe.Add(ref row, j) += tile[i * nrw + j];
            }
        }
    }

    /// <summary>Adds two vectors into C's row (stores them when <paramref name="store"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void PutRow<TV>(TV lo, TV hi, ref float c, int w, bool store) where TV : struct, IVec<TV>
    {
        ref float c1 = ref Unsafe.Add(ref c, w);
        if (!store)
        {
            lo = TV.Add(TV.Load(ref c), lo);
            hi = TV.Add(TV.Load(ref c1), hi);
        }
        TV.Store(lo, ref c);
        TV.Store(hi, ref c1);
    }
}
