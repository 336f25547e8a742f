using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace TfSyncBN.Tensors.Kernels;

/// <summary>
/// Single-precision matrix multiplication <c>C (+)= op(A)·op(B)</c> on row-major spans, where <c>op</c> is the identity
/// or the transpose: the hot path of <c>Dense</c> and of <c>Conv2D</c> (through im2col), forward and backward.
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
/// <para>The managed kernel is the classic blocked scheme (Goto/BLIS): K is cut into blocks of <see cref="KC"/>, M into blocks of
/// <see cref="MC"/>, N into blocks of <see cref="NC"/>. Each block of op(B) is packed into NR-wide column panels
/// ([k][NR], contiguous). When A is not transposed, the micro-kernel reads each whole panel of MR rows of op(A) in
/// place (MR unit-stride streams, a row-major block of op(A) being as cache-friendly as its packed copy); otherwise, and
/// for the last partial panel, op(A) is packed into MR-tall row panels ([k][MR]), zero-padded at the bottom. The micro-kernel keeps an MR×NR tile of C in
/// 2·MR vector registers (MR = 6, NR = two vectors: 6×32 with AVX-512, 6×16 with AVX2) and performs one broadcast
/// and two fused multiply-adds per row and step of k, in increasing k within each block of KC. Pack buffers come from
/// <see cref="ArrayPool{T}"/>.</para>
/// </remarks>
internal static class Gemm
{
    private const int MR = 6;
    private const int KC = 256;
    private const int MC = 120;
    private const int NC = 1024;

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
            KernelOptions.ThreadsFor((long)m * n * k / WorkScale, Math.Max(m, n) / SlabAlign));

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

    /// <summary>As the public overload, with the implementation and the thread count given (tests, benchmarks).</summary>
    internal static unsafe void Multiply(int m, int n, int k, ReadOnlySpan<float> a, bool transA, ReadOnlySpan<float> b, bool transB,
        Span<float> c, bool accumulate, bool native, int threads)
    {
        if (m == 0 || n == 0) return;
        if (k == 0)
        {
            if (!accumulate) c[..(m * n)].Clear();
            return;
        }
        int lda = transA ? m : k, ldb = transB ? k : n;
        if (threads <= 1)
        {
            Block(m, n, k, a, lda, transA, b, ldb, transB, c, n, accumulate, native);
            return;
        }
        bool byRows = m >= n;
        int extent = byRows ? m : n;
        int slab = (extent + threads - 1) / threads;
        slab = (slab + SlabAlign - 1) / SlabAlign * SlabAlign;
        int parts = (extent + slab - 1) / slab;
        int aLen = a.Length, bLen = b.Length, cLen = c.Length;
        fixed (float* pa = a, pb = b, pc = c)
        {
            float* ap = pa, bp = pb, cp = pc;
            Parallel.For(0, parts, new ParallelOptions { MaxDegreeOfParallelism = threads }, p =>
            {
                int start = p * slab, size = Math.Min(slab, extent - start);
                var A = new ReadOnlySpan<float>(ap, aLen);
                var B = new ReadOnlySpan<float>(bp, bLen);
                var C = new Span<float>(cp, cLen);
                if (byRows)
                    Block(size, n, k, A[(transA ? start : start * lda)..], lda, transA, B, ldb, transB, C[(start * n)..], n, accumulate, native);
                else
                    Block(m, size, k, A, lda, transA, B[(transB ? start * ldb : start)..], ldb, transB, C[start..], n, accumulate, native);
            });
        }
    }

    /// <summary>One product on the calling thread, with leading dimensions.</summary>
    private static void Block(int m, int n, int k, ReadOnlySpan<float> a, int lda, bool transA, ReadOnlySpan<float> b, int ldb, bool transB,
        Span<float> c, int ldc, bool accumulate, bool native)
    {
        if (native)
        {
            NativeBlas.Multiply(m, n, k, a, lda, transA, b, ldb, transB, c, ldc, accumulate);
            return;
        }
        if (!accumulate)
        {
            if (ldc == n) c[..(m * n)].Clear();
            else for (int i = 0; i < m; i++) c.Slice(i * ldc, n).Clear();
        }
        // Element (i, p) of op(A) is a[i·aRow + p·aCol]; element (p, j) of op(B) is b[p·bRow + j·bCol].
        int aRow = transA ? 1 : lda, aCol = transA ? lda : 1;
        int bRow = transB ? 1 : ldb, bCol = transB ? ldb : 1;
        if (Vector512.IsHardwareAccelerated) Run<V512>(m, n, k, a, aRow, aCol, b, bRow, bCol, c, ldc);
        else if (Vector256.IsHardwareAccelerated) Run<V256>(m, n, k, a, aRow, aCol, b, bRow, bCol, c, ldc);
        else Run<V128>(m, n, k, a, aRow, aCol, b, bRow, bCol, c, ldc);
    }

    private static void Run<TV>(int m, int n, int k, ReadOnlySpan<float> a, int aRow, int aCol, ReadOnlySpan<float> b, int bRow, int bCol,
        Span<float> c, int ldc)
        where TV : struct, IVec<TV>
    {
        int nr = 2 * TV.Count;
        int ncMax = Math.Min(NC, RoundUp(n, nr)), mcMax = Math.Min(MC, RoundUp(m, MR)), kcMax = Math.Min(KC, k);
        float[] bPack = ArrayPool<float>.Shared.Rent(kcMax * ncMax);
        float[] aPack = ArrayPool<float>.Shared.Rent(kcMax * mcMax);
        try
        {
            for (int jc = 0; jc < n; jc += NC)
            {
                int nc = Math.Min(NC, n - jc);
                for (int pc = 0; pc < k; pc += KC)
                {
                    int kc = Math.Min(KC, k - pc);
                    PackB(b, bRow, bCol, pc, jc, kc, nc, nr, bPack);
                    for (int ic = 0; ic < m; ic += MC)
                    {
                        int mc = Math.Min(MC, m - ic);
                        // Rows of op(A) that are contiguous in memory are read in place by whole panels of MR rows;
                        // only the other panels (all of a transposed A, the last partial panel otherwise) are packed.
                        int inPlace = aCol == 1 ? mc / MR * MR : 0;
                        if (inPlace < mc) PackA(a, aRow, aCol, ic + inPlace, pc, mc - inPlace, kc, aPack);
                        for (int jr = 0; jr < nc; jr += nr)
                        {
                            ref float bp = ref bPack[jr * kc];
                            int nLeft = Math.Min(nr, nc - jr);
                            for (int ir = 0; ir < inPlace; ir += MR)
                            {
                                ref float cTile = ref c[(ic + ir) * ldc + jc + jr];
                                ref float aRows = ref Unsafe.AsRef(in a[(ic + ir) * aRow + pc]);
                                if (nLeft == nr) MicroKernel<TV, RowsInPlace>(kc, ref aRows, aRow, ref bp, ref cTile, ldc);
                                else EdgeTile<TV, RowsInPlace>(kc, ref aRows, aRow, ref bp, ref cTile, ldc, MR, nLeft);
                            }
                            for (int ir = inPlace; ir < mc; ir += MR)
                            {
                                int mLeft = Math.Min(MR, mc - ir);
                                ref float cTile = ref c[(ic + ir) * ldc + jc + jr];
                                ref float aPanel = ref aPack[(ir - inPlace) * kc];
                                if (mLeft == MR && nLeft == nr) MicroKernel<TV, Packed>(kc, ref aPanel, MR, ref bp, ref cTile, ldc);
                                else EdgeTile<TV, Packed>(kc, ref aPanel, MR, ref bp, ref cTile, ldc, mLeft, nLeft);
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
        }
    }

    private static int RoundUp(int x, int to) => (x + to - 1) / to * to;

    /// <summary>Packs op(B)[pc.., jc..] (kc×nc) into nr-wide panels, each [kc][nr], zero-padded on the right.</summary>
    private static void PackB(ReadOnlySpan<float> b, int bRow, int bCol, int pc, int jc, int kc, int nc, int nr, float[] dst)
    {
        for (int jr = 0; jr < nc; jr += nr)
        {
            int w = Math.Min(nr, nc - jr);
            var panel = dst.AsSpan(jr * kc, kc * nr);
            for (int p = 0; p < kc; p++)
            {
                var row = panel.Slice(p * nr, nr);
                int start = (pc + p) * bRow + (jc + jr) * bCol;
                if (bCol == 1) b.Slice(start, w).CopyTo(row);
                else for (int j = 0; j < w; j++) row[j] = b[start + j * bCol];
                if (w < nr) row[w..].Clear();
            }
        }
    }

    /// <summary>Packs op(A)[ic.., pc..] (mc×kc) into MR-tall panels, each [kc][MR], zero-padded at the bottom.</summary>
    private static void PackA(ReadOnlySpan<float> a, int aRow, int aCol, int ic, int pc, int mc, int kc, float[] dst)
    {
        for (int ir = 0; ir < mc; ir += MR)
        {
            int h = Math.Min(MR, mc - ir);
            var panel = dst.AsSpan(ir * kc, kc * MR);
            if (aRow == 1)
            {
                // Transposed A: the MR rows of one k step are contiguous; whole panels copy them element by element
                // (a call per six floats cost more than the copy).
                if (h == MR)
                {
                    ref float src = ref Unsafe.AsRef(in a[pc * aCol + ic + ir]);
                    ref float d = ref MemoryMarshal.GetReference(panel);
                    for (int p = 0; p < kc; p++)
                    {
                        ref float s = ref Unsafe.Add(ref src, (nint)p * aCol);
                        ref float t = ref Unsafe.Add(ref d, p * MR);
                        t = s;
                        Unsafe.Add(ref t, 1) = Unsafe.Add(ref s, 1);
                        Unsafe.Add(ref t, 2) = Unsafe.Add(ref s, 2);
                        Unsafe.Add(ref t, 3) = Unsafe.Add(ref s, 3);
                        Unsafe.Add(ref t, 4) = Unsafe.Add(ref s, 4);
                        Unsafe.Add(ref t, 5) = Unsafe.Add(ref s, 5);
                    }
                    continue;
                }
                for (int p = 0; p < kc; p++)
                {
                    var dstRow = panel.Slice(p * MR, MR);
                    a.Slice((pc + p) * aCol + ic + ir, h).CopyTo(dstRow);
                    dstRow[h..].Clear();
                }
                continue;
            }
            if (h < MR) panel.Clear();
            for (int i = 0; i < h; i++)
            {
                var src = a.Slice((ic + ir + i) * aRow + pc, kc);
                for (int p = 0; p < kc; p++) panel[p * MR + i] = src[p];
            }
        }
    }

    /// <summary>Where the micro-kernel reads the MR rows of A.</summary>
    private interface IALayout
    {
        /// <summary>True: row i, step p at <c>ap[i·lda + p]</c> (rows of A in place); false: at <c>ap[p·MR + i]</c> (a packed panel).</summary>
        static abstract bool InPlace { get; }
    }

    private readonly struct Packed : IALayout { public static bool InPlace => false; }

    private readonly struct RowsInPlace : IALayout { public static bool InPlace => true; }

    /// <summary>
    /// C += Apanel·Bpanel for one whole MR×NR tile; A is a packed panel or MR rows in place with leading dimension
    /// <paramref name="lda"/> (<typeparamref name="TA"/>). The same multiply-adds in the same order either way.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void MicroKernel<TV, TA>(int kc, ref float ap, int lda, ref float bp, ref float c, int ldc)
        where TV : struct, IVec<TV> where TA : struct, IALayout
    {
        int w = TV.Count;
        // Offsets of rows 1-5 and the step per k.
        nint r1 = TA.InPlace ? lda : 1, r2 = 2 * r1, r3 = 3 * r1, r4 = 4 * r1, r5 = 5 * r1, step = TA.InPlace ? 1 : MR;
        TV c00 = TV.Splat(0), c01 = TV.Splat(0), c10 = TV.Splat(0), c11 = TV.Splat(0), c20 = TV.Splat(0), c21 = TV.Splat(0);
        TV c30 = TV.Splat(0), c31 = TV.Splat(0), c40 = TV.Splat(0), c41 = TV.Splat(0), c50 = TV.Splat(0), c51 = TV.Splat(0);
        for (int p = 0; p < kc; p++)
        {
            TV b0 = TV.Load(ref bp), b1 = TV.Load(ref Unsafe.Add(ref bp, w));
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
            bp = ref Unsafe.Add(ref bp, 2 * w);
        }
        AddRow(c00, c01, ref c, w);
        AddRow(c10, c11, ref Unsafe.Add(ref c, ldc), w);
        AddRow(c20, c21, ref Unsafe.Add(ref c, 2 * ldc), w);
        AddRow(c30, c31, ref Unsafe.Add(ref c, 3 * ldc), w);
        AddRow(c40, c41, ref Unsafe.Add(ref c, 4 * ldc), w);
        AddRow(c50, c51, ref Unsafe.Add(ref c, 5 * ldc), w);
    }

    /// <summary>
    /// One MR×NR tile of which only C[0..mLeft, 0..nLeft] exists: the micro-kernel adds into a zeroed scratch tile,
    /// whose part inside C is then added to C. (Kept out of the micro-kernel so that its loop holds every accumulator
    /// in a register whatever the JIT's profile data.)
    /// </summary>
    private static void EdgeTile<TV, TA>(int kc, ref float ap, int lda, ref float bp, ref float c, int ldc, int mLeft, int nLeft)
        where TV : struct, IVec<TV> where TA : struct, IALayout
    {
        int nrw = 2 * TV.Count;
        Span<float> tile = stackalloc float[MR * 2 * Vector512<float>.Count];
        tile.Clear();
        MicroKernel<TV, TA>(kc, ref ap, lda, ref bp, ref MemoryMarshal.GetReference(tile), nrw);
        for (int i = 0; i < mLeft; i++)
        {
            ref float row = ref Unsafe.Add(ref c, i * ldc);
            for (int j = 0; j < nLeft; j++) Unsafe.Add(ref row, j) += tile[i * nrw + j];
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void AddRow<TV>(TV lo, TV hi, ref float c, int w) where TV : struct, IVec<TV>
    {
        TV.Store(TV.Add(TV.Load(ref c), lo), ref c);
        ref float c1 = ref Unsafe.Add(ref c, w);
        TV.Store(TV.Add(TV.Load(ref c1), hi), ref c1);
    }
}
