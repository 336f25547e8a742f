using System.Globalization;

namespace TfSyncBN.Keras;

/// <summary>
/// A symbolic tensor (Keras <c>KerasTensor</c>): the shape of a value in a model being defined, with the layer call that
/// produces it. <see cref="Model.Input"/> makes one; calling a layer on one (<see cref="Layer.Call(KerasTensor)"/>)
/// records the call and returns the next; <see cref="Functional"/> turns inputs and outputs into a model. It holds no values.
/// </summary>
public sealed class KerasTensor
{
    internal KerasTensor(int[] shape, string name, Node node, int tensorIndex)
    {
        ShapeArray = shape;
        Name = name;
        Node = node;
        TensorIndex = tensorIndex;
    }

    /// <summary>The shape, batch dimension first; -1 where a dimension is unknown (the batch size, usually).</summary>
    public IReadOnlyList<int> Shape => Array.AsReadOnly(ShapeArray);

    /// <summary>A name for display: the producing layer's name (and its call index for layer outputs).</summary>
    public string Name { get; }

    internal int[] ShapeArray { get; }

    /// <summary>The layer call that produces this tensor.</summary>
    internal Node Node { get; }

    /// <summary>Which of that call's outputs this tensor is.</summary>
    internal int TensorIndex { get; }

    /// <summary><c>KerasTensor(shape=(None, 8), name=dense/0)</c>.</summary>
    public override string ToString() => $"KerasTensor(shape={ShapeText(ShapeArray)}, name={Name})";

    /// <summary>A Keras-style shape: <c>(None, 8)</c>, <c>(None,)</c>.</summary>
    internal static string ShapeText(IReadOnlyList<int> shape) =>
        "(" + string.Join(", ", shape.Select(d => d < 0 ? "None" : d.ToString(CultureInfo.InvariantCulture))) + (shape.Count == 1 ? ",)" : ")");
}

/// <summary>One call of a layer on symbolic tensors (Keras <c>Node</c>): its inputs and outputs.</summary>
internal sealed class Node
{
    private KerasTensor[] outputs = [];

    public Node(Layer layer, KerasTensor[] inputs, int index)
    {
        Layer = layer;
        Inputs = inputs;
        Index = index;
    }

    /// <summary>The layer called.</summary>
    public Layer Layer { get; }

    /// <summary>The inputs of the call (none for an input layer's node).</summary>
    public IReadOnlyList<KerasTensor> Inputs { get; }

    /// <summary>The position of this call in the layer's <see cref="Layer.InboundNodes"/>.</summary>
    public int Index { get; }

    /// <summary>The outputs of the call.</summary>
    public IReadOnlyList<KerasTensor> Outputs => outputs;

    public void SetOutputs(KerasTensor[] values) => outputs = values;
}
