using System.Collections.Concurrent;
using System.Text.RegularExpressions;
using TfSyncBN.Tensors;

namespace TfSyncBN.Keras;

/// <summary>
/// The base of all layers (<c>keras.layers.Layer</c>): builds its weights from the first input's shape, then maps
/// inputs to outputs with <see cref="Call(Tensor, bool?, Tensor?)"/>.
/// </summary>
/// <remarks>
/// Building is thread-safe: when the first call comes from the replicas of a strategy's <c>Run</c>, one replica builds
/// and the weights are mirrored over all of them (see <see cref="Variable"/>). A layer remembers the multi-replica
/// strategy current when it was created (inside its <c>Scope</c>) and, when first built outside every strategy, builds
/// its weights under that strategy, as Keras does.
/// </remarks>
public abstract partial class Layer : IKerasObject
{
    private static readonly ConcurrentDictionary<string, int> NameCounts = new();
    private readonly object buildLock = new();
    private readonly List<Variable> weights = [];
    private readonly List<(Variable Weight, IRegularizer Regularizer)> regularized = [];
    private int[]? builtShape;

    /// <summary>Initializes the layer.</summary>
    /// <param name="name">The layer's name; a unique snake_case name derived from the class when null.</param>
    /// <param name="trainable">Whether the layer's weights are trained.</param>
    protected Layer(string? name, bool trainable)
    {
        Name = name ?? UniqueName(ClassName);
        Trainable = trainable;
        var current = Distribute.Strategy.Current;
        creationStrategy = current.NumReplicasInSync > 1 ? current : null;
    }

    /// <summary>The multi-replica strategy current when the layer was created, or null; its weights are built under it.</summary>
    private readonly Distribute.Strategy? creationStrategy;

    /// <summary>The layer's name.</summary>
    public string Name { get; }

    /// <summary>Whether the layer's weights are trained; when false, <see cref="TrainableWeights"/> is empty.</summary>
    public virtual bool Trainable { get; set; }

    /// <summary>Whether the weights exist (the layer was called, or <see cref="Build(IReadOnlyList{int})"/> was run).</summary>
    public bool Built => Volatile.Read(ref builtShape) is not null;

    /// <summary>The input shape the layer was built for, or null before it is built.</summary>
    public IReadOnlyList<int>? BuiltInputShape => builtShape is { } s ? Array.AsReadOnly(s) : null;

    /// <inheritdoc/>
    public virtual string ClassName => GetType().Name;

    /// <summary>All weights: trainable ones first, then the others (Keras order).</summary>
    public IReadOnlyList<Variable> Weights => [.. TrainableWeights, .. NonTrainableWeights];

    /// <summary>The weights an optimizer updates: the trainable variables, or none when <see cref="Trainable"/> is false.</summary>
    public virtual IReadOnlyList<Variable> TrainableWeights => Trainable ? weights.Where(w => w.Trainable).ToArray() : [];

    /// <summary>The weights an optimizer leaves alone (such as moving statistics), plus all weights when <see cref="Trainable"/> is false.</summary>
    public virtual IReadOnlyList<Variable> NonTrainableWeights => Trainable ? weights.Where(w => !w.Trainable).ToArray() : weights.ToArray();

    /// <summary>The regularization penalties of the weights at their current values, differentiable under a <see cref="GradientTape"/>.</summary>
    public virtual IReadOnlyList<Tensor> Losses => regularized.Select(r => r.Regularizer.Call(r.Weight.Value)).ToArray();

