using TfSyncBN.Tensors;
using TfSyncBN.Tensors.Kernels;
using TfSyncBN.Tests.TestUtil;

namespace TfSyncBN.Tests.Tensors;

/// <summary>
/// The implicit-GEMM convolution (<see cref="ConvImplicit"/>): forward and kernel gradient bit for bit equal to
/// im2col followed by the managed GEMM (the same multiply-adds in the same order), the input gradient against a
/// float64 oracle and against col2im, and each on two threads bit for bit equal to one.
/// </summary>
[TestClass]
[DoNotParallelize]
public sealed class ConvImplicitTests
{
    public static IEnumerable<object[]> Cases =>
    [
        [2, 14, 14, 32, 3, 3, 64, 1, 1, true, 1],  // the CNN's second convolution (two whole 32-wide tiles of filters)
        [2, 28, 28, 1, 3, 3, 32, 1, 1, true, 1],   // the CNN's first: patch 9, one channel (forward implicit, dk direct in Conv2D)
        [3, 9, 8, 40, 3, 3, 20, 1, 1, true, 1],    // patch 360: the second k block starts inside a window row; 20 filters: edge tiles
        [2, 9, 11, 12, 5, 3, 70, 2, 2, true, 1],   // stride 2, 5×3 window, uneven "same" padding, 70 filters
        [1, 10, 9, 7, 3, 3, 33, 1, 1, false, 2],   // "valid", rows dilated by 2: no padded copy
        [1, 3, 2, 16, 3, 3, 32, 1, 1, true, 1],    // 6 output pixels, windows mostly in the padding
        [2, 7, 5, 9, 2, 4, 40, 3, 1, false, 1],    // "valid", stride 3×1: rows past the last window unused
    ];

    [TestMethod]
    [DynamicData(nameof(Cases))]
    public void ForwardAndKernelGradient_AreTheIm2ColGemmBits_AndDxMatchesFloat64(int n, int h, int w, int c, int kh, int kw, int f, int sh, int sw,
        bool same, int dh)
    {
        var r = TestData.NewRandom(n * 1000 + h * 10 + c + f);
        float[] x = TestData.Uniform(r, [n, h, w, c]).ToArray();
        float[] k = TestData.Uniform(r, [kh, kw, c, f]).ToArray();
        var g = WindowGeometry.Create([n, h, w, c], kh, kw, sh, sw, same, dh);
        float[] dy = TestData.Uniform(r, [n, g.OH, g.OW, f]).ToArray();
        WithManagedGemm(1, () =>
        {
            Assert.IsTrue(ConvImplicit.Applies(g, f), "case must take the implicit path");
            // P's panels are read in place exactly when each lies inside one window row (KW·C floats).
            Assert.AreEqual(kw * c % Gemm.TileColumns == 0 && g.Patch % Gemm.TileColumns == 0, ConvImplicit.ReadsPatchesInPlace(g),
                "dk reads P in place where its panels lie inside window rows");
            var (y, dk, dx) = Run(x, k, dy, f, g, allowImplicit: true);
            var (yIm2Col, _, dxCol2Im) = Run(x, k, dy, f, g, allowImplicit: false);
            CollectionAssert.AreEqual(yIm2Col, y, "forward: the bits of im2col + GEMM");
            CollectionAssert.AreEqual(Im2ColKernelGradient(x, dy, f, g), dk, "dk: the bits of the GEMM over the whole batch's im2col");
            if (dh == 1) TestData.AssertClose(y, ReferenceNn.Conv2D(x, n, h, w, c, k, kh, kw, f, sh, sw, same, out _), 1e-5, 1e-5, "forward vs float64");

            var expectedDx = InputGradient(k, dy, f, g);
            TestData.AssertClose(dx, expectedDx, 1e-5, 1e-5, "dx vs float64");
            TestData.AssertClose(dx, dxCol2Im, 1e-5, 1e-5, "dx vs col2im");
            Assert.AreEqual(sh == 1 && sw == 1 && c >= Gemm.TileColumns, ConvImplicit.AppliesToInputGradient(g),
                "dx is implicit exactly at stride 1 with at least a tile of input channels");

            // Two threads split the rows of the products: the same bits.
            var two = WithManagedGemm(2, () => Run(x, k, dy, f, g, allowImplicit: true));
            CollectionAssert.AreEqual(y, two.Y, "forward on 2 threads");
            CollectionAssert.AreEqual(dk, two.Dk, "dk on 2 threads");
            CollectionAssert.AreEqual(dx, two.Dx, "dx on 2 threads");
            return 0;
        });
    }

