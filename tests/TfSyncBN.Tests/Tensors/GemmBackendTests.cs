using TfSyncBN.Distribute;
using TfSyncBN.Tensors;
using TfSyncBN.Tensors.Kernels;
using TfSyncBN.Tests.TestUtil;

namespace TfSyncBN.Tests.Tensors;

/// <summary>
/// The two implementations behind <c>Gemm.Multiply</c> (OpenBLAS's cblas_sgemm and the managed kernel) on the same
/// inputs: each against a float64 oracle, against each other, bit-for-bit repeatable for a fixed thread count, and the
/// <see cref="KernelOptions.UseNativeBlas"/> switch routing MatMul and Conv2D.
/// </summary>
[TestClass]
[DoNotParallelize]
public sealed class GemmBackendTests
{
    private const string DebianOpenBlas = "/usr/lib/x86_64-linux-gnu/libopenblas.so.0";

    // (m, n, k): edges of every block of both kernels (MR 6, NR 16/32, KC 256 and a last block of k up to 288, MC 120), slabs of 16 for 2 threads,
    // one product wider than tall (split by columns), a k of 1.
    private static readonly (int M, int N, int K)[] Shapes =
        [(1, 1, 1), (7, 5, 3), (131, 37, 289), (33, 200, 17), (40, 1030, 9), (288, 64, 544), (97, 3, 1)];

    private static bool[] Paths => NativeBlas.IsAvailable ? [false, true] : [false];

    [TestMethod]
    public void OpenBlas_IsUsedWhereDebiansPackageIsInstalled()
    {
        if (!File.Exists(DebianOpenBlas))
        {
            Assert.IsNull(KernelOptions.NativeBlasLibrary, "no OpenBLAS installed: the managed kernel is the only path");
            Assert.Inconclusive($"{DebianOpenBlas} is not installed (apt-get install libopenblas0-pthread); only the managed path was tested.");
        }
        Assert.IsTrue(NativeBlas.IsAvailable, "libopenblas0-pthread is installed, so cblas_sgemm must load");
        Assert.AreEqual("libopenblas.so.0", KernelOptions.NativeBlasLibrary);
        StringAssert.Contains(NativeBlas.Config, "OpenBLAS");
    }

    [TestMethod]
    [DataRow(false, false)]
    [DataRow(true, false)]
    [DataRow(false, true)]
    [DataRow(true, true)]
    public void BothPaths_MatchFloat64_OnOneAndTwoThreads_WithAndWithoutAccumulate(bool ta, bool tb)
    {
        var r = TestData.NewRandom(41);
        foreach (var (m, n, k) in Shapes)
        {
            float[] a = Uniform(r, m * k), b = Uniform(r, k * n), c0 = Uniform(r, m * n);
            double[] product = ReferenceNn.MatMul(a, b, m, n, k, ta, tb);
            double[] bound = AbsProductSum(a, b, m, n, k, ta, tb);
            foreach (bool native in Paths)
            {
                foreach (int threads in new[] { 1, 2 })
                {
                    foreach (bool accumulate in new[] { false, true })
                    {
                        var c = accumulate ? (float[])c0.Clone() : Enumerable.Repeat(float.NaN, m * n).ToArray();
                        Gemm.Multiply(m, n, k, a, ta, b, tb, c, accumulate, native, threads);
                        for (int i = 0; i < c.Length; i++)
                        {
                            double expected = product[i] + (accumulate ? c0[i] : 0);
                            // float32 accumulation over k terms: a few ulps of the sum of |terms| (and of |C| when accumulating).
                            double tol = 1e-6 * (bound[i] + (accumulate ? Math.Abs(c0[i]) : 0)) * Math.Max(1, Math.Sqrt(k)) + 1e-7;
                            Assert.AreEqual(expected, c[i], tol, $"{(native ? "OpenBLAS" : "managed")} {m}x{n}x{k} ta={ta} tb={tb} threads={threads} accumulate={accumulate} at {i}");
                        }
                    }
                }
            }
        }
    }

    [TestMethod]
    public void NativeAndManaged_AgreeOnTheSameInputs()
    {
        if (!NativeBlas.IsAvailable) Assert.Inconclusive("OpenBLAS is not installed.");
        var r = TestData.NewRandom(43);
        foreach (var (m, n, k) in Shapes)
        {
            float[] a = Uniform(r, m * k), b = Uniform(r, k * n);
            float[] managed = new float[m * n], native = new float[m * n];
            Gemm.Multiply(m, n, k, a, false, b, true, managed, false, native: false, threads: 1);
            Gemm.Multiply(m, n, k, a, false, b, true, native, false, native: true, threads: 1);
            double[] bound = AbsProductSum(a, b, m, n, k, false, true);
            for (int i = 0; i < managed.Length; i++)
                Assert.AreEqual(managed[i], native[i], 2e-6 * bound[i] * Math.Max(1, Math.Sqrt(k)) + 1e-7, $"{m}x{n}x{k} at {i}");
        }
    }

