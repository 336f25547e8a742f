using TfSyncBN.Tensors;

namespace TfSyncBN.Keras;

/// <summary>
/// A model used as a layer of another model (Keras calls a model like a layer): what <see cref="Model.Call(KerasTensor)"/>
/// records, and what the outer model's <see cref="Model.Layers"/> lists. It has the model's name and class name, its
/// weights (shared, not copied) and its config; calling it runs the model.
/// </summary>
public sealed class ModelLayer : Layer
{
    internal ModelLayer(Model model) : base(model.Name, trainable: true) => Model = model;

    /// <summary>The model this layer runs.</summary>
    public Model Model { get; }

    /// <summary><c>Functional</c> or <c>Sequential</c>: the model's class, as Keras writes it in model JSON.</summary>
    public override string ClassName => Model.ClassName;

    /// <summary>The model's trainable weights, or none when <see cref="Layer.Trainable"/> is false.</summary>
    public override IReadOnlyList<Variable> TrainableWeights => Trainable ? Model.TrainableWeights : [];

    /// <summary>The model's non-trainable weights, plus all of its weights when <see cref="Layer.Trainable"/> is false.</summary>
    public override IReadOnlyList<Variable> NonTrainableWeights => Trainable ? Model.NonTrainableWeights : Model.Weights;

    /// <summary>The model's regularization penalties.</summary>
    public override IReadOnlyList<Tensor> Losses => Model.Losses;

    /// <summary>The model's output shape for <paramref name="inputShape"/> (a model with one input and one output).</summary>
    /// <exception cref="ArgumentException">The shape does not fit the model, or the model has several inputs or outputs.</exception>
    public override IReadOnlyList<int> ComputeOutputShape(IReadOnlyList<int> inputShape)
    {
        ArgumentNullException.ThrowIfNull(inputShape);
        return Only(Model.ComputeOutputShapes([inputShape]), nameof(inputShape));
    }

    /// <summary>The model's output shape for <paramref name="inputShapes"/> (a model with one output).</summary>
    /// <exception cref="ArgumentException">The shapes do not fit the model, or the model has several outputs.</exception>
    public override IReadOnlyList<int> ComputeOutputShape(IReadOnlyList<IReadOnlyList<int>> inputShapes)
    {
        ArgumentNullException.ThrowIfNull(inputShapes);
        return Only(Model.ComputeOutputShapes(inputShapes), nameof(inputShapes));
    }

    internal override IReadOnlyList<IReadOnlyList<int>> ComputeOutputShapes(IReadOnlyList<IReadOnlyList<int>> inputShapes) =>
        Model.ComputeOutputShapes(inputShapes);

    internal override IReadOnlyList<Tensor> CallOutputs(IReadOnlyList<Tensor> inputs, bool training) => Model.Call(inputs, training);

    /// <inheritdoc/>
    protected override void Build(IReadOnlyList<int> inputShape)
    {
        if (!Model.Built) Model.Build([-1, .. inputShape.Skip(1)]);
    }

    /// <inheritdoc/>
    protected override void Build(IReadOnlyList<IReadOnlyList<int>> inputShapes)
    {
        if (inputShapes.Count == 1) Build(inputShapes[0]);
        else if (!Model.Built) throw new ArgumentException($"Model '{Model.Name}' takes {inputShapes.Count} inputs but is not built.", nameof(inputShapes));
    }

    /// <summary>Runs the model (one input, one output).</summary>
    protected override Tensor CallCore(Tensor inputs, bool training, Tensor? mask) => Model.Call(inputs, training);

    /// <summary>Runs the model on several inputs (one output).</summary>
    protected override Tensor CallCore(IReadOnlyList<Tensor> inputs, bool training, Tensor? mask) => Only(Model.Call(inputs, training), nameof(inputs));

    /// <summary>The model's config (<see cref="Model.GetConfig"/>).</summary>
    public override IReadOnlyDictionary<string, object?> GetConfig() => Model.GetConfig();

    private T Only<T>(IReadOnlyList<T> values, string paramName) => values.Count == 1
        ? values[0]
        : throw new ArgumentException($"Model '{Model.Name}' has {values.Count} outputs; call it on symbolic tensors with Call(IReadOnlyList<KerasTensor>) or on data with Call(IReadOnlyList<Tensor>).", paramName);
}
