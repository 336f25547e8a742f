using TfSyncBN.Tensors;

namespace TfSyncBN.Keras;

// Several inputs (Keras layer(inputs) with a list), and calls on symbolic tensors that record a graph node.
public abstract partial class Layer
{
    private readonly List<Node> inboundNodes = [];
    private int[][]? builtShapes;

    /// <summary>The input shapes the layer was built for (one per input), or null before it is built.</summary>
    public IReadOnlyList<IReadOnlyList<int>>? BuiltInputShapes =>
        builtShapes is { } s ? s.Select(x => (IReadOnlyList<int>)Array.AsReadOnly(x)).ToArray()
        : BuiltInputShape is { } one ? [one] : null;

    /// <summary>The calls of this layer on symbolic tensors, in order (Keras <c>layer._inbound_nodes</c>).</summary>
    internal IReadOnlyList<Node> InboundNodes
    {
        get
        {
            lock (inboundNodes) return inboundNodes.ToArray();
        }
    }

    /// <summary>
    /// Applies the layer to several inputs (Keras <c>layer([a, b], training=...)</c>), building it first if needed. A
    /// single-input layer accepts a list of exactly one tensor and computes what <see cref="Call(Tensor, bool?, Tensor?)"/> computes.
    /// </summary>
    /// <param name="inputs">The input batches, in the order the layer expects them.</param>
    /// <param name="training">Training or inference behaviour; inference when null.</param>
    /// <param name="mask">A Keras mask for layers that support masking; others ignore it.</param>
    /// <exception cref="ArgumentNullException"><paramref name="inputs"/> or an entry is null.</exception>
    /// <exception cref="ArgumentException">The list is empty, has a count the layer does not take, or the shapes do not
    /// fit the layer (see each layer).</exception>
    /// <exception cref="CheckNumericsException">The numerics check is on and an input or the output holds NaN or an infinity.</exception>
    public Tensor Call(IReadOnlyList<Tensor> inputs, bool? training = null, Tensor? mask = null)
    {
        CheckList(inputs, nameof(inputs));
        EnsureBuilt(inputs.Select(t => (IReadOnlyList<int>)t.ShapeArray).ToArray());
        if (!Debugging.CheckNumericsEnabled) return CallCore(inputs, training ?? false, mask);
        int replica = Debugging.CurrentReplicaId;
        for (int i = 0; i < inputs.Count; i++) Debugging.Check(inputs[i].ToArray(), inputs[i].ShapeArray, Name, replica, $"input {i}");
        var output = CallCore(inputs, training ?? false, mask);
        Debugging.Check(output.ToArray(), output.ShapeArray, Name, replica, "output");
        return output;
    }

    /// <summary>
    /// Creates the weights for inputs of <paramref name="inputShapes"/> (one shape per input), once; later calls with a
    /// built layer do nothing.
    /// </summary>
    /// <exception cref="ArgumentNullException"><paramref name="inputShapes"/> or an entry is null.</exception>
    /// <exception cref="ArgumentException">The list is empty or the shapes do not fit the layer.</exception>
    public void EnsureBuilt(IReadOnlyList<IReadOnlyList<int>> inputShapes)
    {
        CheckList(inputShapes, nameof(inputShapes));
        if (Built) return;
        lock (buildLock)
        {
            if (Built) return;
            var shapes = inputShapes.Select(s => s.ToArray()).ToArray();
            Build(shapes);
            builtShapes = shapes;
            Volatile.Write(ref builtShape, shapes[0]);
        }
    }

    /// <summary>
    /// Creates the weights for several inputs; called once. The base accepts exactly one shape and calls
    /// <see cref="Build(IReadOnlyList{int})"/>; layers that take several inputs override it.
    /// </summary>
    /// <exception cref="ArgumentException">The base: more than one shape.</exception>
    protected virtual void Build(IReadOnlyList<IReadOnlyList<int>> inputShapes)
    {
        RequireOne(inputShapes.Count, "inputs");
        Build(inputShapes[0]);
    }

    /// <summary>
    /// The computation on several inputs, called after the layer is built. The base accepts exactly one input and calls
    /// <see cref="CallCore(Tensor, bool, Tensor?)"/>; layers that take several inputs override it.
    /// </summary>
    /// <exception cref="ArgumentException">The base: more than one input.</exception>
    protected virtual Tensor CallCore(IReadOnlyList<Tensor> inputs, bool training, Tensor? mask)
    {
        RequireOne(inputs.Count, nameof(inputs));
        return CallCore(inputs[0], training, mask);
    }

    /// <summary>
    /// The output shape for inputs of <paramref name="inputShapes"/> (one per input, batch dimension first), without
    /// building the layer. The base accepts exactly one shape and returns
    /// <see cref="ComputeOutputShape(IReadOnlyList{int})"/>; layers that take several inputs override it.
    /// </summary>
    /// <exception cref="ArgumentNullException"><paramref name="inputShapes"/> or an entry is null.</exception>
    /// <exception cref="ArgumentException">The list is empty, or the shapes do not fit the layer.</exception>
    public virtual IReadOnlyList<int> ComputeOutputShape(IReadOnlyList<IReadOnlyList<int>> inputShapes)
    {
        CheckList(inputShapes, nameof(inputShapes));
        RequireOne(inputShapes.Count, nameof(inputShapes));
        return ComputeOutputShape(inputShapes[0]);
    }

