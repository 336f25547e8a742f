using TfSyncBN.Keras;
using TfSyncBN.Tensors;
using TfSyncBN.Tests.TestUtil;

namespace TfSyncBN.Tests.Keras.Functional;

/// <summary>Merge layers: values against float64 loops with Keras' broadcasting, gradients against finite differences,
/// Keras defaults and configs, and the errors Keras raises.</summary>
[TestClass]
public sealed class MergeLayerTests
{
    /// <summary>Element (i over the merged shape) of an input expanded after the batch axis and broadcast.</summary>
    private static double At(float[] data, int[] shape, int[] outShape, int flat)
    {
        var index = TestData.Unravel(flat, outShape);
        int rank = outShape.Length, offset = 0, stride = 1;
        for (int d = shape.Length - 1; d >= 0; d--)
        {
            int od = d == 0 ? 0 : d + (rank - shape.Length);
            int i = shape[d] == 1 ? 0 : index[od];
            offset += i * stride;
            stride *= shape[d];
        }
        return data[offset];
    }

    public static IEnumerable<object[]> Cases() =>
    [
        ["add", new[] { new[] { 2, 3, 4 }, new[] { 2, 3, 4 }, new[] { 2, 3, 4 } }],
        ["add", new[] { new[] { 2, 1, 4 }, new[] { 2, 3, 1 } }],          // broadcasting of size-1 dimensions
        ["subtract", new[] { new[] { 2, 4 }, new[] { 2, 3, 4 } }],        // rank expanded after the batch axis
        ["multiply", new[] { new[] { 3, 2, 2 }, new[] { 3, 2, 2 }, new[] { 3, 1, 2 } }],
        ["average", new[] { new[] { 2, 5 }, new[] { 2, 5 }, new[] { 2, 1 } }],
        ["maximum", new[] { new[] { 2, 3, 4 }, new[] { 2, 3, 4 }, new[] { 2, 1, 4 } }],
        ["minimum", new[] { new[] { 2, 3, 4 }, new[] { 2, 4 } }],
    ];

    private static Merge Make(string kind) => kind switch
    {
        "add" => new Add(),
        "subtract" => new Subtract(),
        "multiply" => new Multiply(),
        "average" => new Average(),
        "maximum" => new Maximum(),
        _ => new Minimum(),
    };

    private static double Reference(string kind, double[] v) => kind switch
    {
        "add" => v.Sum(),
        "subtract" => v[0] - v[1],
        "multiply" => v.Aggregate(1.0, (a, b) => a * b),
        "average" => v.Sum() / v.Length,
        "maximum" => v.Max(),
        _ => v.Min(),
    };

    [TestMethod]
    [DynamicData(nameof(Cases))]
    public void Values_EqualFloat64LoopsWithKerasBroadcasting(string kind, int[][] shapes)
    {
        var rng = TestData.NewRandom(3);
        // Values at least 0.1 apart, so maximum and minimum have no ties (and finite differences no kinks).
        var pool = ReferenceNn.Distinct(rng, shapes.Sum(s => s.Aggregate(1, (a, b) => a * b)), gap: 0.1f);
        int at = 0;
        var inputs = shapes.Select(s =>
        {
            int size = s.Aggregate(1, (a, b) => a * b);
            var t = Tensor.FromArray(pool[at..(at + size)], s);
            at += size;
            return t;
        }).ToArray();
        var layer = Make(kind);
        var y = layer.Call(inputs);
        int[] outShape = [.. layer.ComputeOutputShape(shapes)];
        CollectionAssert.AreEqual(outShape, y.Shape.ToArray(), "shape");
        var expected = new double[y.Size];
        for (int i = 0; i < expected.Length; i++)
            expected[i] = Reference(kind, inputs.Select(t => At(t.ToArray(), t.ShapeArray, outShape, i)).ToArray());
        var actual = y.ToArray();
        for (int i = 0; i < expected.Length; i++) Assert.AreEqual(expected[i], actual[i], 1e-5 * Math.Max(1, Math.Abs(expected[i])), $"{kind}[{i}]");

        // Symbolic calls give the same shape, with the batch unknown.
        var symbolic = layer.Call(shapes.Select(s => Model.Input(s[1..])).ToArray());
        CollectionAssert.AreEqual(new[] { -1 }.Concat(outShape.Skip(1)).ToArray(), symbolic.Shape.ToArray());

        GradientCheck.AssertGradients(xs => Make(kind).Call(xs), inputs, message: kind);
    }

