using TfSyncBN.Distribute;
using TfSyncBN.Keras;
using TfSyncBN.Tensors;

namespace TfSyncBN.GpuCheck;

/// <summary>The library path on the device: the Keras SyncBatchNormalization layer under a MirroredStrategy whose replicas all run on it.</summary>
public static class PlacementCheck
{
    /// <summary>
    /// One training step of SyncBatchNormalization over <paramref name="replicas"/> replicas, every one on
    /// <paramref name="deviceName"/> (<c>MirroredStrategy(devices: ...)</c>), equals BatchNormalization of the whole batch
    /// on the host: outputs, input gradients and moving means within 1e-4·(1 + |value|) (the example's bound), and the
    /// moving-mean copies bitwise identical across replicas.
    /// </summary>
    public static IReadOnlyList<CaseResult> SyncBatchNormLayer(string deviceName, int replicas, int[] shape)
    {
        int size = shape.Aggregate(1, (a, b) => a * b), c = shape[^1], rowSize = size / shape[0];
        float[] x = [.. Conformance.Random(size, 51, 2f).Select((v, i) => v + (i % c))], dy = Conformance.Random(size, 52);
        int[] sizes = [.. Enumerable.Range(0, replicas).Select(r => shape[0] / replicas + (r < shape[0] % replicas ? 1 : 0))];
        int[] starts = [.. sizes.Select((s, r) => sizes.Take(r).Sum())];
        (float[] Y, float[] Dx) Step(BatchNormalization layer, Tensor xs, Tensor dys)
        {
            using var tape = new GradientTape();
            tape.Watch(xs);
            var y = layer.Call(xs, training: true);
            var g = tape.Gradient(y, [xs], dys);
            return (y.ToArray(), g[0]!.ToArray());
        }
        var reference = new BatchNormalization(momentum: 0.9f);
        var expected = Step(reference, Tensor.FromArray(x, shape), Tensor.FromArray(dy, shape));
        using var strategy = new MirroredStrategy(devices: [.. Enumerable.Repeat(deviceName, replicas)]);
        BatchNormalization synced;
        using (strategy.Scope()) synced = new SyncBatchNormalization(momentum: 0.9f);
        var per = strategy.Run(ctx =>
        {
            int r = ctx.ReplicaId;
            int[] s = [sizes[r], .. shape[1..]];
            var part = (float[] v) => Tensor.FromArray(v[(starts[r] * rowSize)..((starts[r] + sizes[r]) * rowSize)], s, ctx.Device);
            return Step(synced, part(x), part(dy));
        }).Values;
        double Bound(float[] v) => 1e-4 * (1 + v.Max(Math.Abs));
        var copies = synced.MovingMean!.Replicas.Select(t => t.ToArray()).ToList();
        int differing = copies.Sum(cp => cp.Zip(copies[0]).Count(p => BitConverter.SingleToInt32Bits(p.First) != BitConverter.SingleToInt32Bits(p.Second)));
        var movingExpected = reference.MovingMean!.Value.ToArray();
        return
        [
            Conformance.Compare($"SyncBatchNormalization layer, {replicas} replicas on {deviceName} = host BN (y)", [.. per.SelectMany(p => p.Y)], expected.Y, Bound(expected.Y)),
            Conformance.Compare($"SyncBatchNormalization layer, {replicas} replicas on {deviceName} = host BN (dx)", [.. per.SelectMany(p => p.Dx)], expected.Dx, Bound(expected.Dx)),
            Conformance.Compare($"SyncBatchNormalization layer, {replicas} replicas on {deviceName} = host BN (moving mean)", copies[0], movingExpected, Bound(movingExpected)),
            new CaseResult($"SyncBatchNormalization layer, {replicas} replicas on {deviceName}: {differing} moving-mean values differ between copies", differing, 0),
        ];
    }
}