    /// <summary>
    /// Applies the layer (Keras <c>layer(inputs, training=...)</c>), building it first if needed.
    /// </summary>
    /// <param name="inputs">The input batch.</param>
    /// <param name="training">Training or inference behaviour; inference when null, as in Keras outside <c>fit</c>.</param>
    /// <param name="mask">A Keras mask (1 keeps an element, 0 drops it) for layers that support masking; others ignore it.</param>
    /// <exception cref="ArgumentNullException"><paramref name="inputs"/> is null.</exception>
    /// <exception cref="ArgumentException">The input or mask does not fit the layer (see each layer).</exception>
    /// <exception cref="CheckNumericsException">The numerics check is on (<see cref="Debugging.EnableCheckNumerics"/>) and
    /// the input or output holds NaN or an infinity (or, later, the gradient of the output does).</exception>
    public Tensor Call(Tensor inputs, bool? training = null, Tensor? mask = null)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        EnsureBuilt(inputs.Shape);
        return Debugging.CheckNumericsEnabled
            ? CallCheckingNumerics(inputs, training ?? false, mask)
            : CallCore(inputs, training ?? false, mask);
    }

    /// <summary>Creates the weights for inputs of <paramref name="inputShape"/>, once; later calls with a built layer do nothing.</summary>
    /// <exception cref="ArgumentException">The shape does not fit the layer.</exception>
    public void EnsureBuilt(IReadOnlyList<int> inputShape)
    {
        ArgumentNullException.ThrowIfNull(inputShape);
        if (Built) return;
        lock (buildLock)
        {
            if (Built) return;
            var shape = inputShape.ToArray();
            // As in Keras, a layer created inside a strategy's scope builds its weights under that strategy even when
            // it is first called outside the scope (they are mirrored over its replicas, not single copies).
            using (EnterCreationScope()) Build(shape);
            Volatile.Write(ref builtShape, shape);
        }
    }

    /// <summary>Enters the creation strategy's scope when the thread is outside every strategy (else null).</summary>
    private IDisposable? EnterCreationScope() =>
        creationStrategy is { IsDisposed: false } s && Distribute.Strategy.CurrentReplica is null
            && ReferenceEquals(Distribute.Strategy.Current, Distribute.Strategy.Default)
            ? s.Scope()
            : null;

    /// <summary>Creates the layer's weights with <see cref="AddWeight"/>; called once, from the first input's shape.</summary>
    protected abstract void Build(IReadOnlyList<int> inputShape);

    /// <summary>The layer's computation, called after the layer is built.</summary>
    protected abstract Tensor CallCore(Tensor inputs, bool training, Tensor? mask);

    /// <summary>Creates a weight (mirrored under a multi-replica strategy) and registers its regularizer and constraint.</summary>
    protected Variable AddWeight(string name, IReadOnlyList<int> shape, IInitializer initializer, IRegularizer? regularizer = null,
        IConstraint? constraint = null, bool trainable = true, VariableAggregation aggregation = VariableAggregation.None)
    {
        var value = initializer.Call(shape);
        var variable = new Variable(value, $"{Name}/{name}", trainable, aggregation, constraint is null ? null : constraint.Call);
        weights.Add(variable);
        if (regularizer is not null) regularized.Add((variable, regularizer));
        return variable;
    }

    /// <summary>
    /// The shape of the output for inputs of <paramref name="inputShape"/> (batch dimension included, first), without
    /// building the layer or computing anything (Keras <c>compute_output_shape</c>). The base returns the input shape:
    /// layers that change the shape override it.
    /// </summary>
    /// <param name="inputShape">The input shape, batch dimension first.</param>
    /// <exception cref="ArgumentNullException"><paramref name="inputShape"/> is null.</exception>
    /// <exception cref="ArgumentException">The shape does not fit the layer (see each layer).</exception>
    public virtual IReadOnlyList<int> ComputeOutputShape(IReadOnlyList<int> inputShape)
    {
        ArgumentNullException.ThrowIfNull(inputShape);
        return inputShape.ToArray();
    }

    /// <summary>The number of scalars in all weights, trainable or not (Keras <c>count_params</c>).</summary>
    /// <exception cref="InvalidOperationException">The layer is not built yet, so its weights do not exist.</exception>
    public int CountParams()
    {
        if (!Built)
            throw new InvalidOperationException($"{this} is not built yet: call it on an input (or call EnsureBuilt) before counting its parameters.");
        long total = 0;
        foreach (var w in Weights)
        {
            long size = 1;
            foreach (int d in w.Shape) size *= d;
            total += size;
        }
        return checked((int)total);
    }

    /// <summary>
    /// The layer's constructor arguments under their Keras names: <c>name</c>, <c>trainable</c>, <c>dtype</c>, plus each layer's own.
    /// </summary>
    public virtual IReadOnlyDictionary<string, object?> GetConfig() => new Dictionary<string, object?>
    {
        ["name"] = Name,
        ["trainable"] = Trainable,
        ["dtype"] = "float32",
    };

    private static string UniqueName(string className)
    {
        // Keras' to_snake_case: "Conv2D" -> "conv2d", "MaxPooling2D" -> "max_pooling2d", "ReLU" -> "re_lu".
        var words = CapitalizedWord().Replace(className, "$1_$2");
        var snake = LowerUpper().Replace(words, "$1_$2").ToLowerInvariant();
        int n = NameCounts.AddOrUpdate(snake, 0, (_, c) => c + 1);
        return n == 0 ? snake : $"{snake}_{n}";
    }

    [GeneratedRegex("(.)([A-Z][a-z0-9]+)")]
    private static partial Regex CapitalizedWord();

    [GeneratedRegex("([a-z])([A-Z])")]
    private static partial Regex LowerUpper();

    /// <summary>The class name and layer name.</summary>
    public override string ToString() => $"{ClassName} '{Name}'";
}
