using TfSyncBN.Tensors;

namespace TfSyncBN.Keras;

/// <summary>
/// The base of the layers that merge a list of inputs element-wise (<c>keras.layers.Add</c>, <c>Multiply</c>, ...).
/// </summary>
/// <remarks>
/// Shapes follow Keras: every input must have the same batch size; an input of lower rank is expanded with size-1
/// dimensions right after the batch axis until all ranks are equal (Keras' <c>expand_dims(x, axis=1)</c>), and then each
/// other dimension must be equal across inputs or 1 (broadcast). The layers have no weights and are called with a list:
/// <see cref="Layer.Call(IReadOnlyList{Tensor}, bool?, Tensor?)"/> or <see cref="Layer.Call(IReadOnlyList{KerasTensor})"/>.
/// </remarks>
public abstract class Merge : Layer
{
    /// <summary>Initializes the layer.</summary>
    /// <param name="name">The layer's name; generated from the class when null.</param>
    /// <param name="trainable">Kept for Keras compatibility (the layer has no weights).</param>
    protected Merge(string? name, bool trainable) : base(name, trainable)
    {
    }

    /// <summary>Combines the inputs, already expanded to one rank.</summary>
    protected abstract Tensor MergeFunction(IReadOnlyList<Tensor> inputs);

    /// <summary>Checks the number of inputs: the base accepts one or more.</summary>
    /// <exception cref="ArgumentException">The count is not accepted.</exception>
    protected virtual void CheckCount(int count)
    {
    }

    /// <summary>The merged shape, or an exception naming <paramref name="paramName"/>; see the remarks of <see cref="Merge"/>.</summary>
    /// <exception cref="ArgumentException">The count is not accepted, a shape has no batch axis, or the shapes do not match.</exception>
    protected virtual int[] MergedShape(IReadOnlyList<IReadOnlyList<int>> shapes, string paramName)
    {
        CheckCount(shapes.Count);
        int rank = 0;
        foreach (var s in shapes)
        {
            if (s.Count == 0) throw new ArgumentException($"{ClassName} needs inputs with a batch axis, but got a scalar.", paramName);
            rank = Math.Max(rank, s.Count);
        }
        var result = new int[rank];
        result[0] = -1;
        foreach (var s in shapes)
        {
            if (s[0] >= 0 && result[0] >= 0 && s[0] != result[0])
                throw new ArgumentException($"{ClassName} cannot merge tensors with different batch sizes: got shapes {Shapes(shapes)}.", paramName);
            if (s[0] >= 0) result[0] = s[0];
        }
        for (int d = 1; d < rank; d++)
        {
            result[d] = 1;
            foreach (var s in shapes)
            {
                int k = d - (rank - s.Count);
                int dim = k >= 1 ? s[k] : 1;
                if (dim == 1 || dim == result[d]) continue;
                if (result[d] != 1)
                    throw new ArgumentException($"{ClassName} cannot broadcast the shapes {Shapes(shapes)} together: each dimension after the batch must be equal or 1.", paramName);
                result[d] = dim;
            }
        }
        return result;
    }

    private protected static string Shapes(IReadOnlyList<IReadOnlyList<int>> shapes) =>
        string.Join(", ", shapes.Select(s => Tensor.ShapeString([.. s])));

    /// <summary>Always throws: a merge layer takes a list of inputs.</summary>
    /// <exception cref="ArgumentException">Always.</exception>
    public sealed override IReadOnlyList<int> ComputeOutputShape(IReadOnlyList<int> inputShape) => throw OneInput(nameof(inputShape));

    /// <summary>The merged shape; see the remarks of <see cref="Merge"/>.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="inputShapes"/> or an entry is null.</exception>
    /// <exception cref="ArgumentException">The list is empty, its count is not accepted, or the shapes do not match.</exception>
    public sealed override IReadOnlyList<int> ComputeOutputShape(IReadOnlyList<IReadOnlyList<int>> inputShapes)
    {
        ArgumentNullException.ThrowIfNull(inputShapes);
        if (inputShapes.Count == 0) throw new ArgumentException($"{ClassName} needs a list of at least one input shape.", nameof(inputShapes));
        for (int i = 0; i < inputShapes.Count; i++)
            if (inputShapes[i] is null) throw new ArgumentNullException(nameof(inputShapes), $"inputShapes[{i}] is null.");
        return MergedShape(inputShapes, nameof(inputShapes));
    }

