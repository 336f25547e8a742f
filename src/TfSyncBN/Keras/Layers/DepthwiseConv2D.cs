using TfSyncBN.Tensors;

namespace TfSyncBN.Keras;

/// <summary>
/// A depthwise 2-D convolution layer (<c>keras.layers.DepthwiseConv2D</c>): each input channel c is convolved with its
/// own M = <c>depth_multiplier</c> filters,
/// <c>y[n, oy, ox, c·M + m] = activation(Σ_{ky, kx} x[n, oy·SH − PT + ky·DH, ox·SW − PL + kx·DW, c]·K[ky, kx, c, m] + b[c·M + m])</c>.
/// </summary>
/// <remarks>
/// <para>Kernel [KH, KW, C, M] as Keras stores it, bias [C·M]; sizes, padding, dilation and data formats as in
/// <see cref="Conv2D"/> (it is <see cref="Conv2D"/> with <c>groups = C</c>, see <see cref="Tensor.DepthwiseConv2D"/>).</para>
/// <para>Keras defaults: strides 1, <c>"valid"</c>, depth multiplier 1, channels last, dilation 1, no activation,
/// a bias, Glorot-uniform kernel, zero bias. The config names the kernel's arguments <c>depthwise_initializer</c>,
/// <c>depthwise_regularizer</c> and <c>depthwise_constraint</c>.</para>
/// </remarks>
public sealed class DepthwiseConv2D : Conv2DBase
{
    /// <summary>Creates the layer; the weights are created on the first call, from the input's channel count.</summary>
    /// <param name="kernelSize">[KH, KW], or one value for both; each ≥ 1.</param>
    /// <param name="strides">[SH, SW], or one value for both; each ≥ 1; [1, 1] when null.</param>
    /// <param name="padding"><c>"valid"</c> or <c>"same"</c> (case-insensitive).</param>
    /// <param name="depthMultiplier">M ≥ 1, the filters per input channel.</param>
    /// <param name="dataFormat"><c>"channels_last"</c> (null means this) or <c>"channels_first"</c>.</param>
    /// <param name="dilationRate">[DH, DW], or one value for both; each ≥ 1; [1, 1] when null.</param>
    /// <param name="activation">The activation's Keras name (those of <see cref="Keras.Activation"/>); null means linear.</param>
    /// <param name="useBias">Whether to add a bias.</param>
    /// <param name="depthwiseInitializer">Initializer of K; Glorot uniform (unseeded) when null.</param>
    /// <param name="biasInitializer">Initializer of b; zeros when null.</param>
    /// <param name="depthwiseRegularizer">Penalty on K, or null.</param>
    /// <param name="biasRegularizer">Penalty on b, or null.</param>
    /// <param name="depthwiseConstraint">Projection of K after optimizer updates, or null.</param>
    /// <param name="biasConstraint">Projection of b after optimizer updates, or null.</param>
    /// <param name="name">The layer name; generated when null.</param>
    /// <param name="trainable">Whether the weights are trained.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="depthMultiplier"/> is below 1.</exception>
    /// <exception cref="ArgumentNullException"><paramref name="kernelSize"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="kernelSize"/>, <paramref name="strides"/> or <paramref name="dilationRate"/>
    /// does not hold 1 or 2 positive values, or <paramref name="padding"/>, <paramref name="dataFormat"/> or <paramref name="activation"/> is not accepted.</exception>
    public DepthwiseConv2D(IReadOnlyList<int> kernelSize, IReadOnlyList<int>? strides = null, string padding = "valid", int depthMultiplier = 1,
        string? dataFormat = null, IReadOnlyList<int>? dilationRate = null, string? activation = null, bool useBias = true,
        IInitializer? depthwiseInitializer = null, IInitializer? biasInitializer = null, IRegularizer? depthwiseRegularizer = null,
        IRegularizer? biasRegularizer = null, IConstraint? depthwiseConstraint = null, IConstraint? biasConstraint = null, string? name = null,
        bool trainable = true)
        : base(kernelSize, strides, padding, dataFormat, dilationRate, activation, useBias, depthwiseInitializer, biasInitializer,
            depthwiseRegularizer, biasRegularizer, depthwiseConstraint, biasConstraint, name, trainable)
    {
        if (depthMultiplier < 1) throw new ArgumentOutOfRangeException(nameof(depthMultiplier), depthMultiplier, "depthMultiplier must be a positive integer.");
        DepthMultiplier = depthMultiplier;
    }

    /// <summary>The filters per input channel, M.</summary>
    public int DepthMultiplier { get; }

    private protected override int OutputChannels(int inputChannels) => inputChannels * DepthMultiplier;

    private protected override int BuiltChannels => Kernel!.Shape[2];

    private protected override Tensor Convolve(Tensor inputs, Tensor kernel, int[] strides, string padding, int[] dilationRate, string dataFormat) =>
        inputs.DepthwiseConv2D(kernel, strides, padding, dilationRate, dataFormat);

    /// <inheritdoc/>
    protected override void Build(IReadOnlyList<int> inputShape)
    {
        int c = InputChannels(inputShape);
        BuildWeights([KernelSize[0], KernelSize[1], c, DepthMultiplier], c * DepthMultiplier);
    }

    /// <summary>
    /// The Keras config: <c>name, trainable, dtype, kernel_size, strides, padding, depth_multiplier, data_format,
    /// dilation_rate, activation, use_bias, depthwise_initializer, bias_initializer, depthwise_regularizer,
    /// bias_regularizer, depthwise_constraint, bias_constraint</c>.
    /// </summary>
    public override IReadOnlyDictionary<string, object?> GetConfig() => LayerConfig.With(base.GetConfig(),
    [
        .. WindowConfig(), ("depth_multiplier", DepthMultiplier), .. KernelConfig("depthwise"),
    ]);

    /// <summary>Rebuilds a layer from <see cref="GetConfig"/> output (or Keras JSON of the same shape); <c>kernel_size</c> is required.</summary>
    /// <exception cref="ArgumentException">A required key is missing, a value has the wrong type or is not accepted (see the constructor).</exception>
    /// <exception cref="ArgumentOutOfRangeException"><c>depth_multiplier</c> is below 1.</exception>
    public static DepthwiseConv2D FromConfig(IReadOnlyDictionary<string, object?> config)
    {
        ArgumentNullException.ThrowIfNull(config);
        var a = KernelArgs.Read(config, "depthwise");
        return new DepthwiseConv2D(LayerConfig.RequiredInts(config, "kernel_size", "DepthwiseConv2D"), KerasConfig.GetInts(config, "strides"),
            KerasConfig.GetString(config, "padding") ?? "valid", KerasConfig.GetInt(config, "depth_multiplier", 1), KerasConfig.GetString(config, "data_format"),
            KerasConfig.GetInts(config, "dilation_rate"), a.Activation, a.UseBias, a.KernelInitializer, a.BiasInitializer, a.KernelRegularizer,
            a.BiasRegularizer, a.KernelConstraint, a.BiasConstraint, a.Name, a.Trainable);
    }
}
