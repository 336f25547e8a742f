using FsCheck;
using FsCheck.Fluent;
using TfSyncBN.Distribute;
using TfSyncBN.Keras;
using TfSyncBN.Reliability.Tests.Util;
using TfSyncBN.Tensors;

namespace TfSyncBN.Reliability.Tests.Properties;

/// <summary>
/// The defining property over random cases: synchronized batch normalization over R replicas, each on its slice of the
/// batch, equals plain batch normalization on the concatenated batch on one device: outputs, input gradients, the
/// replica-summed γ/β gradients, moving statistics (identical in every bit on every replica) and inference outputs.
/// </summary>
[TestClass]
public sealed class SyncBatchNormPropertyTests
{
    public const int CaseCount = 500;
    private const double Atol = 2e-4, Rtol = 2e-4;

    private static readonly Dictionary<int, MirroredStrategy> Strategies = [];

    [ClassInitialize]
    public static void Init(TestContext _)
    {
        for (int r = 1; r <= 4; r++) Strategies[r] = new MirroredStrategy(r, TimeSpan.FromSeconds(60));
    }

    [ClassCleanup]
    public static void Cleanup()
    {
        foreach (var s in Strategies.Values) s.Dispose();
    }

    public sealed record BnCase(int[] SampleShape, int[] Axis, int[] Split, bool Center, bool Scale, float Momentum,
        float Epsilon, MomentumConvention Convention, bool Unbiased, bool TrackRunningStats, bool? UseBatchStatistics,
        int Steps, int DataSeed)
    {
        public int Replicas => Split.Length;

        public override string ToString() =>
            $"sample shape [{string.Join(",", SampleShape)}], axis [{string.Join(",", Axis)}], R={Replicas}, split [{string.Join(",", Split)}], " +
            $"center={Center}, scale={Scale}, momentum={Momentum:R}, epsilon={Epsilon:R}, convention={Convention}, unbiased={Unbiased}, " +
            $"trackRunningStats={TrackRunningStats}, useBatchStatistics={UseBatchStatistics?.ToString() ?? "null"}, steps={Steps}, data seed={DataSeed}";
    }

    public static readonly Gen<BnCase> CaseGen =
        from rank in Gen.Choose(1, 4)
        from dims in Gen.ArrayOf(Gen.Choose(1, 4), rank)
        from axisMask in Gen.Choose(1, (1 << rank) - 1)
        from negativeAxes in Gen.Elements(false, true)
        from replicas in Gen.Choose(1, 4)
        from total in Gen.Frequency((1, Gen.Constant(0)), (12, Gen.Choose(1, 9)))
        from cuts in Gen.ArrayOf(Gen.Choose(0, total), replicas - 1)
        from center in Gen.Elements(true, false)
        from scale in Gen.Elements(true, false)
        from momentum in Gen.Choose(0, 100)
        from epsExp in Gen.Choose(2, 4)
        from convention in Gen.Elements(MomentumConvention.Keras, MomentumConvention.PyTorch, MomentumConvention.CumulativeAverage)
        from unbiased in Gen.Elements(false, true)
        from track in Gen.Frequency((4, Gen.Constant(true)), (1, Gen.Constant(false)))
        from useBatch in Gen.Elements<bool?>(null, null, true, false)
        from steps in Gen.Choose(1, 2)
        from dataSeed in Gen.Choose(0, int.MaxValue - 1)
        select new BnCase(
            dims,
            Enumerable.Range(1, rank).Where(a => (axisMask & (1 << (a - 1))) != 0).Select(a => negativeAxes ? a - (rank + 1) : a).ToArray(),
            SplitOf(total, cuts),
            center, scale, momentum / 100f, MathF.Pow(10, -epsExp), convention, unbiased, track,
            useBatch == false && !track ? null : useBatch, steps, dataSeed);

    private static int[] SplitOf(int total, int[] cuts)
    {
        var points = cuts.Order().Prepend(0).Append(total).ToArray();
        return Enumerable.Range(0, points.Length - 1).Select(i => points[i + 1] - points[i]).ToArray();
    }

    [TestMethod]
    [Timeout(120_000, CooperativeCancellation = true)]
    public void SyncBatchNorm_EqualsBatchNormOnConcatenatedBatch_RandomCases()
    {
        int run = PropertyRunner.Check("SyncBN == BN on the concatenated batch", CaseGen, CaseCount, (c, _) => CheckCase(c));
        Assert.IsTrue(run >= 1);
    }

    private static BatchNormalization Make(BnCase c, float[] gamma, float[] beta, bool sync, int[][]? groups = null) => new(
        axis: c.Axis, momentum: c.Momentum, epsilon: c.Epsilon, center: c.Center, scale: c.Scale,
        gammaInitializer: new FixedInit(gamma), betaInitializer: new FixedInit(beta), synchronized: sync,
        trackRunningStats: c.TrackRunningStats, useBatchStatistics: c.UseBatchStatistics, unbiasedMovingVariance: c.Unbiased,
        momentumConvention: c.Convention, processGroups: groups?.Select(g => (IReadOnlyList<int>)g).ToArray());