    /// <summary>Always throws: a merge layer takes a list of inputs.</summary>
    /// <exception cref="ArgumentException">Always.</exception>
    protected sealed override void Build(IReadOnlyList<int> inputShape) => throw OneInput("inputs");

    /// <summary>Checks the shapes (there are no weights).</summary>
    protected sealed override void Build(IReadOnlyList<IReadOnlyList<int>> inputShapes) => MergedShape(inputShapes, "inputs");

    /// <summary>Always throws: a merge layer takes a list of inputs.</summary>
    /// <exception cref="ArgumentException">Always.</exception>
    protected sealed override Tensor CallCore(Tensor inputs, bool training, Tensor? mask) => throw OneInput(nameof(inputs));

    /// <summary>Checks the shapes, expands lower-rank inputs after the batch axis, and merges.</summary>
    protected override Tensor CallCore(IReadOnlyList<Tensor> inputs, bool training, Tensor? mask)
    {
        var shape = MergedShape(inputs.Select(t => (IReadOnlyList<int>)t.ShapeArray).ToArray(), nameof(inputs));
        var expanded = inputs.Select(t => t.Rank == shape.Length ? t
            : t.Reshape([t.Shape[0], .. Enumerable.Repeat(1, shape.Length - t.Rank), .. t.Shape.Skip(1)])).ToArray();
        return MergeFunction(expanded);
    }

    private ArgumentException OneInput(string paramName) =>
        new($"{ClassName} merges a list of inputs; call it with a list (Call(IReadOnlyList<Tensor>) or Call(IReadOnlyList<KerasTensor>)), not with one tensor.", paramName);
}

/// <summary>Sums its inputs element-wise (<c>keras.layers.Add</c>): <c>inputs[0] + inputs[1] + ...</c>, added in list order.</summary>
/// <remarks>Shapes as in <see cref="Merge"/>. Config: <c>name, trainable, dtype</c>.</remarks>
/// <param name="name">The layer name; <c>add</c>, <c>add_1</c>, ... when null.</param>
/// <param name="trainable">Kept for Keras compatibility.</param>
public sealed class Add(string? name = null, bool trainable = true) : Merge(name, trainable)
{
    /// <inheritdoc/>
    protected override Tensor MergeFunction(IReadOnlyList<Tensor> inputs) => inputs.Skip(1).Aggregate(inputs[0], (a, b) => a.Add(b));

    /// <summary>Rebuilds the layer from its config (<c>name</c>, <c>trainable</c>).</summary>
    /// <exception cref="ArgumentNullException"><paramref name="config"/> is null.</exception>
    public static Add FromConfig(IReadOnlyDictionary<string, object?> config) =>
        new(LayerConfig.Name(config ?? throw new ArgumentNullException(nameof(config))), LayerConfig.Trainable(config));
}

/// <summary>Subtracts its second input from its first (<c>keras.layers.Subtract</c>): <c>inputs[0] - inputs[1]</c>.</summary>
/// <remarks>Exactly two inputs; shapes as in <see cref="Merge"/>. Config: <c>name, trainable, dtype</c>.</remarks>
/// <param name="name">The layer name; <c>subtract</c>, ... when null.</param>
/// <param name="trainable">Kept for Keras compatibility.</param>
public sealed class Subtract(string? name = null, bool trainable = true) : Merge(name, trainable)
{
    /// <summary>Accepts exactly two inputs.</summary>
    /// <exception cref="ArgumentException">The count is not 2.</exception>
    protected override void CheckCount(int count)
    {
        if (count != 2) throw new ArgumentException($"A Subtract layer must be called on exactly 2 inputs, but got {count}.", "inputs");
    }

    /// <inheritdoc/>
    protected override Tensor MergeFunction(IReadOnlyList<Tensor> inputs) => inputs[0].Subtract(inputs[1]);

    /// <summary>Rebuilds the layer from its config (<c>name</c>, <c>trainable</c>).</summary>
    /// <exception cref="ArgumentNullException"><paramref name="config"/> is null.</exception>
    public static Subtract FromConfig(IReadOnlyDictionary<string, object?> config) =>
        new(LayerConfig.Name(config ?? throw new ArgumentNullException(nameof(config))), LayerConfig.Trainable(config));
}

