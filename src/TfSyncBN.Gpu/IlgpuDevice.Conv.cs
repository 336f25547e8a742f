using ILGPU;
using ILGPU.Runtime;
using TfSyncBN.Gpu.Kernels;

namespace TfSyncBN.Gpu;

// 2-D convolution (im2col + the tiled GEMM) and max pooling, NHWC, with TensorFlow's "valid"/"same" rules.
public sealed partial class IlgpuDevice
{
    /// <summary>
    /// 2-D convolution (cross-correlation, as <c>tf.nn.conv2d</c>) of an NHWC input with a kernel [KH, KW, C, F]:
    /// <c>y[n, oy, ox, f] = Σ_{ky, kx, c} x[n, oy·SH − PT + ky, ox·SW − PL + kx, c]·k[ky, kx, c, f]</c> (0 outside the input),
    /// computed as im2col followed by the tiled matrix product. Output sizes and padding follow TensorFlow.
    /// </summary>
    /// <param name="x">Input [N, H, W, C].</param>
    /// <param name="kernel">Filters [KH, KW, C, F].</param>
    /// <param name="strides">[SH, SW] (or one value for both), each ≥ 1; [1, 1] when null.</param>
    /// <param name="padding"><c>"valid"</c> or <c>"same"</c> (case-insensitive).</param>
    /// <exception cref="ArgumentException">A shape, stride or padding is invalid, or a "valid" window is larger than the input.</exception>
    public GpuTensor Conv2D(GpuTensor x, GpuTensor kernel, IReadOnlyList<int>? strides = null, string padding = "valid")
    {
        var g = ConvGeometry(x, kernel, strides, padding);
        int f = kernel.Shape[3], rows = g.N * g.OH * g.OW, k = g.KH * g.KW * g.C;
        var y = New([g.N, g.OH, g.OW, f]);
        if (y.Length == 0) return y;
        using var cols = new PooledBuffer<float>(Pool, (long)rows * k, joinScope: false);
        Im2Col(x.View, g, cols);
        Gemm(cols.View, kernel.View, y.View, rows, f, k, false, false);
        return y;
    }

    /// <summary>
    /// The gradients of <see cref="Conv2D"/>: <c>dK = colsᵀ·dY</c> and <c>dX = col2im(dY·Kᵀ)</c>, where col2im gathers each
    /// input element's terms in a fixed order (no atomics).
    /// </summary>
    /// <param name="x">The forward input.</param>
    /// <param name="kernel">The forward kernel.</param>
    /// <param name="dy">The upstream gradient, the forward output's shape.</param>
    /// <param name="strides">As in the forward call.</param>
    /// <param name="padding">As in the forward call.</param>
    /// <exception cref="ArgumentException">A shape, stride or padding is invalid.</exception>
    public Conv2DGradients Conv2DBackward(GpuTensor x, GpuTensor kernel, GpuTensor dy, IReadOnlyList<int>? strides = null, string padding = "valid")
    {
        var g = ConvGeometry(x, kernel, strides, padding);
        SameDevice(dy, nameof(dy));
        int f = kernel.Shape[3], rows = g.N * g.OH * g.OW, k = g.KH * g.KW * g.C;
        if (!dy.ShapeArray.SequenceEqual([g.N, g.OH, g.OW, f]))
            throw new ArgumentException($"dy must have the output shape [{g.N}, {g.OH}, {g.OW}, {f}], but has {ShapeString(dy.Shape)}.", nameof(dy));
        var dx = New(x.ShapeArray);
        var dk = New(kernel.ShapeArray);
        using var cols = new PooledBuffer<float>(Pool, (long)rows * k, joinScope: false);
        if (rows == 0 || k == 0)
        {
            if (dx.Length > 0) dx.View.MemSetToZero();
            if (dk.Length > 0) dk.View.MemSetToZero();
            return new Conv2DGradients(dx, dk);
        }
        Im2Col(x.View, g, cols);
        Gemm(cols.View, dy.View, dk.View, k, f, rows, transposeA: true, transposeB: false);
        Gemm(dy.View, kernel.View, cols.View, rows, k, f, transposeA: false, transposeB: true);
        Kernel(nameof(ConvKernels.Col2Im), () => Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, WindowShape, ArrayView<float>>(ConvKernels.Col2Im))(
            dx.Length, cols.View, g, dx.View);
        return new Conv2DGradients(dx, dk);
    }

    private void Im2Col(ArrayView<float> x, WindowShape g, PooledBuffer<float> cols)
    {
        if (cols.Length == 0) return;
        Kernel(nameof(ConvKernels.Im2Col), () => Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, WindowShape, ArrayView<float>>(ConvKernels.Im2Col))(
            (int)cols.Length, x, g, cols.View);
    }

