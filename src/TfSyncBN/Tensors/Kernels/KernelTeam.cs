using System.Diagnostics;
using System.Runtime.ExceptionServices;

namespace TfSyncBN.Tensors.Kernels;

/// <summary>
/// The fork-join of the CPU kernels' multi-threaded calls (<see cref="KernelOptions.MaxThreads"/> &gt; 1): part 0 runs
/// on the calling thread and parts 1 … n − 1 on dedicated helper threads, which poll for the next call for
/// <see cref="PollMicroseconds"/> before they block, as OpenMP's worker threads do.
/// </summary>
/// <remarks>
/// <para>A kernel pass splits into one part per thread and is followed, microseconds later, by the next pass. With
/// <see cref="Parallel.For(int, int, Action{int})"/> a thread-pool worker that had gone to sleep started its part late,
/// and in some calls not before the caller had run every part itself (BENCHMARKS.md, 6 Dec, "KernelTeam"); a helper
/// that is still polling starts within microseconds.</para>
/// <para>Part p is the same range of work whichever thread runs it, so results equal those of
/// <see cref="Parallel.For(int, int, Action{int})"/> over the same parts. A call made while another call is in progress
/// (from another thread, or from inside a part) runs its parts with <see cref="Parallel.For(int, int, Action{int})"/>
/// instead of waiting for the team. The first exception a part throws is rethrown on the caller once every part has
/// ended.</para>
/// </remarks>
internal static class KernelTeam
{
    /// <summary>How long an idle helper polls for the next call before it blocks: 250 µs.</summary>
    public const int PollMicroseconds = 250;

    private static readonly long PollTicks = Stopwatch.Frequency * PollMicroseconds / 1_000_000;
    private static readonly object Gate = new();
    private static int helpers;
    private static int busy;
    private static Job? current;

    /// <summary>One call: its parts, and what its helpers report back.</summary>
    private sealed class Job(Action<int> body, int parts)
    {
        public readonly Action<int> Body = body;
        public readonly int Parts = parts;
        public int Pending = parts - 1;
        public Exception? Fault;

        public void Run(int part)
        {
            try
            {
                Body(part);
            }
            catch (Exception e)
            {
                Interlocked.CompareExchange(ref Fault, e, null);
            }
        }
    }

    /// <summary>Runs <paramref name="body"/>(p) for every p in [0, <paramref name="parts"/>), p = 0 on the calling thread.</summary>
    public static void For(int parts, Action<int> body)
    {
        if (parts <= 1)
        {
            if (parts == 1) body(0);
            return;
        }
        if (Interlocked.CompareExchange(ref busy, 1, 0) != 0)
        {
            Parallel.For(0, parts, body);
            return;
        }
        try
        {
            while (helpers < parts - 1) StartHelper(++helpers);
            var job = new Job(body, parts);
            Volatile.Write(ref current, job);
            lock (Gate) Monitor.PulseAll(Gate); // the helpers that stopped polling wait on Gate
            job.Run(0);
            var spinner = new SpinWait();
            while (Volatile.Read(ref job.Pending) > 0) spinner.SpinOnce(sleep1Threshold: -1);
            if (job.Fault is { } fault) ExceptionDispatchInfo.Capture(fault).Throw();
        }
        finally
        {
            Volatile.Write(ref busy, 0);
        }
    }

    private static void StartHelper(int part) =>
        new Thread(() => HelperLoop(part)) { IsBackground = true, Name = $"TfSyncBN kernel helper {part}" }.Start();

    /// <summary>Helper <paramref name="part"/>: runs that part of every call with more parts, polling between calls, then blocking.</summary>
    private static void HelperLoop(int part)
    {
        Job? seen = null;
        while (true)
        {
            long deadline = Stopwatch.GetTimestamp() + PollTicks;
            var spinner = new SpinWait();
            while (ReferenceEquals(Volatile.Read(ref current), seen) && Stopwatch.GetTimestamp() < deadline) spinner.SpinOnce(sleep1Threshold: -1);
            lock (Gate)
                while (ReferenceEquals(Volatile.Read(ref current), seen)) Monitor.Wait(Gate);
            var job = Volatile.Read(ref current)!;
            seen = job;
            if (part >= job.Parts) continue;
            job.Run(part);
            Interlocked.Decrement(ref job.Pending);
        }
    }
}
