using TfSyncBN.Distribute;
using TfSyncBN.Keras;
using TfSyncBN.Tensors;
using TfSyncBN.Tests.TestUtil;

namespace TfSyncBN.Tests.Keras;

/// <summary>
/// Batch normalization fused with a following ReLU: the fused op gives bit for bit the output, input gradient, γ/β
/// gradients and moving statistics of the layer followed by <see cref="Tensor.Relu"/>, for BatchNormalization and
/// SyncBatchNormalization (still one collective per pass), and Sequential models run the pair as one op.
/// </summary>
[TestClass]
public sealed class BatchNormReluFusionTests
{
    public static IEnumerable<object[]> Cases =>
        from format in new[] { "NHWC", "NCHW" }
        from channels in new[] { 3, 16, 19 }
        from replicas in new[] { 1, 3 }
        from training in new[] { true, false }
        select new object[] { format, channels, replicas, training };

    [TestMethod]
    [DynamicData(nameof(Cases))]
    public void FusedOp_EqualsBatchNormThenRelu_Bitwise(string format, int channels, int replicas, bool training) =>
        Compare(format, channels, replicas, training, n: 10, h: 5, w: 7);

    [TestMethod]
    public void FusedOp_LargeBatchOnSeveralThreads_EqualsBatchNormThenRelu_Bitwise()
    {
        Compare("NHWC", 64, 1, training: true, n: 64, h: 16, w: 16);
        Compare("NCHW", 16, 1, training: true, n: 64, h: 16, w: 16);
    }

    private static void Compare(string format, int channels, int replicas, bool training, int n, int h, int w)
    {
        var rng = new Random(TestData.Seed + channels * 7 + replicas);
        int C = channels;
        int[] shape = format == "NHWC" ? [n, h, w, C] : [n, C, h, w];
        int axis = format == "NHWC" ? 3 : 1;
        int size = shape.Aggregate(1, (a, b) => a * b);
        var x = Tensor.FromArray(TestData.Normal(rng, size, 0.3, 1.5), shape);
        var dy = Tensor.FromArray(TestData.Normal(rng, size), shape);
        var gamma = TestData.Normal(rng, C, 1, 0.5);
        var beta = TestData.Normal(rng, C, 0, 0.5);
        var movingMean = TestData.Normal(rng, C, 0.2, 0.3);
        var movingVariance = TestData.Normal(rng, C, 2, 0.3);
        BatchNormalization Make() => new(axis: [axis], momentum: 0.9f, gammaInitializer: new FixedInitializer(gamma),
            betaInitializer: new FixedInitializer(beta), movingMeanInitializer: new FixedInitializer(movingMean),
            movingVarianceInitializer: new FixedInitializer(movingVariance), synchronized: replicas > 1);
        string label = $"{format}, C={C}, R={replicas}, training={training}, [{string.Join(",", shape)}]";

        var fused = Run(Make, fuse: true);
        var unfused = Run(Make, fuse: false);
        Assert.AreEqual(unfused["ops"][0] - 1, fused["ops"][0], $"the fused op records one operation instead of two ({label})");
        fused.Remove("ops");
        foreach (var name in fused.Keys)
            AssertBitwise(unfused[name], fused[name], $"{name} ({label})");
        Assert.IsTrue(fused["y"].Any(v => v > 0) && fused["y"].Any(v => v == 0), $"the ReLU both passes and clamps ({label})");
        // Negative control: without the ReLU the output differs.
        Assert.IsTrue(fused["y"].Zip(RunPlain(Make)).Any(p => p.First != p.Second), $"BN alone differs ({label})");

        Dictionary<string, float[]> Run(Func<BatchNormalization> make, bool fuse)
        {
            if (replicas == 1) return Step(make(), x, dy, fuse, training);
            using var strategy = new MirroredStrategy(replicas, TimeSpan.FromSeconds(30));
            BatchNormalization layer;
            using (strategy.Scope()) layer = make();
            int[] sizes = [n / 2, 0, n - n / 2];
            var starts = TestData.Offsets(sizes);
            var per = strategy.Run(ctx =>
            {
                long before = ctx.Group!.CollectivesCompleted;
                var r = Step(layer, x.Slice(0, starts[ctx.ReplicaId], sizes[ctx.ReplicaId]), dy.Slice(0, starts[ctx.ReplicaId], sizes[ctx.ReplicaId]), fuse, training);
                r["collectives"] = [ctx.Group!.CollectivesCompleted - before];
                return r;
            });
            foreach (var r in per.Values)
                Assert.AreEqual(training ? 2f : 0f, r["collectives"][0], $"collectives per forward + backward (fuse={fuse}, {label})");
            return new Dictionary<string, float[]>
            {
                ["y"] = Tensor.Concat(per.Values.Select(p => Tensor.FromArray(p["y"], [-1])).ToArray(), 0).ToArray(),
                ["dx"] = Tensor.Concat(per.Values.Select(p => Tensor.FromArray(p["dx"], [-1])).ToArray(), 0).ToArray(),
                ["dgamma"] = per.Values.Select(p => Tensor.FromArray(p["dgamma"])).Aggregate((a, b) => a + b).ToArray(),
                ["dbeta"] = per.Values.Select(p => Tensor.FromArray(p["dbeta"])).Aggregate((a, b) => a + b).ToArray(),
                ["moving mean"] = per.Values[0]["moving mean"],
                ["moving variance"] = per.Values[0]["moving variance"],
                ["ops"] = per.Values[0]["ops"],
            };
        }

        float[] RunPlain(Func<BatchNormalization> make)
        {
            if (replicas == 1) return make().Call(x, training: training).ToArray();
            using var strategy = new MirroredStrategy(replicas, TimeSpan.FromSeconds(30));
            BatchNormalization layer;
            using (strategy.Scope()) layer = make();
            int[] sizes = [n / 2, 0, n - n / 2];
            var starts = TestData.Offsets(sizes);
            var per = strategy.Run(ctx => layer.Call(x.Slice(0, starts[ctx.ReplicaId], sizes[ctx.ReplicaId]), training: training));
            return Tensor.Concat(per.Values.ToArray(), 0).ToArray();
        }
    }

