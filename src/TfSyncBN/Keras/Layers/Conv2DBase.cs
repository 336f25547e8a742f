using TfSyncBN.Tensors;

namespace TfSyncBN.Keras;

/// <summary>
/// The shared part of <see cref="Conv2D"/> and <see cref="DepthwiseConv2D"/>: kernel size, strides, dilation, padding
/// and data format, the output shape they imply, and the bias and activation after the convolution.
/// </summary>
/// <remarks>With the dilated kernel size <c>K' = (K − 1)·D + 1</c>: <c>"valid"</c>: <c>O = ⌊(I − K')/S⌋ + 1</c>;
/// <c>"same"</c>: <c>O = ⌈I/S⌉</c>, padding <c>max((O − 1)·S + K' − I, 0)</c> in total, <c>⌊P/2⌋</c> before (TensorFlow).</remarks>
public abstract class Conv2DBase : KernelLayer
{
    private readonly int[] kernelSize, strides, dilationRate;

    /// <summary>Validates and stores the arguments (see <see cref="Conv2D"/> for their meaning).</summary>
    /// <exception cref="ArgumentNullException"><paramref name="kernelSize"/> is null.</exception>
    /// <exception cref="ArgumentException">An argument is not accepted.</exception>
    private protected Conv2DBase(IReadOnlyList<int> kernelSize, IReadOnlyList<int>? strides, string padding, string? dataFormat,
        IReadOnlyList<int>? dilationRate, string? activation, bool useBias, IInitializer? kernelInitializer, IInitializer? biasInitializer,
        IRegularizer? kernelRegularizer, IRegularizer? biasRegularizer, IConstraint? kernelConstraint, IConstraint? biasConstraint,
        string? name, bool trainable)
        : base(activation, useBias, kernelInitializer, biasInitializer, kernelRegularizer, biasRegularizer, kernelConstraint, biasConstraint, name, trainable)
    {
        ArgumentNullException.ThrowIfNull(kernelSize);
        var (kh, kw) = Window.Pair(kernelSize, null, nameof(kernelSize));
        var (sh, sw) = Window.Pair(strides, [1, 1], nameof(strides));
        var (dh, dw) = Window.Pair(dilationRate, [1, 1], nameof(dilationRate));
        this.kernelSize = [kh, kw];
        this.strides = [sh, sw];
        this.dilationRate = [dh, dw];
        Padding = Window.IsSame(padding, nameof(padding)) ? "same" : "valid";
        DataFormat = LayerConfig.DataFormat(dataFormat, nameof(dataFormat));
    }

    /// <summary>[KH, KW].</summary>
    public IReadOnlyList<int> KernelSize => Array.AsReadOnly(kernelSize);

    /// <summary>[SH, SW].</summary>
    public IReadOnlyList<int> Strides => Array.AsReadOnly(strides);

    /// <summary>[DH, DW].</summary>
    public IReadOnlyList<int> DilationRate => Array.AsReadOnly(dilationRate);

    /// <summary><c>"valid"</c> or <c>"same"</c>.</summary>
    public string Padding { get; }

    /// <summary><c>"channels_last"</c> or <c>"channels_first"</c>.</summary>
    public string DataFormat { get; }

    private protected bool ChannelsFirst => DataFormat == LayerConfig.ChannelsFirst;

    /// <summary>The number of output channels for <paramref name="inputChannels"/> input channels.</summary>
    private protected abstract int OutputChannels(int inputChannels);

    /// <summary>The convolution without bias and activation, in the layer's data format.</summary>
    private protected abstract Tensor Convolve(Tensor inputs, Tensor kernel, int[] strides, string padding, int[] dilationRate, string dataFormat);

    /// <summary>The number of input channels the built kernel expects.</summary>
    private protected abstract int BuiltChannels { get; }

    /// <summary>[N, OH, OW, F] for an input [N, H, W, C], or [N, F, OH, OW] for [N, C, H, W] channels first.</summary>
    /// <exception cref="ArgumentException">The input is not rank 4, or a "valid" window is larger than the input.</exception>
    public override IReadOnlyList<int> ComputeOutputShape(IReadOnlyList<int> inputShape)
    {
        var s = LayerConfig.CheckRank(inputShape, 4, ClassName);
        return Window.OutputShape(s, kernelSize, strides, Padding == "same", OutputChannels(s[LayerConfig.ChannelAxis(DataFormat)]),
            nameof(inputShape), ChannelsFirst, dilationRate);
    }

    /// <summary>The input's channel count, checked to be at least 1.</summary>
    private protected int InputChannels(IReadOnlyList<int> inputShape)
    {
        var s = LayerConfig.CheckRank(inputShape, 4, ClassName, paramName: "inputs");
        int c = s[LayerConfig.ChannelAxis(DataFormat)];
        if (c < 1) throw new ArgumentException($"{ClassName} needs at least one input channel, but got shape {Tensor.ShapeString(s)} ({DataFormat}).", "inputs");
        return c;
    }

    /// <inheritdoc/>
    protected override Tensor CallCore(Tensor inputs, bool training, Tensor? mask) => CallWith(inputs, Kernel!.Value, Bias?.Value);

    private protected override Tensor CallWith(Tensor inputs, Tensor kernel, Tensor? b)
    {
        int channels = BuiltChannels;
        if (inputs.Rank != 4 || inputs.Shape[LayerConfig.ChannelAxis(DataFormat)] != channels)
            throw new ArgumentException($"{ClassName} '{Name}' was built for {DataFormat} inputs of rank 4 with {channels} channels, but got shape {Tensor.ShapeString([.. inputs.Shape])}.", nameof(inputs));
        return Finish(Convolve(inputs, kernel, strides, Padding, dilationRate, LayerConfig.OpFormat(DataFormat)), b, ChannelsFirst);
    }

    /// <summary>The config entries <c>kernel_size, strides, padding, data_format, dilation_rate</c>.</summary>
    private protected (string, object?)[] WindowConfig() =>
    [
        ("kernel_size", kernelSize.ToArray()), ("strides", strides.ToArray()), ("padding", Padding), ("data_format", DataFormat),
        ("dilation_rate", dilationRate.ToArray()),
    ];
}