    [TestMethod]
    public void EachPath_GivesTheSameBitsOnRepeat_ForAFixedThreadCount()
    {
        var r = TestData.NewRandom(47);
        int m = 300, n = 70, k = 600;
        float[] a = Uniform(r, m * k), b = Uniform(r, k * n);
        foreach (bool native in Paths)
        {
            foreach (int threads in new[] { 1, 2 })
            {
                var first = new float[m * n];
                Gemm.Multiply(m, n, k, a, false, b, false, first, false, native, threads);
                for (int rep = 0; rep < 5; rep++)
                {
                    var again = new float[m * n];
                    Gemm.Multiply(m, n, k, a, false, b, false, again, false, native, threads);
                    CollectionAssert.AreEqual(first, again, $"{(native ? "OpenBLAS" : "managed")}, {threads} threads, repeat {rep}");
                }
            }
        }
    }

    [TestMethod]
    public void KBlocks_Are256_AndAShortRestJoinsTheBlockBeforeIt()
    {
        CollectionAssert.AreEqual(new[] { 288 }, Blocks(288), "288 in one block, not 256 + 32");
        CollectionAssert.AreEqual(new[] { 256, 33 }, Blocks(289));
        CollectionAssert.AreEqual(new[] { 256, 288 }, Blocks(544));
        CollectionAssert.AreEqual(new[] { 256, 256, 64 }, Blocks(576));
        for (int k = 1; k <= 3000; k++)
        {
            var blocks = Blocks(k);
            Assert.AreEqual(k, blocks.Sum(), $"k = {k}: the blocks cover k");
            Assert.IsTrue(blocks.Take(blocks.Length - 1).All(b => b == 256), $"k = {k}: every block but the last is 256 long");
            Assert.IsTrue(blocks[^1] <= 288 && (blocks.Length == 1 || blocks[^1] > 32), $"k = {k}: last block {blocks[^1]}");
        }
    }

    [TestMethod]
    public void Managed_SumsEachBlockOfKAsOneFusedChain_ThenAddsTheBlocksInOrder()
    {
        // The managed kernel's exact order: per element of C, a chain of fused multiply-adds over each block of k
        // (Gemm.KBlock), the blocks' sums added to C in increasing k. Emulated in scalar code, bit for bit; plain blocks of
        // 256 and a short rest must give other bits, so that the test tells the cuts apart.
        var r = TestData.NewRandom(59);
        foreach (int k in new[] { 280, 540 })
        {
            int m = 7, n = 33;
            float[] a = Uniform(r, m * k), b = Uniform(r, k * n);
            var c = new float[m * n];
            Gemm.Multiply(m, n, k, a, false, b, false, c, accumulate: false, native: false, threads: 1);
            CollectionAssert.AreEqual(BlockedProduct(a, b, m, n, Blocks(k)), c, $"k = {k}");
            int[] plain = [.. Enumerable.Range(0, (k + 255) / 256).Select(i => Math.Min(256, k - 256 * i))];
            CollectionAssert.AreNotEqual(BlockedProduct(a, b, m, n, plain), c, $"k = {k}: blocks of 256 and a short rest give other bits");
        }
    }

    [TestMethod]
    public void Managed_ATransposedB_GivesTheBitsOfTheSameBStoredPlainly()
    {
        // Packing only moves B's elements, so op(B) read from Bᵀ must give exactly the bits of op(B) stored as is: every
        // edge of the transposed packing (whole 8×8 blocks, a rest of k that is not a multiple of 8, a narrower last panel).
        var r = TestData.NewRandom(61);
        foreach (var (m, n, k) in Shapes.Append((13, 3136, 128)).Append((6, 70, 300)))
        {
            float[] a = Uniform(r, m * k), b = Uniform(r, k * n);
            var bt = new float[n * k];
            for (int p = 0; p < k; p++)
                for (int j = 0; j < n; j++) bt[j * k + p] = b[p * n + j];
            foreach (int threads in new[] { 1, 2 })
            {
                float[] plain = new float[m * n], fromTransposed = new float[m * n];
                Gemm.Multiply(m, n, k, a, false, b, false, plain, false, native: false, threads);
                Gemm.Multiply(m, n, k, a, false, bt, true, fromTransposed, false, native: false, threads);
                CollectionAssert.AreEqual(plain, fromTransposed, $"{m}x{n}x{k}, {threads} threads");
            }
        }
    }

