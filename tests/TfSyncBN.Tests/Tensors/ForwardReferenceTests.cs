using TfSyncBN.Tensors;
using TfSyncBN.Tests.TestUtil;

namespace TfSyncBN.Tests.Tensors;

/// <summary>Forward values of the tensor core against independent, naive index-based reference computations.</summary>
[TestClass]
public sealed class ForwardReferenceTests
{
    private const int RandomCases = 300;

    /// <summary>A random pair of broadcast-compatible shapes of rank 0..4 (dims 0..4, often 1).</summary>
    private static (int[] A, int[] B) RandomBroadcastPair(Random random)
    {
        int rank = random.Next(0, 5);
        var full = Enumerable.Range(0, rank).Select(_ => random.Next(0, 8) == 0 ? 0 : random.Next(1, 5)).ToArray();
        int[] Derive()
        {
            int drop = random.Next(0, rank + 1);
            return full.Skip(drop).Select(d => random.Next(3) == 0 ? 1 : d).ToArray();
        }
        return (Derive(), Derive());
    }

    private static int[] NaiveBroadcastShape(int[] a, int[] b)
    {
        int n = Math.Max(a.Length, b.Length);
        var s = new int[n];
        for (int i = 0; i < n; i++)
        {
            int da = i - (n - a.Length) >= 0 ? a[i - (n - a.Length)] : 1;
            int db = i - (n - b.Length) >= 0 ? b[i - (n - b.Length)] : 1;
            s[i] = da == 1 ? db : da;
        }
        return s;
    }

    /// <summary>The flat index in <paramref name="shape"/> of the element that output index <paramref name="outIndex"/> reads under broadcasting.</summary>
    private static int SourceIndex(int[] outIndex, int[] shape)
    {
        int lead = outIndex.Length - shape.Length;
        var idx = new int[shape.Length];
        for (int i = 0; i < shape.Length; i++) idx[i] = shape[i] == 1 ? 0 : outIndex[lead + i];
        return TestData.Ravel(idx, shape);
    }

    [TestMethod]
    [DataRow("Add")]
    [DataRow("Subtract")]
    [DataRow("Multiply")]
    [DataRow("Divide")]
    [DataRow("Maximum")]
    [DataRow("Minimum")]
    public void Broadcasting_MatchesNaiveIndexLoop(string op)
    {
        var random = TestData.NewRandom();
        Func<float, float, float> scalar = op switch
        {
            "Add" => (x, y) => x + y,
            "Subtract" => (x, y) => x - y,
            "Multiply" => (x, y) => x * y,
            "Divide" => (x, y) => x / y,
            "Maximum" => MathF.Max,
            "Minimum" => MathF.Min,
            _ => throw new ArgumentOutOfRangeException(nameof(op)),
        };
        for (int trial = 0; trial < RandomCases; trial++)
        {
            var (sa, sb) = RandomBroadcastPair(random);
            var a = TestData.Uniform(random, sa, -3f, 3f);
            var b = op == "Divide" ? TestData.AwayFromZero(random, sb) : TestData.Uniform(random, sb, -3f, 3f);
            var y = op switch
            {
                "Add" => a + b,
                "Subtract" => a - b,
                "Multiply" => a * b,
                "Divide" => a / b,
                "Maximum" => a.Maximum(b),
                _ => a.Minimum(b),
            };
            var shape = NaiveBroadcastShape(sa, sb);
            string what = $"{op} [{string.Join(",", sa)}] x [{string.Join(",", sb)}]";
            CollectionAssert.AreEqual(shape, y.Shape.ToArray(), $"{what}: shape");
            var ad = a.ToArray();
            var bd = b.ToArray();
            var yd = y.ToArray();
            for (int i = 0; i < yd.Length; i++)
            {
                var idx = TestData.Unravel(i, shape);
                float expected = scalar(ad[SourceIndex(idx, sa)], bd[SourceIndex(idx, sb)]);
                // One IEEE operation per element: the kernels must agree exactly.
                Assert.AreEqual(expected, yd[i], 0f, $"{what}: element [{string.Join(",", idx)}]");
            }
        }
    }

