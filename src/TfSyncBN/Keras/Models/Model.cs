using System.Collections.Concurrent;
using TfSyncBN.Distribute;
using TfSyncBN.Tensors;

namespace TfSyncBN.Keras;

/// <summary>
/// The base of Keras-style models (<c>keras.Model</c>): a stack of layers with training (<see cref="Compile"/>,
/// <c>Fit</c>, <see cref="TrainStep(Tensor, Tensor)"/>), evaluation and prediction, data-parallel under a distribution strategy.
/// </summary>
/// <remarks>
/// <para>The model's <see cref="Strategy"/> is the one current when it was created (inside <c>strategy.Scope()</c>), or
/// else the one current at <see cref="Compile"/>; without one it is <see cref="Strategy.Default"/> (a single device).
/// The weights are created under that strategy, so they are mirrored over its replicas.</para>
/// <para>Data-parallel semantics of a training step (see <see cref="TrainStep(Tensor, Tensor)"/>): the global batch is split over the
/// replicas; each replica runs the forward pass, sums its per-example losses and takes the gradient of that sum; ONE
/// fused all-reduce (Sum) per step carries every trainable variable's gradient (zeros where a replica has none, e.g. an
/// empty batch), the global per-example count, the loss sum and every metric's total and count; each replica then
/// divides the gradients by the global count, adds the gradients of the regularization penalties (identical on every
/// replica) and applies the same optimizer update to its own copy. This is exactly Keras' "sum of per-example losses /
/// global batch size, plus regularization losses / number of replicas on each replica, gradients summed", and gives the
/// gradient of single-device training on the whole global batch.</para>
/// <para>This class is <c>partial</c>: saving and loading live in other files.</para>
/// </remarks>
public abstract partial class Model
{
    private static readonly ConcurrentDictionary<string, int> NameCounts = new();
    private Strategy strategy;

    /// <summary>Initializes the model and captures the current strategy.</summary>
    /// <param name="name">The model name; a unique snake_case name from <paramref name="defaultName"/> when null.</param>
    /// <param name="defaultName">The base of generated names, e.g. <c>sequential</c>.</param>
    protected Model(string? name, string defaultName)
    {
        Name = name ?? UniqueName(defaultName);
        strategy = Strategy.Current;
    }

    /// <summary>The model's name.</summary>
    public string Name { get; }

    /// <summary>The strategy the model trains under (<c>model.distribute_strategy</c>).</summary>
    public Strategy Strategy => strategy;

    /// <summary>The layers, in order.</summary>
    public abstract IReadOnlyList<Layer> Layers { get; }

    /// <summary>Whether the model's layers exist with weights (it was called, fitted, or built).</summary>
    public abstract bool Built { get; }

    /// <summary>Builds every layer for inputs of <paramref name="inputShape"/> (batch dimension first), under the model's strategy.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="inputShape"/> is null.</exception>
    /// <exception cref="ArgumentException">The shape does not fit a layer.</exception>
    public abstract void Build(IReadOnlyList<int> inputShape);

    /// <summary>Runs the model on a batch (<c>model(x, training=...)</c>), building it first if needed.</summary>
    /// <param name="inputs">The batch, samples on axis 0.</param>
    /// <param name="training">Training behaviour (batch statistics, dropout) or inference.</param>
    /// <exception cref="ArgumentNullException"><paramref name="inputs"/> is null.</exception>
    /// <exception cref="ArgumentException">The input does not fit a layer.</exception>
    public abstract Tensor Call(Tensor inputs, bool training = false);

    /// <summary>Set by a callback to end <c>Fit</c> after the current epoch (<c>model.stop_training</c>).</summary>
    public bool StopTraining { get; set; }

    /// <summary>The weights an optimizer trains: each layer's trainable weights, in layer order, each once.</summary>
    public IReadOnlyList<Variable> TrainableWeights => Distinct(Layers.SelectMany(l => l.TrainableWeights));