    [TestMethod]
    public void Managed_TransposedA_ReadInPlaceOrPacked_GivesTheBitsOfTheSameAStoredPlainly()
    {
        // A transposed A is read where it lies up to lda = TransposedInPlaceMaxLda (MR adjacent floats per step of k, as
        // dYᵀ in a convolution's kernel gradient) and packed beyond; either way op(A) must give exactly the bits of the
        // same A stored plainly, and the managed kernel's order (BlockedProduct): whole and partial panels of rows
        // (m not a multiple of MR), several blocks of k, one and two threads.
        var r = TestData.NewRandom(67);
        int wide = Gemm.TransposedInPlaceMaxLda + 1;
        foreach (var (m, n, k) in new[] { (64, 288, 540), (13, 33, 300), (Gemm.TransposedInPlaceMaxLda, 40, 70), (wide, 40, 70), (5, 17, 9) })
        {
            float[] a = Uniform(r, m * k), b = Uniform(r, k * n);
            var at = new float[k * m];
            for (int i = 0; i < m; i++)
                for (int p = 0; p < k; p++) at[p * m + i] = a[i * k + p];
            var expected = BlockedProduct(a, b, m, n, Blocks(k));
            foreach (int threads in new[] { 1, 2 })
            {
                float[] plain = new float[m * n], fromTransposed = new float[m * n];
                Gemm.Multiply(m, n, k, a, false, b, false, plain, false, native: false, threads);
                Gemm.Multiply(m, n, k, at, true, b, false, fromTransposed, false, native: false, threads);
                CollectionAssert.AreEqual(expected, plain, $"{m}x{n}x{k}, {threads} threads: A stored plainly");
                CollectionAssert.AreEqual(expected, fromTransposed, $"{m}x{n}x{k}, {threads} threads: A transposed");
            }
        }
    }

    private static int[] Blocks(int k)
    {
        var blocks = new List<int>();
        for (int p = 0; p < k; p += blocks[^1]) blocks.Add(Gemm.KBlock(k - p));
        return [.. blocks];
    }

    private static float[] BlockedProduct(float[] a, float[] b, int m, int n, int[] blocks)
    {
        int k = blocks.Sum();
        var c = new float[m * n];
        for (int i = 0; i < m; i++)
        {
            for (int j = 0; j < n; j++)
            {
                float total = 0;
                for (int q = 0, p0 = 0; q < blocks.Length; p0 += blocks[q], q++)
                {
                    float chain = 0;
                    for (int p = p0; p < p0 + blocks[q]; p++) chain = MathF.FusedMultiplyAdd(a[i * k + p], b[p * n + j], chain);
                    total = q == 0 ? chain : total + chain;
                }
                c[i * n + j] = total;
            }
        }
        return c;
    }

    [TestMethod]
    public void InsideAMultiReplicaRun_ProductsAreSingleThreaded_AndEqualTheOneThreadBits()
    {
        using var saved = new SavedKernelOptions();
        KernelOptions.MaxThreads = 2;
        KernelOptions.MinElementsPerThread = 1;
        var r = TestData.NewRandom(53);
        var a = Tensor.FromArray(Uniform(r, 200 * 150), [200, 150]);
        var b = Tensor.FromArray(Uniform(r, 150 * 90), [150, 90]);
        foreach (bool native in Paths)
        {
            KernelOptions.UseNativeBlas = native;
            var one = new float[200 * 90];
            Gemm.Multiply(200, 90, 150, a.ToArray(), false, b.ToArray(), false, one, false, Gemm.UsesNative(200, 90), threads: 1);
            using var strategy = new MirroredStrategy(2);
            var inside = strategy.Run(_ => a.MatMul(b).ToArray());
            foreach (var values in inside.Values)
                CollectionAssert.AreEqual(one, values, $"{(native ? "OpenBLAS" : "managed")} inside a 2-replica Run");
        }
    }