    [TestMethod]
    public void FloatScalarOperators_MatchElementwiseArithmetic()
    {
        var x = TestData.AwayFromZero(TestData.NewRandom(), [3, 7]);
        var d = x.ToArray();
        const float s = 1.75f;
        (Tensor Result, Func<float, float> Expected, string Name)[] cases =
        [
            (x + s, v => v + s, "x + s"), (x - s, v => v - s, "x - s"), (x * s, v => v * s, "x * s"), (x / s, v => v / s, "x / s"),
            (s + x, v => s + v, "s + x"), (s - x, v => s - v, "s - x"), (s * x, v => s * v, "s * x"), (s / x, v => s / v, "s / x"),
            (-x, v => -v, "-x"),
        ];
        foreach (var (result, expected, name) in cases)
        {
            CollectionAssert.AreEqual(new[] { 3, 7 }, result.Shape.ToArray(), name);
            for (int i = 0; i < d.Length; i++) Assert.AreEqual(expected(d[i]), result.AsSpan()[i], 0f, $"{name}: element {i}");
        }
    }

    [TestMethod]
    public void UnaryOps_MatchMathF()
    {
        var x = TestData.Uniform(TestData.NewRandom(), [5, 9], 0.1f, 3f);
        var d = x.ToArray();
        (Tensor Result, Func<float, float> Expected, string Name)[] cases =
        [
            (x.Square(), v => v * v, "Square"), (x.Sqrt(), MathF.Sqrt, "Sqrt"), (x.Exp(), MathF.Exp, "Exp"),
            (x.Log(), MathF.Log, "Log"), ((-x).Abs(), v => v, "Abs"), (x.Negate(), v => -v, "Negate"),
        ];
        foreach (var (result, expected, name) in cases)
        {
            // Vectorized Exp/Log may differ from the scalar MathF by an ulp or so.
            for (int i = 0; i < d.Length; i++)
                Assert.AreEqual(expected(d[i]), result.AsSpan()[i], 4e-7f * Math.Max(1f, Math.Abs(expected(d[i]))), $"{name}: element {i}");
        }
    }

    [TestMethod]
    public void Sum_MatchesNaiveLoops()
    {
        var random = TestData.NewRandom();
        for (int trial = 0; trial < RandomCases; trial++)
        {
            int rank = random.Next(1, 5);
            var shape = Enumerable.Range(0, rank).Select(_ => random.Next(0, 10) == 0 ? 0 : random.Next(1, 6)).ToArray();
            var axes = Enumerable.Range(0, rank).Where(_ => random.Next(2) == 0)
                .Select(a => random.Next(2) == 0 ? a - rank : a).OrderBy(_ => random.Next()).ToArray();
            bool keepDims = random.Next(2) == 0;
            bool mean = random.Next(2) == 0;
            var x = TestData.Uniform(random, shape);
            var y = mean ? x.Mean(axes, keepDims) : x.Sum(axes, keepDims);

            var reduced = axes.Select(a => a < 0 ? a + rank : a).ToHashSet();
            var keptShape = shape.Select((d, i) => reduced.Contains(i) ? 1 : d).ToArray();
            var outShape = keepDims ? keptShape : shape.Where((_, i) => !reduced.Contains(i)).ToArray();
            string what = $"{(mean ? "Mean" : "Sum")} of [{string.Join(",", shape)}] over [{string.Join(",", axes)}] keepDims={keepDims}";
            CollectionAssert.AreEqual(outShape, y.Shape.ToArray(), $"{what}: shape");

            var expected = new double[keptShape.Aggregate(1, (p, d) => p * d)];
            var count = new int[expected.Length];
            var xd = x.ToArray();
            for (int i = 0; i < xd.Length; i++)
            {
                var idx = TestData.Unravel(i, shape);
                for (int k = 0; k < rank; k++) if (reduced.Contains(k)) idx[k] = 0;
                int o = TestData.Ravel(idx, keptShape);
                expected[o] += xd[i];
                count[o]++;
            }
            var yd = y.ToArray();
            Assert.AreEqual(expected.Length, yd.Length, $"{what}: size");
            for (int o = 0; o < yd.Length; o++)
            {
                if (mean && count[o] == 0)
                {
                    Assert.IsTrue(float.IsNaN(yd[o]), $"{what}: the mean over an empty set is NaN");
                    continue;
                }
                double e = mean ? expected[o] / count[o] : expected[o];
                Assert.AreEqual(e, yd[o], 1e-5 * Math.Max(1, count[o]), $"{what}: element {o}");
            }
        }
    }

