using TfSyncBN.Distribute;
using TfSyncBN.Tensors;
using TfSyncBN.Tests.TestUtil;

namespace TfSyncBN.Tests.Tensors;

/// <summary>Every differentiable op of the tensor core against central finite differences (see <see cref="GradientCheck"/>).</summary>
[TestClass]
public sealed class OpGradientTests
{
    // ---- Binary ops, with and without broadcasting ---------------------------------------------------------------

    public static IEnumerable<object[]> BinaryCases()
    {
        string[] ops = ["Add", "Subtract", "Multiply", "Divide", "Maximum", "Minimum"];
        (string Name, int[] A, int[] B)[] shapes =
        [
            ("same", [2, 3], [2, 3]),
            ("[2,3]x[3]", [2, 3], [3]),
            ("[3]x[2,3]", [3], [2, 3]),
            ("[2,1,4]x[3,1]", [2, 1, 4], [3, 1]),
            ("[3,1]x[2,1,4]", [3, 1], [2, 1, 4]),
            ("scalar x tensor", [], [2, 3]),
            ("tensor x scalar", [2, 3], []),
            ("[2,1]x[1,3]", [2, 1], [1, 3]),
            ("[1]x[2,3]", [1], [2, 3]),
            ("[4,1,5]x[4,3,1]", [4, 1, 5], [4, 3, 1]),
        ];
        foreach (var op in ops)
            foreach (var (name, a, b) in shapes)
                yield return [op, name, a, b];
    }

    public static string BinaryCaseName(System.Reflection.MethodInfo _, object[] data) => $"{data[0]} {data[1]}";

    [TestMethod]
    [DynamicData(nameof(BinaryCases), DynamicDataDisplayName = nameof(BinaryCaseName))]
    public void Binary_MatchesFiniteDifferences(string op, string caseName, int[] aShape, int[] bShape)
    {
        var random = TestData.NewRandom();
        Tensor a, b;
        if (op is "Maximum" or "Minimum")
        {
            // Keep every pair that can meet at least 0.1 apart, so the step 1e-2 never crosses a tie.
            (a, b) = TestData.Separated(random, aShape, bShape);
        }
        else
        {
            a = TestData.Uniform(random, aShape);
            // Divide: keep the denominator in ±[0.5, 1.5] (far from its pole at 0).
            b = op == "Divide" ? TestData.AwayFromZero(random, bShape, 0.5f, 1.5f) : TestData.Uniform(random, bShape);
        }
        GradientCheck.AssertGradients(xs => Apply(op, xs[0], xs[1]), [a, b], message: $"{op} {caseName}");
    }

    private static Tensor Apply(string op, Tensor a, Tensor b) => op switch
    {
        "Add" => a.Add(b),
        "Subtract" => a.Subtract(b),
        "Multiply" => a.Multiply(b),
        "Divide" => a.Divide(b),
        "Maximum" => a.Maximum(b),
        "Minimum" => a.Minimum(b),
        _ => throw new ArgumentOutOfRangeException(nameof(op)),
    };

    [TestMethod]
    public void TensorOperators_MatchFiniteDifferences()
    {
        var random = TestData.NewRandom();
        var a = TestData.Uniform(random, [2, 3]);
        var b = TestData.AwayFromZero(random, [3], 0.5f, 1.5f);
        GradientCheck.AssertGradients(xs => xs[0] + xs[1], [a, b], message: "a + b");
        GradientCheck.AssertGradients(xs => xs[0] - xs[1], [a, b], message: "a - b");
        GradientCheck.AssertGradients(xs => xs[0] * xs[1], [a, b], message: "a * b");
        GradientCheck.AssertGradients(xs => xs[0] / xs[1], [a, b], message: "a / b");
        GradientCheck.AssertGradient(x => -x, a, message: "-a");
    }

