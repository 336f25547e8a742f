using TfSyncBN.Distribute;
using TfSyncBN.Tensors;
using TfSyncBN.Tests.TestUtil;

namespace TfSyncBN.Tests.Tensors;

/// <summary><see cref="Ops.BatchNorm"/> against float64 references, its running-statistics update, and its validation.</summary>
[TestClass]
public sealed class OpsBatchNormReferenceTests
{
    /// <summary>Per-channel mean and biased variance over every axis but 1, in float64.</summary>
    private static (double[] Mean, double[] Variance) Moments(Tensor x)
    {
        var shape = x.Shape.ToArray();
        int n = shape[0], c = shape[1], inner = shape.Skip(2).Aggregate(1, (p, d) => p * d);
        var data = x.ToArray();
        var mean = new double[c];
        var variance = new double[c];
        for (int ch = 0; ch < c; ch++)
        {
            double sum = 0;
            for (int b = 0; b < n; b++) for (int i = 0; i < inner; i++) sum += data[(b * c + ch) * inner + i];
            mean[ch] = sum / (n * inner);
            double sq = 0;
            for (int b = 0; b < n; b++) for (int i = 0; i < inner; i++) sq += Math.Pow(data[(b * c + ch) * inner + i] - mean[ch], 2);
            variance[ch] = sq / (n * inner);
        }
        return (mean, variance);
    }

    /// <summary>γ·(x − mean)/sqrt(var + ε) + β in float64.</summary>
    private static double[] Normalize(Tensor x, double[] mean, double[] variance, float[]? gamma, float[]? beta, double epsilon)
    {
        var shape = x.Shape.ToArray();
        int c = shape[1], inner = shape.Skip(2).Aggregate(1, (p, d) => p * d);
        var data = x.ToArray();
        var y = new double[data.Length];
        for (int i = 0; i < data.Length; i++)
        {
            int ch = i / inner % c;
            y[i] = (gamma?[ch] ?? 1.0) * (data[i] - mean[ch]) / Math.Sqrt(variance[ch] + epsilon) + (beta?[ch] ?? 0.0);
        }
        return y;
    }

    private static void AssertClose(double[] expected, Tensor actual, double delta, string what)
    {
        var a = actual.ToArray();
        Assert.AreEqual(expected.Length, a.Length, what);
        for (int i = 0; i < a.Length; i++) Assert.AreEqual(expected[i], a[i], delta, $"{what}: element {i}");
    }

    public static IEnumerable<object[]> Shapes()
    {
        yield return [new[] { 8, 3 }];
        yield return [new[] { 37, 20 }];       // channels last: vector body and scalar tail of the channel loop
        yield return [new[] { 300, 5 }];       // scalar channel loop over many rows
        yield return [new[] { 4, 3, 5, 7 }];   // channels first: inner run of 35
        yield return [new[] { 2, 17, 3, 3 }];  // inner run shorter than a vector
        yield return [new[] { 3, 2, 40, 30 }]; // inner run long enough to flush the float32 accumulators
        yield return [new[] { 5, 4, 6 }];      // rank 3
        yield return [new[] { 600, 40 }];      // channels last, more than 256 rows: float32 lanes are flushed
        yield return [new[] { 2, 2, 80, 60 }]; // channels first, inner run of 4800 > 256 vectors of 16: flushed
    }

