using TfSyncBN.Tensors.Kernels;

namespace TfSyncBN.Tensors;

// Spatial operations of the Keras image layers: average pooling, depthwise convolution, zero padding and
// nearest-neighbour repetition. Each records its gradient on the tape.
public sealed partial class Tensor
{
    /// <summary>
    /// 2-D average pooling (<c>tf.nn.avg_pool2d</c>) of an NHWC input: <c>y[n, oy, ox, c] = (1/k)·Σ x[n, iy, ix, c]</c>
    /// over the k positions of the window <c>iy = oy·SH − PT + ky</c>, <c>ix = ox·SW − PL + kx</c> that lie inside the
    /// input (TensorFlow: "same" padding is not counted). Output size and padding follow <see cref="MaxPool2D"/>.
    /// Gradient: each <c>dy/k</c> is added to the k positions. With <paramref name="dataFormat"/> "NCHW" the input and
    /// output are [N, C, H, W].
    /// </summary>
    /// <param name="poolSize">[PH, PW], or one value for both, each ≥ 1.</param>
    /// <param name="strides">[SH, SW], or one value for both, each ≥ 1; <paramref name="poolSize"/> when null.</param>
    /// <param name="padding"><c>"valid"</c> or <c>"same"</c> (case-insensitive).</param>
    /// <param name="dataFormat"><c>"NHWC"</c> or <c>"NCHW"</c>.</param>
    /// <exception cref="ArgumentException">The input is not rank 4, a size or stride is below 1, the padding or data
    /// format is unknown, or a "valid" window is larger than the input.</exception>
    public Tensor AvgPool2D(IReadOnlyList<int> poolSize, IReadOnlyList<int>? strides = null, string padding = "valid", string dataFormat = "NHWC")
    {
        if (Rank != 4) throw new ArgumentException($"AvgPool2D needs an input of rank 4, but got shape {ShapeString(shape)}.", "input");
        var (ph, pw) = Window.Pair(poolSize, null, nameof(poolSize));
        var (sh, sw) = Window.Pair(strides, [ph, pw], nameof(strides));
        bool same = Window.IsSame(padding, nameof(padding));
        if (Window.IsChannelsFirst(dataFormat, nameof(dataFormat)))
            return Window.ToNhwc(this).AvgPool2D([ph, pw], [sh, sw], padding).Transpose(Window.NhwcToNchw);
        var g = Window.Geometry(shape, ph, pw, sh, sw, same, nameof(poolSize));
        var y = Uninitialized([g.N, g.OH, g.OW, g.C]);
        ConvKernels.AvgPoolForward(Data, g, y.Data);
        var xShape = shape;
        GradientTape.Record(y, [this], (dy, _) =>
        {
            var dx = Uninitialized(xShape);
            ConvKernels.AvgPoolBackward(dy.Data, g, dx.Data);
            return [dx];
        });
        return y;
    }

    /// <summary>
    /// Depthwise 2-D convolution (<c>tf.nn.depthwise_conv2d</c>) with a kernel [KH, KW, C, M]: each input channel c is
    /// convolved with its own M filters, <c>y[n, oy, ox, c·M + m] = Σ_{ky, kx} x[n, oy·SH − PT + ky·DH, ox·SW − PL + kx·DW, c]·k[ky, kx, c, m]</c>.
    /// It is <see cref="Conv2D"/> with <c>groups = C</c> and the kernel reshaped to [KH, KW, 1, C·M]; sizes, padding,
    /// dilation and data formats as there.
    /// </summary>
    /// <param name="kernel">The filters, [KH, KW, C, M].</param>
    /// <param name="strides">[SH, SW], or one value for both; [1, 1] when null.</param>
    /// <param name="padding"><c>"valid"</c> or <c>"same"</c>.</param>
    /// <param name="dilations">[DH, DW], or one value for both; [1, 1] when null.</param>
    /// <param name="dataFormat"><c>"NHWC"</c> or <c>"NCHW"</c>.</param>
    /// <exception cref="ArgumentNullException"><paramref name="kernel"/> is null.</exception>
    /// <exception cref="ArgumentException">The input is not rank 4, the kernel is not [KH, KW, C, M], or an argument is
    /// not accepted by <see cref="Conv2D"/>.</exception>
    public Tensor DepthwiseConv2D(Tensor kernel, IReadOnlyList<int>? strides = null, string padding = "valid",
        IReadOnlyList<int>? dilations = null, string dataFormat = "NHWC")
    {
        ArgumentNullException.ThrowIfNull(kernel);
        if (Rank != 4) throw new ArgumentException($"DepthwiseConv2D needs an input of rank 4, but got shape {ShapeString(shape)}.", "input");
        int channels = Window.IsChannelsFirst(dataFormat, nameof(dataFormat)) ? shape[1] : shape[3];
        if (kernel.Rank != 4 || kernel.shape[2] != channels)
            throw new ArgumentException($"kernel must have shape [KH, KW, {channels}, M] for an input of {channels} channels, but has shape {ShapeString(kernel.shape)}.", nameof(kernel));
        var k = kernel.Reshape([kernel.shape[0], kernel.shape[1], 1, channels * kernel.shape[3]]);
        return Conv2D(k, strides, padding, dilations, Math.Max(channels, 1), dataFormat);
    }

