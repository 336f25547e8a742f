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
    /// <see cref="GemmRate"/> on each core in turn (the calling thread pinned there, then allowed every core again);
    /// empty where threads cannot be pinned (not Linux).
    /// </summary>
    public static double[] PerCore()
    {
        if (!OperatingSystem.IsLinux()) return [];
        int cores = Environment.ProcessorCount;
        var rates = new double[cores];
        try
        {
            for (int core = 0; core < cores; core++)
            {
                Pin([core]);
                rates[core] = GemmRate();
            }
        }
        finally
        {
            Pin(Enumerable.Range(0, cores));
        }
        return rates;
    }

    private static void Pin(IEnumerable<int> cores)
    {
        var mask = new ulong[16];
        foreach (int core in cores) mask[core / 64] |= 1UL << (core % 64);
        if (SchedSetAffinity(0, (nuint)(mask.Length * sizeof(ulong)), mask) != 0)
            throw new InvalidOperationException($"sched_setaffinity failed (errno {Marshal.GetLastPInvokeError()}).");
    }

    [DllImport("libc", EntryPoint = "sched_setaffinity", SetLastError = true)]
    private static extern int SchedSetAffinity(int pid, nuint size, ulong[] mask);

    private static float[] Operand(int seed)
    {
        var r = new Random(seed);
        return Enumerable.Range(0, Size * Size).Select(_ => (float)r.NextDouble()).ToArray();
    }
}