    [TestMethod]
    public void OpenBlasWithNarrowerKernels_LeavesTileSizedProductsToTheManagedAvx512Kernel()
    {
        // (m, n, native allowed, OpenBLAS has 512-bit kernels, CPU has 512-bit vectors) -> OpenBLAS?
        Assert.IsTrue(Gemm.UsesNative(3528, 64, true, blas512: true, cpu512: true), "AVX-512 OpenBLAS on an AVX-512 CPU");
        Assert.IsTrue(Gemm.UsesNative(3528, 64, true, blas512: false, cpu512: false), "no AVX-512 anywhere");
        Assert.IsFalse(Gemm.UsesNative(3528, 64, true, blas512: false, cpu512: true), "OPENBLAS_CORETYPE=Haswell on an AVX-512 CPU");
        Assert.IsFalse(Gemm.UsesNative(24, 32, true, blas512: false, cpu512: true), "one managed tile wide, four tall");
        Assert.IsTrue(Gemm.UsesNative(128, 10, true, blas512: false, cpu512: true), "narrower than one tile (the dense output layer)");
        Assert.IsTrue(Gemm.UsesNative(9, 32, true, blas512: false, cpu512: true), "shorter than four tiles (a 3×3×1 conv's kernel gradient)");
        Assert.IsFalse(Gemm.UsesNative(3528, 64, false, blas512: true, cpu512: true), "UseNativeBlas false, or no OpenBLAS");
        Assert.IsTrue(NativeBlas.Is512BitCore("SkylakeX") && NativeBlas.Is512BitCore("Cooperlake") && NativeBlas.Is512BitCore("SapphireRapids"));
        Assert.IsFalse(NativeBlas.Is512BitCore("Haswell") || NativeBlas.Is512BitCore("Zen") || NativeBlas.Is512BitCore(null));
        if (NativeBlas.IsAvailable)
        {
            // The core OpenBLAS reports here follows OPENBLAS_CORETYPE (Haswell on these machines, Cooperlake unset).
            string? forced = Environment.GetEnvironmentVariable("OPENBLAS_CORETYPE");
            if (!string.IsNullOrEmpty(forced)) StringAssert.Contains(NativeBlas.CoreName!.ToLowerInvariant(), forced.ToLowerInvariant());
        }
    }

    [TestMethod]
    public void UseNativeBlas_RoutesConv2DForwardAndBackward_WithEqualResults()
    {
        if (!NativeBlas.IsAvailable) Assert.Inconclusive("OpenBLAS is not installed.");
        var r = TestData.NewRandom(59);
        var x = TestData.Uniform(r, [3, 9, 8, 40]);
        var k = TestData.Uniform(r, [3, 3, 40, 7]);
        var dy = TestData.Uniform(r, [3, 9, 8, 7]);
        (float[] Y, float[] Dx, float[] Dk) Run(bool native)
        {
            KernelOptions.UseNativeBlas = native;
            using var tape = new GradientTape();
            tape.Watch(x);
            tape.Watch(k);
            var y = x.Conv2D(k, padding: "same");
            var g = tape.Gradient(y, [x, k], dy);
            return (y.ToArray(), g[0]!.ToArray(), g[1]!.ToArray());
        }
        using var saved = new SavedKernelOptions();
        var managed = Run(false);
        var native = Run(true);
        var expected = ReferenceNn.Conv2D(x.ToArray(), 3, 9, 8, 40, k.ToArray(), 3, 3, 7, 1, 1, true, out _);
        TestData.AssertClose(native.Y, expected, 1e-4, 1e-5, "OpenBLAS conv forward vs float64");
        TestData.AssertClose(managed.Y, expected, 1e-4, 1e-5, "managed conv forward vs float64");
        TestData.AssertClose(native.Dx, managed.Dx, 1e-4, 1e-5, "dx");
        TestData.AssertClose(native.Dk, managed.Dk, 1e-4, 1e-5, "dk");
        Assert.IsTrue(native.Y.Zip(managed.Y).Any(p => p.First != p.Second) || native.Dk.Zip(managed.Dk).Any(p => p.First != p.Second),
            "the switch must change the implementation: with 360 terms per output (the managed kernel adds blocks of 256) float32 rounding differs somewhere");
    }

    private static float[] Uniform(Random r, int n) => Enumerable.Range(0, n).Select(_ => (float)(r.NextDouble() * 2 - 1)).ToArray();

    /// <summary>Σ_p |op(A)[i,p]·op(B)[p,j]| in float64: the scale of the rounding error of C[i,j].</summary>
    private static double[] AbsProductSum(float[] a, float[] b, int m, int n, int k, bool ta, bool tb) =>
        ReferenceNn.MatMul(a.Select(Math.Abs).ToArray(), b.Select(Math.Abs).ToArray(), m, n, k, ta, tb);
}
