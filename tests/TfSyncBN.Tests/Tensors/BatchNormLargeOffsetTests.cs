using TfSyncBN.Distribute;
using TfSyncBN.Keras;
using TfSyncBN.Tensors;
using TfSyncBN.Tests.Keras;
using TfSyncBN.Tests.TestUtil;

namespace TfSyncBN.Tests.Tensors;

/// <summary>
/// Channels whose mean is up to 1e5 times their standard deviation: y, dx, dγ and dβ of BatchNormalization and
/// SyncBatchNormalization stay within 1e-5 of the float64 oracle, channels last and channels first.
/// </summary>
/// <remarks>
/// The error measure is normwise per tensor: <c>max|got − ref| / max|ref|</c>. A per-element relative error is
/// meaningless here, because y and dx cross zero (an element near 0 has an arbitrarily large relative error with an
/// absolute error of one float32 rounding of its neighbours' size); the normwise measure is the per-element error
/// scaled by the tensor's own magnitude, which is what float32 can promise. The float32 rounding of the mean alone
/// (half an ulp of 1e5·σ, about 3.7e-3·σ) shifts every normalized value by ~4e-3 and fails this bound, while
/// float32 arithmetic on centred values is ~1e-7.
/// </remarks>
[TestClass]
public sealed class BatchNormLargeOffsetTests
{
    private const double Bound = 1e-5;

    public static IEnumerable<object[]> Cases =>
        from ratio in new[] { 0.0, 1e3, 1e4, 1e5 }
        from format in new[] { "NHWC", "NCHW" }
        from channels in new[] { 16, 19 }
        from replicas in new[] { 1, 3 }
        select new object[] { ratio, format, channels, replicas };

    [TestMethod]
    [DynamicData(nameof(Cases))]
    public void LargeMeanOverStd_MatchesFloat64Oracle(double ratio, string format, int channels, int replicas)
    {
        var errors = Run(ratio, format, channels, replicas);
        Console.WriteLine(string.Join(", ", errors.Select(e => $"{e.Name} {e.Error:E2}")));
        foreach (var (name, err) in errors)
            Assert.IsTrue(err <= Bound, $"{name}: normwise error {err:E2} > {Bound:E0} (mean/std {ratio:E0}, {format}, C={channels}, R={replicas})");
    }

    /// <summary>The normwise errors of y, dx, dγ, dβ for one configuration (used by the test and by its break check).</summary>
    internal static IReadOnlyList<(string Name, double Error)> Run(double ratio, string format, int channels, int replicas)
    {
        var rng = new Random(TestData.Seed + channels + (int)Math.Log10(ratio + 1));
        int n = 12, h = 5, w = 5, C = channels;
        int[] shape = format == "NHWC" ? [n, h, w, C] : [n, C, h, w];
        int[] axes = format == "NHWC" ? [3] : [1];
        var ch = ReferenceBatchNorm.ChannelOf(shape, axes, out _);
        var std = Enumerable.Range(0, C).Select(_ => 0.5 + 1.5 * rng.NextDouble()).ToArray();
        var mean = Enumerable.Range(0, C).Select(c => (c % 2 == 0 ? 1 : -1) * ratio * std[c] * (0.5 + rng.NextDouble())).ToArray();
        var normal = TestData.Normal(rng, ch.Length);
        var xData = new float[ch.Length];
        for (int e = 0; e < xData.Length; e++) xData[e] = (float)(mean[ch[e]] + std[ch[e]] * normal[e]);
        var dyData = TestData.Normal(rng, ch.Length);
        var gammaInit = TestData.Normal(rng, C, 1, 0.5);
        var betaInit = TestData.Normal(rng, C, 0, 0.5);
        var oracle = ReferenceBatchNorm.Training(xData, shape, axes, gammaInit, betaInit, 1e-3, dyData);

        var x = Tensor.FromArray(xData, shape);
        var dy = Tensor.FromArray(dyData, shape);
        BatchNormalization Make(bool sync) => new(axis: [axes[0]], epsilon: 1e-3f, gammaInitializer: new FixedInitializer(gammaInit),
            betaInitializer: new FixedInitializer(betaInit), synchronized: sync);

        float[] y, dx, dGamma, dBeta;
        if (replicas == 1)
        {
            var r = SyncBatchNormalizationEquivalenceTests.RunOne(Make(false), x, dy);
            (y, dx, dGamma, dBeta) = (r.Y.ToArray(), r.Dx.ToArray(), r.DGamma.ToArray(), r.DBeta.ToArray());
        }
        else
        {
            using var strategy = new MirroredStrategy(replicas, TimeSpan.FromSeconds(30));
            BatchNormalization layer;
            using (strategy.Scope()) layer = Make(true);
            var sizes = TestData.UnevenSplit(rng, n, replicas, withEmpty: false);
            var starts = TestData.Offsets(sizes);
            var per = strategy.Run(ctx => SyncBatchNormalizationEquivalenceTests.RunOne(layer, x.Slice(0, starts[ctx.ReplicaId], sizes[ctx.ReplicaId]),
                dy.Slice(0, starts[ctx.ReplicaId], sizes[ctx.ReplicaId])));
            y = Tensor.Concat(per.Select(p => p.Y).ToArray(), 0).ToArray();
            dx = Tensor.Concat(per.Select(p => p.Dx).ToArray(), 0).ToArray();
            dGamma = per.Select(p => p.DGamma).Aggregate((a, b) => a + b).ToArray();
            dBeta = per.Select(p => p.DBeta).Aggregate((a, b) => a + b).ToArray();
        }
        return [("y", Normwise(y, oracle.Y)), ("dx", Normwise(dx, oracle.Dx)), ("dgamma", Normwise(dGamma, oracle.DGamma)), ("dbeta", Normwise(dBeta, oracle.DBeta))];
    }

    /// <summary><c>max|got − ref| / max|ref|</c>.</summary>
    internal static double Normwise(float[] got, double[] reference)
    {
        Assert.AreEqual(reference.Length, got.Length);
        double err = 0, scale = 0;
        for (int i = 0; i < got.Length; i++)
        {
            err = Math.Max(err, Math.Abs(got[i] - reference[i]));
            scale = Math.Max(scale, Math.Abs(reference[i]));
        }
        return err / scale;
    }
}
