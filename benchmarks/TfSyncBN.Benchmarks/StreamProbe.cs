using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace TfSyncBN.Benchmarks;

/// <summary>
/// One read stream and one write stream of 32 MiB from memory, written in different ways (not part of the report): a
/// map y = max(x − 0.5, 0) with every store non-temporal, with one cache line in every 1, 4 or 16 KiB stored ordinarily,
/// or all stores ordinary, and the copies of <see cref="Copy"/>. Each call takes the next of six tensor pairs, so
/// no call finds its data in the last-level cache; the variants run in a shuffled order each round; medians printed.
/// </summary>
internal static unsafe class StreamProbe
{
    public static void Run(double seconds)
    {
        const int N = 128 * 32 * 32 * 64, Sets = 6;
        var sources = new float[Sets][];
        var destinations = new float[Sets][];
        var handles = new List<GCHandle>();
        for (int set = 0; set < Sets; set++)
        {
            // 16 floats of slack: the map's pointers start at the first 64-byte boundary.
            sources[set] = BatchNormCase.Random([N + 16], set, 0.5f, 2f).Data;
            destinations[set] = new float[N + 16];
            handles.Add(GCHandle.Alloc(sources[set], GCHandleType.Pinned));
            handles.Add(GCHandle.Alloc(destinations[set], GCHandleType.Pinned));
        }
        // Both copies must copy (checked once, on the vector path this CPU takes, 1 and 2 threads).
        foreach (bool nonTemporal in new[] { false, true })
        {
            foreach (int threads in new[] { 1, 2 })
            {
                destinations[0].AsSpan().Clear();
                Copy.Run(sources[0], destinations[0], threads, nonTemporal);
                if (!sources[0].AsSpan().SequenceEqual(destinations[0]))
                    throw new InvalidOperationException($"Copy.Run (non-temporal {nonTemporal}, {threads} threads) did not copy.");
            }
        }
        if (!Avx512F.IsSupported) throw new PlatformNotSupportedException("probe-stream uses AVX-512 stores.");
        string[] names =
        [
            "map, all non-temporal", "map, 1 ordinary line / 1 KiB", "map, 1 ordinary line / 4 KiB", "map, 1 ordinary line / 16 KiB",
            "map, all ordinary", "copy, 4 loads then 4 NT stores", "copy, Copy.Run non-temporal", "copy, Copy.Run memmove",
        ];
        var times = names.Select(_ => new List<double>()).ToArray();
        var order = Enumerable.Range(0, names.Length).ToArray();
        var shuffle = new Random(5);
        int next = 0;
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed.TotalSeconds < seconds)
        {
            shuffle.Shuffle(order);
            foreach (int k in order)
            {
                float[] xa = sources[next % Sets], ya = destinations[next % Sets];
                next++;
                float* x = Aligned(xa), y = Aligned(ya);
                long t0 = Stopwatch.GetTimestamp();
                switch (k)
                {
                    case 0: Map(x, y, N, 0); break;
                    case 1: Map(x, y, N, 1024); break;
                    case 2: Map(x, y, N, 4096); break;
                    case 3: Map(x, y, N, 16384); break;
                    case 4: MapOrdinary(x, y, N); break;
                    case 5: CopyLoadsFirst(x, y, N); break;
                    case 6: Copy.Run(xa, ya, 1, nonTemporal: true); break;
                    default: Copy.Run(xa, ya, 1); break;
                }
                times[k].Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
            }
        }
        foreach (var h in handles) h.Free();
        Console.WriteLine($"{N * 4L >> 20} MiB per stream, 1 thread, each call on the next of {Sets} tensor pairs, median ms:");
        for (int i = 0; i < names.Length; i++)
        {
            times[i].Sort();
            Console.WriteLine($"  {names[i],-34} {times[i][times[i].Count / 2],7:F3} ms  (of {times[i].Count})");
        }
    }

    private static float* Aligned(float[] a)
    {
        fixed (float* p = a) return (float*)(((nint)p + 63) & ~(nint)63); // pinned by the caller's handle
    }

    /// <summary>Non-temporal stores, except the line at each multiple of <paramref name="every"/> bytes (0: none).</summary>
    private static void Map(float* x, float* y, int n, int every)
    {
        var m = Vector512.Create(0.5f);
        for (int i = 0; i < n; i += 16)
        {
            var v = Avx512F.Max(Vector512.Load(x + i) - m, Vector512<float>.Zero);
            if (every > 0 && ((nint)(y + i) & (every - 1)) == 0) Vector512.Store(v, y + i);
            else Avx512F.StoreAlignedNonTemporal(y + i, v);
        }
        Sse.StoreFence();
    }

    private static void MapOrdinary(float* x, float* y, int n)
    {
        var m = Vector512.Create(0.5f);
        for (int i = 0; i < n; i += 16) Vector512.Store(Avx512F.Max(Vector512.Load(x + i) - m, Vector512<float>.Zero), y + i);
    }

    /// <summary>The non-temporal copy <see cref="Copy"/> ran until 6 Dec 2026.</summary>
    private static void CopyLoadsFirst(float* x, float* y, int n)
    {
        for (int i = 0; i < n; i += 64)
        {
            var a = Vector512.Load(x + i);
            var b = Vector512.Load(x + i + 16);
            var c = Vector512.Load(x + i + 32);
            var e = Vector512.Load(x + i + 48);
            Avx512F.StoreAlignedNonTemporal(y + i, a);
            Avx512F.StoreAlignedNonTemporal(y + i + 16, b);
            Avx512F.StoreAlignedNonTemporal(y + i + 32, c);
            Avx512F.StoreAlignedNonTemporal(y + i + 48, e);
        }
        Sse.StoreFence();
    }
}
