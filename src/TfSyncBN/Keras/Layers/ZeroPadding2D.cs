using System.Collections;
using TfSyncBN.Tensors;

namespace TfSyncBN.Keras;

/// <summary>
/// Zero padding of the spatial axes (<c>keras.layers.ZeroPadding2D</c>): [N, H, W, C] → [N, T + H + B, L + W + R, C]
/// (NHWC; [N, C, H, W] → [N, C, T + H + B, L + W + R] with <c>"channels_first"</c>), the input placed after T rows
/// and L columns of zeros (see <see cref="Tensor.Pad"/>). No weights.
/// </summary>
public sealed class ZeroPadding2D : Layer
{
    private readonly int[] padding;

    /// <summary>Creates the layer.</summary>
    /// <param name="padding">As Keras' int / pair / pair of pairs: [p] (all four sides), [ph, pw] (T = B = ph,
    /// L = R = pw) or [T, B, L, R]; each ≥ 0; [1, 1] (Keras' default) when null.</param>
    /// <param name="dataFormat"><c>"channels_last"</c> (null means this) or <c>"channels_first"</c>.</param>
    /// <param name="name">The layer name; generated when null.</param>
    /// <param name="trainable">Kept for Keras compatibility (the layer has no weights).</param>
    /// <exception cref="ArgumentException"><paramref name="padding"/> does not hold 1, 2 or 4 values ≥ 0, or <paramref name="dataFormat"/> is not accepted.</exception>
    public ZeroPadding2D(IReadOnlyList<int>? padding = null, string? dataFormat = null, string? name = null, bool trainable = true) : base(name, trainable)
    {
        var p = padding ?? [1, 1];
        if (p.Count is not (1 or 2 or 4) || p.Any(v => v < 0))
            throw new ArgumentException($"padding must hold 1, 2 or 4 integers >= 0 ([p], [ph, pw] or [top, bottom, left, right]), but is [{string.Join(", ", p)}].", nameof(padding));
        this.padding = p.Count switch
        {
            1 => [p[0], p[0], p[0], p[0]],
            2 => [p[0], p[0], p[1], p[1]],
            _ => [p[0], p[1], p[2], p[3]],
        };
        DataFormat = LayerConfig.DataFormat(dataFormat, nameof(dataFormat));
    }

    /// <summary>[top, bottom, left, right].</summary>
    public IReadOnlyList<int> Padding => Array.AsReadOnly(padding);

    /// <summary><c>"channels_last"</c> or <c>"channels_first"</c>.</summary>
    public string DataFormat { get; }

    private bool ChannelsFirst => DataFormat == LayerConfig.ChannelsFirst;

    /// <summary>The input shape with H + top + bottom and W + left + right.</summary>
    /// <exception cref="ArgumentException">The input is not rank 4.</exception>
    public override IReadOnlyList<int> ComputeOutputShape(IReadOnlyList<int> inputShape)
    {
        var s = LayerConfig.CheckRank(inputShape, 4, ClassName);
        int h = ChannelsFirst ? 2 : 1;
        s[h] += padding[0] + padding[1];
        s[h + 1] += padding[2] + padding[3];
        return s;
    }

    /// <inheritdoc/>
    protected override void Build(IReadOnlyList<int> inputShape) => LayerConfig.CheckRank(inputShape, 4, ClassName, paramName: "inputs");

    /// <inheritdoc/>
    protected override Tensor CallCore(Tensor inputs, bool training, Tensor? mask)
    {
        if (inputs.Rank != 4) throw new ArgumentException($"{ClassName} needs inputs of rank 4 ({DataFormat}), but got shape {Tensor.ShapeString([.. inputs.Shape])}.", nameof(inputs));
        return ChannelsFirst
            ? inputs.Pad([0, 0, padding[0], padding[2]], [0, 0, padding[1], padding[3]])
            : inputs.Pad([0, padding[0], padding[2], 0], [0, padding[1], padding[3], 0]);
    }

    /// <summary>The Keras config: <c>name, trainable, dtype, padding</c> (<c>[[top, bottom], [left, right]]</c>), <c>data_format</c>.</summary>
    public override IReadOnlyDictionary<string, object?> GetConfig() => LayerConfig.With(base.GetConfig(),
        ("padding", new[] { new[] { padding[0], padding[1] }, new[] { padding[2], padding[3] } }), ("data_format", DataFormat));

    /// <summary>Rebuilds a layer from <see cref="GetConfig"/> output; <c>padding</c> may be an int, a pair or a pair of pairs.</summary>
    /// <exception cref="ArgumentException">A value has the wrong type or is not accepted (see the constructor).</exception>
    public static ZeroPadding2D FromConfig(IReadOnlyDictionary<string, object?> config)
    {
        ArgumentNullException.ThrowIfNull(config);
        int[]? padding = null;
        if (config.TryGetValue("padding", out var v) && v is IEnumerable e and not string)
        {
            var flat = e.Cast<object?>().SelectMany(o => o is IEnumerable inner and not string ? inner.Cast<object?>() : [o]).ToArray();
            padding = KerasConfig.GetInts(new Dictionary<string, object?> { ["padding"] = flat }, "padding");
        }
        else
        {
            padding = KerasConfig.GetInts(config, "padding");
        }
        return new ZeroPadding2D(padding, KerasConfig.GetString(config, "data_format"), LayerConfig.Name(config), LayerConfig.Trainable(config));
    }
}
