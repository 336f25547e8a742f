using System.Diagnostics;
using TfSyncBN.Keras;
using TfSyncBN.Tensors;
using TfSyncBN.Tensors.Kernels;

namespace TfSyncBN.Benchmarks;

/// <summary>
/// A fixed amount of work for load-independent comparisons (instruction counts under a counting tool, CPU time,
/// bytes allocated): a fixed number of warm-up calls, then a fixed number of timed calls of one figure. Uses only the
/// calls that exist unchanged since becf344, so the same file builds against older commits for A/B runs.
/// </summary>
internal static class FixedProbe
{
    /// <summary>One figure's call, ready to time, and what ends it.</summary>
    /// <param name="Call">One call of the figure (returns a value to keep the work alive).</param>
    /// <param name="Finish">Prints a checksum of the results' bits (equal checksums: bitwise-equal results; none for the k- figures) and releases what the figure holds; its argument is the number of calls made.</param>
    internal sealed record Figure(Func<float> Call, Action<int> Finish);

    /// <summary>Figures: k-moments, k-bwdsums, k-norm, k-igrad, k-norm-relu, k-igrad-relu, k-pool-fwd, k-pool-sums, k-pool-igrad (one kernel pass on preallocated arrays; k-pool: NHWC with the 2×2 max pooling fused), k-conv-fwd, k-conv-dk, k-conv-dx (a 3×3 same-padded convolution with 64 filters of the NHWC input SHAPE, e.g. 128x14x14x32, the CNN's conv2: one product on preallocated arrays), bn-fwd, bn-fwdbwd, bn-inf, bn-relu-fwdbwd, sbn-fwd, sbn-fwdbwd, sbn-inf, sbn-relu-fwdbwd (SyncBN outside any Run), cnn (the CNN's TrainStep; the shape is ignored, threads = replicas).</summary>
    public static void Run(string figure, string shape, string layout, int threads, int warmup, int calls)
    {
        var f = Build(figure, shape, layout, threads);
        var call = f.Call;
        float sink = 0;
        for (int i = 0; i < warmup; i++) sink += call();
        var times = new double[calls];
        var process = Process.GetCurrentProcess();
        process.Refresh();
        var cpu0 = process.TotalProcessorTime;
        long alloc0 = GC.GetTotalAllocatedBytes(precise: true);
        int gc0 = GC.CollectionCount(0);
        var pause0 = GC.GetTotalPauseDuration();
        var collected = new bool[calls];
        var clock = Stopwatch.StartNew();
        for (int i = 0; i < calls; i++)
        {
            int before = GC.CollectionCount(0);
            long t0 = Stopwatch.GetTimestamp();
            sink += call();
            times[i] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
            collected[i] = GC.CollectionCount(0) != before;
        }
        double pause = (GC.GetTotalPauseDuration() - pause0).TotalMilliseconds;
        string Median(bool withGc)
        {
            var t = times.Where((_, i) => collected[i] == withGc).Order().ToArray();
            return t.Length == 0 ? "-" : $"{t[t.Length / 2]:F3} ({t.Length})";
        }
        double wall = clock.Elapsed.TotalMilliseconds;
        long alloc = GC.GetTotalAllocatedBytes(precise: true) - alloc0;
        process.Refresh();
        double cpu = (process.TotalProcessorTime - cpu0).TotalMilliseconds;
        Array.Sort(times);
        if (calls > 0)
            Console.WriteLine($"{figure} {shape} {layout} t={threads}: calls {calls} min {times[0]:F3} median {times[calls / 2]:F3} mean {wall / calls:F3} ms, " +
                $"cpu {cpu / calls:F3} ms/call, alloc {alloc / calls} B/call, gen0 {GC.CollectionCount(0) - gc0} " +
                $"(median of calls with one {Median(true)}, without {Median(false)}; GC pauses {pause / calls:F3} ms/call) (sink {sink:G3}), " +
                $"System.Numerics.Tensors {typeof(System.Numerics.Tensors.TensorPrimitives).Assembly.GetName().Version}");
        f.Finish(warmup + calls);
    }

