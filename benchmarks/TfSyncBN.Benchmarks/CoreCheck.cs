using System.Diagnostics;
using System.Runtime.InteropServices;

namespace TfSyncBN.Benchmarks;

/// <summary>
/// How fast each core runs right now: the managed GEMM at 256×256×256 (operands in the core's L1/L2), best of 5
/// calls, on the calling thread pinned to one core after the other. On this VM the host's slow phases take a quarter
/// of this rate from one vCPU at a time, while an FMA loop without memory access and the bandwidth from memory hold
/// (BENCHMARKS.md, "What a slow phase slows"), so the rate tells which measurements fell in a slow phase.
/// </summary>
internal static class CoreCheck
{
    private const int Size = 256;
    private static readonly float[] A = Operand(1), B = Operand(2), C = new float[Size * Size];

    /// <summary>Runs the product for <paramref name="seconds"/>, so that tiered JIT has promoted its code before the first rate is taken.</summary>
    public static void WarmUp(double seconds = 1)
    {
        for (var clock = Stopwatch.StartNew(); clock.Elapsed.TotalSeconds < seconds;) GemmRate(1);
    }

    /// <summary>GFLOP/s of the in-cache product on the calling thread, wherever it runs (best of <paramref name="calls"/>).</summary>
    public static double GemmRate(int calls = 5)
    {
        double best = 0;
        for (int i = 0; i < calls; i++)
        {
            long t0 = Stopwatch.GetTimestamp();
            TfSyncBN.Tensors.Kernels.Gemm.Multiply(Size, Size, Size, A, false, B, false, C, false, native: false, threads: 1);
            best = Math.Max(best, 2.0 * Size * Size * Size / Stopwatch.GetElapsedTime(t0).TotalSeconds / 1e9);
        }
        return best;
    }

    /// <summary>
    /// <see cref="GemmRate"/> on each core the calling thread may run on, in turn (the thread pinned there, then given
    /// its former affinity back); empty where threads cannot be pinned (not Linux).
    /// </summary>
    public static double[] PerCore()
    {
        if (!OperatingSystem.IsLinux()) return [];
        var allowed = new ulong[16];
        Check(SchedGetAffinity(0, MaskBytes(allowed), allowed), "sched_getaffinity");
        var cores = Enumerable.Range(0, 64 * allowed.Length).Where(core => (allowed[core / 64] >> (core % 64) & 1) != 0).ToList();
        var rates = new double[cores.Count];
        try
        {
            for (int i = 0; i < cores.Count; i++)
            {
                var one = new ulong[allowed.Length];
                one[cores[i] / 64] = 1UL << (cores[i] % 64);
                Check(SchedSetAffinity(0, MaskBytes(one), one), "sched_setaffinity");
                rates[i] = GemmRate();
            }
        }
        finally
        {
            Check(SchedSetAffinity(0, MaskBytes(allowed), allowed), "sched_setaffinity");
        }
        return rates;
    }

    private static nuint MaskBytes(ulong[] mask) => (nuint)(mask.Length * sizeof(ulong));

    private static void Check(int result, string call)
    {
        if (result != 0) throw new InvalidOperationException($"{call} failed (errno {Marshal.GetLastPInvokeError()}).");
    }

    [DllImport("libc", EntryPoint = "sched_getaffinity", SetLastError = true)]
    private static extern int SchedGetAffinity(int pid, nuint size, ulong[] mask);

    [DllImport("libc", EntryPoint = "sched_setaffinity", SetLastError = true)]
    private static extern int SchedSetAffinity(int pid, nuint size, ulong[] mask);

    private static float[] Operand(int seed)
    {
        var r = new Random(seed);
        return Enumerable.Range(0, Size * Size).Select(_ => (float)r.NextDouble()).ToArray();
    }
}
