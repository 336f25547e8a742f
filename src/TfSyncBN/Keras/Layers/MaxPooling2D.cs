using TfSyncBN.Tensors;

namespace TfSyncBN.Keras;

/// <summary>
/// 2-D max pooling on NHWC inputs (<c>keras.layers.MaxPooling2D</c>): <c>y[n, oy, ox, c]</c> is the maximum of
/// <c>x[n, oy·SH − PT + ky, ox·SW − PL + kx, c]</c> over the window positions inside the input.
/// </summary>
/// <remarks>
/// <para>Output size and padding follow TensorFlow: <c>"valid"</c> <c>O = ⌊(I − P)/S⌋ + 1</c>; <c>"same"</c>
/// <c>O = ⌈I/S⌉</c> with <c>max((O − 1)·S + P − I, 0)</c> padded in total, half (rounded down) before; padded
/// positions never win. The gradient goes to the first maximal position of each window. Vectorized over channels.</para>
/// <para>Keras defaults: pool size [2, 2], strides equal to the pool size, <c>"valid"</c>.</para>
/// </remarks>
public sealed class MaxPooling2D : Layer
{
    private readonly int[] poolSize, strides;

    /// <summary>Creates the layer.</summary>
    /// <param name="poolSize">[PH, PW], or one value for both, each ≥ 1; [2, 2] when null.</param>
    /// <param name="strides">[SH, SW], or one value for both, each ≥ 1; the pool size when null.</param>
    /// <param name="padding"><c>"valid"</c> or <c>"same"</c> (case-insensitive).</param>
    /// <param name="dataFormat">Must be <c>"channels_last"</c> (or null).</param>
    /// <param name="name">The layer name; generated when null.</param>
    /// <param name="trainable">Kept for Keras compatibility (the layer has no weights).</param>
    /// <exception cref="ArgumentException"><paramref name="poolSize"/> or <paramref name="strides"/> does not hold 1 or 2 positive
    /// values, or <paramref name="padding"/> or <paramref name="dataFormat"/> is not an accepted value.</exception>
    public MaxPooling2D(IReadOnlyList<int>? poolSize = null, IReadOnlyList<int>? strides = null, string padding = "valid",
        string? dataFormat = null, string? name = null, bool trainable = true) : base(name, trainable)
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

    /// <summary>Always <c>"channels_last"</c>.</summary>
    public string DataFormat { get; }

    /// <summary>[N, OH, OW, C] for an input [N, H, W, C].</summary>
    /// <exception cref="ArgumentException">The input is not rank 4, or a "valid" window is larger than the input.</exception>
    public override IReadOnlyList<int> ComputeOutputShape(IReadOnlyList<int> inputShape)
    {
        var s = LayerConfig.CheckRank(inputShape, 4, ClassName);
        return Window.OutputShape(s, poolSize, strides, Padding == "same", s[3], nameof(inputShape));
    }

    /// <inheritdoc/>
    protected override void Build(IReadOnlyList<int> inputShape) => LayerConfig.CheckRank(inputShape, 4, ClassName, paramName: "inputs");

    /// <inheritdoc/>
    protected override Tensor CallCore(Tensor inputs, bool training, Tensor? mask) => inputs.MaxPool2D(poolSize, strides, Padding);

    /// <summary>The Keras config: <c>name, trainable, dtype, pool_size, padding, strides, data_format</c>.</summary>
    public override IReadOnlyDictionary<string, object?> GetConfig() => LayerConfig.With(base.GetConfig(),
        ("pool_size", poolSize.ToArray()), ("padding", Padding), ("strides", strides.ToArray()), ("data_format", DataFormat));

    /// <summary>Rebuilds a layer from <see cref="GetConfig"/> output.</summary>
    /// <exception cref="ArgumentException">A value has the wrong type or is not accepted (see the constructor).</exception>
    public static MaxPooling2D FromConfig(IReadOnlyDictionary<string, object?> config)
    {
        ArgumentNullException.ThrowIfNull(config);
        return new MaxPooling2D(KerasConfig.GetInts(config, "pool_size"), KerasConfig.GetInts(config, "strides"),
            KerasConfig.GetString(config, "padding") ?? "valid", KerasConfig.GetString(config, "data_format"), LayerConfig.Name(config), LayerConfig.Trainable(config));
    }
}