    [TestMethod]
    public void Concatenate_JoinsAlongTheAxis_WithGradients()
    {
        var rng = TestData.NewRandom(4);
        var a = TestData.Uniform(rng, [2, 3, 2]);
        var b = TestData.Uniform(rng, [2, 3, 1]);
        var y = new Concatenate().Call([a, b]);
        CollectionAssert.AreEqual(new[] { 2, 3, 3 }, y.Shape.ToArray());
        for (int n = 0; n < 2; n++)
            for (int i = 0; i < 3; i++)
            {
                Assert.AreEqual(a.ToArray()[(n * 3 + i) * 2], y.ToArray()[(n * 3 + i) * 3]);
                Assert.AreEqual(a.ToArray()[(n * 3 + i) * 2 + 1], y.ToArray()[(n * 3 + i) * 3 + 1]);
                Assert.AreEqual(b.ToArray()[n * 3 + i], y.ToArray()[(n * 3 + i) * 3 + 2]);
            }
        var c = TestData.Uniform(rng, [2, 1, 2]);
        var y1 = new Concatenate(axis: 1).Call([a, c]);
        CollectionAssert.AreEqual(new[] { 2, 4, 2 }, y1.Shape.ToArray());
        CollectionAssert.AreEqual(c.ToArray(), y1.Slice(1, 3, 1).ToArray());
        GradientCheck.AssertGradients(xs => new Concatenate(axis: -1).Call(xs), [a, b], message: "concatenate");
        CollectionAssert.AreEqual(new[] { -1, 3, 5 }, new Concatenate().ComputeOutputShape([[-1, 3, 2], [-1, 3, 3]]).ToArray());
    }

    [TestMethod]
    public void Configs_HaveKerasKeysAndDefaults_AndRoundTrip()
    {
        foreach (var (layer, className, prefix) in new (Layer, string, string)[]
        {
            (new Add(), "Add", "add"), (new Subtract(), "Subtract", "subtract"), (new Multiply(), "Multiply", "multiply"),
            (new Average(), "Average", "average"), (new Maximum(), "Maximum", "maximum"), (new Minimum(), "Minimum", "minimum"),
            (new Concatenate(), "Concatenate", "concatenate"),
        })
        {
            StringAssert.StartsWith(layer.Name, prefix);
            var config = layer.GetConfig();
            var expectedKeys = className == "Concatenate" ? new[] { "name", "trainable", "dtype", "axis" } : new[] { "name", "trainable", "dtype" };
            CollectionAssert.AreEquivalent(expectedKeys, config.Keys.ToArray(), className);
            var copy = TfSyncBN.Keras.Layers.Deserialize(TfSyncBN.Keras.Layers.Serialize(layer));
            Assert.AreEqual(className, copy.ClassName);
            Assert.AreEqual(layer.Name, copy.Name);
            CollectionAssert.AreEqual(config.Values.ToArray(), copy.GetConfig().Values.ToArray());
        }
        Assert.AreEqual(-1, new Concatenate().Axis, "Keras default axis");
        Assert.AreEqual(2, Concatenate.FromConfig(new Dictionary<string, object?> { ["axis"] = 2L }).Axis);
        Assert.AreEqual(-1, Concatenate.FromConfig(new Dictionary<string, object?>()).Axis);
    }

    [TestMethod]
    public void BadInputs_RaiseKerasErrors()
    {
        var a = Tensor.Ones([2, 3]);
        var e = Assert.ThrowsExactly<ArgumentException>(() => new Subtract().Call([a, a, a]));
        StringAssert.Contains(e.Message, "exactly 2 inputs");
        e = Assert.ThrowsExactly<ArgumentException>(() => new Add().Call([a, Tensor.Ones([3, 3])]));
        StringAssert.Contains(e.Message, "different batch sizes");
        e = Assert.ThrowsExactly<ArgumentException>(() => new Add().Call([a, Tensor.Ones([2, 4])]));
        StringAssert.Contains(e.Message, "cannot broadcast");
        e = Assert.ThrowsExactly<ArgumentException>(() => new Add().Call(a));
        StringAssert.Contains(e.Message, "list of inputs");
        Assert.ThrowsExactly<ArgumentException>(() => new Add().Call(Array.Empty<Tensor>()));
        e = Assert.ThrowsExactly<ArgumentException>(() => new Concatenate().Call([a, Tensor.Ones([2, 3, 1])]));
        StringAssert.Contains(e.Message, "one rank");
        e = Assert.ThrowsExactly<ArgumentException>(() => new Concatenate(axis: -1).Call([Tensor.Ones([2, 3, 1]), Tensor.Ones([2, 4, 1])]));
        StringAssert.Contains(e.Message, "other dimensions match");
        e = Assert.ThrowsExactly<ArgumentException>(() => new Concatenate(axis: 3).Call([a, a]));
        StringAssert.Contains(e.Message, "out of range");
        // A built merge layer still refuses a single tensor.
        var add = new Add();
        add.Call([a, a]);
        Assert.ThrowsExactly<ArgumentException>(() => add.Call(a));
        // Single-input layers refuse lists of several.
        e = Assert.ThrowsExactly<ArgumentException>(() => new Dense(2).Call([a, a]));
        StringAssert.Contains(e.Message, "takes one input");
    }
}