    [TestMethod]
    public void FloatScalarOperators_MatchFiniteDifferences()
    {
        var random = TestData.NewRandom();
        var x = TestData.AwayFromZero(random, [2, 3], 0.5f, 1.5f);
        GradientCheck.AssertGradient(t => t + 2.5f, x, message: "t + 2.5");
        GradientCheck.AssertGradient(t => t - 2.5f, x, message: "t - 2.5");
        GradientCheck.AssertGradient(t => t * 2.5f, x, message: "t * 2.5");
        GradientCheck.AssertGradient(t => t / 2.5f, x, message: "t / 2.5");
        GradientCheck.AssertGradient(t => 2.5f + t, x, message: "2.5 + t");
        GradientCheck.AssertGradient(t => 2.5f - t, x, message: "2.5 - t");
        GradientCheck.AssertGradient(t => 2.5f * t, x, message: "2.5 * t");
        GradientCheck.AssertGradient(t => 2.5f / t, x, message: "2.5 / t");
    }

    [TestMethod]
    public void SameTensorOnBothSides_AccumulatesBothGradients()
    {
        var x = TestData.AwayFromZero(TestData.NewRandom(), [2, 3], 0.5f, 1.5f);
        GradientCheck.AssertGradient(t => t * t, x, message: "x * x");
        GradientCheck.AssertGradient(t => t / (t + 3f), x, message: "x / (x + 3)");
        GradientCheck.AssertGradient(t => t - t * 2f, x, message: "x - 2x");
    }

    [TestMethod]
    public void MaximumAndMinimum_SendTiesToTheFirstOperand()
    {
        var a = Tensor.FromArray([1f, 2f, 5f]);
        var b = Tensor.FromArray([1f, 3f, 4f]);
        using var tape = new GradientTape(persistent: true);
        tape.Watch(a);
        tape.Watch(b);
        var max = tape.Gradient(a.Maximum(b), [a, b]);
        CollectionAssert.AreEqual(new[] { 1f, 0f, 1f }, max[0]!.ToArray(), "Maximum, a");
        CollectionAssert.AreEqual(new[] { 0f, 1f, 0f }, max[1]!.ToArray(), "Maximum, b");
        var min = tape.Gradient(a.Minimum(b), [a, b]);
        CollectionAssert.AreEqual(new[] { 1f, 1f, 0f }, min[0]!.ToArray(), "Minimum, a");
        CollectionAssert.AreEqual(new[] { 0f, 0f, 1f }, min[1]!.ToArray(), "Minimum, b");
    }

    // ---- Unary ops -----------------------------------------------------------------------------------------------

    [TestMethod]
    [DataRow("Negate")]
    [DataRow("Square")]
    [DataRow("Sqrt")]
    [DataRow("Abs")]
    [DataRow("Exp")]
    [DataRow("Log")]
    public void Unary_MatchesFiniteDifferences(string op)
    {
        var random = TestData.NewRandom();
        int[] shape = [3, 5];
        var x = op switch
        {
            "Sqrt" or "Log" => TestData.Uniform(random, shape, 0.5f, 2f), // far from the singularity at 0
            "Abs" => TestData.AwayFromZero(random, shape, 0.1f, 1.5f),     // far from the kink at 0
            _ => TestData.Uniform(random, shape, -1.5f, 1.5f),
        };
        Func<Tensor, Tensor> f = op switch
        {
            "Negate" => t => t.Negate(),
            "Square" => t => t.Square(),
            "Sqrt" => t => t.Sqrt(),
            "Abs" => t => t.Abs(),
            "Exp" => t => t.Exp(),
            "Log" => t => t.Log(),
            _ => throw new ArgumentOutOfRangeException(nameof(op)),
        };
        GradientCheck.AssertGradient(f, x, message: op);
    }

    [TestMethod]
    public void Abs_GradientAtZeroIsZero()
    {
        var x = Tensor.FromArray([0f, -2f, 3f]);
        using var tape = new GradientTape();
        tape.Watch(x);
        var g = tape.Gradient(x.Abs(), [x])[0]!;
        CollectionAssert.AreEqual(new[] { 0f, -1f, 1f }, g.ToArray());
    }