    /// <summary>
    /// 2-D max pooling of an NHWC input: the maximum over the window positions inside the input (padding never wins).
    /// Output sizes and padding follow <see cref="Conv2D"/>.
    /// </summary>
    /// <param name="x">Input [N, H, W, C].</param>
    /// <param name="poolSize">[PH, PW] (or one value for both), each ≥ 1.</param>
    /// <param name="strides">[SH, SW], each ≥ 1; <paramref name="poolSize"/> when null.</param>
    /// <param name="padding"><c>"valid"</c> or <c>"same"</c>.</param>
    /// <exception cref="ArgumentException">A shape, size, stride or padding is invalid.</exception>
    public GpuTensor MaxPool2D(GpuTensor x, IReadOnlyList<int> poolSize, IReadOnlyList<int>? strides = null, string padding = "valid")
    {
        var g = PoolGeometry(x, poolSize, strides, padding);
        var y = New([g.N, g.OH, g.OW, g.C]);
        if (y.Length > 0)
            Kernel(nameof(ConvKernels.MaxPool), () => Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, WindowShape, ArrayView<float>>(ConvKernels.MaxPool))(
                y.Length, x.View, g, y.View);
        return y;
    }

    /// <summary>
    /// The max-pooling gradient: each window's upstream gradient goes to its first maximal position (row-major), added up
    /// where windows overlap, in a fixed order.
    /// </summary>
    /// <param name="x">The forward input.</param>
    /// <param name="dy">The upstream gradient, the forward output's shape.</param>
    /// <param name="poolSize">As in the forward call.</param>
    /// <param name="strides">As in the forward call.</param>
    /// <param name="padding">As in the forward call.</param>
    /// <exception cref="ArgumentException">A shape, size, stride or padding is invalid.</exception>
    public GpuTensor MaxPool2DBackward(GpuTensor x, GpuTensor dy, IReadOnlyList<int> poolSize, IReadOnlyList<int>? strides = null, string padding = "valid")
    {
        var g = PoolGeometry(x, poolSize, strides, padding);
        SameDevice(dy, nameof(dy));
        if (!dy.ShapeArray.SequenceEqual([g.N, g.OH, g.OW, g.C]))
            throw new ArgumentException($"dy must have the output shape [{g.N}, {g.OH}, {g.OW}, {g.C}], but has {ShapeString(dy.Shape)}.", nameof(dy));
        var dx = New(x.ShapeArray);
        if (dx.Length > 0)
            Kernel(nameof(ConvKernels.MaxPoolBackward), () => Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, WindowShape,
                ArrayView<float>>(ConvKernels.MaxPoolBackward))(dx.Length, x.View, dy.View, g, dx.View);
        return dx;
    }

    private WindowShape ConvGeometry(GpuTensor x, GpuTensor kernel, IReadOnlyList<int>? strides, string padding)
    {
        SameDevice(x, nameof(x));
        SameDevice(kernel, nameof(kernel));
        if (x.Shape.Count != 4) throw new ArgumentException($"x must be NHWC of rank 4, but has shape {ShapeString(x.Shape)}.", nameof(x));
        if (kernel.Shape.Count != 4 || kernel.Shape[2] != x.Shape[3])
            throw new ArgumentException($"kernel must have shape [KH, KW, {x.Shape[3]}, F], but has {ShapeString(kernel.Shape)}.", nameof(kernel));
        var (sh, sw) = Pair(strides ?? [1, 1], nameof(strides));
        return Window(x, kernel.Shape[0], kernel.Shape[1], sh, sw, padding, nameof(kernel));
    }

    private WindowShape PoolGeometry(GpuTensor x, IReadOnlyList<int> poolSize, IReadOnlyList<int>? strides, string padding)
    {
        SameDevice(x, nameof(x));
        if (x.Shape.Count != 4) throw new ArgumentException($"x must be NHWC of rank 4, but has shape {ShapeString(x.Shape)}.", nameof(x));
        var (ph, pw) = Pair(poolSize, nameof(poolSize));
        var (sh, sw) = strides is null ? (ph, pw) : Pair(strides, nameof(strides));
        return Window(x, ph, pw, sh, sw, padding, nameof(poolSize));
    }

    private static WindowShape Window(GpuTensor x, int kh, int kw, int sh, int sw, string padding, string windowName)
    {
        bool same = padding?.ToLowerInvariant() switch
        {
            "same" => true,
            "valid" => false,
            _ => throw new ArgumentException($"padding must be \"valid\" or \"same\", but is {(padding is null ? "null" : $"\"{padding}\"")}.", nameof(padding)),
        };
        var s = x.Shape;
        if (kh < 1 || kw < 1) throw new ArgumentException($"The window must be at least 1x1, but is {kh}x{kw}.", windowName);
        if (!same && (kh > s[1] || kw > s[2]))
            throw new ArgumentException($"With \"valid\" padding the window {kh}x{kw} must fit in the input's {s[1]}x{s[2]}.", windowName);
        return WindowShape.Create(s[0], s[1], s[2], s[3], kh, kw, sh, sw, same);
    }

    private static (int, int) Pair(IReadOnlyList<int> v, string name)
    {
        ArgumentNullException.ThrowIfNull(v, name);
        if (v.Count is not (1 or 2)) throw new ArgumentException($"{name} must hold 1 or 2 integers, but holds {v.Count}.", name);
        int a = v[0], b = v.Count == 2 ? v[1] : v[0];
        if (a < 1 || b < 1) throw new ArgumentException($"{name} must be >= 1, but is [{string.Join(", ", v)}].", name);
        return (a, b);
    }
}