    [TestMethod]
    public void Transpose_MatchesNaiveIndexMapping()
    {
        var random = TestData.NewRandom();
        for (int trial = 0; trial < RandomCases; trial++)
        {
            int rank = random.Next(1, 6);
            var shape = Enumerable.Range(0, rank).Select(_ => random.Next(0, 12) == 0 ? 0 : random.Next(1, 5)).ToArray();
            var perm = Enumerable.Range(0, rank).OrderBy(_ => random.Next()).ToArray();
            var x = TestData.Uniform(random, shape);
            var y = x.Transpose(perm);
            var outShape = perm.Select(p => shape[p]).ToArray();
            string what = $"Transpose [{string.Join(",", shape)}] by [{string.Join(",", perm)}]";
            CollectionAssert.AreEqual(outShape, y.Shape.ToArray(), $"{what}: shape");
            var xd = x.ToArray();
            var yd = y.ToArray();
            for (int i = 0; i < yd.Length; i++)
            {
                var outIdx = TestData.Unravel(i, outShape);
                var inIdx = new int[rank];
                for (int k = 0; k < rank; k++) inIdx[perm[k]] = outIdx[k];
                Assert.AreEqual(xd[TestData.Ravel(inIdx, shape)], yd[i], 0f, $"{what}: element [{string.Join(",", outIdx)}]");
            }
            // Transposing back by the inverse permutation restores the tensor.
            var inverse = new int[rank];
            for (int k = 0; k < rank; k++) inverse[perm[k]] = k;
            CollectionAssert.AreEqual(xd, y.Transpose(inverse).ToArray(), $"{what}: round trip");
        }
    }

    [TestMethod]
    public void Transpose_DefaultReversesAxes()
    {
        var x = Tensor.FromFunction([2, 3], i => i);
        var y = x.Transpose();
        CollectionAssert.AreEqual(new[] { 3, 2 }, y.Shape.ToArray());
        CollectionAssert.AreEqual(new[] { 0f, 3, 1, 4, 2, 5 }, y.ToArray());
    }

    [TestMethod]
    public void SliceAndConcat_RoundTrip()
    {
        var random = TestData.NewRandom();
        for (int trial = 0; trial < RandomCases; trial++)
        {
            int rank = random.Next(1, 5);
            var shape = Enumerable.Range(0, rank).Select(_ => random.Next(1, 6)).ToArray();
            int axis = random.Next(rank);
            var x = TestData.Uniform(random, shape);

            // Cut the axis at random points (repeated cut points give empty parts).
            var cuts = Enumerable.Range(0, random.Next(0, 4)).Select(_ => random.Next(0, shape[axis] + 1))
                .Append(0).Append(shape[axis]).Order().ToArray();
            var parts = new List<Tensor>();
            for (int k = 0; k + 1 < cuts.Length; k++)
                parts.Add(x.Slice(random.Next(2) == 0 ? axis : axis - rank, cuts[k], cuts[k + 1] - cuts[k]));
            string what = $"[{string.Join(",", shape)}] axis {axis} cuts [{string.Join(",", cuts)}]";

            // Each slice against the naive definition.
            var xd = x.ToArray();
            for (int k = 0; k < parts.Count; k++)
            {
                var p = parts[k];
                var pShape = (int[])shape.Clone();
                pShape[axis] = cuts[k + 1] - cuts[k];
                CollectionAssert.AreEqual(pShape, p.Shape.ToArray(), $"{what}: part {k} shape");
                var pd = p.ToArray();
                for (int i = 0; i < pd.Length; i++)
                {
                    var idx = TestData.Unravel(i, pShape);
                    idx[axis] += cuts[k];
                    Assert.AreEqual(xd[TestData.Ravel(idx, shape)], pd[i], 0f, $"{what}: part {k} element {i}");
                }
            }

            var joined = Tensor.Concat(parts, axis);
            CollectionAssert.AreEqual(shape, joined.Shape.ToArray(), $"{what}: concat shape");
            CollectionAssert.AreEqual(xd, joined.ToArray(), $"{what}: concat values");
        }
    }

