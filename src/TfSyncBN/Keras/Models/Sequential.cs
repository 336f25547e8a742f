using TfSyncBN.Tensors;

namespace TfSyncBN.Keras;

/// <summary>
/// A plain stack of layers, each feeding the next (<c>keras.Sequential</c>).
/// </summary>
/// <remarks>
/// <para>Build it inside <c>strategy.Scope()</c> to train it data-parallel (see <see cref="Model"/>). The layers are
/// built on the first <see cref="Model.Call(Tensor, bool)"/>, <c>Model.Fit</c> or <see cref="Build"/>, or at once when an
/// input shape is given; <see cref="Model.Summary"/> needs a built model.</para>
/// <para>This class is <c>partial</c>: model JSON and weight files live in other files.</para>
/// </remarks>
public sealed partial class Sequential : Model
{
    private readonly List<Layer> layers = [];
    private readonly object buildLock = new();
    private int[]? builtShape;
    private int[][] outputShapes = [];

    /// <summary>Creates the model.</summary>
    /// <param name="layers">The layers, in order; more can be added with <see cref="Add"/>.</param>
    /// <param name="inputShape">The shape of one sample (without the batch dimension); when given, the model is built at once (Keras <c>keras.Input(shape)</c>).</param>
    /// <param name="name">The model name; <c>sequential</c>, <c>sequential_1</c>, ... when null.</param>
    /// <exception cref="ArgumentException">A layer is null or repeated, or the input shape does not fit a layer.</exception>
    public Sequential(IReadOnlyList<Layer>? layers = null, IReadOnlyList<int>? inputShape = null, string? name = null)
        : base(name, "sequential")
    {
        foreach (var layer in layers ?? []) Add(layer);
        if (inputShape is not null) Build([-1, .. inputShape]);
    }

    /// <inheritdoc/>
    public override IReadOnlyList<Layer> Layers => layers.ToArray();

    /// <inheritdoc/>
    public override bool Built => Volatile.Read(ref builtShape) is not null;

    /// <summary>The input shape the model was built for (batch dimension -1 when unspecified), or null.</summary>
    public IReadOnlyList<int>? BuiltInputShape => builtShape is { } s ? Array.AsReadOnly(s) : null;

    /// <summary>Appends a layer (<c>model.add</c>).</summary>
    /// <exception cref="ArgumentNullException"><paramref name="layer"/> is null.</exception>
    /// <exception cref="ArgumentException">The layer is already in the model.</exception>
    /// <exception cref="InvalidOperationException">The model is already built.</exception>
    public void Add(Layer layer)
    {
        ArgumentNullException.ThrowIfNull(layer);
        if (layers.Contains(layer)) throw new ArgumentException($"{layer} is already in the model; a layer can appear once.", nameof(layer));
        if (Built) throw new InvalidOperationException($"Model '{Name}' is already built; add layers before calling, fitting or building it.");
        layers.Add(layer);
    }

    /// <summary>The output shape of each layer, batch dimension -1 when unspecified (for <see cref="Model.Summary"/>).</summary>
    internal IReadOnlyList<IReadOnlyList<int>> OutputShapes => outputShapes;

    /// <inheritdoc/>
    /// <remarks>A batch dimension of -1 (unknown) is passed to the layers as 1; each layer's output shape comes from its <c>ComputeOutputShape</c>.</remarks>
    public override void Build(IReadOnlyList<int> inputShape)
    {
        ArgumentNullException.ThrowIfNull(inputShape);
        if (inputShape.Count == 0) throw new ArgumentException("inputShape needs a batch dimension first.", nameof(inputShape));
        if (Built) return;
        lock (buildLock)
        {
            if (Built) return;
            using var scope = EnterScope();
            var shape = inputShape.ToArray();
            var concrete = shape.ToArray();
            if (concrete[0] < 0) concrete[0] = 1;
            var shapes = new int[layers.Count][];
            for (int i = 0; i < layers.Count; i++)
            {
                layers[i].EnsureBuilt(concrete);
                concrete = layers[i].ComputeOutputShape(concrete).ToArray();
                shapes[i] = [shape[0] < 0 ? -1 : concrete[0], .. concrete[1..]];
            }
            outputShapes = shapes;
            Volatile.Write(ref builtShape, shape);
        }
    }

    /// <inheritdoc/>
    public override Tensor Call(Tensor inputs, bool training = false)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        if (!Built) Build([-1, .. inputs.Shape.Skip(1)]);
        var x = inputs;
        for (int i = 0; i < layers.Count; i++)
        {
            if (!training && FoldsNext(i, x.Rank) is var (scale, shift))
            {
                // Inference: the batch normalization after a linear Conv2D or Dense is folded into its weights.
                x = ((KernelLayer)layers[i]).CallFolded(x, scale, shift);
                i++;
            }
            else if (FusesWithNext(i) is BatchNormalization bn)
            {
                if (i + 2 < layers.Count && LayerFusion.MaxPoolFusion(bn, layers[i + 1], layers[i + 2]) is { } pool)
                {
                    x = bn.CallWithReluMaxPool(x, training, pool);
                    i++;
                }
                else x = bn.CallWithRelu(x, training);
                i++;
            }
            else x = layers[i].Call(x, training);
        }
        return x;
    }

    /// <summary>In inference, the map of layer <paramref name="i"/> + 1 when it folds into layer <paramref name="i"/>
    /// (see <see cref="LayerFusion.InferenceFold"/>); <paramref name="rank"/> is the input's rank.</summary>
    private (Tensor Scale, Tensor Shift)? FoldsNext(int i, int rank) =>
        i + 1 < layers.Count ? LayerFusion.InferenceFold(layers[i], layers[i + 1], rank) : null;

    /// <summary>Layer <paramref name="i"/> when it runs fused with the ReLU after it (see <see cref="LayerFusion.ReluFusion"/>).</summary>
    private BatchNormalization? FusesWithNext(int i) =>
        i + 1 < layers.Count ? LayerFusion.ReluFusion(layers[i], layers[i + 1]) : null;
}