    /// <summary>
    /// Records a call of the layer on a symbolic tensor (Keras <c>layer(keras_tensor)</c>) and returns the symbolic
    /// output, whose shape comes from <see cref="ComputeOutputShape(IReadOnlyList{int})"/>. Nothing is computed and the
    /// layer is not built: a <see cref="Functional"/> model built from these tensors builds and runs it.
    /// </summary>
    /// <param name="inputs">The symbolic input (from <see cref="Model.Input"/> or another layer's call).</param>
    /// <exception cref="ArgumentNullException"><paramref name="inputs"/> is null.</exception>
    /// <exception cref="ArgumentException">The shape does not fit the layer.</exception>
    public KerasTensor Call(KerasTensor inputs)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        return Single(CallSymbolic([inputs]));
    }

    /// <summary>
    /// Records a call of the layer on several symbolic tensors (Keras <c>layer([a, b])</c>) and returns the symbolic output.
    /// </summary>
    /// <param name="inputs">The symbolic inputs, in the order the layer expects them.</param>
    /// <exception cref="ArgumentNullException"><paramref name="inputs"/> or an entry is null.</exception>
    /// <exception cref="ArgumentException">The list is empty, or its count or shapes do not fit the layer.</exception>
    public KerasTensor Call(IReadOnlyList<KerasTensor> inputs) => Single(CallSymbolic(inputs));

    private KerasTensor Single(IReadOnlyList<KerasTensor> outputs) => outputs.Count == 1
        ? outputs[0]
        : throw new InvalidOperationException($"{this} has {outputs.Count} outputs; call it through the model's Call(IReadOnlyList<KerasTensor>), which returns them all.");

    /// <summary>Records a node for a call on symbolic tensors and returns its outputs.</summary>
    internal IReadOnlyList<KerasTensor> CallSymbolic(IReadOnlyList<KerasTensor> inputs)
    {
        CheckList(inputs, nameof(inputs));
        var shapes = inputs.Select(t => (IReadOnlyList<int>)Concrete(t.ShapeArray)).ToArray();
        bool unknownBatch = inputs.Any(t => t.ShapeArray[0] < 0);
        var outputShapes = ComputeOutputShapes(shapes).Select(s =>
        {
            var o = s.ToArray();
            if (unknownBatch && o.Length > 0) o[0] = -1;
            return o;
        }).ToArray();
        lock (inboundNodes)
        {
            var node = new Node(this, inputs.ToArray(), inboundNodes.Count);
            node.SetOutputs(outputShapes.Select((s, i) => new KerasTensor(s, outputShapes.Length == 1 ? $"{Name}/{node.Index}" : $"{Name}/{node.Index}/{i}", node, i)).ToArray());
            inboundNodes.Add(node);
            return node.Outputs;
        }
    }

    /// <summary>A call on symbolic inputs with no inbound layer: the node of an <see cref="InputLayer"/>.</summary>
    internal KerasTensor AddInputNode(int[] shape)
    {
        lock (inboundNodes)
        {
            var node = new Node(this, [], inboundNodes.Count);
            node.SetOutputs([new KerasTensor(shape, Name, node, 0)]);
            inboundNodes.Add(node);
            return node.Outputs[0];
        }
    }

    /// <summary>The output shapes of a call (one per output); the base has one output.</summary>
    internal virtual IReadOnlyList<IReadOnlyList<int>> ComputeOutputShapes(IReadOnlyList<IReadOnlyList<int>> inputShapes) =>
        [inputShapes.Count == 1 ? ComputeOutputShape(inputShapes[0]) : ComputeOutputShape(inputShapes)];

    /// <summary>Runs the layer on concrete inputs inside a graph, returning every output; the base has one output.</summary>
    internal virtual IReadOnlyList<Tensor> CallOutputs(IReadOnlyList<Tensor> inputs, bool training) =>
        [inputs.Count == 1 ? Call(inputs[0], training) : Call(inputs, training)];

    /// <summary>Builds the layer for a graph node's concrete input shapes.</summary>
    internal void BuildForNode(IReadOnlyList<IReadOnlyList<int>> concreteShapes)
    {
        if (concreteShapes.Count == 1) EnsureBuilt(concreteShapes[0]);
        else EnsureBuilt(concreteShapes);
    }

    /// <summary>A shape with an unknown (negative) batch dimension replaced by 1, for shape computations.</summary>
    internal static int[] Concrete(IReadOnlyList<int> shape)
    {
        var s = shape.ToArray();
        if (s.Length > 0 && s[0] < 0) s[0] = 1;
        return s;
    }

    private void RequireOne(int count, string paramName)
    {
        if (count != 1)
            throw new ArgumentException($"{this} takes one input, but got a list of {count}.", paramName);
    }

    private static void CheckList<T>(IReadOnlyList<T> list, string paramName) where T : class
    {
        ArgumentNullException.ThrowIfNull(list, paramName);
        if (list.Count == 0) throw new ArgumentException("The list of inputs is empty; pass at least one.", paramName);
        for (int i = 0; i < list.Count; i++)
            if (list[i] is null) throw new ArgumentNullException(paramName, $"{paramName}[{i}] is null.");
    }
}
