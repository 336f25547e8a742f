using System.Diagnostics;
using System.Runtime.Intrinsics;

namespace TfSyncBN.Benchmarks;

/// <summary>
/// What a host phase slows (not part of the report): for <c>seconds</c>, cycles of five measurements on the calling
/// thread, one line per cycle: the core's FMA rate (12 independent AVX-512 FMA chains, in registers), an in-cache
/// product (<see cref="CoreCheck.GemmRate"/>), a read of a 128 MiB buffer from memory, the best of 6 reads of an
/// 8 MiB buffer (the last-level cache's share), and the median of 4 CNN training steps on one replica. Afterwards the
/// cycles are split at the median step time, and each measurement's mean is printed for the fast and the slow half.
/// </summary>
internal static class PhaseProbe
{
    public static void Run(double seconds)
    {
        var bench = new TrainingBenchmarks { Replicas = 1 };
        bench.Setup();
        float[] big = new float[32 << 20], mid = new float[2 << 20];
        big.AsSpan().Fill(1f);
        mid.AsSpan().Fill(1f);
        var warm = Stopwatch.StartNew();
        while (warm.Elapsed.TotalSeconds < 8) { bench.TrainStep(); Fma(1 << 16); CoreCheck.GemmRate(1); Read(big); }
        var rows = new List<double[]>();
        var clock = Stopwatch.StartNew();
        Console.WriteLine("   t s   FMA GFLOP/s   GEMM GFLOP/s   read GB/s   8 MiB GB/s   CNN step ms");
        while (clock.Elapsed.TotalSeconds < seconds)
        {
            const int fmaIterations = 1 << 20;
            long t0 = Stopwatch.GetTimestamp();
            float sink = Fma(fmaIterations);
            double fma = 12.0 * 2 * 16 * fmaIterations / Stopwatch.GetElapsedTime(t0).TotalSeconds / 1e9;
            double gemm = CoreCheck.GemmRate();
            t0 = Stopwatch.GetTimestamp();
            sink += Read(big);
            double read = 4.0 * big.Length / Stopwatch.GetElapsedTime(t0).TotalSeconds / 1e9;
            double cached = 0;
            for (int i = 0; i < 6; i++)
            {
                t0 = Stopwatch.GetTimestamp();
                sink += Read(mid);
                cached = Math.Max(cached, 4.0 * mid.Length / Stopwatch.GetElapsedTime(t0).TotalSeconds / 1e9);
            }
            var steps = new double[4];
            for (int i = 0; i < steps.Length; i++)
            {
                t0 = Stopwatch.GetTimestamp();
                bench.TrainStep();
                steps[i] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
            }
            Array.Sort(steps);
            double step = (steps[1] + steps[2]) / 2;
            rows.Add([clock.Elapsed.TotalSeconds, fma, gemm, read, step, cached]);
            Console.WriteLine($"{clock.Elapsed.TotalSeconds,6:F1} {fma,12:F1} {gemm,14:F1} {read,11:F1} {cached,13:F1} {step,13:F2}{(sink == 42 ? " " : "")}");
        }
        var sorted = rows.OrderBy(row => row[4]).ToList();
        var fast = sorted.Take(sorted.Count / 2).ToList();
        var slow = sorted.Skip(sorted.Count / 2).ToList();
        string Mean(List<double[]> part, int column) => part.Average(row => row[column]).ToString("F1");
        Console.WriteLine($"fast half ({fast.Count} cycles): FMA {Mean(fast, 1)}, GEMM {Mean(fast, 2)}, read {Mean(fast, 3)}, 8 MiB read {Mean(fast, 5)}, step {Mean(fast, 4)}");
        Console.WriteLine($"slow half ({slow.Count} cycles): FMA {Mean(slow, 1)}, GEMM {Mean(slow, 2)}, read {Mean(slow, 3)}, 8 MiB read {Mean(slow, 5)}, step {Mean(slow, 4)}");
        bench.Cleanup();
    }

    private static float Read(float[] big)
    {
        var sum = Vector512<float>.Zero;
        ref float start = ref big[0];
        for (int i = 0; i < big.Length; i += 64)
        {
            sum += Vector512.LoadUnsafe(ref start, (nuint)i) + Vector512.LoadUnsafe(ref start, (nuint)i + 16) +
                   Vector512.LoadUnsafe(ref start, (nuint)i + 32) + Vector512.LoadUnsafe(ref start, (nuint)i + 48);
        }
        return Vector512.Sum(sum);
    }

    private static float Fma(int iterations)
    {
        var m = Vector512.Create(0.999999f);
        var d = Vector512.Create(1e-7f);
        Vector512<float> a0 = Vector512.Create(1f), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0, a8 = a0, a9 = a0, a10 = a0, a11 = a0;
        for (int i = 0; i < iterations; i++)
        {
            a0 = Vector512.FusedMultiplyAdd(a0, m, d); a1 = Vector512.FusedMultiplyAdd(a1, m, d);
            a2 = Vector512.FusedMultiplyAdd(a2, m, d); a3 = Vector512.FusedMultiplyAdd(a3, m, d);
            a4 = Vector512.FusedMultiplyAdd(a4, m, d); a5 = Vector512.FusedMultiplyAdd(a5, m, d);
            a6 = Vector512.FusedMultiplyAdd(a6, m, d); a7 = Vector512.FusedMultiplyAdd(a7, m, d);
            a8 = Vector512.FusedMultiplyAdd(a8, m, d); a9 = Vector512.FusedMultiplyAdd(a9, m, d);
            a10 = Vector512.FusedMultiplyAdd(a10, m, d); a11 = Vector512.FusedMultiplyAdd(a11, m, d);
        }
        return Vector512.Sum(a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11);
    }
}
