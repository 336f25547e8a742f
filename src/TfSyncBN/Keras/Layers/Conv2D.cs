using TfSyncBN.Tensors;

namespace TfSyncBN.Keras;

/// <summary>
/// A 2-D convolution layer (<c>keras.layers.Conv2D</c>):
/// <c>y[n, oy, ox, f] = activation(Σ_{ky, kx, c} x[n, oy·SH − PT + ky·DH, ox·SW − PL + kx·DW, g·C/G + c]·K[ky, kx, c, f] + b[f])</c>,
/// g the group of output channel f (see <see cref="Tensor.Conv2D"/>).
/// </summary>
/// <remarks>
/// <para>Input [N, H, W, C] (<c>data_format="channels_last"</c>) or [N, C, H, W] (<c>"channels_first"</c>); kernel
/// [KH, KW, C/G, F] as Keras stores it (HWIO); bias [F]; output [N, OH, OW, F] or [N, F, OH, OW]. Terms outside the
/// input are 0. With the dilated kernel size <c>K' = (K − 1)·D + 1</c>: <c>"valid"</c>: no padding,
/// <c>O = ⌊(I − K')/S⌋ + 1</c>; <c>"same"</c>: <c>O = ⌈I/S⌉</c>, padding <c>P = max((O − 1)·S + K' − I, 0)</c> in total,
/// <c>⌊P/2⌋</c> before and the rest after (TensorFlow's rule). The activation is applied to the output as laid out
/// (softmax over its last axis, as Keras).</para>
/// <para>Keras defaults: strides 1, <c>"valid"</c>, channels last, dilation 1, groups 1, no activation, a bias,
/// Glorot-uniform kernel, zero bias. Unlike Keras, strides and dilation above 1 may be combined.</para>
/// </remarks>
public sealed class Conv2D : Conv2DBase
{
    /// <summary>Creates the layer; the weights are created on the first call, from the input's channel count.</summary>
    /// <param name="filters">The number of output channels F, ≥ 1, a multiple of <paramref name="groups"/>.</param>
    /// <param name="kernelSize">[KH, KW], or one value for both; each ≥ 1.</param>
    /// <param name="strides">[SH, SW], or one value for both; each ≥ 1; [1, 1] when null.</param>
    /// <param name="padding"><c>"valid"</c> or <c>"same"</c> (case-insensitive).</param>
    /// <param name="dataFormat"><c>"channels_last"</c> (null means this) or <c>"channels_first"</c>.</param>
    /// <param name="dilationRate">[DH, DW], or one value for both; each ≥ 1; [1, 1] when null.</param>
    /// <param name="groups">G ≥ 1: input channels [g·C/G, (g+1)·C/G) feed output channels [g·F/G, (g+1)·F/G); G must divide C and F.</param>
    /// <param name="activation">The activation's Keras name (those of <see cref="Keras.Activation"/>); null means linear.</param>
    /// <param name="useBias">Whether to add a bias.</param>
    /// <param name="kernelInitializer">Initializer of K; Glorot uniform (unseeded) when null.</param>
    /// <param name="biasInitializer">Initializer of b; zeros when null.</param>
    /// <param name="kernelRegularizer">Penalty on K, or null.</param>
    /// <param name="biasRegularizer">Penalty on b, or null.</param>
    /// <param name="kernelConstraint">Projection of K after optimizer updates, or null.</param>
    /// <param name="biasConstraint">Projection of b after optimizer updates, or null.</param>
    /// <param name="name">The layer name; generated when null.</param>
    /// <param name="trainable">Whether the weights are trained.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="filters"/> or <paramref name="groups"/> is below 1.</exception>
    /// <exception cref="ArgumentNullException"><paramref name="kernelSize"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="kernelSize"/>, <paramref name="strides"/> or <paramref name="dilationRate"/>
    /// does not hold 1 or 2 positive values, <paramref name="filters"/> is not a multiple of <paramref name="groups"/>, or
    /// <paramref name="padding"/>, <paramref name="dataFormat"/> or <paramref name="activation"/> is not an accepted value.</exception>
    public Conv2D(int filters, IReadOnlyList<int> kernelSize, IReadOnlyList<int>? strides = null, string padding = "valid",
        string? dataFormat = null, IReadOnlyList<int>? dilationRate = null, int groups = 1, string? activation = null, bool useBias = true,
        IInitializer? kernelInitializer = null, IInitializer? biasInitializer = null, IRegularizer? kernelRegularizer = null,
        IRegularizer? biasRegularizer = null, IConstraint? kernelConstraint = null, IConstraint? biasConstraint = null, string? name = null,
        bool trainable = true)
        : base(kernelSize, strides, padding, dataFormat, dilationRate, activation, useBias, kernelInitializer, biasInitializer, kernelRegularizer,
            biasRegularizer, kernelConstraint, biasConstraint, name, trainable)
    {
        if (filters < 1) throw new ArgumentOutOfRangeException(nameof(filters), filters, "filters must be a positive integer.");
        if (groups < 1) throw new ArgumentOutOfRangeException(nameof(groups), groups, "groups must be a positive integer.");
        if (filters % groups != 0)
            throw new ArgumentException($"filters ({filters}) must be a multiple of groups ({groups}).", nameof(groups));
        Filters = filters;
        Groups = groups;
    }

