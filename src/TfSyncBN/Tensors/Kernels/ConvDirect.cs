using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace TfSyncBN.Tensors.Kernels;

/// <summary>
/// Direct NHWC convolution for small patches (KH·KW·C ≤ <see cref="MaxPatch"/>, e.g. a 3×3 kernel over 1-3 input
/// channels): the forward pass and the kernel gradient read the input window in place, with no im2col buffer. Through
/// im2col these products have k or m of only KH·KW·C, where a GEMM spends most of its time packing and writing C.
/// </summary>
/// <remarks>
/// Forward: each output pixel's vector of filters is <c>Σ_taps x·k[tap, f..]</c> over the window's positions inside
/// the input, one fused multiply-add per tap from 0, taps in (ky, kx, c) order (padding skipped). The loops run tap by
/// tap over an output row, the tap's kernel vector held in a register, each pixel's sum in the row's output.
/// Kernel gradient: for each image, output row, tap and vector of filters, <c>Σ_ox x_tap·dy[pixel, f..]</c> over the
/// row's columns where the tap is inside, as four float32 partial sums of every fourth column (the columns past the
/// last whole group of four go to the first) combined as <c>(s0 + s1) + (s2 + s3)</c> and added to the image's per-tap sums; each image's sums are then added into dk, image by image. Filters beyond the last whole vector use
/// scalar loops of the same order.
/// </remarks>
internal static class ConvDirect
{
    /// <summary>The largest KH·KW·C handled directly.</summary>
    public const int MaxPatch = 32;

    public static bool Applies(in WindowGeometry g) => g.Patch <= MaxPatch;

    public static void Forward(ReadOnlySpan<float> x, ReadOnlySpan<float> kernel, int filters, in WindowGeometry g, Span<float> y)
    {
        if (Vector512.IsHardwareAccelerated && filters >= 16) Forward<V512>(x, kernel, filters, g, y);
        else if (Vector256.IsHardwareAccelerated) Forward<V256>(x, kernel, filters, g, y);
        else Forward<V128>(x, kernel, filters, g, y);
    }

    public static void KernelGradient(ReadOnlySpan<float> x, ReadOnlySpan<float> dy, int filters, in WindowGeometry g, Span<float> dk)
    {
        if (Vector512.IsHardwareAccelerated && g.Patch == NineTaps && filters % (2 * Vector512<float>.Count) == 0)
            KernelGradientNineTaps(x, dy, filters, g, dk);
        else if (Vector512.IsHardwareAccelerated && filters >= 16) KernelGradient<V512>(x, dy, filters, g, dk);
        else if (Vector256.IsHardwareAccelerated) KernelGradient<V256>(x, dy, filters, g, dk);
        else KernelGradient<V128>(x, dy, filters, g, dk);
    }

    /// <summary>
    /// For each window column kx, the output columns [lo[kx], hi[kx]) where it lies inside the input
    /// (0 ≤ ox·SW − PadLeft + kx·DW &lt; W); lo = hi when there are none.
    /// </summary>
    private static void ColumnRanges(in WindowGeometry g, Span<int> lo, Span<int> hi)
    {
        for (int kx = 0; kx < g.KW; kx++)
        {
            int shift = kx * g.DW - g.PadLeft;
            lo[kx] = shift >= 0 ? 0 : Math.Min(g.OW, (g.SW - 1 - shift) / g.SW);
            hi[kx] = Math.Max(lo[kx], g.W - 1 - shift < 0 ? 0 : Math.Min(g.OW, (g.W - 1 - shift) / g.SW + 1));
        }
    }



