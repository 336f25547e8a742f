using TfSyncBN.Tensors;

namespace TfSyncBN.Keras;

/// <summary>
/// A model defined by a graph of layer calls (<c>keras.Model(inputs, outputs)</c>, class <c>Functional</c>): symbolic
/// inputs from <see cref="Model.Input"/>, layers called on symbolic tensors (<see cref="Layer.Call(KerasTensor)"/>,
/// <see cref="Layer.Call(IReadOnlyList{KerasTensor})"/>, or another model's <see cref="Model.Call(KerasTensor)"/>), and the
/// symbolic outputs.
/// </summary>
/// <remarks>
/// <para>The graph is every layer call between the outputs and the inputs. A layer called several times (a shared
/// layer) has one set of weights, and its gradient is the sum over its uses. A model called inside the graph is listed
/// in <see cref="Layers"/> as a <see cref="ModelLayer"/> and shares its weights with the model.</para>
/// <para>The model captures the current strategy and builds every layer at construction, under that strategy (create
/// it inside <c>strategy.Scope()</c> to train data-parallel). <see cref="Model.Call(Tensor, bool)"/> and the
/// single-tensor overloads of <c>Fit</c>, <c>Evaluate</c>, <c>Predict</c> and <c>TrainStep</c> need one input and one
/// output; <see cref="Call(IReadOnlyList{Tensor}, bool)"/> and the lists overloads take any number of each (one tensor per
/// input in <see cref="Inputs"/> order, one target per output in <see cref="Outputs"/> order).</para>
/// <para>As in <see cref="Sequential"/>, a batch normalization whose output only a plain ReLU reads (<c>ReLU()</c> with
/// Keras defaults or <c>Activation("relu")</c>; not a model output) runs with it as one fused op, with bit for bit the
/// results of the two calls; and in inference a batch normalization that alone reads the output of a linear Conv2D
/// (channels last) or Dense is folded into it. Neither applies while the numerics check is on.</para>
/// </remarks>
public sealed partial class Functional : Model
{
    private readonly KerasTensor[] inputs;
    private readonly KerasTensor[] outputs;
    private readonly Node[] nodes;
    private readonly Layer[] layers;
    private readonly Dictionary<Node, int> localIndex = new(ReferenceEqualityComparer.Instance);
    private readonly int[] soleReader;

    /// <summary>Creates the model from its symbolic inputs and outputs and builds it.</summary>
    /// <param name="inputs">The model's inputs, each from <see cref="Model.Input"/>, in the order <c>Call</c> takes them.</param>
    /// <param name="outputs">The model's outputs, symbolic tensors computed from <paramref name="inputs"/>.</param>
    /// <param name="name">The model name; <c>functional</c>, <c>functional_1</c>, ... when null.</param>
    /// <exception cref="ArgumentNullException">A list or an entry is null.</exception>
    /// <exception cref="ArgumentException">A list is empty; an input is not the output of an <see cref="InputLayer"/> or is
    /// repeated; an output depends on an input that is not in <paramref name="inputs"/> (the graph is disconnected); two
    /// layers share a name; or a layer cannot be built for its input shapes.</exception>
    public Functional(IReadOnlyList<KerasTensor> inputs, IReadOnlyList<KerasTensor> outputs, string? name = null)
        : base(name, "functional")
    {
        this.inputs = CheckTensors(inputs, nameof(inputs));
        this.outputs = CheckTensors(outputs, nameof(outputs));
        for (int i = 0; i < this.inputs.Length; i++)
        {
            if (this.inputs[i].Node.Layer is not InputLayer)
                throw new ArgumentException($"inputs[{i}] ({this.inputs[i]}) is the output of {this.inputs[i].Node.Layer}, not of an InputLayer: make inputs with Model.Input(shape).", nameof(inputs));
            if (Array.IndexOf(this.inputs, this.inputs[i]) != i)
                throw new ArgumentException($"inputs[{i}] ({this.inputs[i]}) is listed twice.", nameof(inputs));
        }

        var order = new List<Node>();
        var seen = new HashSet<Node>(ReferenceEqualityComparer.Instance);
        foreach (var input in this.inputs)
        {
            order.Add(input.Node);
            seen.Add(input.Node);
        }
        foreach (var output in this.outputs) Visit(output.Node, order, seen);
        nodes = [.. order];
        layers = nodes.Select(n => n.Layer).Distinct(ReferenceEqualityComparer.Instance).Cast<Layer>().ToArray();
        var duplicate = layers.GroupBy(l => l.Name).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null)
            throw new ArgumentException($"Two layers of the model are named '{duplicate.Key}'; layer names must be unique within a model.", nameof(outputs));
        foreach (var layer in layers)
        {
            int k = 0;
            foreach (var node in layer.InboundNodes)
                if (seen.Contains(node)) localIndex[node] = k++;
        }