    public const int GroupCaseCount = 100;

    /// <summary>A case with R ≥ 2 and a random partition of the replicas into process groups.</summary>
    public static readonly Gen<GroupCase> GroupCaseGen =
        from c in CaseGen.Where(c => c.Replicas >= 2)
        from labels in Gen.ArrayOf(Gen.Choose(0, c.Replicas - 1), c.Replicas)
        select new GroupCase(c, labels.Select((g, r) => (g, r)).GroupBy(p => p.g).Select(grp => grp.Select(p => p.r).ToArray()).ToArray());

    public sealed record GroupCase(BnCase Case, int[][] Groups)
    {
        public override string ToString() => $"{Case}, process groups [{string.Join(", ", Groups.Select(g => "[" + string.Join(",", g) + "]"))}]";
    }

    /// <summary>With process groups, each group synchronizes alone: every replica equals plain BN on its group's
    /// concatenated batch, and its moving statistics equal that reference's (identical across the group).</summary>
    [TestMethod]
    [Timeout(120_000, CooperativeCancellation = true)]
    public void SyncBatchNorm_WithProcessGroups_EqualsBatchNormPerGroup_RandomCases()
    {
        PropertyRunner.Check("SyncBN with process groups == BN per group", GroupCaseGen, GroupCaseCount, (gc, _) => CheckGroupCase(gc));
    }

    public static void CheckGroupCase(GroupCase gc)
    {
        {
            var (c, groups) = (gc.Case, gc.Groups);
            var rng = new System.Random(c.DataSeed);
            int total = c.Split.Sum();
            int[] shape = [total, .. c.SampleShape];
            var axes = c.Axis.Select(a => a < 0 ? a + shape.Length : a).ToArray();
            int channels = axes.Aggregate(1, (p, a) => p * shape[a]);
            var gamma = Close.Normal(rng, channels, 1, 0.5);
            var beta = Close.Normal(rng, channels, 0, 0.5);
            var strategy = Strategies[c.Replicas];
            BatchNormalization synced;
            using (strategy.Scope()) synced = Make(c, gamma, beta, sync: true, groups);
            var references = groups.Select(_ => Make(c, gamma, beta, sync: false)).ToArray();
            var starts = new int[c.Replicas];
            for (int r = 1; r < c.Replicas; r++) starts[r] = starts[r - 1] + c.Split[r - 1];
            int size = shape.Aggregate(1, (p, d) => p * d);
            // Every replica's copy of the moving mean after each step, for the failure message: it tells a copy
            // overwritten at one step from statistics taken from the wrong group at every step.
            var history = new List<string>();
            for (int step = 0; step < c.Steps; step++)
            {
                var x = Tensor.FromArray(Close.Normal(rng, size, 2, 3), shape);
                var dy = Tensor.FromArray(Close.Normal(rng, size), shape);
                Tensor Part(Tensor t, int r) => t.Slice(0, starts[r], c.Split[r]);
                var parts = strategy.Run(ctx => RunOne(synced, Part(x, ctx.ReplicaId), Part(dy, ctx.ReplicaId)));
                if (synced.MovingMean is { } mm) history.Add($"after step {step}: {Copies(mm)}");
                for (int g = 0; g < groups.Length; g++)
                {
                    var members = groups[g];
                    var expected = RunOne(references[g], Tensor.Concat(members.Select(r => Part(x, r)).ToArray(), 0), Tensor.Concat(members.Select(r => Part(dy, r)).ToArray(), 0));
                    string at = $"group {g} [{string.Join(",", members)}], step {step}";
                    Close.Assert(Tensor.Concat(members.Select(r => parts[r].Y).ToArray(), 0).AsSpan(), expected.Y.AsSpan(), Atol, Rtol, $"y, {at}");
                    Close.Assert(Tensor.Concat(members.Select(r => parts[r].Dx).ToArray(), 0).AsSpan(), expected.Dx.AsSpan(), Atol, Rtol, $"dx, {at}");
                    for (int k = 0; k < expected.Params.Length; k++)
                        Close.Assert(members.Select(r => parts[r].Params[k]).Aggregate((a, b) => a + b).AsSpan(), expected.Params[k].AsSpan(), 1e-3, Rtol, $"summed parameter gradient {k}, {at}");
                }
            }
            if (!c.TrackRunningStats) return;
            for (int g = 0; g < groups.Length; g++)
            {
                foreach (int r in groups[g])
                {
                    Close.Bitwise(synced.MovingMean!.Replicas[r].AsSpan(), synced.MovingMean!.Replicas[groups[g][0]].AsSpan(), $"moving mean identical within group {g}");
                    // The message lists every replica's copy after each step, to tell a leak between groups from a wrong statistic.
                    Close.Assert(synced.MovingMean!.Replicas[r].AsSpan(), references[g].MovingMean!.Value.AsSpan(), Atol, Rtol,
                        $"moving mean of replica {r}, group {g} (every replica's copy {string.Join("; ", history)})");
                    Close.Assert(synced.MovingVariance!.Replicas[r].AsSpan(), references[g].MovingVariance!.Value.AsSpan(), Atol, Rtol, $"moving variance of replica {r}, group {g}");
                }
            }
        }
    }

