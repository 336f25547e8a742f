using TfSyncBN.Keras;
using TfSyncBN.Tensors;
using TfSyncBN.Tensors.Kernels;

namespace TfSyncBN.Tests.Tensors;

// Batch normalization through the backend seam: BatchNormCore on a tensor of the scalar test device equals the host path.
public sealed partial class BackendTests
{
    /// <summary>
    /// Training and inference, with and without the fused ReLU, forward and backward: the scalar device's results equal
    /// the host's within 2e-5 (relative to 1 + |value|). The statistics are the same float64 formulas on the same float32
    /// data; the device takes its float32 shift from Σx/n and adds in float64 one element at a time, the host takes its
    /// shift from the first elements and adds short float32 runs, so the per-channel constants may differ in their last
    /// float32 bits (a few ulp of each output).
    /// </summary>
    [TestMethod]
    public void BatchNorm_OnTheDevice_EqualsTheHost()
    {
        var x = Random(21, 5, 3, 4);
        var dy = Random(22, 5, 3, 4);
        var gamma = Random(23, 4) + Tensor.Scalar(1f);
        var beta = Random(24, 4);
        var layout = new ChannelLayout(15, 4, 1);
        foreach (bool relu in new[] { false, true })
        {
            foreach (bool training in new[] { true, false })
            {
                (Tensor Y, IReadOnlyList<Tensor?> G) Run(Device d)
                {
                    var (xd, gd, bd) = (x.To(d), gamma.To(d), beta.To(d));
                    using var tape = new GradientTape();
                    tape.Watch(xd);
                    tape.Watch(gd);
                    tape.Watch(bd);
                    var y = training
                        ? BatchNormCore.Training(xd, layout, gd, bd, 1e-3, null, out _, epilogue: relu ? BatchNormEpilogue.WithRelu : BatchNormEpilogue.None)
                        : BatchNormCore.Inference(xd, layout, Tensor.FromArray([0.1f, -0.2f, 0.3f, 0f]).To(d), Tensor.FromArray([1f, 2f, 0.5f, 1.5f]).To(d), gd, bd, 1e-3, relu ? BatchNormEpilogue.WithRelu : BatchNormEpilogue.None);
                    return (y, tape.Gradient(y, [xd, gd, bd], dy.To(d)));
                }
                var (yh, gh) = Run(Device.Cpu);
                var (yd, gd) = Run(Dev);
                string what = $"relu={relu}, training={training}";
                Assert.AreEqual(Dev, yd.Device, what);
                Assert.AreEqual(Dev, gd[0]!.Device, what);
                Assert.AreEqual(Dev, gd[1]!.Device, what);
                Close(yh.ToArray(), yd.ToArray(), $"y {what}");
                for (int i = 0; i < 3; i++) Close(gh[i]!.ToArray(), gd[i]!.ToArray(), $"gradient {i} {what}");
                if (relu) Assert.IsTrue(yh.ToArray().Count(v => v == 0f) > 0, "the ReLU clamps some outputs");
            }
        }
    }

    [TestMethod]
    public void BatchNormLayer_OnTheDevice_UpdatesItsMovingStatisticsAsOnTheHost()
    {
        var x = Random(31, 6, 5);
        BatchNormalization host = new(momentum: 0.5f), dev;
        host.Call(x, training: true);
        // A layer on a host-only strategy keeps host weights: a device input is refused with a clear message.
        var e = Assert.ThrowsExactly<ArgumentException>(() => new BatchNormalization().Call(x.To(Dev), training: true));
        StringAssert.Contains(e.Message, "one device");
        // One replica on the device: its variables live there.
        using var strategy = new TfSyncBN.Distribute.MirroredStrategy(devices: [Dev.ToString()]);
        using (strategy.Scope()) dev = new(momentum: 0.5f);
        var y = strategy.Run(ctx => dev.Call(x.To(ctx.Device), training: true)).Values[0];
        Assert.AreEqual(Dev, y.Device);
        Assert.AreEqual(Dev, dev.MovingMean!.Replicas[0].Device, "the moving mean lives on the device");
        Assert.AreEqual(Dev, dev.Gamma!.Replicas[0].Device, "gamma lives on the device");
        Close(host.MovingMean!.Value.ToArray(), dev.MovingMean.Replicas[0].ToArray(), "moving mean");
        Close(host.MovingVariance!.Value.ToArray(), dev.MovingVariance!.Replicas[0].ToArray(), "moving variance");
        Assert.ThrowsExactly<NotSupportedException>(() => strategy.Run(ctx => dev.Call(x.To(ctx.Device), training: true, mask: Tensor.Ones([6]))));
    }

