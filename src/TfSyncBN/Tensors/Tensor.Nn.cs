using System.Numerics.Tensors;
using TfSyncBN.Tensors.Kernels;

namespace TfSyncBN.Tensors;

// Neural-network operations (tf.nn): activations, matrix product, bias add, 2-D convolution and pooling.
// Each runs one fused kernel forward and one backward; the backward uses the saved inputs or outputs.
public sealed partial class Tensor
{
    /// <summary>Element-wise rectified linear unit <c>y = max(x, 0)</c>; the gradient is <c>dy</c> where x &gt; 0 and 0 elsewhere (0 at x = 0, as in TensorFlow).</summary>
    public Tensor Relu()
    {
        if (HostArray is null) return DeviceNn.Activation(this, ActivationKind.Relu);
        var y = Uninitialized(shape);
        TensorPrimitives.Max(Data, 0f, y.Data);
        GradientTape.Record(y, [this], (dy, _) =>
        {
            var dx = Uninitialized(shape);
            NnKernels.ReluBackward(Data, dy.Data, dx.Data);
            return [dx];
        });
        return y;
    }

    /// <summary>Element-wise logistic sigmoid <c>y = 1/(1 + exp(−x))</c>; gradient <c>dy·y·(1 − y)</c>.</summary>
    public Tensor Sigmoid()
    {
        if (HostArray is null) return DeviceNn.Activation(this, ActivationKind.Sigmoid);
        var y = Uninitialized(shape);
        TensorPrimitives.Sigmoid(Data, y.Data);
        GradientTape.Record(y, [this], (dy, _) =>
        {
            var dx = Uninitialized(shape);
            NnKernels.SigmoidBackward(y.Data, dy.Data, dx.Data);
            return [dx];
        });
        return y;
    }

    /// <summary>Element-wise hyperbolic tangent; gradient <c>dy·(1 − y²)</c>.</summary>
    public Tensor Tanh()
    {
        if (HostArray is null) return DeviceNn.Activation(this, ActivationKind.Tanh);
        var y = Uninitialized(shape);
        TensorPrimitives.Tanh(Data, y.Data);
        GradientTape.Record(y, [this], (dy, _) =>
        {
            var dx = Uninitialized(shape);
            NnKernels.TanhBackward(y.Data, dy.Data, dx.Data);
            return [dx];
        });
        return y;
    }

    /// <summary>
    /// Softmax along <paramref name="axis"/>: <c>y = exp(x − m) / Σ exp(x − m)</c> with m the maximum along the axis,
    /// so any finite logits (1000 included) give finite results. Gradient <c>dx = y·(dy − Σ dy·y)</c>.
    /// </summary>
    /// <param name="axis">The axis; negative counts from the end.</param>
    /// <exception cref="ArgumentException">The tensor is a scalar, or the axis is out of range.</exception>
    public Tensor Softmax(int axis = -1) => SoftmaxCore(axis, log: false);

    /// <summary>
    /// Log-softmax along <paramref name="axis"/>: <c>y = x − m − log Σ exp(x − m)</c>, m the maximum along the axis
    /// (finite for any finite logits). Gradient <c>dx = dy − softmax(x)·Σ dy</c>.
    /// </summary>
    /// <param name="axis">The axis; negative counts from the end.</param>
    /// <exception cref="ArgumentException">The tensor is a scalar, or the axis is out of range.</exception>
    public Tensor LogSoftmax(int axis = -1) => SoftmaxCore(axis, log: true);

    private Tensor SoftmaxCore(int axis, bool log)
    {
        if (Rank == 0) throw new ArgumentException($"{(log ? "LogSoftmax" : "Softmax")} needs a tensor of rank >= 1, but this one is a scalar.", nameof(axis));
        int ax = NormalizeAxes([axis], Rank, nameof(axis))[0];
        var (outer, inner) = Layout.Split(shape, ax);
        int len = shape[ax];
        if (HostArray is null) return DeviceNn.Softmax(this, outer, len, inner, log);
        var y = Uninitialized(shape);
        NnKernels.Softmax(Data, y.Data, outer, len, inner, log);
        GradientTape.Record(y, [this], (dy, _) =>
        {
            var dx = Uninitialized(shape);
            NnKernels.SoftmaxBackward(y.Data, dy.Data, dx.Data, outer, len, inner, log);
            return [dx];
        });
        return y;
    }