    private static void Forward<TV>(ReadOnlySpan<float> x, ReadOnlySpan<float> kernel, int filters, in WindowGeometry g, Span<float> y)
        where TV : struct, IVec<TV>
    {
        int w = TV.Count, whole = filters / w * w, c = g.C, step = g.SW * c;
        Span<int> lo = stackalloc int[g.KW], hi = stackalloc int[g.KW];
        ColumnRanges(g, lo, hi);
        ref float x0 = ref MemoryMarshal.GetReference(x);
        ref float k0 = ref MemoryMarshal.GetReference(kernel);
        ref float y0 = ref MemoryMarshal.GetReference(y);
        for (int n = 0; n < g.N; n++)
        {
            for (int oy = 0; oy < g.OH; oy++)
            {
                nint yRow = (nint)(n * g.OH + oy) * g.OW * filters;
                y.Slice((int)yRow, g.OW * filters).Clear();
                for (int ky = 0; ky < g.KH; ky++)
                {
                    int iy = oy * g.SH - g.PadTop + ky * g.DH;
                    if ((uint)iy >= (uint)g.H) continue;
                    for (int kx = 0; kx < g.KW; kx++)
                    {
                        int from = lo[kx], to = hi[kx];
                        nint xRow = (nint)((n * g.H + iy) * g.W + kx * g.DW - g.PadLeft) * c;
                        for (int ci = 0; ci < c; ci++)
                        {
                            int t = (ky * g.KW + kx) * c + ci;
                            int f = 0;
                            for (; f + 2 * w <= whole; f += 2 * w)
                            {
                                // Two vectors of filters per pass: one broadcast of x feeds both.
                                TV k = TV.Load(ref Unsafe.Add(ref k0, t * filters + f)), kHi = TV.Load(ref Unsafe.Add(ref k0, t * filters + f + w));
                                for (int ox = from; ox < to; ox++)
                                {
                                    TV xv = TV.Splat(Unsafe.Add(ref x0, xRow + ci + (nint)ox * step));
                                    ref float acc = ref Unsafe.Add(ref y0, yRow + (nint)ox * filters + f);
                                    ref float accHi = ref Unsafe.Add(ref acc, w);
                                    TV.Store(TV.MultiplyAdd(xv, k, TV.Load(ref acc)), ref acc);
                                    TV.Store(TV.MultiplyAdd(xv, kHi, TV.Load(ref accHi)), ref accHi);
                                }
                            }
                            for (; f < whole; f += w)
                            {
                                TV k = TV.Load(ref Unsafe.Add(ref k0, t * filters + f));
                                for (int ox = from; ox < to; ox++)
                                {
                                    ref float acc = ref Unsafe.Add(ref y0, yRow + (nint)ox * filters + f);
                                    TV.Store(TV.MultiplyAdd(TV.Splat(Unsafe.Add(ref x0, xRow + ci + (nint)ox * step)), k, TV.Load(ref acc)), ref acc);
                                }
                            }
                            for (f = whole; f < filters; f++)
                            {
                                float k = kernel[t * filters + f];
                                for (int ox = from; ox < to; ox++)
                                {
                                    ref float acc = ref Unsafe.Add(ref y0, yRow + (nint)ox * filters + f);
                                    acc = MathF.FusedMultiplyAdd(Unsafe.Add(ref x0, xRow + ci + (nint)ox * step), k, acc);
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// <summary>The patch size of <see cref="KernelGradientNineTaps"/> (a 3×3 window over one channel).</summary>
    private const int NineTaps = 9;

    /// <summary>
    /// The kernel gradient of a nine-element patch (e.g. 3×3 over one channel) with filters in pairs of 512-bit vectors:
    /// for each output row and pair, the 9×2 sums <c>Σ_ox x_tap·dy[pixel, f..]</c> are held in registers over the row
    /// (dy read once per pixel, the window's taps from a zero-padded copy of x), then added to the image's sums, and
    /// each image's sums to dk.
    /// </summary>
    private static unsafe void KernelGradientNineTaps(ReadOnlySpan<float> x, ReadOnlySpan<float> dy, int filters, in WindowGeometry g, Span<float> dk)
    {
        const int W = 16;
        float[]? padded = ConvKernels.PadInput(x, g, out int hp, out int wp);
        float[] image = NnKernels.Rent(NineTaps * filters);
        Span<nint> tap = stackalloc nint[NineTaps];
        for (int t = 0; t < NineTaps; t++)
        {
            int ky = t / (g.KW * g.C), kx = t / g.C % g.KW, ci = t % g.C;
            tap[t] = ((nint)ky * g.DH * wp + kx * g.DW) * g.C + ci;
        }
        nint t0 = tap[0], t1 = tap[1], t2 = tap[2], t3 = tap[3], t4 = tap[4], t5 = tap[5], t6 = tap[6], t7 = tap[7], t8 = tap[8];
        dk[..(NineTaps * filters)].Clear();
        try
        {
            fixed (float* xp = padded is null ? x : padded, dyp = dy, sums = image)
            {
                for (int n = 0; n < g.N; n++)
                {
                    new Span<float>(sums, NineTaps * filters).Clear();
                    for (int oy = 0; oy < g.OH; oy++)
                    {
                        float* row = xp + ((nint)n * hp + (nint)oy * g.SH) * wp * g.C;
                        float* dyRow = dyp + ((nint)(n * g.OH + oy) * g.OW) * filters;
                        for (int f = 0; f < filters; f += 2 * W)
                        {
                            var a0 = Vector512<float>.Zero; var b0 = a0; var a1 = a0; var b1 = a0; var a2 = a0; var b2 = a0;
                            var a3 = a0; var b3 = a0; var a4 = a0; var b4 = a0; var a5 = a0; var b5 = a0;
                            var a6 = a0; var b6 = a0; var a7 = a0; var b7 = a0; var a8 = a0; var b8 = a0;
                            for (int ox = 0; ox < g.OW; ox++)
                            {
                                float* d = dyRow + (nint)ox * filters + f, s = row + (nint)ox * g.SW * g.C;
                                var lo = Vector512.Load(d);
                                var hi = Vector512.Load(d + W);
                                var v = Vector512.Create(s[t0]); a0 = Vector512.FusedMultiplyAdd(v, lo, a0); b0 = Vector512.FusedMultiplyAdd(v, hi, b0);
                                v = Vector512.Create(s[t1]); a1 = Vector512.FusedMultiplyAdd(v, lo, a1); b1 = Vector512.FusedMultiplyAdd(v, hi, b1);
                                v = Vector512.Create(s[t2]); a2 = Vector512.FusedMultiplyAdd(v, lo, a2); b2 = Vector512.FusedMultiplyAdd(v, hi, b2);
                                v = Vector512.Create(s[t3]); a3 = Vector512.FusedMultiplyAdd(v, lo, a3); b3 = Vector512.FusedMultiplyAdd(v, hi, b3);
                                v = Vector512.Create(s[t4]); a4 = Vector512.FusedMultiplyAdd(v, lo, a4); b4 = Vector512.FusedMultiplyAdd(v, hi, b4);
                                v = Vector512.Create(s[t5]); a5 = Vector512.FusedMultiplyAdd(v, lo, a5); b5 = Vector512.FusedMultiplyAdd(v, hi, b5);
                                v = Vector512.Create(s[t6]); a6 = Vector512.FusedMultiplyAdd(v, lo, a6); b6 = Vector512.FusedMultiplyAdd(v, hi, b6);
                                v = Vector512.Create(s[t7]); a7 = Vector512.FusedMultiplyAdd(v, lo, a7); b7 = Vector512.FusedMultiplyAdd(v, hi, b7);
                                v = Vector512.Create(s[t8]); a8 = Vector512.FusedMultiplyAdd(v, lo, a8); b8 = Vector512.FusedMultiplyAdd(v, hi, b8);
                            }
                            float* sum = sums + f;
                            Accumulate(sum, a0, b0); Accumulate(sum + filters, a1, b1); Accumulate(sum + 2 * filters, a2, b2);
                            Accumulate(sum + 3 * filters, a3, b3); Accumulate(sum + 4 * filters, a4, b4); Accumulate(sum + 5 * filters, a5, b5);
                            Accumulate(sum + 6 * filters, a6, b6); Accumulate(sum + 7 * filters, a7, b7); Accumulate(sum + 8 * filters, a8, b8);
                        }
                    }
                    System.Numerics.Tensors.TensorPrimitives.Add(dk[..(NineTaps * filters)], image.AsSpan(0, NineTaps * filters), dk[..(NineTaps * filters)]);
                }
            }
        }
        finally
        {
            if (padded is not null) NnKernels.Return(padded);
            NnKernels.Return(image);
        }

        static void Accumulate(float* sum, Vector512<float> lo, Vector512<float> hi)
        {
            Vector512.Store(Vector512.Load(sum) + lo, sum);
            Vector512.Store(Vector512.Load(sum + W) + hi, sum + W);
        }
    }

    private static void KernelGradient<TV>(ReadOnlySpan<float> x, ReadOnlySpan<float> dy, int filters, in WindowGeometry g, Span<float> dk)
        where TV : struct, IVec<TV>
    {
        int w = TV.Count, whole = filters / w * w, patch = g.Patch, c = g.C, step = g.SW * c;
        dk[..(patch * filters)].Clear();
        float[] image = NnKernels.Rent(patch * filters);
        Span<int> lo = stackalloc int[g.KW], hi = stackalloc int[g.KW];
        ColumnRanges(g, lo, hi);
        try
        {
            ref float a0 = ref image[0];
            ref float x0 = ref MemoryMarshal.GetReference(x);
            ref float dy0 = ref MemoryMarshal.GetReference(dy);
            for (int n = 0; n < g.N; n++)
            {
                image.AsSpan(0, patch * filters).Clear();
                for (int oy = 0; oy < g.OH; oy++)
                {
                    nint dyRow = (nint)(n * g.OH + oy) * g.OW * filters;
                    for (int ky = 0; ky < g.KH; ky++)
                    {
                        int iy = oy * g.SH - g.PadTop + ky * g.DH;
                        if ((uint)iy >= (uint)g.H) continue;
                        for (int kx = 0; kx < g.KW; kx++)
                        {
                            int from = lo[kx], to = hi[kx];
                            if (from >= to) continue;
                            nint xRow = (nint)((n * g.H + iy) * g.W + kx * g.DW - g.PadLeft) * c;
                            for (int ci = 0; ci < c; ci++)
                            {
                                int t = (ky * g.KW + kx) * c + ci;
                                for (int f = 0; f < whole; f += w)
                                {
                                    TV s0 = TV.Splat(0), s1 = s0, s2 = s0, s3 = s0;
                                    ref float xc = ref Unsafe.Add(ref x0, xRow + ci);
                                    ref float dyf = ref Unsafe.Add(ref dy0, dyRow + f);
                                    int ox = from;
                                    for (; ox + 4 <= to; ox += 4)
                                    {
                                        s0 = TV.MultiplyAdd(TV.Splat(Unsafe.Add(ref xc, (nint)ox * step)), TV.Load(ref Unsafe.Add(ref dyf, (nint)ox * filters)), s0);
                                        s1 = TV.MultiplyAdd(TV.Splat(Unsafe.Add(ref xc, (nint)(ox + 1) * step)), TV.Load(ref Unsafe.Add(ref dyf, (nint)(ox + 1) * filters)), s1);
                                        s2 = TV.MultiplyAdd(TV.Splat(Unsafe.Add(ref xc, (nint)(ox + 2) * step)), TV.Load(ref Unsafe.Add(ref dyf, (nint)(ox + 2) * filters)), s2);
                                        s3 = TV.MultiplyAdd(TV.Splat(Unsafe.Add(ref xc, (nint)(ox + 3) * step)), TV.Load(ref Unsafe.Add(ref dyf, (nint)(ox + 3) * filters)), s3);
                                    }
                                    for (; ox < to; ox++)
                                        s0 = TV.MultiplyAdd(TV.Splat(Unsafe.Add(ref xc, (nint)ox * step)), TV.Load(ref Unsafe.Add(ref dyf, (nint)ox * filters)), s0);
                                    ref float sum = ref Unsafe.Add(ref a0, t * filters + f);
                                    TV.Store(TV.Add(TV.Load(ref sum), TV.Add(TV.Add(s0, s1), TV.Add(s2, s3))), ref sum);
                                }
                                for (int f = whole; f < filters; f++)
                                {
                                    float acc = 0;
                                    for (int ox = from; ox < to; ox++)
                                        acc = MathF.FusedMultiplyAdd(Unsafe.Add(ref x0, xRow + ci + (nint)ox * step), Unsafe.Add(ref dy0, dyRow + (nint)ox * filters + f), acc);
                                    image[t * filters + f] += acc;
                                }
                            }
                        }
                    }
                }
                System.Numerics.Tensors.TensorPrimitives.Add(dk[..(patch * filters)], image.AsSpan(0, patch * filters), dk[..(patch * filters)]);
            }
        }
        finally
        {
            NnKernels.Return(image);
        }
    }
}