    [TestMethod]
    [DynamicData(nameof(Shapes))]
    public void Training_MatchesFloat64Reference(int[] shape)
    {
        var random = TestData.NewRandom();
        int c = shape[1];
        // Offset, non-unit-scale data: the shifted single pass must not lose the variance to cancellation.
        var x = TestData.Uniform(random, shape, 1f, 5f);
        var gamma = TestData.Uniform(random, [c], 0.5f, 1.5f).ToArray();
        var beta = TestData.Uniform(random, [c]).ToArray();
        var runningMean = new Variable(Tensor.Zeros([c]), trainable: false);
        var runningVar = new Variable(Tensor.Ones([c]), trainable: false);
        const float epsilon = 1e-3f;

        var y = Ops.BatchNorm(x, runningMean, runningVar, Tensor.FromArray(gamma), Tensor.FromArray(beta), training: true, epsilon: epsilon);

        var (mean, variance) = Moments(x);
        CollectionAssert.AreEqual(shape, y.Shape.ToArray());
        AssertClose(Normalize(x, mean, variance, gamma, beta, epsilon), y, 1e-5, "y");
        var yPlain = Ops.BatchNorm(x, runningMean, runningVar, training: true, epsilon: epsilon);
        AssertClose(Normalize(x, mean, variance, null, null, epsilon), yPlain, 1e-5, "y without weight and bias");
    }

    [TestMethod]
    public void Training_LargeOffset_KeepsTheVariance()
    {
        // Mean 1000, standard deviation ~0.3: a naive E[x²] − E[x]² in float32 would lose every digit.
        var random = TestData.NewRandom();
        var x = Tensor.FromFunction([64, 4], _ => 1000f + 0.5f * (random.NextSingle() - 0.5f) * 2f);
        var runningMean = new Variable(Tensor.Zeros([4]), trainable: false);
        var runningVar = new Variable(Tensor.Zeros([4]), trainable: false);
        var y = Ops.BatchNorm(x, runningMean, runningVar, training: true, momentum: 1f);
        var (mean, variance) = Moments(x);
        var rv = runningVar.Value.ToArray();
        var rm = runningMean.Value.ToArray();
        for (int c = 0; c < 4; c++)
        {
            Assert.AreEqual(variance[c], rv[c], 1e-5 * variance[c], $"variance of channel {c}");
            Assert.AreEqual(mean[c], rm[c], 1e-4, $"mean of channel {c}");
        }
        // Output error is dominated by rounding the mean to float32 (half an ulp of 1000 ≈ 3e-5) over σ ≈ 0.3.
        AssertClose(Normalize(x, mean, variance, null, null, 1e-5), y, 2e-4, "y");
    }

    [TestMethod]
    [DynamicData(nameof(Shapes))]
    public void Inference_MatchesFloat64Reference(int[] shape)
    {
        var random = TestData.NewRandom();
        int c = shape[1];
        var x = TestData.Uniform(random, shape, -2f, 3f);
        var gamma = TestData.Uniform(random, [c], 0.5f, 1.5f).ToArray();
        var beta = TestData.Uniform(random, [c]).ToArray();
        var mean = TestData.Uniform(random, [c]).ToArray();
        var variance = TestData.Uniform(random, [c], 0.2f, 2f).ToArray();
        var runningMean = new Variable(Tensor.FromArray(mean), trainable: false);
        var runningVar = new Variable(Tensor.FromArray(variance), trainable: false);
        var y = Ops.BatchNorm(x, runningMean, runningVar, Tensor.FromArray(gamma), Tensor.FromArray(beta), epsilon: 1e-3f);
        AssertClose(Normalize(x, mean.Select(v => (double)v).ToArray(), variance.Select(v => (double)v).ToArray(), gamma, beta, 1e-3f), y, 1e-5, "y");
        CollectionAssert.AreEqual(mean, runningMean.Value.ToArray(), "inference does not update the running mean");
        CollectionAssert.AreEqual(variance, runningVar.Value.ToArray(), "inference does not update the running variance");
    }

