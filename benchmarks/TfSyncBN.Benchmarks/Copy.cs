namespace TfSyncBN.Benchmarks;

/// <summary>The memory-bandwidth reference: a copy of the same tensor, on the same number of threads.</summary>
internal static class Copy
{
    public static void Run(float[] source, float[] destination, int threads)
    {
        if (threads <= 1)
        {
            source.AsSpan().CopyTo(destination);
            return;
        }
        Parallel.For(0, threads, p =>
        {
            int start = (int)((long)source.Length * p / threads), end = (int)((long)source.Length * (p + 1) / threads);
            source.AsSpan(start, end - start).CopyTo(destination.AsSpan(start));
        });
    }
}