    // ---- Reductions ----------------------------------------------------------------------------------------------

    public static IEnumerable<object?[]> ReductionCases()
    {
        yield return ["all", null, false];
        yield return ["all keepDims", null, true];
        yield return ["[1]", new[] { 1 }, false];
        yield return ["[0, 2]", new[] { 0, 2 }, false];
        yield return ["[2, 0] keepDims", new[] { 2, 0 }, true];
        yield return ["[-1]", new[] { -1 }, false];
        yield return ["[-3, -1] keepDims", new[] { -3, -1 }, true];
        yield return ["[0, 1, 2]", new[] { 0, 1, 2 }, false];
        yield return ["[] (none)", Array.Empty<int>(), false];
        yield return ["[] keepDims", Array.Empty<int>(), true];
    }

    public static string ReductionCaseName(System.Reflection.MethodInfo _, object[] data) => (string)data[0]!;

    [TestMethod]
    [DynamicData(nameof(ReductionCases), DynamicDataDisplayName = nameof(ReductionCaseName))]
    public void Sum_MatchesFiniteDifferences(string caseName, int[]? axes, bool keepDims)
    {
        var x = TestData.Uniform(TestData.NewRandom(), [2, 3, 4]);
        GradientCheck.AssertGradient(t => t.Sum(axes, keepDims), x, message: $"Sum {caseName}");
    }

    [TestMethod]
    [DynamicData(nameof(ReductionCases), DynamicDataDisplayName = nameof(ReductionCaseName))]
    public void Mean_MatchesFiniteDifferences(string caseName, int[]? axes, bool keepDims)
    {
        var x = TestData.Uniform(TestData.NewRandom(), [2, 3, 4]);
        GradientCheck.AssertGradient(t => t.Mean(axes, keepDims), x, message: $"Mean {caseName}");
    }

    [TestMethod]
    public void Sum_OfScalarAndOfComposite_MatchFiniteDifferences()
    {
        var random = TestData.NewRandom();
        GradientCheck.AssertGradient(t => t.Sum(), Tensor.Scalar(0.7f), message: "Sum of a scalar");
        GradientCheck.AssertGradient(t => (t * t).Sum([1]).Exp().Sum(), TestData.Uniform(random, [3, 4]), message: "Sum(Exp(Sum(x^2, 1)))");
    }

    // ---- Layout ops ----------------------------------------------------------------------------------------------

    [TestMethod]
    [DataRow(new[] { -1, 4 })]
    [DataRow(new[] { 4, -1, 2 })]
    [DataRow(new[] { 24 })]
    [DataRow(new[] { -1 })]
    [DataRow(new[] { 2, 3, 2, 2 })]
    public void Reshape_MatchesFiniteDifferences(int[] newShape)
    {
        var x = TestData.Uniform(TestData.NewRandom(), [2, 3, 4]);
        // Multiply by a non-uniform tensor after reshaping, so the element order matters for the gradient.
        var w = TestData.Uniform(TestData.NewRandom(7), [24]);
        GradientCheck.AssertGradient(t => t.Reshape(newShape) * w.Reshape(t.Reshape(newShape).Shape), x, message: $"Reshape to [{string.Join(",", newShape)}]");
    }

    [TestMethod]
    [DataRow(new[] { 0, 1, 2 })]
    [DataRow(new[] { 0, 2, 1 })]
    [DataRow(new[] { 1, 0, 2 })]
    [DataRow(new[] { 1, 2, 0 })]
    [DataRow(new[] { 2, 0, 1 })]
    [DataRow(new[] { 2, 1, 0 })]
    public void Transpose_Rank3_MatchesFiniteDifferences(int[] perm)
    {
        var x = TestData.Uniform(TestData.NewRandom(), [2, 3, 4]);
        GradientCheck.AssertGradient(t => t.Transpose(perm), x, message: $"Transpose [{string.Join(",", perm)}]");
    }

