using TfSyncBN.Tensors.Kernels;
using TfSyncBN.Tests.TestUtil;

namespace TfSyncBN.Tests.Tensors;

/// <summary>
/// The direct small-patch convolution (<see cref="ConvDirect"/>) against a float64 oracle and against the
/// im2col + GEMM path on the same inputs, forward and kernel gradient.
/// </summary>
[TestClass]
public sealed class ConvDirectTests
{
    [TestMethod]
    [DataRow(2, 7, 6, 1, 3, 3, 32, 1, 1, true)]   // the CNN's first layer: 9 taps, two AVX-512 vectors of filters
    [DataRow(3, 9, 8, 3, 3, 3, 20, 2, 2, false)]  // RGB, stride 2: a whole vector and 4 filters in the scalar tail
    [DataRow(1, 5, 7, 2, 5, 3, 5, 1, 2, true)]    // fewer filters than an AVX-512 vector (the 256-bit path)
    [DataRow(2, 6, 6, 2, 4, 4, 17, 1, 1, true)]   // patch 32 = the largest handled directly
    [DataRow(1, 2, 3, 1, 3, 3, 16, 1, 1, true)]   // windows mostly in the padding
    [DataRow(2, 28, 28, 1, 3, 3, 32, 1, 1, true)] // the CNN's full 28×28 image: long interior rows
    [DataRow(1, 11, 13, 2, 2, 4, 19, 3, 2, false)] // valid windows, strides 3×2: columns past the last window unused
    [DataRow(2, 9, 10, 1, 3, 3, 64, 2, 3, false)]  // nine taps and two pairs of 512-bit vectors of filters (the register-blocked dk), strides 2×3
    public void DirectForwardAndKernelGradient_MatchFloat64_AndTheGemmPath(int n, int h, int w, int c, int kh, int kw, int f, int sh, int sw, bool same)
    {
        var r = TestData.NewRandom(n * 1000 + h * 10 + c);
        float[] x = TestData.Uniform(r, [n, h, w, c]).ToArray();
        float[] k = TestData.Uniform(r, [kh, kw, c, f]).ToArray();
        var g = WindowGeometry.Create([n, h, w, c], kh, kw, sh, sw, same);
        Assert.IsTrue(ConvDirect.Applies(g), "case must take the direct path");
        float[] dy = TestData.Uniform(r, [n, g.OH, g.OW, f]).ToArray();

        var expectedY = ReferenceNn.Conv2D(x, n, h, w, c, k, kh, kw, f, sh, sw, same, out _);
        var expectedDk = KernelGradient(x, dy, g, f);

        float[] yDirect = new float[n * g.Pixels * f], yGemm = new float[yDirect.Length];
        ConvKernels.Conv2DForward(x, k, f, g, yDirect, allowDirect: true, allowImplicit: false);
        ConvKernels.Conv2DForward(x, k, f, g, yGemm, allowDirect: false, allowImplicit: false);
        TestData.AssertClose(yDirect, expectedY, 1e-5, 1e-5, "direct forward vs float64");
        TestData.AssertClose(yDirect, yGemm, 1e-5, 1e-5, "direct forward vs im2col + GEMM");

        float[] dkDirect = Enumerable.Repeat(float.NaN, k.Length).ToArray(), dkGemm = new float[k.Length];
        ConvKernels.Conv2DBackward(x, k, dy, f, g, [], dkDirect, allowDirect: true, allowImplicit: false);
        ConvKernels.Conv2DBackward(x, k, dy, f, g, [], dkGemm, allowDirect: false, allowImplicit: false);
        TestData.AssertClose(dkDirect, expectedDk, 1e-4, 1e-5, "direct dk vs float64");
        TestData.AssertClose(dkDirect, dkGemm, 1e-4, 1e-5, "direct dk vs im2col + GEMM");

        // dx (not computed directly) still comes out with dk in the same call.
        float[] dx = new float[x.Length], dxGemm = new float[x.Length], dk2 = new float[k.Length];
        ConvKernels.Conv2DBackward(x, k, dy, f, g, dx, dk2, allowDirect: true, allowImplicit: false);
        ConvKernels.Conv2DBackward(x, k, dy, f, g, dxGemm, [], allowDirect: false, allowImplicit: false);
        CollectionAssert.AreEqual(dkDirect, dk2, "dk with and without dx");
        TestData.AssertClose(dx, dxGemm, 1e-6, 1e-6, "dx alongside the direct dk");
    }

