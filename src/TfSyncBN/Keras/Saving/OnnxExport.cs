using Google.Protobuf;
using Onnx;
using TfSyncBN.Tensors;

namespace TfSyncBN.Keras;

/// <summary>
/// The inference graph of a built model as an ONNX model (opset 13), written with the ONNX protobuf types of OnnxSharp.
/// Tensors keep the model's own layout; an op that ONNX defines only channels-first (Conv, pooling, BatchNormalization
/// on rank 4) applied to channels-last data is wrapped in Transpose nodes. Each layer class maps in <see cref="Map"/>.
/// </summary>
internal sealed class OnnxExport
{
    public const int Opset = 13;

    private readonly GraphProto graph = new() { Name = "tfsyncbn" };
    private int counter;

    public static void Write(Model model, string path)
    {
        var export = new OnnxExport();
        var onnx = new ModelProto { IrVersion = 7, ProducerName = "TfSyncBN", Graph = export.graph };
        onnx.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = Opset });
        var outputs = export.Model(model, null);
        for (int i = 0; i < outputs.Count; i++)
        {
            var name = $"output_{i}";
            export.Node("Identity", [outputs[i].Name], name);
            export.graph.Output.Add(ValueInfo(name, outputs[i].Shape));
        }
        var bytes = onnx.ToByteArray();
        File.WriteAllBytes(path, bytes);
    }

    private readonly record struct Value(string Name, int[] Shape);

    /// <summary>Adds the graph of <paramref name="model"/>; graph inputs are created when <paramref name="inputs"/> is null.</summary>
    private IReadOnlyList<Value> Model(Model model, IReadOnlyList<Value>? inputs)
    {
        switch (model)
        {
            case Sequential s:
            {
                var shape = s.BuiltInputShape?.ToArray() ?? throw new InvalidOperationException($"Model '{model.Name}' is not built, so its input shape is unknown.");
                var x = inputs?[0] ?? GraphInput("input_0", shape);
                foreach (var layer in s.Layers) x = Layer(layer, [x], null)[0];
                return [x];
            }
            case Functional f:
            {
                var values = new Dictionary<KerasTensor, Value>(ReferenceEqualityComparer.Instance);
                for (int i = 0; i < f.Inputs.Count; i++)
                    values[f.Inputs[i]] = inputs?[i] ?? GraphInput($"input_{i}", [.. f.Inputs[i].ShapeArray]);
                foreach (var node in f.Nodes)
                {
                    if (node.Inputs.Count == 0) continue;
                    var outs = Layer(node.Layer, node.Inputs.Select(t => values[t]).ToArray(), [.. node.Outputs[0].ShapeArray]);
                    for (int i = 0; i < node.Outputs.Count; i++) values[node.Outputs[i]] = outs[i];
                }
                return f.Outputs.Select(t => values[t]).ToArray();
            }
            default:
                throw new NotSupportedException($"Model '{model.Name}' of class {model.ClassName} has no ONNX export.");
        }
    }

    private Value GraphInput(string name, int[] shape)
    {
        graph.Input.Add(ValueInfo(name, shape));
        return new Value(name, shape);
    }

    /// <summary>The ONNX form of one layer call. A layer with none raises <see cref="NotSupportedException"/>.</summary>
    private IReadOnlyList<Value> Layer(Layer layer, Value[] ins, int[]? outShape) => [Map(layer, ins, outShape)];

    private Value Map(Layer layer, Value[] ins, int[]? knownShape)
    {
        var x = ins[0];
        var outShape = knownShape ?? layer.ComputeOutputShape(x.Shape).ToArray();
        switch (layer)
        {
            case ModelLayer m:
                return Model(m.Model, ins)[0];
            case Conv2DBase conv when conv is Conv2D or DepthwiseConv2D:
            {
                var k = conv.Kernel!;
                int groups;
                string kernel;
                if (conv is DepthwiseConv2D)
                {
                    // (kh, kw, in, mult) -> [in·mult, 1, kh, kw]: output channel c·mult + m, as Keras orders them.
                    groups = k.Shape[2];
                    kernel = Const(k.Value.Transpose([2, 3, 0, 1]).Reshape([k.Shape[2] * k.Shape[3], 1, k.Shape[0], k.Shape[1]]));
                }
                else
                {
                    groups = conv.GetConfig().TryGetValue("groups", out var g) && g is not null ? Convert.ToInt32(g, System.Globalization.CultureInfo.InvariantCulture) : 1;
                    kernel = Const(k.Value.Transpose([3, 2, 0, 1])); // HWIO -> OIHW
                }
                var inputs = new List<string> { "", kernel };
                if (conv.Bias is { } b) inputs.Add(Const(b.Value));
                var y = ChannelsFirst(x, conv.DataFormat, outShape, xin =>
                {
                    inputs[0] = xin;
                    return Node("Conv", [.. inputs], null,
                        Ints("kernel_shape", conv.KernelSize), Ints("strides", conv.Strides), Ints("dilations", conv.DilationRate),
                        Int("group", groups), Str("auto_pad", conv.Padding == "same" ? "SAME_UPPER" : "VALID"));
                });
                return Activate(new Value(y, outShape), conv.Activation, layer);
            }
            case Dense dense:
            {
                var y = Node("MatMul", [x.Name, Const(dense.Kernel!.Value)]);
                if (dense.Bias is { } b) y = Node("Add", [y, Const(b.Value)]);
                return Activate(new Value(y, outShape), dense.Activation, layer);
            }
            case BatchNormalization bn:
            {
                if (bn.Axis.Count != 1) throw Unsupported(layer, $"axis [{string.Join(", ", bn.Axis)}] (only one channel axis)");
                int axis = bn.Axis[0] < 0 ? bn.Axis[0] + x.Shape.Length : bn.Axis[0];
                int c = x.Shape[axis];
                Tensor Weight(string suffix, float fill) =>
                    bn.Weights.FirstOrDefault(w => w.Name.EndsWith("/" + suffix, StringComparison.Ordinal))?.Value ?? Tensor.Fill([c], fill);
                string[] args = [Const(Weight("gamma", 1f)), Const(Weight("beta", 0f)), Const(Weight("moving_mean", 0f)), Const(Weight("moving_variance", 1f))];
                string Bn(string xin) => Node("BatchNormalization", [xin, .. args], null, Float("epsilon", bn.Epsilon));
                if (axis == 1) return new Value(Bn(x.Name), outShape);
                if (axis == x.Shape.Length - 1 && x.Shape.Length == 4) return new Value(ChannelsFirst(x, LayerConfig.ChannelsLast, outShape, Bn), outShape);
                throw Unsupported(layer, $"channel axis {axis} of a rank-{x.Shape.Length} input");
            }
            case Pooling2D pool when pool is MaxPooling2D or AveragePooling2D:
            {
                var op = pool is MaxPooling2D ? "MaxPool" : "AveragePool";
                var y = ChannelsFirst(x, pool.DataFormat, outShape, xin => Node(op, [xin], null,
                    Ints("kernel_shape", pool.PoolSize), Ints("strides", pool.Strides), Str("auto_pad", pool.Padding == "same" ? "SAME_UPPER" : "VALID")));
                return new Value(y, outShape);
            }
            case GlobalAveragePooling2D or GlobalMaxPooling2D:
            {
                var format = KerasConfig.GetString(layer.GetConfig(), "data_format") ?? LayerConfig.ChannelsLast;
                if (KerasConfig.GetBool(layer.GetConfig(), "keepdims", false)) throw Unsupported(layer, "keepdims: true");
                var op = layer is GlobalAveragePooling2D ? "ReduceMean" : "ReduceMax";
                int[] axes = format == LayerConfig.ChannelsFirst ? [2, 3] : [1, 2];
                return new Value(Node(op, [x.Name], null, Ints("axes", axes), Int("keepdims", 0)), outShape);
            }
            case Flatten:
                if (KerasConfig.GetString(layer.GetConfig(), "data_format") == LayerConfig.ChannelsFirst && x.Shape.Length > 2)
                    throw Unsupported(layer, "data_format channels_first");
                return new Value(Node("Flatten", [x.Name], null, Int("axis", 1)), outShape);
            case Reshape r:
                return new Value(Node("Reshape", [x.Name, ConstInts([0, .. r.TargetShape])]), outShape);
            case Dropout:
                return new Value(Node("Identity", [x.Name]), outShape);
            case Activation a:
                return Activate(x with { Shape = outShape }, a.Function, layer);
            case ReLU relu:
            {
                var c = relu.GetConfig();
                if (KerasConfig.GetNullableFloat(c, "max_value") is not null || KerasConfig.GetFloat(c, "negative_slope", 0f) != 0f || KerasConfig.GetFloat(c, "threshold", 0f) != 0f)
                    throw Unsupported(layer, "max_value, negative_slope or threshold");
                return new Value(Node("Relu", [x.Name]), outShape);
            }
            case Softmax s:
                return new Value(Node("Softmax", [x.Name], null, Int("axis", s.Axis)), outShape);
            case Concatenate cat:
                return new Value(Node("Concat", [.. ins.Select(v => v.Name)], null, Int("axis", cat.Axis)), outShape);
            case Add or Multiply or Maximum or Minimum or Subtract or Average:
            {
                var op = layer switch { Add or Average => "Add", Multiply => "Mul", Maximum => "Max", Minimum => "Min", _ => "Sub" };
                var y = layer is Subtract ? Node("Sub", [ins[0].Name, ins[1].Name]) : ins.Skip(1).Aggregate(ins[0].Name, (acc, v) => Node(op, [acc, v.Name]));
                if (layer is Average) y = Node("Mul", [y, Const(Tensor.Fill([], 1f / ins.Length))]);
                return new Value(y, outShape);
            }
            default:
                throw new NotSupportedException($"Layer '{layer.Name}' of class {layer.ClassName} has no ONNX form; supported: Conv2D, DepthwiseConv2D, Dense, BatchNormalization, SyncBatchNormalization, MaxPooling2D, AveragePooling2D, GlobalAveragePooling2D, GlobalMaxPooling2D, Flatten, Reshape, Dropout, Activation, ReLU, Softmax, Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate.");
        }
    }

    private Value Activate(Value x, string activation, Layer layer) => activation switch
    {
        "linear" or "" => x,
        "relu" => x with { Name = Node("Relu", [x.Name]) },
        "sigmoid" => x with { Name = Node("Sigmoid", [x.Name]) },
        "tanh" => x with { Name = Node("Tanh", [x.Name]) },
        "softmax" => x with { Name = Node("Softmax", [x.Name], null, Int("axis", -1)) },
        "elu" => x with { Name = Node("Elu", [x.Name]) },
        "softplus" => x with { Name = Node("Softplus", [x.Name]) },
        _ => throw Unsupported(layer, $"activation '{activation}'"),
    };

    private static NotSupportedException Unsupported(Layer layer, string what) =>
        new($"Layer '{layer.Name}' ({layer.ClassName}) has no ONNX form for {what}.");

    /// <summary>Runs <paramref name="op"/> on NCHW data: channels-last input is transposed to NCHW and the result back.</summary>
    private string ChannelsFirst(Value x, string dataFormat, int[] outShape, Func<string, string> op)
    {
        if (dataFormat == LayerConfig.ChannelsFirst) return op(x.Name);
        var nchw = Node("Transpose", [x.Name], null, Ints("perm", [0, 3, 1, 2]));
        return Node("Transpose", [op(nchw)], null, Ints("perm", [0, 2, 3, 1]));
    }

    private string Node(string op, string[] inputs, string? output = null, params AttributeProto[] attributes)
    {
        var name = output ?? $"{op.ToLowerInvariant()}_{counter++}";
        var node = new NodeProto { OpType = op, Name = name };
        node.Input.AddRange(inputs);
        node.Output.Add(name);
        node.Attribute.AddRange(attributes);
        graph.Node.Add(node);
        return name;
    }

    /// <summary>An initializer holding <paramref name="value"/> (read at this explicit sync point with ToArray).</summary>
    private string Const(Tensor value)
    {
        var name = $"const_{counter++}";
        var t = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Float };
        t.Dims.AddRange(value.Shape.Select(d => (long)d));
        t.FloatData.AddRange(value.ToArray());
        graph.Initializer.Add(t);
        return name;
    }

    private string ConstInts(IReadOnlyList<int> values)
    {
        var name = $"const_{counter++}";
        var t = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Int64 };
        t.Dims.Add(values.Count);
        t.Int64Data.AddRange(values.Select(v => (long)v));
        graph.Initializer.Add(t);
        return name;
    }

    private static AttributeProto Ints(string name, IEnumerable<int> values)
    {
        var a = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        a.Ints.AddRange(values.Select(v => (long)v));
        return a;
    }

    private static AttributeProto Int(string name, int value) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value };

    private static AttributeProto Float(string name, float value) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Float, F = value };

    private static AttributeProto Str(string name, string value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.String, S = ByteString.CopyFromUtf8(value) };

    private static ValueInfoProto ValueInfo(string name, int[] shape) => ValueInfo(name, shape.Length, shape);

    private static ValueInfoProto ValueInfo(string name, int rank, int[]? shape = null)
    {
        var dims = new TensorShapeProto();
        for (int i = 0; i < rank; i++)
            dims.Dim.Add(i == 0 || shape is null || shape[i] < 0
                ? new TensorShapeProto.Types.Dimension { DimParam = i == 0 ? "batch" : $"d{i}" }
                : new TensorShapeProto.Types.Dimension { DimValue = shape[i] });
        return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float, Shape = dims } } };
    }
}
