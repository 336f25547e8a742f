using TfSyncBN.Distribute;
using TfSyncBN.Keras;
using TfSyncBN.Tensors;
using TDevice = TfSyncBN.Tensors.Device;

namespace TfSyncBN.Gpu.Tests;

/// <summary>
/// SyncBatchNormalization with each replica on its own ILGPU CPU accelerator (<c>ilgpu-cpu:1..3</c>) equals
/// BatchNormalization on the whole batch on the host: outputs, moving statistics, input gradients and the
/// replica-summed γ/β gradients, with an uneven split and an empty replica.
/// </summary>
/// <remarks>
/// Tolerance 2e-5 absolute + relative on values of order 1 (γ/β gradients, sums over up to 33 elements: 1e-4). The device
/// computes the same float64 statistics from the same float32 inputs, but its moments take their float32 shift from
/// a first Σx pass where the host takes it from the first elements, and its sums run in float64 where the host runs
/// short float32 runs; the per-channel constants therefore differ in the last float32 bit or two, which moves each
/// output by a few ulp (~1e-7 relative). 2e-5 is far below the negative control's difference (&gt; 1e-2).
/// </remarks>
[TestClass]
public sealed class SyncBatchNormDeviceTests
{
    private const double Tol = 2e-5, SumTol = 1e-4;

    private sealed class Fixed(float[] values) : IInitializer
    {
        public string ClassName => "Fixed";

        public IReadOnlyDictionary<string, object?> GetConfig() => new Dictionary<string, object?> { ["values"] = values };

        public Tensor Call(IReadOnlyList<int> shape) => Tensor.FromArray(values, shape);
    }

