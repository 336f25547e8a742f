using System.Diagnostics;
using TfSyncBN.Keras;
using TfSyncBN.Tensors;
using TfSyncBN.Tensors.Kernels;

namespace TfSyncBN.Benchmarks;

/// <summary>
/// A quick breakdown for profiling (not part of the report): the minimum over many runs of the copy, each kernel pass
/// alone on preallocated buffers, and the layer calls, for one shape and layout. Minimums are the least disturbed by
/// other load on the machine.
/// </summary>
internal static class Probe
{
    public static void Run(string shape, string layout, int threads)
    {
        KernelOptions.MaxThreads = threads;
        var bn = new BatchNormCase(shape, layout);
        var d = shape.Split('x').Select(int.Parse).ToArray();
        var L = layout == "NHWC" ? new ChannelLayout(d[0] * d[1] * d[2], d[3], 1) : new ChannelLayout(d[0], d[3], d[1] * d[2]);
        var x = bn.X.Data;
        var g = bn.Dy.Data;
        var y = new float[x.Length];
        var m = new float[L.Channels];
        var s = new float[L.Channels];
        var s1 = new double[L.Channels];
        var s2 = new double[L.Channels];
        double copy = Min(() => Copy.Run(x, y, threads));
        void Line(string name, Action a)
        {
            double ms = Min(a);
            int g2 = GC.CollectionCount(2);
            var pause = GC.GetTotalPauseDuration();
            var clock = Stopwatch.StartNew();
            const int Calls = 100;
            for (int i = 0; i < Calls; i++) a();
            double mean = clock.Elapsed.TotalMilliseconds / Calls;
            Console.WriteLine($"{name,-28} {ms,8:F3} ms  {ms / copy,6:F2} copies  (mean {mean:F3} ms, {(GC.CollectionCount(2) - g2) / (double)Calls:F2} gen2 GCs and {(GC.GetTotalPauseDuration() - pause).TotalMilliseconds / Calls:F3} ms GC pause per call)");
        }
        Console.WriteLine($"{shape} {layout}, {threads} thread(s): copy {copy:F3} ms");
        Line("alloc uninitialized output", () => GC.KeepAlive(GC.AllocateUninitializedArray<float>(x.Length)));
        Line("read: TensorPrimitives.Sum", () => System.Numerics.Tensors.TensorPrimitives.Sum(x));
        Line("kernel: moments (1 read)", () => BatchNormKernels.PairSums(x, x, L, m, m, s1, s2));
        Line("kernel: backward sums (2 rd)", () => BatchNormKernels.PairSums(g, x, L, m, m, s1, s2));
        Line("kernel: normalize (1r 1w)", () => BatchNormKernels.Affine(x, default, L, m, s, s, default, y));
        Line("kernel: input grad (2r 1w)", () => BatchNormKernels.Affine(x, g, L, m, s, s, s, y));
        var go = new float[L.Channels];
        Array.Fill(s, 1f);
        Line("kernel: sums, ReLU gate", () => BatchNormKernels.PairSums(g, x, L, m, m, s1, s2, gs: s, go: go));
        Line("kernel: normalize + ReLU", () => BatchNormKernels.Affine(x, default, L, m, s, go, default, y, relu: true));
        Line("kernel: grad, ReLU gate", () => BatchNormKernels.Affine(x, g, L, m, s, s, s, y, relu: true, gs: s, go: go));
        Line("normalize into a new array", () => BatchNormKernels.Affine(x, default, L, m, s, s, default, GC.AllocateUninitializedArray<float>(x.Length)));
        Line("scale-add regular stores", () => ScaleAdd(x, y, false));
        Line("scale-add non-temporal", () => ScaleAdd(x, y, true));
        Line("layer: train forward", () => bn.TrainForward());
        Line("layer: train fwd+bwd", () => bn.TrainForwardBackward());
        Line("layer: inference", () => bn.Inference());
        Line("BN+ReLU fwd unfused", () => bn.ReluForward(fused: false));
        Line("BN+ReLU fwd fused", () => bn.ReluForward(fused: true));
        Line("BN+ReLU fwd+bwd unfused", () => bn.ReluForwardBackward(fused: false));
        Line("BN+ReLU fwd+bwd fused", () => bn.ReluForwardBackward(fused: true));
    }

