using TfSyncBN.Tensors;
using TfSyncBN.Tensors.Kernels;

namespace TfSyncBN.Keras;

/// <summary>
/// A 2-D convolution layer (<c>keras.layers.Conv2D</c>) on NHWC inputs:
/// <c>y[n, oy, ox, f] = activation(Σ_{ky, kx, c} x[n, oy·SH − PT + ky, ox·SW − PL + kx, c]·K[ky, kx, c, f] + b[f])</c>.
/// </summary>
/// <remarks>
/// <para>Input [N, H, W, C] (<c>data_format="channels_last"</c>, the only layout implemented), kernel [KH, KW, C, F]
/// as in Keras, bias [F], output [N, OH, OW, F]. Terms outside the input are 0. <c>"valid"</c>: no padding,
/// <c>O = ⌊(I − K)/S⌋ + 1</c>; <c>"same"</c>: <c>O = ⌈I/S⌉</c>, padding <c>P = max((O − 1)·S + K − I, 0)</c> in total,
/// <c>⌊P/2⌋</c> before and the rest after (TensorFlow's rule).</para>
/// <para>Computed with im2col and the blocked SIMD matrix product, forward and backward (see <see cref="Tensor.Conv2D"/>).</para>
/// <para>Keras defaults: strides 1, <c>"valid"</c>, no activation, a bias, Glorot-uniform kernel, zero bias.</para>
/// </remarks>
public sealed class Conv2D : KernelLayer
{
    private readonly int[] kernelSize, strides;

    /// <summary>Creates the layer; the weights are created on the first call, from the input's channel count.</summary>
    /// <param name="filters">The number of output channels F, ≥ 1.</param>
    /// <param name="kernelSize">[KH, KW], or one value for both; each ≥ 1.</param>
    /// <param name="strides">[SH, SW], or one value for both; each ≥ 1; [1, 1] when null.</param>
    /// <param name="padding"><c>"valid"</c> or <c>"same"</c> (case-insensitive).</param>
    /// <param name="dataFormat">Must be <c>"channels_last"</c> (or null).</param>
    /// <param name="activation">The activation's Keras name: <c>"relu"</c>, <c>"sigmoid"</c>, <c>"softmax"</c>, <c>"tanh"</c> or <c>"linear"</c>; null means linear.</param>
    /// <param name="useBias">Whether to add a bias.</param>
    /// <param name="kernelInitializer">Initializer of K; Glorot uniform (unseeded) when null.</param>
    /// <param name="biasInitializer">Initializer of b; zeros when null.</param>
    /// <param name="kernelRegularizer">Penalty on K, or null.</param>
    /// <param name="biasRegularizer">Penalty on b, or null.</param>
    /// <param name="kernelConstraint">Projection of K after optimizer updates, or null.</param>
    /// <param name="biasConstraint">Projection of b after optimizer updates, or null.</param>
    /// <param name="name">The layer name; generated when null.</param>
    /// <param name="trainable">Whether the weights are trained.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="filters"/> is below 1.</exception>
    /// <exception cref="ArgumentNullException"><paramref name="kernelSize"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="kernelSize"/> or <paramref name="strides"/> does not hold 1 or 2
    /// positive values, or <paramref name="padding"/>, <paramref name="dataFormat"/> or <paramref name="activation"/> is not an accepted value.</exception>
    public Conv2D(int filters, IReadOnlyList<int> kernelSize, IReadOnlyList<int>? strides = null, string padding = "valid",
        string? dataFormat = null, string? activation = null, bool useBias = true, IInitializer? kernelInitializer = null,
        IInitializer? biasInitializer = null, IRegularizer? kernelRegularizer = null, IRegularizer? biasRegularizer = null,
        IConstraint? kernelConstraint = null, IConstraint? biasConstraint = null, string? name = null, bool trainable = true)
        : base(activation, useBias, kernelInitializer, biasInitializer, kernelRegularizer, biasRegularizer, kernelConstraint, biasConstraint, name, trainable)
    {
        if (filters < 1) throw new ArgumentOutOfRangeException(nameof(filters), filters, "filters must be a positive integer.");
        ArgumentNullException.ThrowIfNull(kernelSize);
        Filters = filters;
        var (kh, kw) = Window.Pair(kernelSize, null, nameof(kernelSize));
        var (sh, sw) = Window.Pair(strides, [1, 1], nameof(strides));
        this.kernelSize = [kh, kw];
        this.strides = [sh, sw];
        Padding = Window.IsSame(padding, nameof(padding)) ? "same" : "valid";
        DataFormat = LayerConfig.DataFormat(dataFormat, nameof(dataFormat));
    }