    [TestMethod]
    public void DilatedColumns_AndOpenBlasShapes_StayOnIm2Col()
    {
        var dilated = WindowGeometry.Create([1, 9, 9, 8], 3, 3, 1, 1, true, 1, 2);
        WithManagedGemm(1, () =>
        {
            Assert.IsFalse(ConvImplicit.Applies(dilated, 32), "window columns not adjacent");
            Assert.IsFalse(ConvImplicit.AppliesToInputGradient(dilated));
            return 0;
        });
        // Where Gemm would call OpenBLAS for the forward product (fewer than 32 filters), the implicit path, managed only, is not taken.
        using var saved = new SavedKernelOptions();
        KernelOptions.UseNativeBlas = true;
        var g = WindowGeometry.Create([4, 9, 9, 8], 3, 3, 1, 1, true);
        Assert.AreEqual(!Gemm.UsesNative(g.N * g.Pixels, 16), ConvImplicit.Applies(g, 16));
        if (NativeBlas.IsAvailable) Assert.IsFalse(ConvImplicit.Applies(g, 16));
    }

    private static (float[] Y, float[] Dk, float[] Dx) Run(float[] x, float[] k, float[] dy, int f, WindowGeometry g, bool allowImplicit)
    {
        float[] y = Enumerable.Repeat(float.NaN, dy.Length).ToArray();
        float[] dk = Enumerable.Repeat(float.NaN, k.Length).ToArray(), dx = Enumerable.Repeat(float.NaN, x.Length).ToArray();
        ConvKernels.Conv2DForward(x, k, f, g, y, allowDirect: false, allowImplicit: allowImplicit);
        ConvKernels.Conv2DBackward(x, k, dy, f, g, dx, dk, allowDirect: false, allowImplicit: allowImplicit);
        return (y, dk, dx);
    }

    /// <summary>Runs <paramref name="body"/> with the managed GEMM on <paramref name="threads"/> threads, restoring the options after.</summary>
    private static T WithManagedGemm<T>(int threads, Func<T> body)
    {
        using var saved = new SavedKernelOptions();
        KernelOptions.UseNativeBlas = false;
        KernelOptions.MaxThreads = threads;
        KernelOptions.MinElementsPerThread = 1;
        return body();
    }

    /// <summary>colsᵀ·dy with cols the im2col of the whole batch, through the managed GEMM on one thread.</summary>
    private static float[] Im2ColKernelGradient(float[] x, float[] dy, int f, WindowGeometry g)
    {
        int m = g.N * g.Pixels;
        float[] cols = new float[m * g.Patch], dk = new float[g.Patch * f];
        ConvKernels.Im2Col(x, g, 0, g.N, cols);
        Gemm.Multiply(g.Patch, f, m, cols, true, dy, false, dk, accumulate: false, native: false, threads: 1);
        return dk;
    }

    /// <summary>dx[n, iy, ix, c] = Σ dy[n, oy, ox, f]·k[ky, kx, c, f] over the windows containing (iy, ix), in float64.</summary>
    private static double[] InputGradient(float[] k, float[] dy, int f, WindowGeometry g)
    {
        var dx = new double[g.N * g.H * g.W * g.C];
        for (int n = 0; n < g.N; n++)
            for (int oy = 0; oy < g.OH; oy++)
                for (int ox = 0; ox < g.OW; ox++)
                    for (int ky = 0; ky < g.KH; ky++)
                        for (int kx = 0; kx < g.KW; kx++)
                        {
                            int iy = oy * g.SH - g.PadTop + ky * g.DH, ix = ox * g.SW - g.PadLeft + kx * g.DW;
                            if (iy < 0 || iy >= g.H || ix < 0 || ix >= g.W) continue;
                            for (int c = 0; c < g.C; c++)
                                for (int o = 0; o < f; o++)
                                    dx[((n * g.H + iy) * g.W + ix) * g.C + c] +=
                                        (double)dy[((n * g.OH + oy) * g.OW + ox) * f + o] * k[((ky * g.KW + kx) * g.C + c) * f + o];
                        }
        return dx;
    }
}
