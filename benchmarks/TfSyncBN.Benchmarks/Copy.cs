using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace TfSyncBN.Benchmarks;

/// <summary>
/// The memory-bandwidth reference: a copy of the same tensor, its range split into <c>threads</c> contiguous parts,
/// one per thread, with ordinary stores (<see cref="Span{T}.CopyTo"/>, i.e. memmove) or with aligned non-temporal
/// stores, one cache line in 4 KiB stored ordinarily (the kernels write outputs of 16 MiB or more that way, so the
/// reference may too). The report takes the faster of the two as "the copy".
/// </summary>
/// <remarks>
/// The parts run on dedicated, already started threads (the caller takes part 0), not on <see cref="Parallel.For"/>:
/// a pool thread that is slow to wake leaves both parts to the caller, which once made the 2-thread copy as slow as
/// the 1-thread one and the "x copy" ratios flattering.
/// </remarks>
internal static class Copy
{
    public static void Run(float[] source, float[] destination, int threads, bool nonTemporal = false)
    {
        if (threads <= 1)
        {
            Part(source, destination, 0, source.Length, nonTemporal);
            return;
        }
        Team.For(threads, p =>
        {
            int start = (int)((long)source.Length * p / threads), end = (int)((long)source.Length * (p + 1) / threads);
            Part(source, destination, start, end, nonTemporal);
        });
    }

    private static unsafe void Part(float[] source, float[] destination, int start, int end, bool nonTemporal)
    {
        if (!nonTemporal || !(Avx512F.IsSupported || Avx.IsSupported))
        {
            source.AsSpan(start, end - start).CopyTo(destination.AsSpan(start));
            return;
        }
        fixed (float* s = source, d = destination)
        {
            long i = start;
            int width = Avx512F.IsSupported ? 16 : 8;
            while (i < end && ((nint)(d + i) & (4 * width - 1)) != 0) { d[i] = s[i]; i++; }
            if (Avx512F.IsSupported)
            {
                // Each load stored at once, and the first line of each 4 KiB page stored ordinarily, as the kernels
                // do: of the copies measured (BENCHMARKS.md, "Non-temporal streams"), the fastest from memory.
                for (; i + 16 <= end; i += 16)
                {
                    var v = Vector512.Load(s + i);
                    if (((nint)(d + i) & 4095) == 0) Vector512.Store(v, d + i);
                    else Avx512F.StoreAlignedNonTemporal(d + i, v);
                }
            }
            else
            {
                for (; i + 8 <= end; i += 8)
                {
                    var v = Vector256.Load(s + i);
                    if (((nint)(d + i) & 4095) < 64) Vector256.Store(v, d + i);
                    else Avx.StoreAlignedNonTemporal(d + i, v);
                }
            }
            for (; i < end; i++) d[i] = s[i];
            Sse.StoreFence();
        }
    }

    /// <summary>A fork-join over dedicated threads: part 0 on the caller, part p on helper p − 1.</summary>
    private static class Team
    {
        private static readonly List<Helper> helpers = [];

        public static void For(int parts, Action<int> body)
        {
            lock (helpers)
            {
                while (helpers.Count < parts - 1) helpers.Add(new Helper(helpers.Count + 1));
                var done = new CountdownEvent(parts - 1);
                for (int p = 1; p < parts; p++) helpers[p - 1].Start(body, done);
                body(0);
                done.Wait();
            }
        }

        private sealed class Helper
        {
            private readonly SemaphoreSlim go = new(0);
            private readonly int part;
            private Action<int>? body;
            private CountdownEvent? done;

            public Helper(int part)
            {
                this.part = part;
                new Thread(Loop) { IsBackground = true, Name = $"copy helper {part}" }.Start();
            }

            public void Start(Action<int> work, CountdownEvent countdown)
            {
                body = work;
                done = countdown;
                go.Release();
            }

            [MethodImpl(MethodImplOptions.NoInlining)]
            private void Loop()
            {
                while (true)
                {
                    go.Wait();
                    body!(part);
                    done!.Signal();
                }
            }
        }
    }
}
