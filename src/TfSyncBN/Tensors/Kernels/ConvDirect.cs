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
/// Kernel gradient: for each image, per-tap accumulators <c>Σ_pixels x_tap·dy[pixel, f..]</c> in float32 (pixels in
/// row-major order), then added into dk image by image. Filters beyond the last whole vector use scalar loops.
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
        int w = TV.Count, whole = filters / w * w;
        Span<int> tap = stackalloc int[MaxPatch], offset = stackalloc int[MaxPatch];
        Span<float> xs = stackalloc float[MaxPatch];
        ref float k0 = ref MemoryMarshal.GetReference(kernel);
        ref float y0 = ref MemoryMarshal.GetReference(y);
        int at = 0;
        for (int n = 0; n < g.N; n++)
        {
            for (int oy = 0; oy < g.OH; oy++)
            {
                for (int ox = 0; ox < g.OW; ox++, at += filters)
                {
                    int count = Taps(g, n, oy, ox, tap, offset);
                    for (int i = 0; i < count; i++) xs[i] = x[offset[i]];
                    for (int f = 0; f < whole; f += w)
                    {
                        TV acc = TV.Splat(0);
                        for (int i = 0; i < count; i++)
                            acc = TV.MultiplyAdd(TV.Splat(xs[i]), TV.Load(ref Unsafe.Add(ref k0, tap[i] * filters + f)), acc);
                        TV.Store(acc, ref Unsafe.Add(ref y0, at + f));
                    }
                    for (int f = whole; f < filters; f++)
                    {
                        float acc = 0;
                        for (int i = 0; i < count; i++) acc = MathF.FusedMultiplyAdd(xs[i], kernel[tap[i] * filters + f], acc);
                        y[at + f] = acc;
                    }
                }
            }
        }
    }

    private static void KernelGradient<TV>(ReadOnlySpan<float> x, ReadOnlySpan<float> dy, int filters, in WindowGeometry g, Span<float> dk)
        where TV : struct, IVec<TV>
    {
        int w = TV.Count, whole = filters / w * w, patch = g.Patch;
        dk[..(patch * filters)].Clear();
        float[] image = NnKernels.Rent(patch * filters);
        Span<int> tap = stackalloc int[MaxPatch], offset = stackalloc int[MaxPatch];
        try
        {
            ref float a0 = ref image[0];
            ref float dy0 = ref MemoryMarshal.GetReference(dy);
            int at = 0;
            for (int n = 0; n < g.N; n++)
            {
                image.AsSpan(0, patch * filters).Clear();
                for (int oy = 0; oy < g.OH; oy++)
                {
                    for (int ox = 0; ox < g.OW; ox++, at += filters)
                    {
                        int count = Taps(g, n, oy, ox, tap, offset);
                        for (int f = 0; f < whole; f += w)
                        {
                            TV d = TV.Load(ref Unsafe.Add(ref dy0, at + f));
                            for (int i = 0; i < count; i++)
                            {
                                ref float acc = ref Unsafe.Add(ref a0, tap[i] * filters + f);
                                TV.Store(TV.MultiplyAdd(TV.Splat(x[offset[i]]), d, TV.Load(ref acc)), ref acc);
                            }
                        }
                        for (int f = whole; f < filters; f++)
                        {
                            float d = dy[at + f];
                            for (int i = 0; i < count; i++)
                                image[tap[i] * filters + f] = MathF.FusedMultiplyAdd(x[offset[i]], d, image[tap[i] * filters + f]);
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