        soleReader = SoleReaders(nodes, this.outputs);

        using var scope = EnterScope();
        foreach (var node in nodes)
            if (node.Inputs.Count > 0) node.Layer.BuildForNode(node.Inputs.Select(t => (IReadOnlyList<int>)Layer.Concrete(t.ShapeArray)).ToArray());
    }

    private void Visit(Node node, List<Node> order, HashSet<Node> seen)
    {
        if (seen.Contains(node)) return;
        if (node.Inputs.Count == 0)
            throw new ArgumentException($"Graph disconnected: an output depends on {node.Outputs[0]} of {node.Layer}, which is not in inputs.", "inputs");
        foreach (var t in node.Inputs) Visit(t.Node, order, seen);
        if (seen.Add(node)) order.Add(node);
    }

    private static KerasTensor[] CheckTensors(IReadOnlyList<KerasTensor> list, string paramName)
    {
        ArgumentNullException.ThrowIfNull(list, paramName);
        if (list.Count == 0) throw new ArgumentException($"{paramName} is empty; a model needs at least one.", paramName);
        var result = list.ToArray();
        for (int i = 0; i < result.Length; i++)
            if (result[i] is null) throw new ArgumentNullException(paramName, $"{paramName}[{i}] is null.");
        return result;
    }

    /// <summary>The model's symbolic inputs (<c>model.inputs</c>).</summary>
    public IReadOnlyList<KerasTensor> Inputs => inputs;

    /// <summary>The model's symbolic outputs (<c>model.outputs</c>).</summary>
    public IReadOnlyList<KerasTensor> Outputs => outputs;

    /// <summary>Every layer of the graph once, in the order they are first run: the input layers first (Keras <c>model.layers</c>).</summary>
    public override IReadOnlyList<Layer> Layers => layers;

    internal override int InputCount => inputs.Length;

    internal override IReadOnlyList<string> OutputNames => outputs.Select(o => o.Node.Layer.Name).ToArray();

    /// <summary>Always true: the model is built at construction.</summary>
    public override bool Built => true;

    /// <summary>Does nothing (the model is built at construction) once the shape is checked against the input.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="inputShape"/> is null.</exception>
    /// <exception cref="ArgumentException">The model has several inputs, or the shape does not match the input's.</exception>
    public override void Build(IReadOnlyList<int> inputShape)
    {
        ArgumentNullException.ThrowIfNull(inputShape);
        if (inputs.Length != 1) throw new ArgumentException($"Model '{Name}' has {inputs.Length} inputs and is built at construction.", nameof(inputShape));
        CheckShape(inputShape, inputs[0], nameof(inputShape));
    }

    /// <summary>Runs the graph on one batch (<c>model(x, training=...)</c>): a model with one input and one output.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="inputs"/> is null.</exception>
    /// <exception cref="ArgumentException">The model has several inputs or outputs, or the shape does not match its input.</exception>
    public override Tensor Call(Tensor inputs, bool training = false)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        if (this.inputs.Length != 1 || outputs.Length != 1)
            throw new ArgumentException($"Model '{Name}' has {this.inputs.Length} inputs and {outputs.Length} outputs; pass a list to Call(IReadOnlyList<Tensor>), which returns every output.", nameof(inputs));
        return Run([inputs], training)[0];
    }

    /// <summary>Runs the graph (<c>model([a, b], training=...)</c>): every layer call once, in order, each output kept for
    /// the calls that use it. Returns one batch per model output.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="inputs"/> or an entry is null.</exception>
    /// <exception cref="ArgumentException">The count differs from <see cref="Inputs"/>, or a shape does not match its input's
    /// (rank and every known dimension), or the batch sizes differ.</exception>
    public override IReadOnlyList<Tensor> Call(IReadOnlyList<Tensor> inputs, bool training = false)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        if (inputs.Count != this.inputs.Length)
            throw new ArgumentException($"Model '{Name}' has {this.inputs.Length} inputs, but {inputs.Count} were given.", nameof(inputs));
        for (int i = 0; i < inputs.Count; i++)
            if (inputs[i] is null) throw new ArgumentNullException(nameof(inputs), $"inputs[{i}] is null.");
        return Run(inputs, training);
    }

    private Tensor[] Run(IReadOnlyList<Tensor> values, bool training)
    {
        var map = new Dictionary<KerasTensor, Tensor>(ReferenceEqualityComparer.Instance);
        for (int i = 0; i < values.Count; i++)
        {
            CheckShape(values[i].Shape, inputs[i], "inputs");
            if (values[i].Shape[0] != values[0].Shape[0])
                throw new ArgumentException($"The inputs have different batch sizes: {values[0].Shape[0]} and {values[i].Shape[0]} (input {i}).", "inputs");
            map[inputs[i]] = values[i];
        }
        var skip = new bool[nodes.Length];
        for (int j = 0; j < nodes.Length; j++)
        {
            var node = nodes[j];
            if (node.Inputs.Count == 0 || skip[j]) continue;
            if (soleReader[j] is int c and >= 0
                && RunFused(node, nodes[c], soleReader[c] is int d and >= 0 ? nodes[d] : null, map, training) is var fused and > 0)
            {
                skip[c] = true;
                if (fused == 3) skip[soleReader[c]] = true;
                continue;
            }
            var results = node.Layer.CallOutputs(node.Inputs.Select(t => map[t]).ToArray(), training);
            for (int k = 0; k < node.Outputs.Count; k++) map[node.Outputs[k]] = results[k];
        }
        return outputs.Select(o => map[o]).ToArray();
    }

    /// <summary>
    /// Runs <paramref name="node"/> and <paramref name="reader"/>, the only call that reads its output (and
    /// <paramref name="next"/>, the only call that reads the reader's, when it is a max pooling after BN+ReLU), as one
    /// op when the rules of <see cref="LayerFusion"/> allow (inference folding first, as in Sequential, then BN+ReLU
    /// fusion), writing the last call's output. Returns how many calls ran: 0 when no rule applies (nothing is run), 2 or 3.
    /// </summary>
    private static int RunFused(Node node, Node reader, Node? next, Dictionary<KerasTensor, Tensor> map, bool training)
    {
        var input = map[node.Inputs[0]];
        if (!training && LayerFusion.InferenceFold(node.Layer, reader.Layer, input.Rank) is var (scale, shift))
        {
            map[reader.Outputs[0]] = ((KernelLayer)node.Layer).CallFolded(input, scale, shift);
            return 2;
        }
        if (LayerFusion.ReluFusion(node.Layer, reader.Layer) is not { } bn) return 0;
        if (next is not null && LayerFusion.MaxPoolFusion(bn, reader.Layer, next.Layer) is { } pool)
        {
            map[next.Outputs[0]] = bn.CallWithReluMaxPool(input, training, pool);
            return 3;
        }
        map[reader.Outputs[0]] = bn.CallWithRelu(input, training);
        return 2;
    }

    /// <summary>
    /// For each node, the index of the only node that reads its output, or -1: a candidate pair for
    /// <see cref="LayerFusion"/> needs a node with one input and one output whose output is read exactly once in the
    /// graph (by a call with that one input) and is not a model output.
    /// </summary>
    private static int[] SoleReaders(Node[] nodes, KerasTensor[] outputs)
    {
        var uses = new Dictionary<KerasTensor, int>(ReferenceEqualityComparer.Instance);
        var reader = new Dictionary<KerasTensor, int>(ReferenceEqualityComparer.Instance);
        for (int j = 0; j < nodes.Length; j++)
            foreach (var t in nodes[j].Inputs)
            {
                uses[t] = uses.GetValueOrDefault(t) + 1;
                reader[t] = j;
            }
        foreach (var t in outputs) uses[t] = uses.GetValueOrDefault(t) + 1;
        var result = new int[nodes.Length];
        for (int j = 0; j < nodes.Length; j++)
        {
            result[j] = -1;
            if (nodes[j].Inputs.Count != 1 || nodes[j].Outputs.Count != 1) continue;
            var output = nodes[j].Outputs[0];
            if (uses.GetValueOrDefault(output) == 1 && reader.TryGetValue(output, out int r) && nodes[r].Inputs.Count == 1)
                result[j] = r;
        }
        return result;
    }

    private void CheckShape(IReadOnlyList<int> shape, KerasTensor input, string paramName)
    {
        var expected = input.ShapeArray;
        bool fits = shape.Count == expected.Length;
        for (int d = 0; fits && d < expected.Length; d++)
            fits = expected[d] < 0 || shape[d] < 0 && d == 0 || shape[d] == expected[d];
        if (!fits)
            throw new ArgumentException($"Input '{input.Name}' of model '{Name}' expects shape {KerasTensor.ShapeText(expected)}, but got {Tensor.ShapeString([.. shape])}.", paramName);
    }

    internal override IReadOnlyList<IReadOnlyList<int>> ComputeOutputShapes(IReadOnlyList<IReadOnlyList<int>> inputShapes)
    {
        if (inputShapes.Count != inputs.Length)
            throw new ArgumentException($"Model '{Name}' has {inputs.Length} inputs, but {inputShapes.Count} shapes were given.", nameof(inputShapes));
        var map = new Dictionary<KerasTensor, IReadOnlyList<int>>(ReferenceEqualityComparer.Instance);
        bool unknownBatch = false;
        for (int i = 0; i < inputs.Length; i++)
        {
            CheckShape(inputShapes[i], inputs[i], nameof(inputShapes));
            unknownBatch |= inputShapes[i].Count > 0 && inputShapes[i][0] < 0;
            map[inputs[i]] = Layer.Concrete(inputShapes[i]);
        }
        foreach (var node in nodes)
        {
            if (node.Inputs.Count == 0) continue;
            var shapes = node.Layer.ComputeOutputShapes(node.Inputs.Select(t => map[t]).ToArray());
            for (int j = 0; j < node.Outputs.Count; j++) map[node.Outputs[j]] = shapes[j];
        }
        return outputs.Select(o =>
        {
            var s = map[o].ToArray();
            if (unknownBatch && s.Length > 0) s[0] = -1;
            return (IReadOnlyList<int>)s;
        }).ToArray();
    }

    /// <summary>The nodes of the graph in run order (input nodes first).</summary>
    internal IReadOnlyList<Node> Nodes => nodes;

    /// <summary>The index of <paramref name="node"/> among its layer's calls in this model (Keras' node index in model JSON).</summary>
    internal int NodeIndex(Node node) => localIndex[node];

    /// <summary>Each layer's output shape (of its first call's first output), batch dimension -1 when unknown.</summary>
    internal IReadOnlyList<IReadOnlyList<int>> LayerOutputShapes =>
        layers.Select(l => (IReadOnlyList<int>)nodes.First(n => ReferenceEquals(n.Layer, l)).Outputs[0].ShapeArray).ToArray();
}
