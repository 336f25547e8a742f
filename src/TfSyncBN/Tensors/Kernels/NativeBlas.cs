using System.Runtime.InteropServices;

namespace TfSyncBN.Tensors.Kernels;

/// <summary>
/// OpenBLAS's <c>cblas_sgemm</c>, found at run time (Debian's <c>libopenblas0-pthread</c> provides
/// <c>libopenblas.so.0</c>). When no OpenBLAS library loads, <see cref="IsAvailable"/> is false and <see cref="Gemm"/>
/// uses its managed kernel.
/// </summary>
/// <remarks>
/// On load, OpenBLAS's own thread pool is set to one thread (<c>openblas_set_num_threads(1)</c>): every call runs on
/// the calling thread, so R replicas on R threads use R cores, and <see cref="Gemm"/> does any splitting of one product
/// over threads itself (a fixed split for a fixed thread count, so results are deterministic).
/// A library that lacks <c>openblas_set_num_threads</c> is not used, because its threading could not be controlled.
/// </remarks>
internal static unsafe class NativeBlas
{
    private const int RowMajor = 101, NoTrans = 111, Trans = 112;

    private static readonly delegate* unmanaged<int, int, int, int, int, int, float, float*, int, float*, int, float, float*, int, void> Sgemm;

    /// <summary>The file name of the loaded library, or null when none loaded.</summary>
    public static string? LibraryName { get; }

    /// <summary>The library's configuration string (<c>openblas_get_config</c>), or null.</summary>
    public static string? Config { get; }

    /// <summary>The name of the kernel family OpenBLAS chose for this CPU (<c>openblas_get_corename</c>), or null.</summary>
    public static string? CoreName { get; }

    static NativeBlas()
    {
        foreach (var name in new[] { "libopenblas.so.0", "libopenblas.so", "libopenblas.dylib", "libopenblas.dll" })
        {
            if (!NativeLibrary.TryLoad(name, typeof(NativeBlas).Assembly, null, out var lib)) continue;
            if (NativeLibrary.TryGetExport(lib, "cblas_sgemm", out var sgemm) &&
                NativeLibrary.TryGetExport(lib, "openblas_set_num_threads", out var setThreads))
            {
                ((delegate* unmanaged<int, void>)setThreads)(1);
                Sgemm = (delegate* unmanaged<int, int, int, int, int, int, float, float*, int, float*, int, float, float*, int, void>)sgemm;
                LibraryName = name;
                Config = ReadString(lib, "openblas_get_config");
                CoreName = ReadString(lib, "openblas_get_corename");
                return;
            }
            NativeLibrary.Free(lib);
        }
    }

    private static string? ReadString(IntPtr lib, string export) =>
        NativeLibrary.TryGetExport(lib, export, out var f) ? Marshal.PtrToStringAnsi(((delegate* unmanaged<IntPtr>)f)()) : null;

    /// <summary>
    /// Whether the loaded OpenBLAS runs 512-bit kernels (its SkylakeX, Cooperlake and SapphireRapids kernel families);
    /// false when none is loaded, or when it runs narrower ones, e.g. on a CPU without AVX-512 or under
    /// <c>OPENBLAS_CORETYPE=Haswell</c>.
    /// </summary>
    public static bool Has512BitKernels => Is512BitCore(CoreName);

    /// <summary>Whether OpenBLAS's kernel family <paramref name="coreName"/> (<c>openblas_get_corename</c>) uses 512-bit vectors.</summary>
    internal static bool Is512BitCore(string? coreName) => coreName is not null &&
        new[] { "skylakex", "cooperlake", "sapphirerapids" }.Any(f => coreName.Contains(f, StringComparison.OrdinalIgnoreCase));

    /// <summary>Whether an OpenBLAS library was loaded.</summary>
    public static bool IsAvailable => Sgemm != null;

    /// <summary>
    /// <c>C = op(A)·op(B) + beta·C</c> on row-major storage with leading dimensions (cblas_sgemm, alpha = 1);
    /// beta is 0 (C is overwritten, its old contents ignored) or 1.
    /// </summary>
    public static void Multiply(int m, int n, int k, ReadOnlySpan<float> a, int lda, bool transA, ReadOnlySpan<float> b, int ldb, bool transB,
        Span<float> c, int ldc, bool accumulate)
    {
        fixed (float* pa = a, pb = b, pc = c)
            Sgemm(RowMajor, transA ? Trans : NoTrans, transB ? Trans : NoTrans, m, n, k, 1f, pa, lda, pb, ldb, accumulate ? 1f : 0f, pc, ldc);
    }
}