    [TestMethod]
    public void Transpose_DefaultAndOtherRanks_MatchFiniteDifferences()
    {
        var random = TestData.NewRandom();
        GradientCheck.AssertGradient(t => t.Transpose(), TestData.Uniform(random, [2, 3, 4]), message: "Transpose() rank 3");
        GradientCheck.AssertGradient(t => t.Transpose(), TestData.Uniform(random, [3, 5]), message: "Transpose() rank 2");
        GradientCheck.AssertGradient(t => t.Transpose([3, 1, 0, 2]), TestData.Uniform(random, [2, 1, 3, 2]), message: "Transpose rank 4");
        GradientCheck.AssertGradient(t => t.Transpose(), Tensor.Scalar(0.3f), message: "Transpose() rank 0");
    }

    [TestMethod]
    [DataRow(0, 1, 2)]
    [DataRow(0, 0, 3)]
    [DataRow(1, 1, 2)]
    [DataRow(1, 3, 1)]
    [DataRow(-1, 0, 4)]
    [DataRow(1, 2, 0)]
    public void Slice_MatchesFiniteDifferences(int axis, int start, int length)
    {
        var x = TestData.Uniform(TestData.NewRandom(), [3, 4]);
        GradientCheck.AssertGradient(t => t.Slice(axis, start, length), x, message: $"Slice axis {axis} [{start}, +{length})");
    }

    [TestMethod]
    public void Concat_Axis0_WithEmptyPart_MatchesFiniteDifferences()
    {
        var random = TestData.NewRandom();
        Tensor[] parts = [TestData.Uniform(random, [2, 3]), Tensor.Zeros([0, 3]), TestData.Uniform(random, [1, 3])];
        GradientCheck.AssertGradients(xs => Tensor.Concat(xs, 0), parts, message: "Concat axis 0");
        var grads = GradientCheck.TapeGradients(xs => Tensor.Concat(xs, 0), parts, Tensor.Ones([3, 3]));
        CollectionAssert.AreEqual(new[] { 0, 3 }, grads[1]!.Shape.ToArray(), "gradient of the empty part");
    }

    [TestMethod]
    public void Concat_Axis1_WithEmptyPart_MatchesFiniteDifferences()
    {
        var random = TestData.NewRandom();
        Tensor[] parts = [TestData.Uniform(random, [2, 1]), TestData.Uniform(random, [2, 3]), Tensor.Zeros([2, 0])];
        GradientCheck.AssertGradients(xs => Tensor.Concat(xs, 1), parts, message: "Concat axis 1");
        GradientCheck.AssertGradients(xs => Tensor.Concat(xs, -1), parts, message: "Concat axis -1");
        Tensor[] rank3 = [TestData.Uniform(random, [2, 2, 3]), TestData.Uniform(random, [2, 1, 3]), Tensor.Zeros([2, 0, 3])];
        GradientCheck.AssertGradients(xs => Tensor.Concat(xs, 1), rank3, message: "Concat rank 3 axis 1");
    }

    [TestMethod]
    public void Concat_SameTensorTwice_AccumulatesBothGradients()
    {
        var x = TestData.Uniform(TestData.NewRandom(), [2, 3]);
        GradientCheck.AssertGradient(t => Tensor.Concat([t, t.Square(), t], 0), x, message: "Concat [x, x^2, x]");
    }

    // ---- Collectives under the default strategy ------------------------------------------------------------------

