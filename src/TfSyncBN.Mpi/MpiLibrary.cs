using System.Runtime.InteropServices;

namespace TfSyncBN.Mpi;

/// <summary>
/// Open MPI's C API, bound lazily from <c>libmpi.so.40</c> (Open MPI 3.x and 4.x) on first use.
/// </summary>
/// <remarks>
/// Open MPI's handles (<c>MPI_COMM_WORLD</c>, <c>MPI_FLOAT</c>, <c>MPI_SUM</c>, ...) are the addresses of exported
/// globals (<c>ompi_mpi_comm_world</c>, ...), so they are read with <see cref="NativeLibrary.GetExport"/>, and the
/// functions are called through unmanaged function pointers (no marshalling: every argument is blittable).
/// </remarks>
internal sealed unsafe class MpiLibrary
{
    /// <summary>The Open MPI shared library that is loaded.</summary>
    public const string DefaultLibraryName = "libmpi.so.40";

    public const int ThreadMultiple = 3; // MPI_THREAD_MULTIPLE in Open MPI's mpi.h
    public const int Success = 0;        // MPI_SUCCESS

    /// <summary>What a user must do when the library cannot be loaded.</summary>
    public const string InstallHint =
        "Install Open MPI (Debian/Ubuntu: `sudo apt-get install -y openmpi-bin libopenmpi-dev`; Fedora/RHEL: " +
        "`sudo dnf install openmpi openmpi-devel` and `module load mpi/openmpi-x86_64`) and start the program with " +
        "`mpirun -np <workers> dotnet <program>.dll`. A program started without mpirun runs as a single worker and does not need Open MPI.";

    private static readonly Lazy<MpiLibrary> Instance = new(() => Load(DefaultLibraryName), LazyThreadSafetyMode.ExecutionAndPublication);

    public readonly IntPtr CommWorld, Float, Double, OpSum;
    public readonly delegate* unmanaged<int*, int> Initialized, Finalized;
    public readonly delegate* unmanaged<int*, byte***, int, int*, int> InitThread;
    public readonly delegate* unmanaged<int> Finalize;
    public readonly delegate* unmanaged<IntPtr, int*, int> CommRank, CommSize;
    public readonly delegate* unmanaged<IntPtr, int> Barrier;
    public readonly delegate* unmanaged<IntPtr, int, int> Abort;
    public readonly delegate* unmanaged<void*, void*, int, IntPtr, IntPtr, IntPtr, int> Allreduce;
    public readonly delegate* unmanaged<void*, int, IntPtr, void*, int*, int*, IntPtr, IntPtr, int> Allgatherv;
    public readonly delegate* unmanaged<void*, int, IntPtr, void*, int, IntPtr, int, IntPtr, int> Gather;
    public readonly delegate* unmanaged<void*, int, IntPtr, int, IntPtr, int> Bcast;
    public readonly delegate* unmanaged<void*, int*, int*, IntPtr, void*, int*, int*, IntPtr, IntPtr, int> Alltoallv;

    private MpiLibrary(IntPtr lib)
    {
        CommWorld = NativeLibrary.GetExport(lib, "ompi_mpi_comm_world");
        Float = NativeLibrary.GetExport(lib, "ompi_mpi_float");
        Double = NativeLibrary.GetExport(lib, "ompi_mpi_double");
        OpSum = NativeLibrary.GetExport(lib, "ompi_mpi_op_sum");
        Initialized = (delegate* unmanaged<int*, int>)NativeLibrary.GetExport(lib, "MPI_Initialized");
        Finalized = (delegate* unmanaged<int*, int>)NativeLibrary.GetExport(lib, "MPI_Finalized");
        InitThread = (delegate* unmanaged<int*, byte***, int, int*, int>)NativeLibrary.GetExport(lib, "MPI_Init_thread");
        Finalize = (delegate* unmanaged<int>)NativeLibrary.GetExport(lib, "MPI_Finalize");
        CommRank = (delegate* unmanaged<IntPtr, int*, int>)NativeLibrary.GetExport(lib, "MPI_Comm_rank");
        CommSize = (delegate* unmanaged<IntPtr, int*, int>)NativeLibrary.GetExport(lib, "MPI_Comm_size");
        Barrier = (delegate* unmanaged<IntPtr, int>)NativeLibrary.GetExport(lib, "MPI_Barrier");
        Abort = (delegate* unmanaged<IntPtr, int, int>)NativeLibrary.GetExport(lib, "MPI_Abort");
        Allreduce = (delegate* unmanaged<void*, void*, int, IntPtr, IntPtr, IntPtr, int>)NativeLibrary.GetExport(lib, "MPI_Allreduce");
        Allgatherv = (delegate* unmanaged<void*, int, IntPtr, void*, int*, int*, IntPtr, IntPtr, int>)NativeLibrary.GetExport(lib, "MPI_Allgatherv");
        Gather = (delegate* unmanaged<void*, int, IntPtr, void*, int, IntPtr, int, IntPtr, int>)NativeLibrary.GetExport(lib, "MPI_Gather");
        Bcast = (delegate* unmanaged<void*, int, IntPtr, int, IntPtr, int>)NativeLibrary.GetExport(lib, "MPI_Bcast");
        Alltoallv = (delegate* unmanaged<void*, int*, int*, IntPtr, void*, int*, int*, IntPtr, IntPtr, int>)NativeLibrary.GetExport(lib, "MPI_Alltoallv");
    }

    /// <summary>The bindings, loaded on first use.</summary>
    /// <exception cref="DllNotFoundException">Open MPI is not installed (the message says how to install it).</exception>
    public static MpiLibrary Get()
    {
        try
        {
            return Instance.Value;
        }
        catch (DllNotFoundException e)
        {
            // Lazy caches the exception; rethrow a fresh one so each caller gets its own stack trace.
            throw new DllNotFoundException(e.Message, e);
        }
    }

    /// <summary>Loads <paramref name="libraryName"/> and binds every function and handle.</summary>
    /// <exception cref="DllNotFoundException">The library cannot be loaded or lacks an Open MPI symbol; the message says how to install Open MPI.</exception>
    internal static MpiLibrary Load(string libraryName)
    {
        if (!NativeLibrary.TryLoad(libraryName, out var lib))
            throw new DllNotFoundException(
                $"TfSyncBN.Mpi needs Open MPI, but its library '{libraryName}' could not be loaded. {InstallHint}");
        try
        {
            return new MpiLibrary(lib);
        }
        catch (EntryPointNotFoundException e)
        {
            throw new DllNotFoundException(
                $"'{libraryName}' was loaded but is not Open MPI 3.x/4.x (missing symbol: {e.Message}). TfSyncBN.Mpi binds Open MPI's ABI. {InstallHint}", e);
        }
    }

    /// <summary>Throws <see cref="InvalidOperationException"/> naming <paramref name="function"/> when an MPI call did not succeed.</summary>
    public static void Check(int code, string function)
    {
        if (code != Success)
            throw new InvalidOperationException($"{function} failed with MPI error code {code}.");
    }
}
