using System.Diagnostics;
using TfSyncBN.Gpu;

namespace TfSyncBN.GpuCheck;

/// <summary>The device checks beyond conformance: determinism, SyncBN equivalence, a short CNN training run, timings.</summary>
public static class Checks
{
    /// <summary>BN forward + backward and a bias gradient twice on the same inputs: the bits must be identical.</summary>
    public static CaseResult Determinism(IlgpuDevice d, int[] shape)
    {
        int size = shape.Aggregate(1, (a, b) => a * b), c = shape[^1];
        float[] x = Conformance.Random(size, 31, 2f), dy = Conformance.Random(size, 32);
        float[][] Run()
        {
            using var scope = new DeviceScope();
            var gx = d.Upload(x, shape);
            var f = d.BatchNormTraining(gx, -1);
            var b = d.BatchNormBackward(gx, d.Upload(dy, shape), f);
            return [f.Y.ToArray(), b.Input.ToArray(), b.Gamma.ToArray(), b.Beta.ToArray(), d.BiasAddBackward(d.Upload(dy, shape)).ToArray(), d.Sum(gx).ToArray()];
        }
        var first = Run();
        var second = Run();
        int differing = first.Zip(second).Sum(p => p.First.Zip(p.Second).Count(q => BitConverter.SingleToInt32Bits(q.First) != BitConverter.SingleToInt32Bits(q.Second)));
        return new CaseResult($"determinism [{string.Join(",", shape)}]: {differing} values differ between two runs", differing, 0);
    }

    /// <summary>
    /// SyncBN over R replicas (threads, one device handle each, on the same device) equals BN of the whole batch on one
    /// replica: outputs and input gradients within float32 summation-order differences. Negative control: local BN differs.
    /// </summary>
    public static IReadOnlyList<CaseResult> SyncBatchNorm(string deviceName, int replicas, int[] shape)
    {
        int size = shape.Aggregate(1, (a, b) => a * b), c = shape[^1], rowSize = size / shape[0];
        float[] x = Conformance.Random(size, 41, 2f).Select((v, i) => v + (i % c)).ToArray(), dy = Conformance.Random(size, 42);
        int[] sizes = [.. Enumerable.Range(0, replicas).Select(r => shape[0] / replicas + (r < shape[0] % replicas ? 1 : 0))];
        int[] starts = [.. sizes.Select((s, r) => sizes.Take(r).Sum())];
        float[] single, singleDx;
        using (var d = IlgpuDevice.Create(deviceName))
        using (var scope = new DeviceScope())
        {
            var gx = d.Upload(x, shape);
            var f = d.BatchNormTraining(gx, -1);
            single = f.Y.ToArray();
            singleDx = d.BatchNormBackward(gx, d.Upload(dy, shape), f).Input.ToArray();
        }
        float[] Run(bool sync, out float[] dx)
        {
            var ys = new float[replicas][];
            var dxs = new float[replicas][];
            using var reduce = new HostAllReduce(replicas);
            var threads = Enumerable.Range(0, replicas).Select(r => new Thread(() =>
            {
                using var d = IlgpuDevice.Create(deviceName);
                using var scope = new DeviceScope();
                int[] s = [sizes[r], .. shape[1..]];
                var gx = d.Upload(x[(starts[r] * rowSize)..((starts[r] + sizes[r]) * rowSize)], s);
                var gdy = d.Upload(dy[(starts[r] * rowSize)..((starts[r] + sizes[r]) * rowSize)], s);
                var f = d.BatchNormTraining(gx, -1, allReduce: sync ? reduce.For(r) : null);
                ys[r] = f.Y.ToArray();
                dxs[r] = d.BatchNormBackward(gx, gdy, f, allReduce: sync ? reduce.For(r) : null).Input.ToArray();
            })).ToList();
            threads.ForEach(t => t.Start());
            threads.ForEach(t => t.Join());
            dx = [.. dxs.SelectMany(v => v)];
            return [.. ys.SelectMany(v => v)];
        }
        var y = Run(true, out var syncDx);
        // Outputs |y| ≲ 4 from statistics that differ only in float64 summation order: a few float32 roundings.
        // Input gradients: the Σdy, Σdy(x−μ) terms, float64 in both, rounded once; 64·u·(1 + max|dx|).
        double bound = 64.0 / (1 << 24) * (1 + singleDx.Max(Math.Abs));
        var results = new List<CaseResult>
        {
            Conformance.Compare($"SyncBN {replicas} replicas = BN of the whole batch (y)", y, single, 64.0 / (1 << 24) * 8),
            Conformance.Compare($"SyncBN {replicas} replicas = BN of the whole batch (dx)", syncDx, singleDx, bound),
        };
        if (replicas > 1)
        {
            var local = Run(false, out _);
            var control = Conformance.Compare("local", local, single, 0);
            results.Add(new CaseResult($"SyncBN {replicas} replicas negative control: local BN differs by {control.MaxError:G3} (must exceed 1e-3)",
                control.MaxError > 1e-3 ? 0 : 1, 0));
        }
        return results;
    }