    /// <summary>
    /// The matrix product <c>op(this)·op(other)</c> of two rank-2 tensors, where <c>op</c> transposes when asked:
    /// <c>y[i, j] = Σ_p op(a)[i, p]·op(b)[p, j]</c> (float32 fused multiply-adds, blocked SIMD kernel).
    /// Gradients: <c>dA = dY·op(B)ᵀ</c>, <c>dB = op(A)ᵀ·dY</c> (transposed back when the operand was transposed).
    /// </summary>
    /// <param name="other">The right operand.</param>
    /// <param name="transposeA">Whether to use the transpose of <c>this</c>.</param>
    /// <param name="transposeB">Whether to use the transpose of <paramref name="other"/>.</param>
    /// <exception cref="ArgumentNullException"><paramref name="other"/> is null.</exception>
    /// <exception cref="ArgumentException">An operand is not of rank 2, or the inner dimensions differ.</exception>
    public Tensor MatMul(Tensor other, bool transposeA = false, bool transposeB = false)
    {
        ArgumentNullException.ThrowIfNull(other);
        if (Rank != 2) throw new ArgumentException($"MatMul needs rank-2 operands, but this tensor has shape {ShapeString(shape)}.", "this");
        if (other.Rank != 2) throw new ArgumentException($"MatMul needs rank-2 operands, but other has shape {ShapeString(other.shape)}.", nameof(other));
        int m = transposeA ? shape[1] : shape[0], k = transposeA ? shape[0] : shape[1];
        int kb = transposeB ? other.shape[1] : other.shape[0], n = transposeB ? other.shape[0] : other.shape[1];
        if (k != kb)
            throw new ArgumentException($"MatMul: the inner dimensions differ: op(a) is [{m}, {k}] and op(b) is [{kb}, {n}] (shapes {ShapeString(shape)}{(transposeA ? "ᵀ" : "")} and {ShapeString(other.shape)}{(transposeB ? "ᵀ" : "")}).", nameof(other));
        if (HostArray is null || other.HostArray is null) return DeviceNn.MatMul(this, other, transposeA, transposeB, m, n, k);
        var a = this;
        var y = Uninitialized([m, n]);
        Gemm.Multiply(m, n, k, a.Data, transposeA, other.Data, transposeB, y.Data, accumulate: false);
        GradientTape.Record(y, [a, other], (dy, needed) =>
        {
            Tensor? da = null, db = null;
            if (needed[0])
            {
                da = Uninitialized(a.shape);
                if (!transposeA) Gemm.Multiply(m, k, n, dy.Data, false, other.Data, !transposeB, da.Data, accumulate: false);
                else Gemm.Multiply(k, m, n, other.Data, transposeB, dy.Data, true, da.Data, accumulate: false);
            }
            if (needed[1])
            {
                db = Uninitialized(other.shape);
                if (!transposeB) Gemm.Multiply(k, n, m, a.Data, !transposeA, dy.Data, false, db.Data, accumulate: false);
                else Gemm.Multiply(n, k, m, dy.Data, true, a.Data, transposeA, db.Data, accumulate: false);
            }
            return [da, db];
        });
        return y;
    }

    /// <summary>
    /// Adds a bias vector along the last axis (<c>tf.nn.bias_add</c>, channels last): <c>y[..., c] = x[..., c] + bias[c]</c>.
    /// Gradients: <c>dx = dy</c>, <c>dbias[c] = Σ dy[..., c]</c>.
    /// </summary>
    /// <param name="bias">A vector with one entry per element of the last axis.</param>
    /// <exception cref="ArgumentNullException"><paramref name="bias"/> is null.</exception>
    /// <exception cref="ArgumentException">This tensor is a scalar, or <paramref name="bias"/> is not of shape [last dimension].</exception>
    public Tensor BiasAdd(Tensor bias)
    {
        ArgumentNullException.ThrowIfNull(bias);
        if (Rank == 0) throw new ArgumentException("BiasAdd needs a tensor of rank >= 1, but this one is a scalar.", nameof(bias));
        if (bias.Rank != 1 || bias.shape[0] != shape[^1])
            throw new ArgumentException($"bias must have shape [{shape[^1]}] (the last dimension of {ShapeString(shape)}), but has shape {ShapeString(bias.shape)}.", nameof(bias));
        if (HostArray is null || bias.HostArray is null) return DeviceNn.BiasAdd(this, bias);
        var y = Uninitialized(shape);
        if (bias.Size > 0) NnKernels.BiasAdd(Data, bias.Data, y.Data);
        GradientTape.Record(y, [this, bias], (dy, needed) =>
        {
            Tensor? db = null;
            if (needed[1])
            {
                db = Uninitialized(bias.shape);
                NnKernels.ColumnSums(dy.Data, db.Data);
            }
            return [needed[0] ? dy : null, db];
        });
        return y;
    }

