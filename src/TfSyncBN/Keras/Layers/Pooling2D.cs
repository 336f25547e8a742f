using TfSyncBN.Tensors;

namespace TfSyncBN.Keras;

/// <summary>
/// The shared part of <see cref="MaxPooling2D"/> and <see cref="AveragePooling2D"/>: a PH×PW window moved by SH×SW over
/// the spatial axes of NHWC (<c>"channels_last"</c>) or NCHW (<c>"channels_first"</c>) inputs, each channel pooled alone.
/// </summary>
/// <remarks>
/// <para>Output size and padding follow TensorFlow: <c>"valid"</c> <c>O = ⌊(I − P)/S⌋ + 1</c>; <c>"same"</c>
/// <c>O = ⌈I/S⌉</c> with <c>max((O − 1)·S + P − I, 0)</c> padded in total, half (rounded down) before.</para>
/// <para>Keras defaults: pool size [2, 2], strides equal to the pool size, <c>"valid"</c>, channels last.</para>
/// </remarks>
public abstract class Pooling2D : Layer
{
    private readonly int[] poolSize, strides;

    /// <summary>Validates and stores the arguments (see <see cref="MaxPooling2D(IReadOnlyList{int}?, IReadOnlyList{int}?, string, string?, string?, bool)"/>).</summary>
    /// <exception cref="ArgumentException">An argument is not accepted.</exception>
    private protected Pooling2D(IReadOnlyList<int>? poolSize, IReadOnlyList<int>? strides, string padding, string? dataFormat, string? name, bool trainable)
        : base(name, trainable)
    {
        var (ph, pw) = Window.Pair(poolSize, [2, 2], nameof(poolSize));
        var (sh, sw) = Window.Pair(strides, [ph, pw], nameof(strides));
        this.poolSize = [ph, pw];
        this.strides = [sh, sw];
        Padding = Window.IsSame(padding, nameof(padding)) ? "same" : "valid";
        DataFormat = LayerConfig.DataFormat(dataFormat, nameof(dataFormat));
    }

    /// <summary>[PH, PW].</summary>
    public IReadOnlyList<int> PoolSize => Array.AsReadOnly(poolSize);

    /// <summary>[SH, SW].</summary>
    public IReadOnlyList<int> Strides => Array.AsReadOnly(strides);

    /// <summary><c>"valid"</c> or <c>"same"</c>.</summary>
    public string Padding { get; }

    /// <summary><c>"channels_last"</c> or <c>"channels_first"</c>.</summary>
    public string DataFormat { get; }

    /// <summary>[N, OH, OW, C] for an input [N, H, W, C]; [N, C, OH, OW] for [N, C, H, W] channels first.</summary>
    /// <exception cref="ArgumentException">The input is not rank 4, or a "valid" window is larger than the input.</exception>
    public override IReadOnlyList<int> ComputeOutputShape(IReadOnlyList<int> inputShape)
    {
        var s = LayerConfig.CheckRank(inputShape, 4, ClassName);
        return Window.OutputShape(s, poolSize, strides, Padding == "same", s[LayerConfig.ChannelAxis(DataFormat)], nameof(inputShape),
            DataFormat == LayerConfig.ChannelsFirst);
    }

    /// <inheritdoc/>
    protected override void Build(IReadOnlyList<int> inputShape) => LayerConfig.CheckRank(inputShape, 4, ClassName, paramName: "inputs");

    /// <inheritdoc/>
    protected override Tensor CallCore(Tensor inputs, bool training, Tensor? mask) => Pool(inputs, poolSize, strides, Padding, LayerConfig.OpFormat(DataFormat));

    /// <summary>The pooling op (<see cref="Tensor.MaxPool2D"/> or <see cref="Tensor.AvgPool2D"/>).</summary>
    private protected abstract Tensor Pool(Tensor x, int[] poolSize, int[] strides, string padding, string dataFormat);

    /// <summary>The Keras config: <c>name, trainable, dtype, pool_size, padding, strides, data_format</c>.</summary>
    public override IReadOnlyDictionary<string, object?> GetConfig() => LayerConfig.With(base.GetConfig(),
        ("pool_size", poolSize.ToArray()), ("padding", Padding), ("strides", strides.ToArray()), ("data_format", DataFormat));

    /// <summary>The constructor arguments read from a config.</summary>
    private protected readonly record struct PoolArgs(int[]? PoolSize, int[]? Strides, string Padding, string? DataFormat, string? Name, bool Trainable)
    {
        public static PoolArgs Read(IReadOnlyDictionary<string, object?> c)
        {
            ArgumentNullException.ThrowIfNull(c, "config");
            return new(KerasConfig.GetInts(c, "pool_size"), KerasConfig.GetInts(c, "strides"), KerasConfig.GetString(c, "padding") ?? "valid",
                KerasConfig.GetString(c, "data_format"), LayerConfig.Name(c), LayerConfig.Trainable(c));
        }
    }
}