    private static float[] Normal(Random rng, int n, double mean = 0, double std = 1) =>
        [.. Enumerable.Range(0, n).Select(_ => (float)(mean + std * Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble())))];

    private static void AssertClose(float[] actual, float[] expected, double tol, string what)
    {
        Assert.AreEqual(expected.Length, actual.Length, $"{what}: length");
        for (int i = 0; i < expected.Length; i++)
            Assert.IsTrue(Math.Abs(actual[i] - expected[i]) <= tol * (1 + Math.Abs(expected[i])), $"{what}[{i}]: {actual[i]} vs {expected[i]}");
    }

    private static double MaxAbsDiff(float[] a, float[] b) => a.Zip(b, (x, y) => Math.Abs((double)x - y)).Max();

    private sealed record Step(float[] Y, float[] Dx, float[] DGamma, float[] DBeta, TDevice YDevice, TDevice DxDevice, TDevice DGammaDevice);

    private static Step RunOne(BatchNormalization layer, Tensor x, Tensor dy, bool relu = false)
    {
        using var tape = new GradientTape();
        tape.Watch(x);
        var y = layer.Call(x, training: true);
        var g = tape.Gradient(y, [x, layer.Gamma!, layer.Beta!], dy);
        return new Step(y.ToArray(), g[0]!.ToArray(), g[1]!.ToArray(), g[2]!.ToArray(), y.Device, g[0]!.Device, g[1]!.Device);
    }

    [TestMethod]
    [DataRow(2, new[] { 5, 3 }, -1)]
    [DataRow(3, new[] { 4, 0, 4 }, -1)]
    [DataRow(3, new[] { 2, 5, 0 }, 1)]
    public void SyncBatchNormOnDeviceReplicas_EqualsHostBatchNormOnTheWholeBatch(int replicas, int[] sizes, int axis)
    {
        var rng = new Random(1234 + replicas + axis);
        int total = sizes.Sum(), h = 2, c = 3, row = h * c;
        int[] shape = [total, h, c];
        int channels = axis == 1 ? h : c;   // axis 1: channels first, [N, C, L]
        var gammaInit = Normal(rng, channels, 1, 0.5);
        var betaInit = Normal(rng, channels, 0, 0.5);
        BatchNormalization Make(bool sync) => new(axis: [axis], momentum: 0.8f, epsilon: 1e-3f, gammaInitializer: new Fixed(gammaInit),
            betaInitializer: new Fixed(betaInit), synchronized: sync);
        string[] names = [.. Enumerable.Range(1, replicas).Select(r => $"ilgpu-cpu:{r}")];
        using var strategy = new MirroredStrategy(devices: names, collectiveTimeout: TimeSpan.FromMinutes(2));
        var reference = Make(sync: false);
        BatchNormalization synced, local;
        using (strategy.Scope())
        {
            synced = Make(sync: true);
            local = Make(sync: false);
        }
        var starts = new int[replicas];
        for (int r = 1; r < replicas; r++) starts[r] = starts[r - 1] + sizes[r - 1];
        for (int step = 0; step < 2; step++)
        {
            var xData = Normal(rng, total * row, mean: 3, std: 2);
            var dyData = Normal(rng, total * row);
            var refStep = RunOne(reference, Tensor.FromArray(xData, shape), Tensor.FromArray(dyData, shape));
            Tensor Part(float[] data, int r) => Tensor.FromArray(data[(starts[r] * row)..((starts[r] + sizes[r]) * row)], [sizes[r], h, c]);
            var per = strategy.Run(ctx => RunOne(synced, Part(xData, ctx.ReplicaId).To(ctx.Device), Part(dyData, ctx.ReplicaId).To(ctx.Device))).Values;
            for (int r = 0; r < replicas; r++)
            {
                Assert.AreEqual(strategy.Devices[r], per[r].YDevice, "the output stays on the replica's device");
                Assert.AreEqual(strategy.Devices[r], per[r].DxDevice, "dx stays on the replica's device");
                Assert.AreEqual(strategy.Devices[r], per[r].DGammaDevice, "dgamma stays on the replica's device");
            }
            string label = $"R={replicas} [{string.Join(",", sizes)}] axis {axis} step {step}";
            AssertClose([.. per.SelectMany(p => p.Y)], refStep.Y, Tol, $"y {label}");
            AssertClose([.. per.SelectMany(p => p.Dx)], refStep.Dx, Tol, $"dx {label}");
            AssertClose([.. Enumerable.Range(0, channels).Select(k => per.Sum(p => p.DGamma[k]))], refStep.DGamma, SumTol, $"summed dgamma {label}");
            AssertClose([.. Enumerable.Range(0, channels).Select(k => per.Sum(p => p.DBeta[k]))], refStep.DBeta, SumTol, $"summed dbeta {label}");

            // Negative control: plain BN on the same device replicas normalizes each replica by its own statistics.
            var localY = strategy.Run(ctx => local.Call(Part(xData, ctx.ReplicaId).To(ctx.Device), training: true).ToArray()).Values;
            Assert.IsTrue(MaxAbsDiff([.. localY.SelectMany(v => v)], refStep.Y) > 1e-2, $"plain BN on {replicas} device replicas should differ ({label})");
        }
        foreach (var (mine, theirs, what) in new[] { (synced.MovingMean!, reference.MovingMean!, "moving mean"), (synced.MovingVariance!, reference.MovingVariance!, "moving variance") })
        {
            for (int r = 0; r < replicas; r++)
            {
                Assert.AreEqual(strategy.Devices[r], mine.Replicas[r].Device, $"{what} copy {r} lives on its device");
                AssertClose(mine.Replicas[r].ToArray(), theirs.Value.ToArray(), Tol, $"{what} copy {r}");
                CollectionAssert.AreEqual(mine.Replicas[0].ToArray(), mine.Replicas[r].ToArray(), $"{what} copies are bitwise identical");
            }
        }
    }

    [TestMethod]
    public void FusedReluAndInference_OnADeviceEqualTheHost()
    {
        var rng = new Random(77);
        int[] shape = [6, 4];
        var xData = Normal(rng, 24, 0.5, 1.5);
        var dyData = Normal(rng, 24);
        var gamma = Normal(rng, 4, 1, 0.3);
        var beta = Normal(rng, 4, 0, 0.3);
        var dev = TDevice.Parse("ilgpu-cpu:1");
        Backends.Open(dev);
        foreach (bool relu in new[] { false, true })
        {
            foreach (bool training in new[] { true, false })
            {
                float[] Run(TDevice d, out float[] dx, out float[] dg, out float[] db)
                {
                    var x = Tensor.FromArray(xData, shape, d);
                    var g = Tensor.FromArray(gamma, [4], d);
                    var b = Tensor.FromArray(beta, [4], d);
                    using var tape = new GradientTape();
                    tape.Watch(x);
                    tape.Watch(g);
                    tape.Watch(b);
                    var layout = new Tensors.Kernels.ChannelLayout(6, 4, 1);
                    var y = training
                        ? BatchNormCore.Training(x, layout, g, b, 1e-3, null, out _, epilogue: relu ? BatchNormEpilogue.WithRelu : BatchNormEpilogue.None)
                        : BatchNormCore.Inference(x, layout, Tensor.FromArray([0.1f, -0.2f, 0.3f, 0f], [4], d), Tensor.FromArray([1f, 2f, 0.5f, 1.5f], [4], d), g, b, 1e-3, relu ? BatchNormEpilogue.WithRelu : BatchNormEpilogue.None);
                    var grads = tape.Gradient(y, [x, g, b], Tensor.FromArray(dyData, shape, d));
                    Assert.AreEqual(d, y.Device);
                    dx = grads[0]!.ToArray();
                    dg = grads[1]!.ToArray();
                    db = grads[2]!.ToArray();
                    return y.ToArray();
                }
                var yh = Run(TDevice.Cpu, out var dxh, out var dgh, out var dbh);
                var yd = Run(dev, out var dxd, out var dgd, out var dbd);
                string label = $"relu={relu} training={training}";
                AssertClose(yd, yh, Tol, $"y {label}");
                AssertClose(dxd, dxh, Tol, $"dx {label}");
                AssertClose(dgd, dgh, SumTol, $"dgamma {label}");
                AssertClose(dbd, dbh, SumTol, $"dbeta {label}");
                if (relu) Assert.IsTrue(yh.Count(v => v == 0f) > 0, "the ReLU clamps some outputs");
            }
        }
    }
}
