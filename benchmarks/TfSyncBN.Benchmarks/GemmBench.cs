using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.Json;
using TfSyncBN.Tensors;
using TfSyncBN.Tensors.Kernels;

namespace TfSyncBN.Benchmarks;

/// <summary>
/// GEMM micro-benchmark: TfSyncBN's matrix product (its entry point <c>Gemm.Multiply</c>, as MatMul, Dense and Conv2D
/// call it, with <see cref="KernelOptions.MaxThreads"/> = T), once through OpenBLAS and once through the managed
/// kernel, beside OpenBLAS's <c>cblas_sgemm</c> called directly in the same process with
/// <c>openblas_set_num_threads(T)</c> (OpenBLAS's own threading). Shapes: the products of one training step of the
/// Fashion-MNIST CNN at batch 128 (conv-as-GEMM per im2col chunk and the dense layers; forward and both backward
/// products) and square 256-2048.
/// </summary>
/// <remarks>
/// Not a BenchmarkDotNet job: the three variants are interleaved (rounds of variant A, B, C, each timed over a
/// fixed slice of wall time), so load from other processes falls on all three alike. Reported per shape and thread
/// count: the median time per call of each variant and GFLOP/s = 2·m·n·k / time.
/// </remarks>
internal static class GemmBench
{
    private const string OpenBlas = "libopenblas.so.0";

    [DllImport(OpenBlas)]
    private static extern unsafe void cblas_sgemm(int order, int transA, int transB, int m, int n, int k, float alpha, float* a, int lda,
        float* b, int ldb, float beta, float* c, int ldc);

    [DllImport(OpenBlas)]
    private static extern void openblas_set_num_threads(int threads);

    private sealed record Shape(string Name, int M, int N, int K, bool TransA, bool TransB);

    private static readonly Shape[] Cnn =
    [
        // Conv 1 (28x28x1 -> 32, 3x3 same): im2col rows of 9, the whole batch in one chunk.
        new("conv1 forward (im2col·K)", 128 * 784, 32, 9, false, false),
        new("conv1 dK (colsᵀ·dY)", 9, 32, 128 * 784, true, false),
        // Conv 2 (14x14x32 -> 64, 3x3 same): chunks of 18 images (2^20 floats of im2col).
        new("conv2 forward (im2col·K)", 18 * 196, 64, 288, false, false),
        new("conv2 dK (colsᵀ·dY)", 288, 64, 18 * 196, true, false),
        new("conv2 dX (dY·Kᵀ)", 18 * 196, 288, 64, false, true),
        // Dense 128 on the flattened 7x7x64 and Dense 10.
        new("dense1 forward (X·W)", 128, 128, 3136, false, false),
        new("dense1 dW (Xᵀ·dY)", 3136, 128, 128, true, false),
        new("dense1 dX (dY·Wᵀ)", 128, 3136, 128, false, true),
        new("dense2 forward (X·W)", 128, 10, 128, false, false),
    ];

    private static readonly Shape[] Square = [.. new[] { 256, 512, 1024, 2048 }.Select(s => new Shape($"square {s}", s, s, s, false, false))];

    public static void Write(string path, double secondsPerVariant)
    {
        if (!NativeBlas.IsAvailable)
        {
            Console.Error.WriteLine("gemm: OpenBLAS (libopenblas.so.0) is not installed; nothing to compare with.");
            File.WriteAllText(path, JsonSerializer.Serialize(new { available = false }));
            return;
        }
        var rows = new List<Dictionary<string, object>>();
        foreach (int threads in new[] { 1, 2 })
        {
            foreach (var s in Cnn.Concat(Square))
            {
                var row = Measure(s, threads, secondsPerVariant);
                Console.WriteLine(JsonSerializer.Serialize(row));
                rows.Add(row);
            }
        }
        openblas_set_num_threads(1);
        var result = new Dictionary<string, object?>
        {
            ["library"] = KernelOptions.NativeBlasLibrary,
            ["config"] = NativeBlas.Config,
            ["coreName"] = NativeBlas.CoreName,
            ["openblasCoretype"] = Environment.GetEnvironmentVariable("OPENBLAS_CORETYPE"),
            ["openblasL2Size"] = Environment.GetEnvironmentVariable("OPENBLAS_L2_SIZE"),
            ["secondsPerVariant"] = secondsPerVariant,
            ["rows"] = rows,
        };
        File.WriteAllText(path, JsonSerializer.Serialize(result, new JsonSerializerOptions { WriteIndented = true }));
    }