/// <summary>Multiplies its inputs element-wise (<c>keras.layers.Multiply</c>), in list order.</summary>
/// <remarks>Shapes as in <see cref="Merge"/>. Config: <c>name, trainable, dtype</c>.</remarks>
/// <param name="name">The layer name; <c>multiply</c>, ... when null.</param>
/// <param name="trainable">Kept for Keras compatibility.</param>
public sealed class Multiply(string? name = null, bool trainable = true) : Merge(name, trainable)
{
    /// <inheritdoc/>
    protected override Tensor MergeFunction(IReadOnlyList<Tensor> inputs) => inputs.Skip(1).Aggregate(inputs[0], (a, b) => a.Multiply(b));

    /// <summary>Rebuilds the layer from its config (<c>name</c>, <c>trainable</c>).</summary>
    /// <exception cref="ArgumentNullException"><paramref name="config"/> is null.</exception>
    public static Multiply FromConfig(IReadOnlyDictionary<string, object?> config) =>
        new(LayerConfig.Name(config ?? throw new ArgumentNullException(nameof(config))), LayerConfig.Trainable(config));
}

/// <summary>Averages its inputs element-wise (<c>keras.layers.Average</c>): their sum (in list order) divided by their count.</summary>
/// <remarks>Shapes as in <see cref="Merge"/>. Config: <c>name, trainable, dtype</c>.</remarks>
/// <param name="name">The layer name; <c>average</c>, ... when null.</param>
/// <param name="trainable">Kept for Keras compatibility.</param>
public sealed class Average(string? name = null, bool trainable = true) : Merge(name, trainable)
{
    /// <inheritdoc/>
    protected override Tensor MergeFunction(IReadOnlyList<Tensor> inputs) =>
        inputs.Skip(1).Aggregate(inputs[0], (a, b) => a.Add(b)).Divide(Tensor.Scalar(inputs.Count));

    /// <summary>Rebuilds the layer from its config (<c>name</c>, <c>trainable</c>).</summary>
    /// <exception cref="ArgumentNullException"><paramref name="config"/> is null.</exception>
    public static Average FromConfig(IReadOnlyDictionary<string, object?> config) =>
        new(LayerConfig.Name(config ?? throw new ArgumentNullException(nameof(config))), LayerConfig.Trainable(config));
}

/// <summary>The element-wise maximum of its inputs (<c>keras.layers.Maximum</c>); at ties the gradient goes to the earliest input.</summary>
/// <remarks>Shapes as in <see cref="Merge"/>. Config: <c>name, trainable, dtype</c>.</remarks>
/// <param name="name">The layer name; <c>maximum</c>, ... when null.</param>
/// <param name="trainable">Kept for Keras compatibility.</param>
public sealed class Maximum(string? name = null, bool trainable = true) : Merge(name, trainable)
{
    /// <inheritdoc/>
    protected override Tensor MergeFunction(IReadOnlyList<Tensor> inputs) => inputs.Skip(1).Aggregate(inputs[0], (a, b) => a.Maximum(b));

    /// <summary>Rebuilds the layer from its config (<c>name</c>, <c>trainable</c>).</summary>
    /// <exception cref="ArgumentNullException"><paramref name="config"/> is null.</exception>
    public static Maximum FromConfig(IReadOnlyDictionary<string, object?> config) =>
        new(LayerConfig.Name(config ?? throw new ArgumentNullException(nameof(config))), LayerConfig.Trainable(config));
}

/// <summary>The element-wise minimum of its inputs (<c>keras.layers.Minimum</c>); at ties the gradient goes to the earliest input.</summary>
/// <remarks>Shapes as in <see cref="Merge"/>. Config: <c>name, trainable, dtype</c>.</remarks>
/// <param name="name">The layer name; <c>minimum</c>, ... when null.</param>
/// <param name="trainable">Kept for Keras compatibility.</param>
public sealed class Minimum(string? name = null, bool trainable = true) : Merge(name, trainable)
{
    /// <inheritdoc/>
    protected override Tensor MergeFunction(IReadOnlyList<Tensor> inputs) => inputs.Skip(1).Aggregate(inputs[0], (a, b) => a.Minimum(b));