    [TestMethod]
    public void Training_UpdatesRunningStatsWithMomentumConvention()
    {
        // Per channel: batch mean [3, 5], biased batch variance [8/3, 26/3].
        var x = Tensor.FromArray([1, 2, 3, 4, 5, 9], [3, 2]);
        var runningMean = new Variable(Tensor.FromArray([0.5f, 1.5f]), trainable: false);
        var runningVar = new Variable(Tensor.FromArray([0.1f, 0.2f]), trainable: false);

        Ops.BatchNorm(x, runningMean, runningVar, training: true, momentum: 0.1f);
        // running = (1 − m)·running + m·batch
        float[] expectedMean = [0.9f * 0.5f + 0.1f * 3f, 0.9f * 1.5f + 0.1f * 5f];           // [0.75, 1.85]
        float[] expectedVar = [0.9f * 0.1f + 0.1f * 8f / 3f, 0.9f * 0.2f + 0.1f * 26f / 3f]; // [0.356667, 1.046667]
        TestData.AssertClose(expectedMean, runningMean.Value, 1e-6f, [2], "running mean");
        TestData.AssertClose(expectedVar, runningVar.Value, 1e-6f, [2], "running variance");

        // A second step compounds from the updated values.
        Ops.BatchNorm(x, runningMean, runningVar, training: true, momentum: 0.1f);
        TestData.AssertClose([0.9f * 0.75f + 0.3f, 0.9f * 1.85f + 0.5f], runningMean.Value, 1e-6f, null, "running mean, step 2");
    }

    [TestMethod]
    public void Training_MomentumZeroKeepsAndOneReplacesRunningStats()
    {
        var x = Tensor.FromArray([1, 2, 3, 4, 5, 9], [3, 2]);
        var runningMean = new Variable(Tensor.FromArray([0.5f, 1.5f]), trainable: false);
        var runningVar = new Variable(Tensor.FromArray([0.1f, 0.2f]), trainable: false);
        Ops.BatchNorm(x, runningMean, runningVar, training: true, momentum: 0f);
        CollectionAssert.AreEqual(new[] { 0.5f, 1.5f }, runningMean.Value.ToArray());
        CollectionAssert.AreEqual(new[] { 0.1f, 0.2f }, runningVar.Value.ToArray());
        Ops.BatchNorm(x, runningMean, runningVar, training: true, momentum: 1f);
        CollectionAssert.AreEqual(new[] { 3f, 5f }, runningMean.Value.ToArray());
        TestData.AssertClose([8f / 3f, 26f / 3f], runningVar.Value, 1e-6f, null, "biased batch variance");
    }

    [TestMethod]
    public void Training_RunningUpdateIsComputedInFloat64AndRoundedOnce()
    {
        // Constant channels: the batch mean is exact and the batch variance 0, so any difference from the float64
        // reference comes from the update itself. (1 − 0.1f) is not a float32 number; computing it in float32 first
        // shifts the result by a fraction of an ulp, which rounds differently for about a third of the values.
        var random = TestData.NewRandom();
        const int C = 256;
        var batch = TestData.Uniform(random, [C], -8f, 8f).ToArray();
        var x = Tensor.FromFunction([2, C], i => batch[i % C]);
        var running = TestData.Uniform(random, [C], 1f, 1000f).ToArray();
        var runningMean = new Variable(Tensor.FromArray(running), trainable: false);
        var runningVar = new Variable(Tensor.FromArray(running), trainable: false);
        const float momentum = 0.1f;
        Ops.BatchNorm(x, runningMean, runningVar, training: true, momentum: momentum);
        double m = momentum;
        var rm = runningMean.Value.ToArray();
        var rv = runningVar.Value.ToArray();
        for (int c = 0; c < C; c++)
        {
            Assert.AreEqual((float)((1 - m) * running[c] + m * batch[c]), rm[c], 0f, $"running mean, channel {c}");
            Assert.AreEqual((float)((1 - m) * running[c]), rv[c], 0f, $"running variance, channel {c}");
        }
    }