    /// <summary>Sets up <paramref name="figure"/> (see <see cref="Run"/>) on <paramref name="threads"/> kernel threads (replicas for cnn).</summary>
    public static Figure Build(string figure, string shape, string layout, int threads)
    {
        if (figure == "cnn")
        {
            var bench = new TrainingBenchmarks { Replicas = threads };
            bench.Setup();
            return new Figure(() => bench.TrainStep(), steps =>
            {
                // A checksum of every weight's bits after the run: equal checksums mean bitwise-equal training.
                Console.WriteLine($"weights checksum after {steps} steps: {Checksum(bench.Model.Weights.Select(w => w.Value.ToArray())):x16}");
                bench.Cleanup();
            });
        }
        if (figure.StartsWith("k-conv-", StringComparison.Ordinal))
        {
            // A 3×3 "same" convolution with 64 filters of an NHWC input of the given shape (128x14x14x32: the CNN's conv2).
            KernelOptions.MaxThreads = threads;
            var d = shape.Split('x').Select(int.Parse).ToArray();
            const int filters = 64;
            var g = WindowGeometry.Create(d, 3, 3, 1, 1, same: true);
            var r = new Random(3);
            float[] Fill(int n) => Enumerable.Range(0, n).Select(_ => (float)(r.NextDouble() * 2 - 1)).ToArray();
            float[] x = Fill(d[0] * d[1] * d[2] * d[3]), k = Fill(9 * d[3] * filters), dy = Fill(d[0] * g.Pixels * filters);
            float[] y = new float[dy.Length], dx = new float[x.Length], dk = new float[k.Length];
            Action kernel = figure switch
            {
                "k-conv-fwd" => () => ConvKernels.Conv2DForward(x, k, filters, g, y),
                "k-conv-dk" => () => ConvKernels.Conv2DBackward(x, k, dy, filters, g, [], dk),
                "k-conv-dx" => () => ConvKernels.Conv2DBackward(x, k, dy, filters, g, dx, []),
                _ => throw new ArgumentException($"unknown figure '{figure}'", nameof(figure)),
            };
            return new Figure(() => { kernel(); return y[0] + dx[0] + dk[0]; },
                _ => Console.WriteLine($"checksum: {Checksum([y, dx, dk]):x16}"));
        }
        if (figure.StartsWith("k-", StringComparison.Ordinal))
        {
            KernelOptions.MaxThreads = threads;
            var bn = new BatchNormCase(shape, layout);
            var d = shape.Split('x').Select(int.Parse).ToArray();
            var L = layout == "NHWC" ? new ChannelLayout(d[0] * d[1] * d[2], d[3], 1) : new ChannelLayout(d[0], d[3], d[1] * d[2]);
            var x = bn.X.ToArray();
            var g = bn.Dy.ToArray();
            var y = new float[x.Length];
            var m = new float[L.Channels];
            var sc = new float[L.Channels];
            // The ReLU figures gate at the data's mean, so the gate is on for about half of the elements, at random.
            var half = Enumerable.Repeat(0.5f, L.Channels).ToArray();
            var one = Enumerable.Repeat(1f, L.Channels).ToArray();
            var s1 = new double[L.Channels];
            var s2 = new double[L.Channels];
            Action kernel = figure switch
            {
                "k-moments" => () => BatchNormKernels.PairSums(x, x, L, m, m, s1, s2),
                "k-bwdsums" => () => BatchNormKernels.PairSums(g, x, L, m, m, s1, s2),
                "k-norm" => () => BatchNormKernels.Affine(x, default, L, m, sc, sc, default, y),
                "k-igrad" => () => BatchNormKernels.Affine(x, g, L, m, sc, sc, sc, y),
                "k-norm-relu" => () => BatchNormKernels.Affine(x, default, L, half, one, m, default, y, relu: true),
                "k-igrad-relu" => () => BatchNormKernels.Affine(x, g, L, half, one, m, one, y, relu: true, gs: one, go: m),
                "k-pool-fwd" => () => BatchNormKernels.AffineReluMaxPool(x, Pool2x2(d), half, one, m, y),
                "k-pool-sums" => () => BatchNormKernels.PooledPairSums(g, x, Pool2x2(d), m, s1, s2, one, m),
                "k-pool-igrad" => () => BatchNormKernels.PooledAffine(x, g, Pool2x2(d), half, one, m, one, y, one, m),
                _ => throw new ArgumentException($"unknown figure '{figure}'", nameof(figure)),
            };
            return new Figure(() => { kernel(); return y[0]; }, _ => { });
        }

        KernelOptions.MaxThreads = threads;
        var layer = new BatchNormCase(shape, layout, synchronized: figure.StartsWith("sbn", StringComparison.Ordinal));
        string kind = figure[(figure.IndexOf('-') + 1)..];
        Func<float> layerCall = kind switch
        {
            "fwd" => layer.TrainForward,
            "fwdbwd" => layer.TrainForwardBackward,
            "inf" => layer.Inference,
            "relu-fwdbwd" => () => layer.ReluForwardBackward(fused: true),
            _ => throw new ArgumentException($"unknown figure '{figure}'", nameof(figure)),
        };
        return new Figure(layerCall, _ =>
        {
            // A checksum of one more call's output and its x, γ, β gradients, through the same call the figure times
            // (the fused ReLU for relu-fwdbwd): equal checksums mean bitwise-equal results.
            using var tape = new GradientTape();
            tape.Watch(layer.X);
            var y = kind == "relu-fwdbwd" ? ((BatchNormalization)layer.Layer).CallWithRelu(layer.X, training: true)
                : layer.Layer.Call(layer.X, training: kind != "inf");
            var grads = tape.Gradient(y, layer.Sources, layer.Dy);
            Console.WriteLine($"output and gradients checksum: {Checksum([y.ToArray(), .. grads.Select(g => g!.ToArray())]):x16}");
        });
    }

    /// <summary>The CNN's 2×2 max pooling with stride 2 over an NHWC tensor of dimensions <paramref name="d"/> (the k-pool figures; their upstream gradient is the first quarter of dy).</summary>
    private static WindowGeometry Pool2x2(int[] d) => WindowGeometry.Create([d[0], d[1], d[2], d[3]], 2, 2, 2, 2, same: false);

    /// <summary>FNV-1a over the bits of every value, in order.</summary>
    private static ulong Checksum(IEnumerable<float[]> arrays)
    {
        ulong hash = 14695981039346656037;
        foreach (var a in arrays)
            foreach (float v in a) hash = (hash ^ (uint)BitConverter.SingleToInt32Bits(v)) * 1099511628211;
        return hash;
    }
}