    /// <summary>
    /// Zero padding (<c>tf.pad</c> with constant 0): axis i grows by <paramref name="before"/>[i] zeros in front and
    /// <paramref name="after"/>[i] behind; <c>y[j₀ + b₀, j₁ + b₁, ...] = x[j₀, j₁, ...]</c>. Gradient: the matching block of dy.
    /// </summary>
    /// <param name="before">One count ≥ 0 per axis.</param>
    /// <param name="after">One count ≥ 0 per axis.</param>
    /// <exception cref="ArgumentNullException">A list is null.</exception>
    /// <exception cref="ArgumentException">A list does not hold one entry per axis, or an entry is negative.</exception>
    public Tensor Pad(IReadOnlyList<int> before, IReadOnlyList<int> after)
    {
        ArgumentNullException.ThrowIfNull(before);
        ArgumentNullException.ThrowIfNull(after);
        foreach (var (list, name) in new[] { (before, nameof(before)), (after, nameof(after)) })
        {
            if (list.Count != Rank || list.Any(v => v < 0))
                throw new ArgumentException($"{name} must hold {Rank} counts >= 0 (one per axis of shape {ShapeString(shape)}), but is [{string.Join(", ", list)}].", name);
        }
        var x = this;
        var padded = new List<(int Axis, int Start, int Length)>();
        using (GradientTape.Pause())
        {
            for (int a = 0; a < Rank; a++)
            {
                if (before[a] == 0 && after[a] == 0) continue;
                var s = (int[])x.shape.Clone();
                s[a] += before[a] + after[a];
                var grown = new Tensor(new float[ShapeSize(s)], s);
                Layout.Place(x, grown, a, before[a]);
                padded.Add((a, before[a], x.shape[a]));
                x = grown;
            }
        }
        var y = ReferenceEquals(x, this) ? new Tensor(Data, shape) : x;
        GradientTape.Record(y, [this], (dy, _) =>
        {
            var d = dy;
            for (int i = padded.Count - 1; i >= 0; i--) d = Layout.Slice(d, padded[i].Axis, padded[i].Start, padded[i].Length);
            return [d];
        });
        return y;
    }

    /// <summary>
    /// Repeats every entry of <paramref name="axis"/> <paramref name="repeats"/> times in place (<c>numpy.repeat</c>,
    /// nearest-neighbour upsampling): <c>y[..., j, ...] = x[..., ⌊j/r⌋, ...]</c>. Gradient: <c>dx[..., i, ...] = Σ_{j: ⌊j/r⌋ = i} dy[..., j, ...]</c>.
    /// </summary>
    /// <param name="repeats">r ≥ 1.</param>
    /// <param name="axis">The axis; negative counts from the end.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="repeats"/> is below 1.</exception>
    /// <exception cref="ArgumentException">The tensor is a scalar, or the axis is out of range.</exception>
    public Tensor Repeat(int repeats, int axis)
    {
        if (repeats < 1) throw new ArgumentOutOfRangeException(nameof(repeats), repeats, "repeats must be >= 1.");
        if (Rank == 0) throw new ArgumentException("Repeat needs a tensor of rank >= 1, but this one is a scalar.", nameof(axis));
        int ax = NormalizeAxes([axis], Rank, nameof(axis))[0];
        if (repeats == 1) return Reshape(shape);
        var (outer, inner) = Layout.Split(shape, ax);
        int len = shape[ax];
        var s = (int[])shape.Clone();
        s[ax] = len * repeats;
        var y = Uninitialized(s);
        for (int o = 0, at = 0; o < outer; o++)
        {
            for (int i = 0; i < len; i++)
            {
                var src = Data.AsSpan((o * len + i) * inner, inner);
                for (int r = 0; r < repeats; r++, at += inner) src.CopyTo(y.Data.AsSpan(at, inner));
            }
        }
        var xShape = shape;
        GradientTape.Record(y, [this], (dy, _) => [new Tensor(dy.Data, [outer, len, repeats, inner]).Sum([2]).Reshape(xShape)]);
        return y;
    }
}