    /// <summary>The other weights (moving statistics, frozen layers' weights), in layer order, each once.</summary>
    public IReadOnlyList<Variable> NonTrainableWeights => Distinct(Layers.SelectMany(l => l.NonTrainableWeights));

    /// <summary>All weights: <see cref="TrainableWeights"/> then <see cref="NonTrainableWeights"/> (Keras order).</summary>
    public IReadOnlyList<Variable> Weights => [.. TrainableWeights, .. NonTrainableWeights];

    /// <summary>The regularization penalties of all layers at the current weights, differentiable under a tape.</summary>
    public IReadOnlyList<Tensor> Losses => Layers.SelectMany(l => l.Losses).ToArray();

    /// <summary>The number of scalars in all weights.</summary>
    /// <exception cref="InvalidOperationException">The model is not built.</exception>
    public int CountParams()
    {
        if (!Built) throw new InvalidOperationException($"Model '{Name}' is not built yet: call Build(inputShape), Fit or Call first.");
        return checked((int)ParameterCount(Weights));
    }

    /// <summary>The number of scalars in <paramref name="weights"/>.</summary>
    private static long ParameterCount(IEnumerable<Variable> weights) => weights.Sum(w => (long)Tensor.ShapeSize(w.Shape.ToArray()));

    /// <summary>The current values of <see cref="Weights"/> (<c>get_weights</c>); mirrored weights read as their aggregation
    /// says. They stay valid for good, also when read inside a <see cref="TensorScope"/>.</summary>
    public IReadOnlyList<Tensor> GetWeights()
    {
        using (GradientTape.Pause())
        {
            var values = Weights.Select(w => w.Value).ToArray();
            foreach (var v in values) Variable.Escape(v); // callbacks keep them across steps (EarlyStopping's best weights)
            return values;
        }
    }

    /// <summary>Assigns <paramref name="values"/> to <see cref="Weights"/>, in order, on every replica (<c>set_weights</c>).</summary>
    /// <exception cref="ArgumentNullException"><paramref name="values"/> or an entry is null.</exception>
    /// <exception cref="ArgumentException">The count or a shape differs from the model's weights.</exception>
    public void SetWeights(IReadOnlyList<Tensor> values)
    {
        ArgumentNullException.ThrowIfNull(values);
        var weights = Weights;
        if (values.Count != weights.Count)
            throw new ArgumentException($"The model has {weights.Count} weights, but {values.Count} values were given.", nameof(values));
        for (int i = 0; i < values.Count; i++)
        {
            var v = values[i] ?? throw new ArgumentNullException(nameof(values), $"values[{i}] is null.");
            if (!Tensor.SameShape(v.ShapeArray, weights[i].Shape.ToArray()))
                throw new ArgumentException($"values[{i}] has shape {Tensor.ShapeString(v.ShapeArray)}, but weight '{weights[i].Name}' has shape {Tensor.ShapeString(weights[i].Shape.ToArray())}.", nameof(values));
        }
        for (int i = 0; i < values.Count; i++) weights[i].Assign(values[i]);
    }

    /// <summary>Enters the model's strategy scope unless it is already current (or is the default strategy).</summary>
    private protected IDisposable? EnterScope() =>
        strategy.NumReplicasInSync > 1 && !ReferenceEquals(Strategy.Current, strategy) ? strategy.Scope() : null;

    private static Variable[] Distinct(IEnumerable<Variable> variables) =>
        variables.Distinct(ReferenceEqualityComparer.Instance).Cast<Variable>().ToArray();

    private static string UniqueName(string baseName)
    {
        int n = NameCounts.AddOrUpdate(baseName, 0, (_, c) => c + 1);
        return n == 0 ? baseName : $"{baseName}_{n}";
    }

    /// <summary>The class and model name.</summary>
    public override string ToString() => $"{GetType().Name} '{Name}'";
}