    /// <summary>The number of output channels.</summary>
    public int Filters { get; }

    /// <summary>[KH, KW].</summary>
    public IReadOnlyList<int> KernelSize => Array.AsReadOnly(kernelSize);

    /// <summary>[SH, SW].</summary>
    public IReadOnlyList<int> Strides => Array.AsReadOnly(strides);

    /// <summary><c>"valid"</c> or <c>"same"</c>.</summary>
    public string Padding { get; }

    /// <summary>Always <c>"channels_last"</c>.</summary>
    public string DataFormat { get; }

    /// <summary>[N, OH, OW, filters] for an input [N, H, W, C] (see the class remarks for OH and OW).</summary>
    /// <exception cref="ArgumentException">The input is not rank 4, or a "valid" window is larger than the input.</exception>
    public override IReadOnlyList<int> ComputeOutputShape(IReadOnlyList<int> inputShape)
    {
        var s = LayerConfig.CheckRank(inputShape, 4, ClassName);
        return Window.OutputShape(s, kernelSize, strides, Padding == "same", Filters, nameof(inputShape));
    }

    /// <inheritdoc/>
    protected override void Build(IReadOnlyList<int> inputShape)
    {
        var s = LayerConfig.CheckRank(inputShape, 4, ClassName, paramName: "inputs");
        if (s[3] < 1) throw new ArgumentException($"{ClassName} needs at least one input channel, but got shape {Tensor.ShapeString(s)}.", "inputs");
        BuildWeights([kernelSize[0], kernelSize[1], s[3], Filters], Filters);
    }

    /// <inheritdoc/>
    protected override Tensor CallCore(Tensor inputs, bool training, Tensor? mask) => CallWith(inputs, Kernel!.Value, Bias?.Value);

    private protected override Tensor CallWith(Tensor inputs, Tensor kernel, Tensor? b)
    {
        int channels = Kernel!.Shape[2];
        if (inputs.Rank != 4 || inputs.Shape[3] != channels)
            throw new ArgumentException($"{ClassName} '{Name}' was built for NHWC inputs with {channels} channels, but got shape {Tensor.ShapeString([.. inputs.Shape])}.", nameof(inputs));
        return Finish(inputs.Conv2D(kernel, strides, Padding), b);
    }

    /// <summary>
    /// The Keras config: <c>name, trainable, dtype, filters, kernel_size, strides, padding, data_format, dilation_rate</c>
    /// (always [1, 1]), <c>groups</c> (always 1), <c>activation, use_bias</c>, the initializers, regularizers and constraints.
    /// </summary>
    public override IReadOnlyDictionary<string, object?> GetConfig() => LayerConfig.With(base.GetConfig(),
    [
        ("filters", Filters), ("kernel_size", kernelSize.ToArray()), ("strides", strides.ToArray()), ("padding", Padding),
        ("data_format", DataFormat), ("dilation_rate", new[] { 1, 1 }), ("groups", 1), .. KernelConfig(),
    ]);

    /// <summary>Rebuilds a layer from <see cref="GetConfig"/> output (or Keras JSON of the same shape); <c>filters</c> and <c>kernel_size</c> are required.</summary>
    /// <exception cref="ArgumentException">A required key is missing, a value has the wrong type, or <c>dilation_rate</c>
    /// or <c>groups</c> is not 1 (not implemented).</exception>
    /// <exception cref="ArgumentOutOfRangeException"><c>filters</c> is below 1.</exception>
    public static Conv2D FromConfig(IReadOnlyDictionary<string, object?> config)
    {
        ArgumentNullException.ThrowIfNull(config);
        if (KerasConfig.GetInts(config, "dilation_rate") is { } d && d.Any(v => v != 1))
            throw new ArgumentException($"Conv2D implements dilation_rate 1 only, but the config has [{string.Join(", ", d)}].", nameof(config));
        if (KerasConfig.GetInt(config, "groups", 1) != 1)
            throw new ArgumentException("Conv2D implements groups = 1 only.", nameof(config));
        var a = KernelArgs.Read(config);
        return new Conv2D(LayerConfig.RequiredInt(config, "filters", "Conv2D"), LayerConfig.RequiredInts(config, "kernel_size", "Conv2D"),
            KerasConfig.GetInts(config, "strides"), KerasConfig.GetString(config, "padding") ?? "valid", KerasConfig.GetString(config, "data_format"),
            a.Activation, a.UseBias, a.KernelInitializer, a.BiasInitializer, a.KernelRegularizer, a.BiasRegularizer, a.KernelConstraint,
            a.BiasConstraint, a.Name, a.Trainable);
    }
}