    /// <summary>
    /// Repeats one layer call of <see cref="Run"/>'s case for <paramref name="seconds"/> (a steady workload for
    /// <c>perf record</c>) and prints the median ms per call: <c>fwd</c>, <c>fwdbwd</c>, <c>relu-fwd</c> or <c>relu-fwdbwd</c>.
    /// </summary>
    public static void Loop(string what, string shape, string layout, int threads, double seconds)
    {
        KernelOptions.MaxThreads = threads;
        var bn = new BatchNormCase(shape, layout);
        Func<float> call = what switch
        {
            "fwd" => bn.TrainForward,
            "fwdbwd" => bn.TrainForwardBackward,
            "relu-fwd" => () => bn.ReluForward(fused: true),
            "relu-fwdbwd" => () => bn.ReluForwardBackward(fused: true),
            _ => throw new ArgumentException($"'{what}' is not one of fwd, fwdbwd, relu-fwd, relu-fwdbwd.", nameof(what)),
        };
        var times = new List<double>();
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed.TotalSeconds < seconds)
        {
            long t0 = Stopwatch.GetTimestamp();
            call();
            times.Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
        }
        times.Sort();
        Console.WriteLine($"{what} {shape} {layout}, {threads} thread(s): median {times[times.Count / 2]:F3} ms, min {times[0]:F3} ms over {times.Count} calls");
    }

    /// <summary>
    /// The fused BN+ReLU's four kernel passes in the order a training step runs them, on distinct buffers (x, y, dy,
    /// dx), each timed, then a non-temporal copy of the tensor (no dirty lines left for the next pass) and the layer's
    /// fused forward+backward: the median ms of each over <paramref name="seconds"/>.
    /// </summary>
    public static void Sequence(string shape, string layout, int threads, double seconds)
    {
        KernelOptions.MaxThreads = threads;
        var bn = new BatchNormCase(shape, layout);
        var d = shape.Split('x').Select(int.Parse).ToArray();
        var L = layout == "NHWC" ? new ChannelLayout(d[0] * d[1] * d[2], d[3], 1) : new ChannelLayout(d[0], d[3], d[1] * d[2]);
        float[] x = bn.X.Data, dy = bn.Dy.Data, y = new float[x.Length], dx = new float[x.Length];
        int C = L.Channels;
        float[] m = new float[C], s = new float[C], o = new float[C], zero = new float[C];
        Array.Fill(m, 0.5f);
        Array.Fill(s, 1f);
        var s1 = new double[C];
        var s2 = new double[C];
        Action[] passes =
        [
            () => BatchNormKernels.PairSums(x, x, L, m, m, s1, s2),
            () => BatchNormKernels.Affine(x, default, L, m, s, o, default, y, relu: true),
            () => BatchNormKernels.PairSums(dy, x, L, zero, m, s1, s2, gs: s, go: o),
            () => BatchNormKernels.Affine(x, dy, L, m, s, o, s, dx, relu: true, gs: s, go: o),
        ];
        string[] names = ["moments (1 read)", "normalize+ReLU (1r 1w)", "gated sums (2 reads)", "gated grad (2r 1w)"];
        var times = names.Select(_ => new List<double>()).ToArray();
        var copies = new List<double>();
        var layer = new List<double>();
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed.TotalSeconds < seconds)
        {
            for (int p = 0; p < passes.Length; p++)
            {
                long t0 = Stopwatch.GetTimestamp();
                passes[p]();
                times[p].Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
            }
            long c0 = Stopwatch.GetTimestamp();
            Copy.Run(dy, y, threads, nonTemporal: true);
            copies.Add(Stopwatch.GetElapsedTime(c0).TotalMilliseconds);
            long l0 = Stopwatch.GetTimestamp();
            bn.ReluForwardBackward(fused: true);
            layer.Add(Stopwatch.GetElapsedTime(l0).TotalMilliseconds);
        }
        static double Median(List<double> v) { v.Sort(); return v[v.Count / 2]; }
        double copy = Median(copies), total = 0;
        Console.WriteLine($"{shape} {layout}, {threads} thread(s), passes in step order: copy {copy:F3} ms (median of {copies.Count})");
        for (int p = 0; p < passes.Length; p++)
        {
            double t = Median(times[p]);
            total += t;
            Console.WriteLine($"  {names[p],-24} {t,7:F3} ms  {t / copy,5:F2} copies");
        }
        Console.WriteLine($"  {"sum",-24} {total,7:F3} ms  {total / copy,5:F2} copies");
        Console.WriteLine($"  {"layer fwd+bwd (fused)",-24} {Median(layer),7:F3} ms  {Median(layer) / copy,5:F2} copies");
    }

    /// <summary>Runs the CNN's TrainStep for <paramref name="seconds"/> (a steady workload for <c>perf record</c>) and prints ms per step.</summary>
    public static void Cnn(double seconds, int replicas)
    {
        var bench = new TrainingBenchmarks { Replicas = replicas };
        bench.Setup();
        for (int i = 0; i < 5; i++) bench.TrainStep();
        int steps = 0;
        var pause0 = GC.GetTotalPauseDuration();
        int g0 = GC.CollectionCount(0), g2 = GC.CollectionCount(2);
        long alloc0 = GC.GetTotalAllocatedBytes();
        var clock = Stopwatch.StartNew();
        double best = double.MaxValue;
        var window = new List<double>();
        double windowEnd = 2;
        while (clock.Elapsed.TotalSeconds < seconds)
        {
            long t0 = Stopwatch.GetTimestamp();
            bench.TrainStep();
            double ms = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
            best = Math.Min(best, ms);
            window.Add(ms);
            steps++;
            if (clock.Elapsed.TotalSeconds >= windowEnd)
            {
                window.Sort();
                // The step times of each 2-second window: tiered JIT promotes code for several seconds after start-up.
                Console.WriteLine($"  until {windowEnd,3:F0} s: {window.Count} steps, median {window[window.Count / 2]:F1} ms, min {window[0]:F1} ms");
                window.Clear();
                windowEnd += 2;
            }
        }
        Console.WriteLine($"CNN TrainStep, {replicas} replica(s): {steps} steps, mean {clock.Elapsed.TotalMilliseconds / steps:F1} ms, best {best:F1} ms ({TrainingBenchmarks.Batch / best * 1e3:F0} images/s); " +
            $"GC pauses {(GC.GetTotalPauseDuration() - pause0).TotalMilliseconds / clock.Elapsed.TotalMilliseconds:P1} of the time, {GC.CollectionCount(0) - g0} gen0 and {GC.CollectionCount(2) - g2} gen2 collections, {(GC.GetTotalAllocatedBytes() - alloc0) / steps / 1048576.0:F1} MiB allocated per step");
        bench.Cleanup();
    }

    /// <summary>
    /// One of the CNN's convolutions (<paramref name="layer"/> 1: 3×3 "same", 1 → 32 channels, 28×28; 2: 32 → 64 channels,
    /// 14×14; NHWC, batch <paramref name="batch"/>) on <paramref name="threads"/> threads: the minimum time of its forward
    /// pass, kernel gradient and input gradient as Conv2D runs them (direct for layer 1, implicit GEMM for layer 2 where
    /// the managed GEMM runs: <see cref="ConvImplicit"/> is called directly, so even where Conv2D would choose OpenBLAS) and
    /// through im2col / col2im (with the GEMM Conv2D chooses), in alternating rounds.
    /// </summary>
    public static void Conv(int batch, int threads, int layer)
    {
        KernelOptions.MaxThreads = threads;
        var r = new Random(1);
        float[] R(int n) => Enumerable.Range(0, n).Select(_ => (float)r.NextDouble() - 0.5f).ToArray();
        int size = layer == 1 ? 28 : 14, c = layer == 1 ? 1 : 32, F = layer == 1 ? 32 : 64;
        var g = WindowGeometry.Create([batch, size, size, c], 3, 3, 1, 1, same: true);
        float[] x = R(batch * size * size * c), k = R(9 * c * F), dy = R(batch * g.Pixels * F);
        float[] y = new float[dy.Length], dx = new float[x.Length], dk = new float[k.Length];
        Console.WriteLine($"conv {batch}x{size}x{size}x{c} -> {F}, 3x3 same, {threads} thread(s); direct: {ConvDirect.Applies(g)}, implicit: {ConvImplicit.Applies(g, F)}, dx: {ConvImplicit.AppliesToInputGradient(g)}");
        var best = new Dictionary<string, double>();
        string[] ways = layer == 1 ? ["direct", "implicit", "im2col"] : ["implicit", "im2col"];
        for (int round = 0; round < 3; round++)
        {
            foreach (string how in ways)
            {
                void Keep(string name, Action a) => best[$"{name} {how}"] = Math.Min(best.GetValueOrDefault($"{name} {how}", double.MaxValue), Min(a));
                switch (how)
                {
                    case "im2col":
                        Keep("forward", () => ConvKernels.Conv2DForward(x, k, F, g, y, allowDirect: false, allowImplicit: false));
                        Keep("dk", () => ConvKernels.Conv2DBackward(x, k, dy, F, g, [], dk, allowDirect: false, allowImplicit: false));
                        if (layer == 2) Keep("dx", () => ConvKernels.Conv2DBackward(x, k, dy, F, g, dx, [], allowImplicit: false));
                        break;
                    case "direct":
                        Keep("forward", () => ConvDirect.Forward(x, k, F, g, y));
                        Keep("dk", () => ConvDirect.KernelGradient(x, dy, F, g, dk));
                        break;
                    default:
                        Keep("forward", () => ConvImplicit.Forward(x, k, F, g, y));
                        Keep("dk", () => ConvImplicit.KernelGradient(x, dy, F, g, dk));
                        if (layer == 2) Keep("dx", () => ConvImplicit.InputGradient(k, dy, F, g, dx));
                        break;
                }
            }
        }
        double flop = 2.0 * batch * g.Pixels * g.Patch * F;
        foreach (var (name, ms) in best) Console.WriteLine($"{name,-20} {ms,8:F3} ms  {flop / ms / 1e6,6:F1} GFLOP/s");
    }

    /// <summary>The CNN's first 2×2 max pooling (batch × 28×28×32, NHWC) on one thread: the minimum time of its forward and backward
    /// passes, beside a copy of its input.</summary>
    public static void Pool(int batch)
    {
        KernelOptions.MaxThreads = 1;
        var r = new Random(3);
        float[] x = Enumerable.Range(0, batch * 28 * 28 * 32).Select(_ => (float)r.NextDouble()).ToArray();
        var g = WindowGeometry.Create([batch, 28, 28, 32], 2, 2, 2, 2, same: false);
        float[] y = new float[batch * g.Pixels * 32], dy = y.Select(v => v + 1).ToArray(), dx = new float[x.Length], copy = new float[x.Length];
        double tCopy = double.MaxValue, tFwd = double.MaxValue, tBwd = double.MaxValue;
        for (int round = 0; round < 3; round++)
        {
            tCopy = Math.Min(tCopy, Min(() => x.AsSpan().CopyTo(copy)));
            tFwd = Math.Min(tFwd, Min(() => ConvKernels.MaxPoolForward(x, g, y)));
            tBwd = Math.Min(tBwd, Min(() => ConvKernels.MaxPoolBackward(x, y, dy, g, dx)));
        }
        Console.WriteLine($"max pool 2x2 of {batch}x28x28x32: copy of x {tCopy:F3} ms, forward {tFwd:F3} ms, backward {tBwd:F3} ms");
    }

    /// <summary>
    /// The CNN's batch norm + ReLU + 2×2 max pooling blocks (batch × 28×28×32 and batch × 14×14×64, NHWC) on
    /// <paramref name="threads"/> threads: the minimum time of training forward and forward + backward, as the fused op
    /// a model runs and as the separate calls (BN+ReLU fused, then the pooling), beside a copy of the block's input.
    /// </summary>
    public static void BnPool(int batch, int threads)
    {
        KernelOptions.MaxThreads = threads;
        foreach (var (h, c) in new[] { (28, 32), (14, 64) })
        {
            var bn = new BatchNormCase($"{batch}x{h}x{h}x{c}", "NHWC");
            var layer = (BatchNormalization)bn.Layer;
            var pool = new MaxPooling2D([2, 2]);
            var dy = BatchNormCase.Random([batch, h / 2, h / 2, c], 5, 0f, 1f);
            var copy = new float[bn.Elements];
            Tensor Forward(bool fused) => fused ? layer.CallWithReluMaxPool(bn.X, true, pool) : pool.Call(layer.CallWithRelu(bn.X, true));
            float Step(bool fused, bool backward)
            {
                using var scope = TensorScope.Begin();
                using var tape = new GradientTape();
                tape.Watch(bn.X);
                var y = Forward(fused);
                return backward ? tape.Gradient(y, bn.Sources, dy)[0]!.AsSpan()[0] : y.AsSpan()[0];
            }
            double tCopy = double.MaxValue;
            var t = new double[4];
            Array.Fill(t, double.MaxValue);
            for (int round = 0; round < 3; round++)
            {
                tCopy = Math.Min(tCopy, Min(() => Copy.Run(bn.X.Data, copy, threads)));
                for (int i = 0; i < 4; i++)
                {
                    bool fused = i % 2 == 0, backward = i >= 2;
                    t[i] = Math.Min(t[i], Min(() => Step(fused, backward)));
                }
            }
            Console.WriteLine($"BN+ReLU+maxpool {batch}x{h}x{h}x{c}, {threads} thread(s): copy {tCopy:F3} ms; forward fused {t[0]:F3} " +
                $"separate {t[1]:F3} ms ({t[1] / t[0]:F2}x); forward+backward fused {t[2]:F3} separate {t[3]:F3} ms ({t[3] / t[2]:F2}x)");
            // The fused op's three kernel passes alone (after the moments pass, which the separate calls share).
            var g = WindowGeometry.Create([batch, h, h, c], 2, 2, 2, 2, same: false);
            float[] x = bn.X.Data, k = Enumerable.Repeat(0.5f, c).ToArray(), pooled = new float[dy.Size], dx = new float[bn.Elements];
            double[] s1 = new double[c], s2 = new double[c];
            double kf = Min(() => BatchNormKernels.AffineReluMaxPool(x, g, k, k, k, pooled));
            double ks = Min(() => BatchNormKernels.PooledPairSums(dy.Data, x, g, k, s1, s2, k, k));
            double ka = Min(() => BatchNormKernels.PooledAffine(x, dy.Data, g, k, k, k, k, dx, k, k));
            Console.WriteLine($"  kernels: forward {kf:F3} ms ({kf / tCopy:F2} copies), backward sums {ks:F3} ms ({ks / tCopy:F2}), input gradient {ka:F3} ms ({ka / tCopy:F2})");
        }
    }

    /// <summary>The managed GEMM alone at one shape (<c>m×n×k</c>, transposes as given) on one thread: the minimum time per call over rounds.</summary>
    public static void Gemm(int m, int n, int k, bool transA, bool transB)
    {
        var r = new Random(2);
        float[] a = Enumerable.Range(0, m * k).Select(_ => (float)r.NextDouble()).ToArray();
        float[] b = Enumerable.Range(0, k * n).Select(_ => (float)r.NextDouble()).ToArray();
        float[] c = new float[m * n];
        double best = double.MaxValue;
        for (int round = 0; round < 5; round++)
            best = Math.Min(best, Min(() => TfSyncBN.Tensors.Kernels.Gemm.Multiply(m, n, k, a, transA, b, transB, c, false, native: false, threads: 1)));
        Console.WriteLine($"gemm {m}x{n}x{k} transA={transA} transB={transB}: {best:F4} ms, {2.0 * m * n * k / best / 1e6:F1} GFLOP/s");
    }

    private static unsafe void ScaleAdd(float[] x, float[] y, bool nt)
    {
        fixed (float* xp = x, yp = y)
        {
            long i = 0, n = x.Length;
            while (i < n && ((nint)(yp + i) & 63) != 0) { yp[i] = xp[i] * 1.5f + 0.5f; i++; }
            var s = System.Runtime.Intrinsics.Vector512.Create(1.5f);
            var o = System.Runtime.Intrinsics.Vector512.Create(0.5f);
            for (; i + 16 <= n; i += 16)
            {
                var v = System.Runtime.Intrinsics.Vector512.FusedMultiplyAdd(System.Runtime.Intrinsics.Vector512.Load(xp + i), s, o);
                if (nt) System.Runtime.Intrinsics.X86.Avx512F.StoreAlignedNonTemporal(yp + i, v);
                else System.Runtime.Intrinsics.Vector512.Store(v, yp + i);
            }
            for (; i < n; i++) yp[i] = xp[i] * 1.5f + 0.5f;
        }
    }

    private static double Min(Action a)
    {
        var clock = Stopwatch.StartNew();
        while (clock.ElapsedMilliseconds < 400) a();
        double best = double.MaxValue;
        for (int i = 0; i < 40; i++)
        {
            long t0 = Stopwatch.GetTimestamp();
            a();
            best = Math.Min(best, Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
        }
        return best;
    }
}
