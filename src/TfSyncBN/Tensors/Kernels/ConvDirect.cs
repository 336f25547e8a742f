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
/// Forward: for each output pixel and each vector of filters, <c>acc = Σ_taps x·k[tap, f..]</c> over the window's
/// positions inside the input (taps in (ky, kx, c) order, padding skipped), one fused multiply-add per tap.
/// Kernel gradient: for each image, output row, tap and vector of filters, one float32 accumulator
/// <c>Σ_ox x_tap·dy[pixel, f..]</c> over the row's columns where the tap is inside (left to right), added to the image's
/// per-tap sums; each image's sums are then added into dk, image by image. Filters beyond the last whole vector use
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
        if (Vector512.IsHardwareAccelerated && filters >= 16) KernelGradient<V512>(x, dy, filters, g, dk);
        else if (Vector256.IsHardwareAccelerated) KernelGradient<V256>(x, dy, filters, g, dk);
        else KernelGradient<V128>(x, dy, filters, g, dk);
    }

    /// <summary>
    /// The output columns [lo, hi) whose window column <paramref name="kx"/> lies inside the input
    /// (0 ≤ ox·SW − PadLeft + kx·DW &lt; W); lo = hi when there are none.
    /// </summary>
    private static void Columns(in WindowGeometry g, int kx, out int lo, out int hi)
    {
        int shift = kx * g.DW - g.PadLeft;
        lo = shift >= 0 ? 0 : Math.Min(g.OW, (g.SW - 1 - shift) / g.SW);
        hi = g.W - 1 - shift < 0 ? 0 : Math.Min(g.OW, (g.W - 1 - shift) / g.SW + 1);
        hi = Math.Max(lo, hi);
    }

    /// <summary>
    /// The taps of output row oy of image n whose window row lies inside the input, for a column where every window
    /// column does: for each, its index in the patch ((ky·KW + kx)·C + c) and the input element's offset less ox·SW·C.
    /// Returns the number of taps.
    /// </summary>
    private static int RowTaps(in WindowGeometry g, int n, int oy, Span<int> tap, Span<int> offset)
    {
        int count = 0, c = g.C;
        for (int ky = 0; ky < g.KH; ky++)
        {
            int iy = oy * g.SH - g.PadTop + ky * g.DH;
            if ((uint)iy >= (uint)g.H) continue;
            for (int kx = 0; kx < g.KW; kx++)
            {
                for (int ci = 0; ci < c; ci++)
                {
                    tap[count] = (ky * g.KW + kx) * c + ci;
                    offset[count++] = ((n * g.H + iy) * g.W + kx * g.DW - g.PadLeft) * c + ci;
                }
            }
        }
        return count;
    }

    /// <summary>
    /// The taps of output pixel (oy, ox) of image n that lie inside the input: for each, its index in the patch
    /// ((ky·KW + kx)·C + c) and the input element's offset. Returns the number of taps.
    /// </summary>
    private static int Taps(in WindowGeometry g, int n, int oy, int ox, Span<int> tap, Span<int> offset)
    {
        Span<int> position = stackalloc int[MaxPatch], pixel = stackalloc int[MaxPatch];
        int inside = g.InsidePositions(n, oy, ox, position, pixel), count = 0, c = g.C;
        for (int p = 0; p < inside; p++)
        {
            for (int ci = 0; ci < c; ci++)
            {
                tap[count] = position[p] * c + ci;
                offset[count++] = pixel[p] + ci;
            }
        }
        return count;
    }

    private static void Forward<TV>(ReadOnlySpan<float> x, ReadOnlySpan<float> kernel, int filters, in WindowGeometry g, Span<float> y)
        where TV : struct, IVec<TV>
    {
        Span<int> rowTap = stackalloc int[MaxPatch], rowOffset = stackalloc int[MaxPatch];
        Span<int> edgeTap = stackalloc int[MaxPatch], edgeOffset = stackalloc int[MaxPatch];
        Span<float> xs = stackalloc float[MaxPatch];
        Columns(g, 0, out int interiorLo, out _);
        Columns(g, g.KW - 1, out _, out int interiorHi);
        int step = g.SW * g.C, at = 0;
        for (int n = 0; n < g.N; n++)
        {
            for (int oy = 0; oy < g.OH; oy++)
            {
                int rowCount = RowTaps(g, n, oy, rowTap, rowOffset);
                for (int ox = 0; ox < g.OW; ox++, at += filters)
                {
                    if (ox >= interiorLo && ox < interiorHi)
                    {
                        int shift = ox * step;
                        for (int i = 0; i < rowCount; i++) xs[i] = x[rowOffset[i] + shift];
                        Pixel<TV>(xs[..rowCount], rowTap, kernel, filters, y.Slice(at, filters));
                    }
                    else
                    {
                        int count = Taps(g, n, oy, ox, edgeTap, edgeOffset);
                        for (int i = 0; i < count; i++) xs[i] = x[edgeOffset[i]];
                        Pixel<TV>(xs[..count], edgeTap, kernel, filters, y.Slice(at, filters));
                    }
                }
            }
        }
    }

    /// <summary>One output pixel: <c>y[f] = Σ_i xs[i]·k[tap[i], f]</c>, taps in order.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Pixel<TV>(ReadOnlySpan<float> xs, ReadOnlySpan<int> tap, ReadOnlySpan<float> kernel, int filters, Span<float> y)
        where TV : struct, IVec<TV>
    {
        int w = TV.Count, whole = filters / w * w, count = xs.Length;
        ref float k0 = ref MemoryMarshal.GetReference(kernel);
        for (int f = 0; f < whole; f += w)
        {
            TV acc = TV.Splat(0);
            for (int i = 0; i < count; i++)
                acc = TV.MultiplyAdd(TV.Splat(xs[i]), TV.Load(ref Unsafe.Add(ref k0, tap[i] * filters + f)), acc);
            TV.Store(acc, ref y[f]);
        }
        for (int f = whole; f < filters; f++)
        {
            float acc = 0;
            for (int i = 0; i < count; i++) acc = MathF.FusedMultiplyAdd(xs[i], kernel[tap[i] * filters + f], acc);
            y[f] = acc;
        }
    }

    private static void KernelGradient<TV>(ReadOnlySpan<float> x, ReadOnlySpan<float> dy, int filters, in WindowGeometry g, Span<float> dk)
        where TV : struct, IVec<TV>
    {
        int w = TV.Count, whole = filters / w * w, patch = g.Patch, c = g.C, step = g.SW * c;
        dk[..(patch * filters)].Clear();
        float[] image = NnKernels.Rent(patch * filters);
        Span<int> lo = stackalloc int[g.KW], hi = stackalloc int[g.KW];
        for (int kx = 0; kx < g.KW; kx++) Columns(g, kx, out lo[kx], out hi[kx]);
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
                                    TV acc = TV.Splat(0);
                                    for (int ox = from; ox < to; ox++)
                                    {
                                        acc = TV.MultiplyAdd(TV.Splat(Unsafe.Add(ref x0, xRow + ci + (nint)ox * step)),
                                            TV.Load(ref Unsafe.Add(ref dy0, dyRow + (nint)ox * filters + f)), acc);
                                    }
                                    ref float sum = ref Unsafe.Add(ref a0, t * filters + f);
                                    TV.Store(TV.Add(TV.Load(ref sum), acc), ref sum);
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