    /// <summary>Rebuilds the layer from its config (<c>name</c>, <c>trainable</c>).</summary>
    /// <exception cref="ArgumentNullException"><paramref name="config"/> is null.</exception>
    public static Minimum FromConfig(IReadOnlyDictionary<string, object?> config) =>
        new(LayerConfig.Name(config ?? throw new ArgumentNullException(nameof(config))), LayerConfig.Trainable(config));
}

/// <summary>
/// Joins its inputs along <see cref="Axis"/> (<c>keras.layers.Concatenate(axis=-1)</c>).
/// </summary>
/// <remarks>All inputs must have the same rank and the same dimensions except along the axis (no broadcasting, as in
/// Keras). Config: <c>name, trainable, dtype, axis</c>.</remarks>
public sealed class Concatenate : Merge
{
    /// <summary>Creates the layer.</summary>
    /// <param name="axis">The axis to join along; negative counts from the end (Keras default -1, the channels).</param>
    /// <param name="name">The layer name; <c>concatenate</c>, ... when null.</param>
    /// <param name="trainable">Kept for Keras compatibility.</param>
    public Concatenate(int axis = -1, string? name = null, bool trainable = true) : base(name, trainable) => Axis = axis;

    /// <summary>The axis the inputs are joined along.</summary>
    public int Axis { get; }

    /// <summary>The joined shape: the inputs' common shape with the axis dimensions summed.</summary>
    /// <exception cref="ArgumentException">The ranks differ, the axis is out of range, the batch axis is the axis of a
    /// rank-1 input, or another dimension differs.</exception>
    protected override int[] MergedShape(IReadOnlyList<IReadOnlyList<int>> shapes, string paramName)
    {
        int rank = shapes[0].Count;
        if (shapes.Any(s => s.Count != rank))
            throw new ArgumentException($"Concatenate needs inputs of one rank, but got shapes {Shapes(shapes)}.", paramName);
        int ax = Axis < 0 ? Axis + rank : Axis;
        if (rank == 0 || ax < 0 || ax >= rank)
            throw new ArgumentException($"Concatenate axis {Axis} is out of range for inputs of rank {rank}; accepted values are -{rank}..{rank - 1}.", paramName);
        var result = shapes[0].ToArray();
        for (int i = 1; i < shapes.Count; i++)
        {
            for (int d = 0; d < rank; d++)
            {
                if (d == ax) continue;
                if (shapes[i][d] != result[d] && shapes[i][d] >= 0 && result[d] >= 0)
                    throw new ArgumentException($"Concatenate along axis {Axis} needs inputs whose other dimensions match, but got shapes {Shapes(shapes)}.", paramName);
                if (result[d] < 0) result[d] = shapes[i][d];
            }
            result[ax] = result[ax] < 0 || shapes[i][ax] < 0 ? -1 : result[ax] + shapes[i][ax];
        }
        return result;
    }

    /// <summary>Joins the inputs (<see cref="Tensor.Concat"/>).</summary>
    protected override Tensor CallCore(IReadOnlyList<Tensor> inputs, bool training, Tensor? mask)
    {
        MergedShape(inputs.Select(t => (IReadOnlyList<int>)t.ShapeArray).ToArray(), nameof(inputs));
        return MergeFunction(inputs);
    }

    /// <inheritdoc/>
    protected override Tensor MergeFunction(IReadOnlyList<Tensor> inputs) => Tensor.Concat(inputs, Axis);

    /// <summary>The Keras config: <c>name, trainable, dtype, axis</c>.</summary>
    public override IReadOnlyDictionary<string, object?> GetConfig() => LayerConfig.With(base.GetConfig(), ("axis", Axis));

    /// <summary>Rebuilds the layer from its config (<c>axis</c> defaults to -1).</summary>
    /// <exception cref="ArgumentNullException"><paramref name="config"/> is null.</exception>
    public static Concatenate FromConfig(IReadOnlyDictionary<string, object?> config)
    {
        ArgumentNullException.ThrowIfNull(config);
        return new Concatenate(KerasConfig.GetNullableInt(config, "axis") ?? -1, LayerConfig.Name(config), LayerConfig.Trainable(config));
    }
}