    /// <summary>
    /// 2-D convolution (cross-correlation, as <c>tf.nn.conv2d</c>) of an NHWC input [N, H, W, C] with a kernel of shape
    /// [KH, KW, C/G, F] (G = <paramref name="groups"/>):
    /// <c>y[n, oy, ox, f] = Σ_{ky, kx, c} x[n, oy·SH − PT + ky·DH, ox·SW − PL + kx·DW, g·C/G + c]·k[ky, kx, c, f]</c>,
    /// g = ⌊f/(F/G)⌋ the group of output channel f, terms outside the input being 0. With the dilated kernel size
    /// <c>K' = (K − 1)·D + 1</c>: "valid": no padding, <c>O = ⌊(I − K')/S⌋ + 1</c>; "same": <c>O = ⌈I/S⌉</c>, with
    /// <c>P = max((O − 1)·S + K' − I, 0)</c> padded in total and <c>PT = ⌊P/2⌋</c> before (TensorFlow's rule).
    /// With <paramref name="dataFormat"/> "NCHW" input and output are [N, C, H, W] and [N, F, OH, OW] (same kernel).
    /// Computed with im2col and the blocked SIMD matrix product (per group); gradients are exact (transposed products and col2im).
    /// </summary>
    /// <param name="kernel">The filters, [KH, KW, C/G, F].</param>
    /// <param name="strides">[SH, SW], or one value for both, each ≥ 1; [1, 1] when null.</param>
    /// <param name="padding"><c>"valid"</c> or <c>"same"</c> (case-insensitive).</param>
    /// <param name="dilations">[DH, DW], or one value for both, each ≥ 1; [1, 1] when null.</param>
    /// <param name="groups">G ≥ 1, dividing C and F: input channels [g·C/G, (g+1)·C/G) feed output channels [g·F/G, (g+1)·F/G).</param>
    /// <param name="dataFormat"><c>"NHWC"</c> or <c>"NCHW"</c>.</param>
    /// <exception cref="ArgumentNullException"><paramref name="kernel"/> is null.</exception>
    /// <exception cref="ArgumentException">The input is not rank 4, the kernel is not [KH, KW, C/G, F] with G dividing C
    /// and F, a stride or dilation is below 1, the padding or data format is unknown, or a "valid" window is larger than the input.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="groups"/> is below 1.</exception>
    public Tensor Conv2D(Tensor kernel, IReadOnlyList<int>? strides = null, string padding = "valid", IReadOnlyList<int>? dilations = null,
        int groups = 1, string dataFormat = "NHWC")
    {
        ArgumentNullException.ThrowIfNull(kernel);
        if (Rank != 4) throw new ArgumentException($"Conv2D needs an input of rank 4, but got shape {ShapeString(shape)}.", "input");
        if (groups < 1) throw new ArgumentOutOfRangeException(nameof(groups), groups, "groups must be >= 1.");
        var (sh, sw) = Window.Pair(strides, [1, 1], nameof(strides));
        var (dh, dw) = Window.Pair(dilations, [1, 1], nameof(dilations));
        bool same = Window.IsSame(padding, nameof(padding));
        if (Window.IsChannelsFirst(dataFormat, nameof(dataFormat)))
        {
            if (HostArray is null) throw DeviceNn.Unsupported("Conv2D", "dataFormat \"NCHW\"", Device);
            return Window.ToNhwc(this).Conv2D(kernel, [sh, sw], padding, [dh, dw], groups).Transpose(Window.NhwcToNchw);
        }
        int channels = shape[3];
        if (kernel.Rank != 4 || channels % groups != 0 || kernel.shape[2] * groups != channels || kernel.shape[3] % groups != 0)
            throw new ArgumentException($"kernel must have shape [KH, KW, {(channels % groups == 0 ? (channels / groups).ToString(System.Globalization.CultureInfo.InvariantCulture) : "C/groups")}, F] with F a multiple of groups = {groups} for an input of {channels} channels (groups must divide the channels), but has shape {ShapeString(kernel.shape)}.", nameof(kernel));
        if (groups > 1)
        {
            if (HostArray is null) throw DeviceNn.Unsupported("Conv2D", $"groups = {groups}", Device);
            int cin = channels / groups, cout = kernel.shape[3] / groups;
            var parts = new Tensor[groups];
            for (int g = 0; g < groups; g++)
                parts[g] = Slice(3, g * cin, cin).Conv2D(kernel.Slice(3, g * cout, cout), [sh, sw], padding, [dh, dw]);
            return Concat(parts, 3);
        }
        var geometry = Window.Geometry(shape, kernel.shape[0], kernel.shape[1], sh, sw, same, "kernel", dh, dw);
        int filters = kernel.shape[3];
        if (HostArray is null || kernel.HostArray is null) return DeviceNn.Conv2D(this, kernel, geometry, filters);
        var x = this;
        var y = Uninitialized([geometry.N, geometry.OH, geometry.OW, filters]);
        ConvKernels.Conv2DForward(x.Data, kernel.Data, filters, geometry, y.Data);
        GradientTape.Record(y, [x, kernel], (dy, needed) =>
        {
            var dx = needed[0] ? Uninitialized(x.shape) : null;
            var dk = needed[1] ? Uninitialized(kernel.shape) : null;
            ConvKernels.Conv2DBackward(x.Data, kernel.Data, dy.Data, filters, geometry, dx is null ? [] : dx.Data, dk is null ? [] : dk.Data);
            return [dx, dk];
        });
        return y;
    }