    /// <summary>
    /// MultiWorkerMirroredStrategy with device replicas: 2 in-memory workers × 2 local replicas, every replica on the scalar
    /// device, run SyncBatchNormalization over the 4 replicas (uneven split, one empty replica); the outputs and every
    /// moving-mean copy (on the device, bitwise identical across all 4) equal host BN of the whole batch.
    /// </summary>
    [TestMethod]
    public void MultiWorker_WithDeviceReplicas_SyncBatchNormEqualsHostBatchNorm() => TfSyncBN.Tests.Distribute.Bounded.Run(() =>
    {
        var x = Random(41, 9, 3);
        int[] sizes = [4, 0, 2, 3], starts = [0, 4, 4, 6];
        var host = new BatchNormalization(momentum: 0.5f);
        var expected = host.Call(x, training: true).ToArray();
        var results = TfSyncBN.Tests.Distribute.MultiWorkerMirroredStrategyTests.InMemoryWorkers.Run(2, comm =>
        {
            using var s = new TfSyncBN.Distribute.MultiWorkerMirroredStrategy(comm, devices: [Dev.ToString(), Dev.ToString()]);
            Assert.AreEqual(2, s.LocalReplicas);
            Assert.AreEqual(Dev, s.Devices[1]);
            BatchNormalization layer;
            using (s.Scope()) layer = new SyncBatchNormalization(momentum: 0.5f);
            var ys = s.Run(ctx =>
            {
                var y = layer.Call(x.Slice(0, starts[ctx.ReplicaId], sizes[ctx.ReplicaId]).To(ctx.Device), training: true);
                Assert.AreEqual(Dev, y.Device);
                return y.ToArray();
            }).Values.ToArray();
            return (Ys: ys, Moving: layer.MovingMean!.Replicas.Select(t => (t.Device, Values: t.ToArray())).ToArray());
        });
        Close(expected, [.. results.SelectMany(r => r.Ys.SelectMany(v => v))], "outputs over 2 workers x 2 device replicas");
        var copies = results.SelectMany(r => r.Moving).ToArray();
        Assert.AreEqual(4, copies.Length);
        foreach (var (device, values) in copies)
        {
            Assert.AreEqual(Dev, device, "the moving-mean copy lives on its replica's device");
            Close(host.MovingMean!.Value.ToArray(), values, "moving mean");
            CollectionAssert.AreEqual(copies[0].Values, values, "copies are bitwise identical over workers and replicas");
        }
        var names = TfSyncBN.Tests.Distribute.MultiWorkerMirroredStrategyTests.InMemoryWorkers.Run(1, comm => Assert.ThrowsExactly<ArgumentException>(
            () => new TfSyncBN.Distribute.MultiWorkerMirroredStrategy(comm, localReplicas: 3, devices: [Dev.ToString()])).ParamName);
        Assert.AreEqual("devices", names[0]);
    });

    private static void Close(float[] expected, float[] actual, string what)
    {
        Assert.AreEqual(expected.Length, actual.Length, what);
        for (int i = 0; i < expected.Length; i++)
            Assert.AreEqual(expected[i], actual[i], 2e-5f * (1 + Math.Abs(expected[i])), $"{what} [{i}]");
    }

    private sealed partial class ScalarBackend
    {
        public void BatchNormPairSums(TensorStorage u, TensorStorage v, ChannelLayout layout, float[] a, float[] b, double[] s1, double[] s2,
            float[]? gs, float[]? go)
        {
            float[] uu = V(u), vv = V(v);
            for (int o = 0; o < layout.Outer; o++)
                for (int c = 0; c < layout.Channels; c++)
                    for (int i = 0; i < layout.Inner; i++)
                    {
                        int at = (o * layout.Channels + c) * layout.Inner + i;
                        float du = uu[at] - a[c], dv = vv[at] - b[c];
                        if (gs is not null && !(MathF.FusedMultiplyAdd(dv, gs[c], go![c]) > 0)) du = 0;
                        s1[c] += du;
                        s2[c] += (double)du * dv;
                    }
        }

        public void BatchNormAffine(TensorStorage x, TensorStorage? g, ChannelLayout layout, float[] m, float[] s, float[] o, float[]? k, bool relu,
            float[]? gs, float[]? go, TensorStorage y)
        {
            float[] xx = V(x), yy = V(y);
            float[]? gg = g is null ? null : V(g);
            for (int e = 0; e < xx.Length; e++)
            {
                int c = e / layout.Inner % layout.Channels;
                float d = xx[e] - m[c];
                float t = MathF.FusedMultiplyAdd(d, s[c], o[c]);
                if (gg is null)
                {
                    yy[e] = relu ? MathF.Max(t, 0) : t;
                    continue;
                }
                float gv = relu && !(MathF.FusedMultiplyAdd(d, gs![c], go![c]) > 0) ? 0 : gg[e];
                yy[e] = MathF.FusedMultiplyAdd(gv, k![c], t);
            }
        }
    }
}