    [TestMethod]
    public void Training_EmptyBatch_LeavesRunningStatsUnchanged()
    {
        var runningMean = new Variable(Tensor.FromArray([0.5f, 1.5f]), trainable: false);
        var runningVar = new Variable(Tensor.FromArray([0.1f, 0.2f]), trainable: false);
        var y = Ops.BatchNorm(Tensor.Zeros([0, 2]), runningMean, runningVar, training: true);
        CollectionAssert.AreEqual(new[] { 0, 2 }, y.Shape.ToArray());
        CollectionAssert.AreEqual(new[] { 0.5f, 1.5f }, runningMean.Value.ToArray());
        CollectionAssert.AreEqual(new[] { 0.1f, 0.2f }, runningVar.Value.ToArray());
    }

    [TestMethod]
    public void Training_InsideRun_UsesEachReplicasOwnBatchAndCopies()
    {
        using var s = new MirroredStrategy(2);
        var random = TestData.NewRandom();
        var x = TestData.Uniform(random, [8, 3], -1f, 3f);
        Variable runningMean, runningVar;
        using (s.Scope())
        {
            runningMean = new Variable(Tensor.Zeros([3]), trainable: false, aggregation: VariableAggregation.Mean);
            runningVar = new Variable(Tensor.Ones([3]), trainable: false, aggregation: VariableAggregation.Mean);
        }
        var ys = s.Run(ctx => Ops.BatchNorm(x.Slice(0, 4 * ctx.ReplicaId, 4), runningMean, runningVar, training: true, momentum: 1f));
        for (int r = 0; r < 2; r++)
        {
            var shard = x.Slice(0, 4 * r, 4);
            var (mean, variance) = Moments(shard);
            AssertClose(Normalize(shard, mean, variance, null, null, 1e-5), ys[r], 1e-5, $"replica {r} output");
            AssertClose(mean, runningMean.Replicas[r], 1e-6, $"replica {r} running mean");
            AssertClose(variance, runningVar.Replicas[r], 1e-6, $"replica {r} running variance");
        }
    }

    [TestMethod]
    public void WeightAsTrainableVariable_ReceivesItsGradient()
    {
        var random = TestData.NewRandom();
        var x = TestData.Uniform(random, [6, 3]);
        var gamma = new Variable(Tensor.FromArray([1f, 2f, 0.5f]));
        var beta = new Variable(Tensor.Zeros([3]));
        var runningMean = new Variable(Tensor.Zeros([3]), trainable: false);
        var runningVar = new Variable(Tensor.Ones([3]), trainable: false);
        var dy = TestData.Uniform(random, [6, 3]);
        using var tape = new GradientTape();
        var y = Ops.BatchNorm(x, runningMean, runningVar, gamma, beta, training: true);
        var grads = tape.Gradient(y, [gamma, beta, runningMean, runningVar], dy);
        var (mean, variance) = Moments(x);
        var xhat = Normalize(x, mean, variance, null, null, 1e-5);
        var d = dy.ToArray();
        var expectedGamma = new double[3];
        var expectedBeta = new double[3];
        for (int i = 0; i < d.Length; i++)
        {
            expectedGamma[i % 3] += d[i] * xhat[i];
            expectedBeta[i % 3] += d[i];
        }
        AssertClose(expectedGamma, grads[0]!, 1e-5, "dγ = Σ dy·x̂");
        AssertClose(expectedBeta, grads[1]!, 1e-5, "dβ = Σ dy");
        Assert.IsNull(grads[2], "running statistics are not differentiable sources");
        Assert.IsNull(grads[3]);
    }

    // ---- Validation ----------------------------------------------------------------------------------------------

    private static readonly Tensor X = Tensor.FromArray([1, 2, 3, 4], [2, 2]);

    private static Variable Stat(params float[] v) => new(Tensor.FromArray(v), trainable: false);