    /// <summary>
    /// 2-D max pooling (<c>tf.nn.max_pool2d</c>) of an NHWC input: <c>y[n, oy, ox, c]</c> is the maximum of
    /// <c>x[n, oy·SH − PT + ky, ox·SW − PL + kx, c]</c> over the window positions inside the input (padding never wins).
    /// Output size and padding follow the rules of <see cref="Conv2D"/>. The gradient goes to the first maximal position
    /// of each window (row-major), and adds up where windows overlap. With <paramref name="dataFormat"/> "NCHW" the
    /// input and output are [N, C, H, W] and the same spatial axes are pooled.
    /// </summary>
    /// <param name="poolSize">[PH, PW], or one value for both, each ≥ 1.</param>
    /// <param name="strides">[SH, SW], or one value for both, each ≥ 1; <paramref name="poolSize"/> when null.</param>
    /// <param name="padding"><c>"valid"</c> or <c>"same"</c> (case-insensitive).</param>
    /// <param name="dataFormat"><c>"NHWC"</c> or <c>"NCHW"</c>.</param>
    /// <exception cref="ArgumentException">The input is not rank 4, a size or stride is below 1, the padding or data
    /// format is unknown, or a "valid" window is larger than the input.</exception>
    public Tensor MaxPool2D(IReadOnlyList<int> poolSize, IReadOnlyList<int>? strides = null, string padding = "valid", string dataFormat = "NHWC")
    {
        if (Rank != 4) throw new ArgumentException($"MaxPool2D needs an input of rank 4, but got shape {ShapeString(shape)}.", "input");
        var (ph, pw) = Window.Pair(poolSize, null, nameof(poolSize));
        var (sh, sw) = Window.Pair(strides, [ph, pw], nameof(strides));
        bool same = Window.IsSame(padding, nameof(padding));
        if (Window.IsChannelsFirst(dataFormat, nameof(dataFormat)))
        {
            if (HostArray is null) throw DeviceNn.Unsupported("MaxPool2D", "dataFormat \"NCHW\"", Device);
            return Window.ToNhwc(this).MaxPool2D([ph, pw], [sh, sw], padding).Transpose(Window.NhwcToNchw);
        }
        var g = Window.Geometry(shape, ph, pw, sh, sw, same, nameof(poolSize));
        if (HostArray is null) return DeviceNn.MaxPool2D(this, g);
        var x = this;
        var y = Uninitialized([g.N, g.OH, g.OW, g.C]);
        ConvKernels.MaxPoolForward(x.Data, g, y.Data);
        GradientTape.Record(y, [x], (dy, _) =>
        {
            var dx = Uninitialized(x.shape);
            ConvKernels.MaxPoolBackward(x.Data, y.Data, dy.Data, g, dx.Data);
            return [dx];
        });
        return y;
    }
}