    private static unsafe Dictionary<string, object> Measure(Shape s, int threads, double seconds)
    {
        var rng = new Random(5);
        float[] a = Enumerable.Range(0, s.M * s.K).Select(_ => (float)rng.NextDouble() - 0.5f).ToArray();
        float[] b = Enumerable.Range(0, s.K * s.N).Select(_ => (float)rng.NextDouble() - 0.5f).ToArray();
        float[] c = new float[s.M * s.N];
        int lda = s.TransA ? s.M : s.K, ldb = s.TransB ? s.K : s.N;
        bool savedNative = KernelOptions.UseNativeBlas;
        int savedThreads = KernelOptions.MaxThreads;
        KernelOptions.MaxThreads = threads;
        void Ours() => Gemm.Multiply(s.M, s.N, s.K, a, s.TransA, b, s.TransB, c, accumulate: false);
        void Direct()
        {
            fixed (float* pa = a, pb = b, pc = c)
                cblas_sgemm(101, s.TransA ? 112 : 111, s.TransB ? 112 : 111, s.M, s.N, s.K, 1f, pa, lda, pb, ldb, 0f, pc, s.N);
        }
        // Each variant's settings are applied before its slice of time, outside the timed calls.
        (Action Setup, Action Call)[] variants =
        [
            (() => openblas_set_num_threads(threads), Direct),
            (() => { openblas_set_num_threads(1); KernelOptions.UseNativeBlas = true; }, Ours),
            (() => { openblas_set_num_threads(1); KernelOptions.UseNativeBlas = false; }, Ours),
        ];
        var times = variants.Select(_ => new List<double>()).ToArray();
        try
        {
            // Warm-up: tiered JIT promotes the managed kernel; OpenBLAS allocates its buffers.
            foreach (var (setup, call) in variants)
            {
                setup();
                TimeSlice(call, Math.Max(0.05, seconds / 4), null);
            }
            const int Rounds = 5;
            for (int round = 0; round < Rounds; round++)
            {
                for (int i = 0; i < variants.Length; i++)
                {
                    int v = (i + round) % variants.Length;
                    variants[v].Setup();
                    TimeSlice(variants[v].Call, seconds / Rounds, times[v]);
                }
            }
        }
        finally
        {
            openblas_set_num_threads(1);
            KernelOptions.UseNativeBlas = savedNative;
            KernelOptions.MaxThreads = savedThreads;
        }
        double flops = 2.0 * s.M * s.N * s.K;
        double Median(List<double> t) { t.Sort(); return t[t.Count / 2]; }
        double direct = Median(times[0]), native = Median(times[1]), managed = Median(times[2]);
        return new Dictionary<string, object>
        {
            ["shape"] = s.Name, ["m"] = s.M, ["n"] = s.N, ["k"] = s.K, ["transA"] = s.TransA, ["transB"] = s.TransB, ["threads"] = threads,
            ["openblasMs"] = direct * 1e3, ["oursNativeMs"] = native * 1e3, ["oursManagedMs"] = managed * 1e3,
            ["openblasGflops"] = flops / direct / 1e9, ["oursNativeGflops"] = flops / native / 1e9, ["oursManagedGflops"] = flops / managed / 1e9,
            ["calls"] = times.Select(t => t.Count).ToArray(),
        };
    }

    /// <summary>Calls <paramref name="f"/> repeatedly for <paramref name="seconds"/> (at least 3 calls), recording each call's time.</summary>
    private static void TimeSlice(Action f, double seconds, List<double>? into)
    {
        var total = Stopwatch.StartNew();
        for (int i = 0; i < 3 || total.Elapsed.TotalSeconds < seconds; i++)
        {
            long t0 = Stopwatch.GetTimestamp();
            f();
            into?.Add(Stopwatch.GetElapsedTime(t0).TotalSeconds);
        }
    }
}