    private static Dictionary<string, float[]> Step(BatchNormalization layer, Tensor x, Tensor dy, bool fuse, bool training) =>
        Step(layer, x, dy, () => fuse ? layer.CallWithRelu(x, training) : layer.Call(x, training: training).Relu());

    /// <summary>
    /// Runs <paramref name="forward"/> (a call of <paramref name="layer"/> on <paramref name="x"/>, then whatever follows
    /// it) on a tape and returns its output, the gradients of x, γ and β for <paramref name="dy"/>, the layer's moving
    /// statistics, and the number of recorded ops ("ops").
    /// </summary>
    internal static Dictionary<string, float[]> Step(BatchNormalization layer, Tensor x, Tensor dy, Func<Tensor> forward)
    {
        using var tape = new GradientTape();
        tape.Watch(x);
        var y = forward();
        int ops = tape.RecordedOps;
        var g = tape.Gradient(y, [x, layer.Gamma!, layer.Beta!], dy);
        return new Dictionary<string, float[]>
        {
            ["y"] = y.ToArray(), ["dx"] = g[0]!.ToArray(), ["dgamma"] = g[1]!.ToArray(), ["dbeta"] = g[2]!.ToArray(),
            ["moving mean"] = layer.MovingMean!.Value.ToArray(), ["moving variance"] = layer.MovingVariance!.Value.ToArray(),
            ["ops"] = [ops],
        };
    }

    internal static void AssertBitwise(float[] expected, float[] actual, string what)
    {
        Assert.AreEqual(expected.Length, actual.Length, $"{what}: length");
        for (int i = 0; i < expected.Length; i++)
            if (BitConverter.SingleToInt32Bits(expected[i]) != BitConverter.SingleToInt32Bits(actual[i]))
                Assert.Fail($"{what}: element {i} is {actual[i]:R} fused, {expected[i]:R} unfused");
    }

    public static IEnumerable<object[]> Activations =>
    [
        ["ReLU()", true],
        ["Activation(relu)", true],
        ["ReLU(maxValue: 6)", false],
        ["Activation(tanh)", false],
    ];

    [TestMethod]
    [DynamicData(nameof(Activations))]
    public void Sequential_RunsBatchNormAndPlainReluAsOneOp_WithTheUnfusedResults(string activation, bool fuses)
    {
        var rng = new Random(TestData.Seed);
        Layer Act() => activation switch
        {
            "ReLU()" => new ReLU(),
            "Activation(relu)" => new Activation("relu"),
            "ReLU(maxValue: 6)" => new ReLU(maxValue: 6),
            _ => new Activation("tanh"),
        };
        // The convolution has an activation, so inference does not fold the batch normalization into it.
        var model = new Sequential([new Conv2D(6, [3, 3], activation: "tanh", useBias: false), new SyncBatchNormalization(), Act(), new Flatten(), new Dense(3)],
            inputShape: [7, 7, 2]);
        var x = TestData.Uniform(rng, [5, 7, 7, 2]);
        var dy = TestData.Uniform(rng, [5, 3]);
        foreach (bool training in new[] { true, false })
        {
            var (yModel, gModel, opsModel) = Grads(() => model.Call(x, training));
            var (yLayers, gLayers, opsLayers) = Grads(() => model.Layers.Aggregate(x, (t, l) => l.Call(t, training)));
            AssertBitwise(yLayers, yModel, $"output ({activation}, training={training})");
            for (int i = 0; i < gLayers.Count; i++)
                AssertBitwise(gLayers[i], gModel[i], $"gradient of {model.TrainableWeights[i].Name} ({activation}, training={training})");
            Assert.AreEqual(opsLayers - (fuses ? 1 : 0), opsModel, $"recorded ops ({activation}, training={training})");
        }

        (float[] Y, List<float[]> Grads, int Ops) Grads(Func<Tensor> forward)
        {
            using var tape = new GradientTape();
            var y = forward();
            int ops = tape.RecordedOps;
            var grads = tape.Gradient(y, model.TrainableWeights.Cast<ITensorLike>().ToArray(), dy);
            return (y.ToArray(), grads.Select(g => g!.ToArray()).ToList(), ops);
        }
    }
}