    [TestMethod]
    public void AllReduce_UnderDefaultStrategy_IsTheIdentity()
    {
        var ctx = ReplicaContext.Current;
        Assert.IsNotNull(ctx);
        Assert.AreEqual(1, ctx.NumReplicasInSync);
        var x = TestData.Uniform(TestData.NewRandom(), [2, 3]);
        CollectionAssert.AreEqual(x.ToArray(), ctx.AllReduce(ReduceOp.Sum, x).ToArray());
        CollectionAssert.AreEqual(x.ToArray(), ctx.AllReduce(ReduceOp.Mean, x).ToArray());
        GradientCheck.AssertGradient(t => ctx.AllReduce(ReduceOp.Sum, t), x, message: "AllReduce(Sum)");
        GradientCheck.AssertGradient(t => ctx.AllReduce(ReduceOp.Mean, t), x, message: "AllReduce(Mean)");
        GradientCheck.AssertGradient(t => ctx.AllReduce(ReduceOp.Sum, t.Square()) * t, x, message: "AllReduce(Sum, x^2) * x");
        GradientCheck.AssertGradients(xs =>
        {
            var r = ctx.AllReduce(ReduceOp.Sum, [xs[0], xs[1]]);
            return r[0] * r[1].Sum();
        }, [x, TestData.Uniform(TestData.NewRandom(3), [4])], message: "fused AllReduce");
    }

    [TestMethod]
    public void AllReduce_UnderSingleReplicaMirroredStrategy_IsTheIdentity()
    {
        using var strategy = new MirroredStrategy(1);
        var x = TestData.Uniform(TestData.NewRandom(), [2, 3]);
        strategy.Run(ctx =>
        {
            GradientCheck.AssertGradient(t => ctx.AllReduce(ReduceOp.Sum, t).Exp(), x, message: "AllReduce in a 1-replica Run");
            return 0;
        });
    }

    // ---- Batch normalization -------------------------------------------------------------------------------------

    public static IEnumerable<object[]> BatchNormCases()
    {
        int[][] shapes = [[6, 3], [3, 2, 2, 3], [5, 20], [2, 3, 4, 5]]; // the last two reach the SIMD paths
        foreach (var shape in shapes)
            foreach (bool training in new[] { true, false })
                yield return [shape, training];
    }

    public static string BatchNormCaseName(System.Reflection.MethodInfo _, object[] data) =>
        $"[{string.Join(",", (int[])data[0])}] {((bool)data[1] ? "training" : "inference")}";

    [TestMethod]
    [DynamicData(nameof(BatchNormCases), DynamicDataDisplayName = nameof(BatchNormCaseName))]
    public void BatchNorm_MatchesFiniteDifferences_ForXWeightAndBias(int[] shape, bool training)
    {
        var random = TestData.NewRandom();
        int c = shape[1];
        var x = TestData.Uniform(random, shape, -1f, 2f);
        var weight = TestData.AwayFromZero(random, [c], 0.5f, 1.5f);
        var bias = TestData.Uniform(random, [c]);
        var runningMean = new Variable(TestData.Uniform(random, [c], -0.5f, 0.5f), trainable: false);
        var runningVar = new Variable(TestData.Uniform(random, [c], 0.5f, 1.5f), trainable: false);
        GradientCheck.AssertGradients(
            xs => Ops.BatchNorm(xs[0], runningMean, runningVar, xs[1], xs[2], training, momentum: 0.1f, epsilon: 1e-3f),
            [x, weight, bias], message: BatchNormCaseName(null!, [shape, training]));
    }

    [TestMethod]
    [DataRow(true)]
    [DataRow(false)]
    public void BatchNorm_WithoutWeightOrBias_MatchesFiniteDifferences(bool training)
    {
        var random = TestData.NewRandom();
        var x = TestData.Uniform(random, [4, 3, 2], -1f, 2f);
        var weight = TestData.AwayFromZero(random, [3], 0.5f, 1.5f);
        var runningMean = new Variable(Tensor.Zeros([3]), trainable: false);
        var runningVar = new Variable(Tensor.Ones([3]), trainable: false);
        GradientCheck.AssertGradient(t => Ops.BatchNorm(t, runningMean, runningVar, training: training), x, message: "no weight, no bias");
        GradientCheck.AssertGradients(xs => Ops.BatchNorm(xs[0], runningMean, runningVar, weight: xs[1], training: training), [x, weight], message: "weight only");
        GradientCheck.AssertGradients(xs => Ops.BatchNorm(xs[0], runningMean, runningVar, bias: xs[1], training: training), [x, weight], message: "bias only");
    }
}