    private static string Copies(Variable v) =>
        string.Join(" | ", v.Replicas.Select(t => string.Join(",", t.ToArray().Select(e => e.ToString("R")))));

    public static void CheckCase(BnCase c)
    {
        var rng = new System.Random(c.DataSeed);
        int total = c.Split.Sum();
        int[] shape = [total, .. c.SampleShape];
        int rank = shape.Length;
        var axes = c.Axis.Select(a => a < 0 ? a + rank : a).ToArray();
        int channels = axes.Aggregate(1, (p, a) => p * shape[a]);
        var gamma = Close.Normal(rng, channels, 1, 0.5);
        var beta = Close.Normal(rng, channels, 0, 0.5);

        var reference = Make(c, gamma, beta, sync: false);
        var strategy = Strategies[c.Replicas];
        BatchNormalization synced;
        using (strategy.Scope()) synced = Make(c, gamma, beta, sync: true);

        var starts = new int[c.Replicas];
        for (int r = 1; r < c.Replicas; r++) starts[r] = starts[r - 1] + c.Split[r - 1];
        int size = shape.Aggregate(1, (p, d) => p * d);
        Tensor x = Tensor.Zeros(shape);
        for (int step = 0; step < c.Steps; step++)
        {
            x = Tensor.FromArray(Close.Normal(rng, size, 2, 3), shape);
            var dy = Tensor.FromArray(Close.Normal(rng, size), shape);
            var expected = RunOne(reference, x, dy);
            var parts = strategy.Run(ctx =>
                RunOne(synced, x.Slice(0, starts[ctx.ReplicaId], c.Split[ctx.ReplicaId]), dy.Slice(0, starts[ctx.ReplicaId], c.Split[ctx.ReplicaId])));
            string at = $"step {step}";
            for (int r = 0; r < c.Replicas; r++)
                CollectionAssert.AreEqual(new[] { c.Split[r] }.Concat(c.SampleShape).ToArray(), parts[r].Y.Shape.ToArray(), $"replica {r} output shape, {at}");
            Close.Assert(Tensor.Concat(parts.Select(p => p.Y).ToArray(), 0).AsSpan(), expected.Y.AsSpan(), Atol, Rtol, $"y, {at}");
            Close.Assert(Tensor.Concat(parts.Select(p => p.Dx).ToArray(), 0).AsSpan(), expected.Dx.AsSpan(), Atol, Rtol, $"dx, {at}");
            for (int k = 0; k < expected.Params.Length; k++)
            {
                var sum = parts.Select(p => p.Params[k]).Aggregate((a, b) => a + b);
                Close.Assert(sum.AsSpan(), expected.Params[k].AsSpan(), 1e-3, Rtol, $"summed gradient of {(c.Scale && k == 0 ? "gamma" : "beta")}, {at}");
            }
        }

        if (c.TrackRunningStats)
        {
            foreach (var (mine, theirs, what) in new[] { (synced.MovingMean!, reference.MovingMean!, "moving mean"), (synced.MovingVariance!, reference.MovingVariance!, "moving variance") })
            {
                foreach (var copy in mine.Replicas)
                {
                    Close.Bitwise(copy.AsSpan(), mine.Replicas[0].AsSpan(), $"{what}: every replica's copy is identical");
                    Close.Assert(copy.AsSpan(), theirs.Value.AsSpan(), Atol, Rtol, what);
                }
            }
        }

        // Inference on the whole batch (moving statistics unless useBatchStatistics says otherwise).
        if (total > 0)
        {
            var inferred = strategy.Run(ctx => synced.Call(x.Slice(0, starts[ctx.ReplicaId], c.Split[ctx.ReplicaId]), training: false));
            Close.Assert(Tensor.Concat(inferred.Values.ToArray(), 0).AsSpan(), reference.Call(x, training: false).AsSpan(), Atol, Rtol, "inference output");
        }
    }

    public sealed record StepResult(Tensor Y, Tensor Dx, Tensor[] Params);

    private static StepResult RunOne(BatchNormalization layer, Tensor x, Tensor dy)
    {
        using var tape = new GradientTape();
        tape.Watch(x);
        var y = layer.Call(x, training: true);
        var sources = new List<Variable>();
        if (layer.Gamma is { } g) sources.Add(g);
        if (layer.Beta is { } b) sources.Add(b);
        var grads = tape.Gradient(y, [x, .. sources.Cast<ITensorLike>()], dy);
        var ps = new Tensor[sources.Count];
        for (int i = 0; i < ps.Length; i++) ps[i] = grads[i + 1] ?? Tensor.Zeros(sources[i].Shape);
        return new StepResult(y, grads[0] ?? Tensor.Zeros(x.Shape), ps);
    }
}