    [TestMethod]
    [DataRow(-0.1f)]
    [DataRow(1.1f)]
    [DataRow(float.NaN)]
    [DataRow(float.PositiveInfinity)]
    public void Momentum_OutsideZeroOne_Throws(float momentum)
    {
        var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => Ops.BatchNorm(X, Stat(0, 0), Stat(1, 1), training: true, momentum: momentum));
        Assert.AreEqual("momentum", e.ParamName);
    }

    [TestMethod]
    [DataRow(0f)]
    [DataRow(-1e-5f)]
    [DataRow(1.5f)]
    [DataRow(float.NaN)]
    public void Epsilon_OutsideZeroOne_Throws(float epsilon)
    {
        var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => Ops.BatchNorm(X, Stat(0, 0), Stat(1, 1), epsilon: epsilon));
        Assert.AreEqual("epsilon", e.ParamName);
    }

    [TestMethod]
    public void Epsilon_One_IsAccepted()
    {
        var y = Ops.BatchNorm(X, Stat(0, 0), Stat(0, 0), epsilon: 1f);
        CollectionAssert.AreEqual(X.ToArray(), y.ToArray());
    }

    [TestMethod]
    public void X_OfRankBelowTwo_Throws()
    {
        Assert.AreEqual("x", Assert.ThrowsExactly<ArgumentException>(() => Ops.BatchNorm(Tensor.FromArray([1f, 2f]), Stat(0, 0), Stat(1, 1))).ParamName);
        Assert.AreEqual("x", Assert.ThrowsExactly<ArgumentException>(() => Ops.BatchNorm(Tensor.Scalar(1f), Stat(0), Stat(1), training: true)).ParamName);
    }

    [TestMethod]
    public void Parameters_OfWrongShape_Throw()
    {
        Assert.AreEqual("weight", Assert.ThrowsExactly<ArgumentException>(() => Ops.BatchNorm(X, Stat(0, 0), Stat(1, 1), Tensor.Ones([3]))).ParamName);
        Assert.AreEqual("weight", Assert.ThrowsExactly<ArgumentException>(() => Ops.BatchNorm(X, Stat(0, 0), Stat(1, 1), Tensor.Ones([1, 2]))).ParamName);
        Assert.AreEqual("weight", Assert.ThrowsExactly<ArgumentException>(() => Ops.BatchNorm(X, Stat(0, 0), Stat(1, 1), new Variable(Tensor.Ones([1])), training: true)).ParamName);
        Assert.AreEqual("bias", Assert.ThrowsExactly<ArgumentException>(() => Ops.BatchNorm(X, Stat(0, 0), Stat(1, 1), bias: Tensor.Zeros([4]))).ParamName);
        Assert.AreEqual("runningMean", Assert.ThrowsExactly<ArgumentException>(() => Ops.BatchNorm(X, Stat(0, 0, 0), Stat(1, 1))).ParamName);
        Assert.AreEqual("runningVar", Assert.ThrowsExactly<ArgumentException>(() => Ops.BatchNorm(X, Stat(0, 0), Stat(1), training: true)).ParamName);
    }

    [TestMethod]
    public void NullArguments_Throw()
    {
        Assert.AreEqual("x", Assert.ThrowsExactly<ArgumentNullException>(() => Ops.BatchNorm(null!, Stat(0), Stat(1))).ParamName);
        Assert.AreEqual("runningMean", Assert.ThrowsExactly<ArgumentNullException>(() => Ops.BatchNorm(X, null!, Stat(1, 1))).ParamName);
        Assert.AreEqual("runningVar", Assert.ThrowsExactly<ArgumentNullException>(() => Ops.BatchNorm(X, Stat(0, 0), null!)).ParamName);
    }

    [TestMethod]
    public void RejectedCall_LeavesRunningStatsUnchanged()
    {
        var runningMean = Stat(0.5f, 1.5f);
        var runningVar = Stat(0.1f, 0.2f);
        Assert.ThrowsExactly<ArgumentException>(() => Ops.BatchNorm(X, runningMean, runningVar, bias: Tensor.Zeros([3]), training: true));
        CollectionAssert.AreEqual(new[] { 0.5f, 1.5f }, runningMean.Value.ToArray());
        CollectionAssert.AreEqual(new[] { 0.1f, 0.2f }, runningVar.Value.ToArray());
    }
}