    /// <summary>The number of output channels.</summary>
    public int Filters { get; }

    /// <summary>The number of channel groups.</summary>
    public int Groups { get; }

    private protected override int OutputChannels(int inputChannels) => Filters;

    private protected override int BuiltChannels => Kernel!.Shape[2] * Groups;

    private protected override Tensor Convolve(Tensor inputs, Tensor kernel, int[] strides, string padding, int[] dilationRate, string dataFormat) =>
        inputs.Conv2D(kernel, strides, padding, dilationRate, Groups, dataFormat);

    /// <inheritdoc/>
    protected override void Build(IReadOnlyList<int> inputShape)
    {
        int c = InputChannels(inputShape);
        if (c % Groups != 0)
            throw new ArgumentException($"{ClassName} has groups = {Groups}, which must divide the input's {c} channels (shape {Tensor.ShapeString([.. inputShape])}, {DataFormat}).", "inputs");
        BuildWeights([KernelSize[0], KernelSize[1], c / Groups, Filters], Filters);
    }

    /// <summary>
    /// The Keras config: <c>name, trainable, dtype, filters, kernel_size, strides, padding, data_format, dilation_rate,
    /// groups, activation, use_bias</c>, the initializers, regularizers and constraints.
    /// </summary>
    public override IReadOnlyDictionary<string, object?> GetConfig() => LayerConfig.With(base.GetConfig(),
    [
        ("filters", Filters), .. WindowConfig(), ("groups", Groups), .. KernelConfig(),
    ]);

    /// <summary>Rebuilds a layer from <see cref="GetConfig"/> output (or Keras JSON of the same shape); <c>filters</c> and <c>kernel_size</c> are required.</summary>
    /// <exception cref="ArgumentException">A required key is missing, a value has the wrong type or is not accepted (see the constructor).</exception>
    /// <exception cref="ArgumentOutOfRangeException"><c>filters</c> or <c>groups</c> is below 1.</exception>
    public static Conv2D FromConfig(IReadOnlyDictionary<string, object?> config)
    {
        ArgumentNullException.ThrowIfNull(config);
        var a = KernelArgs.Read(config);
        return new Conv2D(LayerConfig.RequiredInt(config, "filters", "Conv2D"), LayerConfig.RequiredInts(config, "kernel_size", "Conv2D"),
            KerasConfig.GetInts(config, "strides"), KerasConfig.GetString(config, "padding") ?? "valid", KerasConfig.GetString(config, "data_format"),
            KerasConfig.GetInts(config, "dilation_rate"), KerasConfig.GetInt(config, "groups", 1),
            a.Activation, a.UseBias, a.KernelInitializer, a.BiasInitializer, a.KernelRegularizer, a.BiasRegularizer, a.KernelConstraint,
            a.BiasConstraint, a.Name, a.Trainable);
    }
}