    [TestMethod]
    [DataRow(2, 2, true, 2, 18)]
    [DataRow(2, 3, false, 2, 18)]
    [DataRow(3, 1, true, 2, 18)]
    [DataRow(2, 3, true, 1, 32)]   // nine taps, a pair of 512-bit vectors of filters (the register-blocked dk)
    public void DilatedWindows_DirectEqualsTheIm2ColPath(int dh, int dw, bool same, int c, int f)
    {
        var r = TestData.NewRandom(dh * 10 + dw);
        int n = 2, h = 9, w = 10;
        float[] x = TestData.Uniform(r, [n, h, w, c]).ToArray();
        float[] k = TestData.Uniform(r, [3, 3, c, f]).ToArray();
        var g = WindowGeometry.Create([n, h, w, c], 3, 3, 1, 1, same, dh, dw);
        Assert.IsTrue(ConvDirect.Applies(g));
        float[] dy = TestData.Uniform(r, [n, g.OH, g.OW, f]).ToArray();
        float[] yDirect = new float[n * g.Pixels * f], yGemm = new float[yDirect.Length];
        ConvKernels.Conv2DForward(x, k, f, g, yDirect, allowDirect: true, allowImplicit: false);
        ConvKernels.Conv2DForward(x, k, f, g, yGemm, allowDirect: false, allowImplicit: false);
        TestData.AssertClose(yDirect, yGemm, 1e-5, 1e-5, $"dilated {dh}x{dw} forward");
        float[] dkDirect = new float[k.Length], dkGemm = new float[k.Length];
        // Pooled scratch arrays come back dirty: the padded copy of x must cover every tap the window reads (with
        // column dilation too), or the kernel reads the slack of its rented array.
        for (int size = 16; size <= 1 << 16; size *= 2)
        {
            float[] junk = System.Buffers.ArrayPool<float>.Shared.Rent(size);
            junk.AsSpan().Fill(float.NaN);
            System.Buffers.ArrayPool<float>.Shared.Return(junk);
        }
        ConvKernels.Conv2DBackward(x, k, dy, f, g, [], dkDirect, allowDirect: true, allowImplicit: false);
        ConvKernels.Conv2DBackward(x, k, dy, f, g, [], dkGemm, allowDirect: false, allowImplicit: false);
        TestData.AssertClose(dkDirect, dkGemm, 1e-4, 1e-5, $"dilated {dh}x{dw} dk");
    }

    /// <summary>dk[ky, kx, c, f] = Σ_{n, oy, ox} x[n, iy, ix, c]·dy[n, oy, ox, f] in float64.</summary>
    private static double[] KernelGradient(float[] x, float[] dy, WindowGeometry g, int f)
    {
        var dk = new double[g.Patch * f];
        for (int n = 0; n < g.N; n++)
            for (int oy = 0; oy < g.OH; oy++)
                for (int ox = 0; ox < g.OW; ox++)
                    for (int ky = 0; ky < g.KH; ky++)
                        for (int kx = 0; kx < g.KW; kx++)
                        {
                            int iy = oy * g.SH - g.PadTop + ky, ix = ox * g.SW - g.PadLeft + kx;
                            if (iy < 0 || iy >= g.H || ix < 0 || ix >= g.W) continue;
                            for (int c = 0; c < g.C; c++)
                                for (int o = 0; o < f; o++)
                                    dk[((ky * g.KW + kx) * g.C + c) * f + o] += (double)x[((n * g.H + iy) * g.W + ix) * g.C + c] * dy[((n * g.OH + oy) * g.OW + ox) * f + o];
                        }
        return dk;
    }
}