    /// <summary>
    /// A short training run of a small CNN (Conv2D 3x3 → BN → ReLU → MaxPool 2 → Dense) with SGD on a synthetic two-class
    /// problem (the class decides which image half is brighter): the mean loss must fall below half its starting value.
    /// Returns the result and the mean time per step.
    /// </summary>
    public static (CaseResult Result, double MsPerStep) TrainCnn(IlgpuDevice d, int batch, int steps, int size = 8, int filters = 4)
    {
        var rng = new Random(7);
        int classes = 2, pooled = size / 2, features = pooled * pooled * filters;
        using var kernel = d.CreateVariable(Conformance.Random(9 * filters, 51, 0.5f), [3, 3, 1, filters]);
        using var gamma = d.CreateVariable([.. Enumerable.Repeat(1f, filters)], [filters]);
        using var beta = d.CreateVariable(new float[filters], [filters]);
        using var dense = d.CreateVariable(Conformance.Random(features * classes, 52, 0.1f), [features, classes]);
        using var bias = d.CreateVariable(new float[classes], [classes]);
        float first = 0, last = 0;
        var sw = new Stopwatch();
        for (int step = 0; step < steps; step++)
        {
            var labels = new int[batch];
            var images = new float[batch * size * size];
            for (int b = 0; b < batch; b++)
            {
                labels[b] = rng.Next(classes);
                for (int i = 0; i < size * size; i++)
                    images[b * size * size + i] = (float)rng.NextDouble() + ((i / size < size / 2) == (labels[b] == 0) ? 0.5f : 0f);
            }
            if (step == 1) sw.Start();
            using var scope = new DeviceScope();
            float loss = Step(d, images, labels, batch, size, filters, features, kernel, gamma, beta, dense, bias);
            if (step == 0) first = loss;
            last = loss;
        }
        sw.Stop();
        return (new CaseResult($"CNN training: mean loss {first:F4} -> {last:F4} in {steps} steps (must halve)", last, first / 2), sw.Elapsed.TotalMilliseconds / Math.Max(steps - 1, 1));
    }

    /// <summary>One SGD step of the check CNN inside the caller's scope; returns the mean loss (a host sync point).</summary>
    public static float Step(IlgpuDevice d, float[] images, int[] labels, int batch, int size, int filters, int features,
        GpuTensor kernel, GpuTensor gamma, GpuTensor beta, GpuTensor dense, GpuTensor bias)
    {
        var x = d.Upload(images, [batch, size, size, 1]);
        var conv = d.Conv2D(x, kernel, null, "same");
        var bn = d.BatchNormTraining(conv, -1, gamma, beta);
        var act = d.Relu(bn.Y);
        var pool = d.MaxPool2D(act, [2, 2]);
        var flat = pool.Reshape([batch, features]);
        var logits = d.BiasAdd(d.MatMul(flat, dense), bias);
        var ce = d.SparseSoftmaxCrossEntropy(logits, labels);
        var meanLoss = d.Scale(d.Sum(ce.Loss), 1f / batch);
        var dlogits = d.SparseSoftmaxCrossEntropyBackward(ce, d.Upload([.. Enumerable.Repeat(1f / batch, batch)], [batch]));
        var dbias = d.BiasAddBackward(dlogits);
        var ddense = d.MatMul(flat, dlogits, transposeA: true);
        var dflat = d.MatMul(dlogits, dense, transposeB: true);
        var dpool = d.MaxPool2DBackward(act, dflat.Reshape([batch, size / 2, size / 2, filters]), [2, 2]);
        var dact = d.ReluBackward(bn.Y, dpool);
        var dbn = d.BatchNormBackward(conv, dact, bn, gamma);
        var dconv = d.Conv2DBackward(x, kernel, dbn.Input, null, "same");
        d.SgdUpdate(kernel, dconv.Kernel, learningRate: 0.1f);
        d.SgdUpdate(gamma, dbn.Gamma, learningRate: 0.1f);
        d.SgdUpdate(beta, dbn.Beta, learningRate: 0.1f);
        d.SgdUpdate(dense, ddense, learningRate: 0.1f);
        d.SgdUpdate(bias, dbias, learningRate: 0.1f);
        return meanLoss.ToArray()[0];
    }

    /// <summary>Median milliseconds of <paramref name="action"/> (synchronized) over <paramref name="runs"/> runs after warm-up.</summary>
    public static double Time(IlgpuDevice d, Action action, int runs = 20)
    {
        for (int i = 0; i < 3; i++) action();
        d.Synchronize();
        var times = new double[runs];
        for (int i = 0; i < runs; i++)
        {
            var sw = Stopwatch.StartNew();
            action();
            d.Synchronize();
            times[i] = sw.Elapsed.TotalMilliseconds;
        }
        Array.Sort(times);
        return times[runs / 2];
    }
}