/// <summary>Argument checks shared by the windowed operations and layers.</summary>
internal static class Window
{
    /// <summary>A pair of positive ints from a list of one (used for both) or two entries; <paramref name="fallback"/> when null.</summary>
    public static (int, int) Pair(IReadOnlyList<int>? values, int[]? fallback, string paramName)
    {
        var v = values ?? fallback ?? throw new ArgumentNullException(paramName);
        if (v.Count is not (1 or 2))
            throw new ArgumentException($"{paramName} must hold 1 or 2 integers, but holds {v.Count}.", paramName);
        int a = v[0], b = v.Count == 2 ? v[1] : v[0];
        if (a < 1 || b < 1)
            throw new ArgumentException($"{paramName} must be >= 1, but is [{string.Join(", ", v)}].", paramName);
        return (a, b);
    }

    /// <summary>True for "same", false for "valid" (case-insensitive).</summary>
    public static bool IsSame(string padding, string paramName) =>
        padding?.ToLowerInvariant() switch
        {
            "same" => true,
            "valid" => false,
            _ => throw new ArgumentException($"{paramName} must be \"valid\" or \"same\", but is {(padding is null ? "null" : $"\"{padding}\"")}.", paramName),
        };

    /// <summary>
    /// [N, OH, OW, channels] of a window over an NHWC shape (batch entry passed through, even if negative), or
    /// [N, channels, OH, OW] over an NCHW shape when <paramref name="channelsFirst"/>.
    /// </summary>
    /// <exception cref="ArgumentException">A "valid" window is larger than the input.</exception>
    public static int[] OutputShape(int[] shape, int[] window, int[] strides, bool same, int channels, string paramName,
        bool channelsFirst = false, int[]? dilations = null)
    {
        int h = channelsFirst ? shape[2] : shape[1], w = channelsFirst ? shape[3] : shape[2];
        var g = Geometry([1, h, w, 1], window[0], window[1], strides[0], strides[1], same, paramName, dilations?[0] ?? 1, dilations?[1] ?? 1);
        return channelsFirst ? [shape[0], channels, g.OH, g.OW] : [shape[0], g.OH, g.OW, channels];
    }

    /// <summary>The geometry, rejecting "valid" windows (dilated: <c>(K − 1)·D + 1</c>) larger than the input.</summary>
    public static WindowGeometry Geometry(int[] shape, int kh, int kw, int sh, int sw, bool same, string windowParam, int dh = 1, int dw = 1)
    {
        int eh = (kh - 1) * dh + 1, ew = (kw - 1) * dw + 1;
        if (!same && (eh > shape[1] || ew > shape[2]))
            throw new ArgumentException($"With \"valid\" padding the window {eh}x{ew} (dilated) must fit in the input's {shape[1]}x{shape[2]} spatial size (NHWC shape {Tensor.ShapeString(shape)}).", windowParam);
        return WindowGeometry.Create(shape, kh, kw, sh, sw, same, dh, dw);
    }

    /// <summary>The permutation from NHWC to NCHW (and <see cref="NchwToNhwc"/> back).</summary>
    public static readonly int[] NhwcToNchw = [0, 3, 1, 2], NchwToNhwc = [0, 2, 3, 1];

    /// <summary>An NCHW tensor as NHWC (a recorded transpose).</summary>
    public static Tensor ToNhwc(Tensor x) => x.Transpose(NchwToNhwc);

    /// <summary>True for "NCHW", false for "NHWC" (tf.nn's names, case-sensitive).</summary>
    public static bool IsChannelsFirst(string dataFormat, string paramName) => dataFormat switch
    {
        "NHWC" => false,
        "NCHW" => true,
        _ => throw new ArgumentException($"{paramName} must be \"NHWC\" or \"NCHW\", but is {(dataFormat is null ? "null" : $"\"{dataFormat}\"")}.", paramName),
    };
}
