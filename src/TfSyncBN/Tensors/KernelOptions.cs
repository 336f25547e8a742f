namespace TfSyncBN.Tensors;

/// <summary>
/// Process-wide settings of the compute kernels (the batch-normalization statistics and normalization passes, matrix
/// products), the counterpart of <c>torch.set_num_threads</c>.
/// </summary>
/// <remarks>
/// <para>Parallelism normally comes from replicas: <c>MirroredStrategy(n)</c> runs n replicas on n threads, each
/// calling single-threaded kernels. A single model outside a multi-replica <c>Run</c> can instead let one kernel call
/// use up to <see cref="MaxThreads"/> threads: a batch-normalization call splits the batch axis (the outer rows of its
/// [outer, channels, inner] view) into that many contiguous blocks, one per thread, each block accumulating its own
/// per-channel sums, which are then added in block order; a matrix product splits its output into contiguous slabs of
/// rows (or columns), each computed by one thread. Either way results are deterministic for a given thread count.</para>
/// <para>A call uses <c>min(MaxThreads, elements / MinElementsPerThread, outer rows)</c> threads, at least 1. Inside a
/// replica of a <c>Run</c> with more than one replica it always uses 1 thread: the replicas already occupy the
/// cores, and nested fork-join inside a collective step only adds contention.</para>
/// </remarks>
public static class KernelOptions
{
    private static int maxThreads = 1;
    private static int minElementsPerThread = 1 << 17;

    /// <summary>
    /// The most threads one kernel call may use outside a multi-replica <c>Run</c>. Default 1 (single-threaded).
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is less than 1.</exception>
    public static int MaxThreads
    {
        get => Volatile.Read(ref maxThreads);
        set
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, 1, nameof(value));
            Volatile.Write(ref maxThreads, value);
        }
    }

    /// <summary>
    /// The fewest elements each thread of a multi-threaded kernel call gets (default 131,072 floats = 512 KiB): smaller
    /// tensors use fewer threads, because handing work to another thread costs a few microseconds.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is less than 1.</exception>
    public static int MinElementsPerThread
    {
        get => Volatile.Read(ref minElementsPerThread);
        set
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, 1, nameof(value));
            Volatile.Write(ref minElementsPerThread, value);
        }
    }

    private static volatile bool useNativeBlas = Environment.GetEnvironmentVariable("TFSYNCBN_NATIVE_BLAS") != "0";

    /// <summary>
    /// Whether matrix products (<c>MatMul</c>, <c>Dense</c>, <c>Conv2D</c> forward and backward) call OpenBLAS's
    /// <c>cblas_sgemm</c> when an OpenBLAS library is installed (see <see cref="NativeBlasLibrary"/>); false, or no
    /// library, uses the managed kernel. On a CPU with AVX-512 where OpenBLAS runs narrower kernels (e.g. under
    /// <c>OPENBLAS_CORETYPE=Haswell</c>), products at least 32 columns wide and 24 rows tall use the managed AVX-512 kernel
    /// even when true. Default true, unless the environment variable <c>TFSYNCBN_NATIVE_BLAS</c> is
    /// <c>0</c> at start-up. The two give equal results up to float32 rounding; each is deterministic for a fixed
    /// <see cref="MaxThreads"/>.
    /// </summary>
    public static bool UseNativeBlas
    {
        get => useNativeBlas;
        set => useNativeBlas = value;
    }

    /// <summary>
    /// The file name of the OpenBLAS library that matrix products can use (e.g. <c>libopenblas.so.0</c>, from Debian's
    /// <c>libopenblas0-pthread</c>), or null when none could be loaded. OpenBLAS's own thread pool is set to one
    /// thread when it loads; products are split over threads as <see cref="MaxThreads"/> says.
    /// </summary>
    public static string? NativeBlasLibrary => Kernels.NativeBlas.LibraryName;

    /// <summary>How many threads a kernel call over <paramref name="elements"/> elements in <paramref name="outer"/> rows uses.</summary>
    internal static int ThreadsFor(long elements, int outer)
    {
        int max = MaxThreads;
        if (max <= 1 || Replication.CurrentContext is { NumReplicasInSync: > 1 }) return 1;
        long byWork = elements / MinElementsPerThread;
        return (int)Math.Max(1, Math.Min(Math.Min(max, byWork), outer));
    }
}