    [TestMethod]
    public void Concat_MatchesNaiveDefinition()
    {
        var a = Tensor.FromFunction([2, 2], i => i);          // [[0,1],[2,3]]
        var b = Tensor.FromFunction([2, 3], i => 10 + i);     // [[10,11,12],[13,14,15]]
        var c = Tensor.Zeros([2, 0]);
        var y = Tensor.Concat([a, c, b], 1);
        CollectionAssert.AreEqual(new[] { 2, 5 }, y.Shape.ToArray());
        CollectionAssert.AreEqual(new[] { 0f, 1, 10, 11, 12, 2, 3, 13, 14, 15 }, y.ToArray());
        var z = Tensor.Concat([a, Tensor.Zeros([0, 2]), a * 2f], 0);
        CollectionAssert.AreEqual(new[] { 4, 2 }, z.Shape.ToArray());
        CollectionAssert.AreEqual(new[] { 0f, 1, 2, 3, 0, 2, 4, 6 }, z.ToArray());
    }

    [TestMethod]
    public void Reshape_KeepsRowMajorOrderAndInfersMinusOne()
    {
        var x = Tensor.FromFunction([2, 3, 4], i => i);
        var y = x.Reshape([4, -1]);
        CollectionAssert.AreEqual(new[] { 4, 6 }, y.Shape.ToArray());
        CollectionAssert.AreEqual(x.ToArray(), y.ToArray());
        CollectionAssert.AreEqual(new[] { 0, 5 }, Tensor.Zeros([0, 5]).Reshape([-1, 5]).Shape.ToArray());
        CollectionAssert.AreEqual(Array.Empty<int>(), Tensor.FromArray([3f]).Reshape([]).Shape.ToArray());
    }

    [TestMethod]
    public void Factories_ProduceTheDocumentedTensors()
    {
        CollectionAssert.AreEqual(new[] { 0f, 0, 0, 0, 0, 0 }, Tensor.Zeros([2, 3]).ToArray());
        CollectionAssert.AreEqual(new[] { 1f, 1 }, Tensor.Ones([2]).ToArray());
        CollectionAssert.AreEqual(new[] { 7f, 7, 7 }, Tensor.Fill([3, 1], 7f).ToArray());
        Assert.AreEqual(2.5f, Tensor.Scalar(2.5f).ToScalar());
        Assert.AreEqual(0, Tensor.Scalar(2.5f).Rank);
        Assert.AreEqual(1, Tensor.Scalar(2.5f).Size);
        var values = new float[] { 1, 2, 3, 4 };
        var t = Tensor.FromArray(values, [2, -1]);
        values[0] = 99;
        Assert.AreEqual(1f, t.ToArray()[0], "FromArray copies its input");
        t.ToArray()[1] = 99;
        Assert.AreEqual(2f, t.AsSpan()[1], "ToArray returns a copy");
        Assert.AreEqual("Tensor[2, 2] [1, 2, 3, 4]", t.ToString());
    }

    [TestMethod]
    public void OpsNeverChangeTheirInputs()
    {
        var random = TestData.NewRandom();
        var a = TestData.AwayFromZero(random, [2, 3]);
        var b = TestData.AwayFromZero(random, [3]);
        var a0 = a.ToArray();
        var b0 = b.ToArray();
        _ = (a + b, a - b, a * b, a / b, a.Maximum(b), a.Minimum(b), -a, a.Square(), a.Abs().Sqrt(), a.Exp(), a.Abs().Log(),
            a.Sum([1]), a.Mean(), a.Reshape([-1]), a.Transpose(), a.Slice(1, 1, 2), Tensor.Concat([a, a], 0));
        CollectionAssert.AreEqual(a0, a.ToArray());
        CollectionAssert.AreEqual(b0, b.ToArray());
    }
}
