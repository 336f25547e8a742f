using System.Runtime.InteropServices;

namespace TfSyncBN.Mpi.Benchmarks;

/// <summary>Direct calls of Open MPI collectives, with no TfSyncBN code in between: the baseline.</summary>
internal sealed unsafe class BareMpi
{
    private readonly IntPtr world, mpiDouble, mpiFloat, sum;
    private readonly delegate* unmanaged<void*, void*, int, IntPtr, IntPtr, IntPtr, int> allreduce;
    private readonly delegate* unmanaged<void*, int, IntPtr, void*, int, IntPtr, IntPtr, int> allgather;
    private readonly delegate* unmanaged<void*, int, IntPtr, void*, int, IntPtr, int, IntPtr, int> gather;
    private readonly delegate* unmanaged<void*, int, IntPtr, int, IntPtr, int> bcast;
    private readonly delegate* unmanaged<IntPtr, int> barrier;

    public BareMpi()
    {
        var lib = NativeLibrary.Load("libmpi.so.40");
        world = NativeLibrary.GetExport(lib, "ompi_mpi_comm_world");
        mpiDouble = NativeLibrary.GetExport(lib, "ompi_mpi_double");
        mpiFloat = NativeLibrary.GetExport(lib, "ompi_mpi_float");
        sum = NativeLibrary.GetExport(lib, "ompi_mpi_op_sum");
        allreduce = (delegate* unmanaged<void*, void*, int, IntPtr, IntPtr, IntPtr, int>)NativeLibrary.GetExport(lib, "MPI_Allreduce");
        allgather = (delegate* unmanaged<void*, int, IntPtr, void*, int, IntPtr, IntPtr, int>)NativeLibrary.GetExport(lib, "MPI_Allgather");
        gather = (delegate* unmanaged<void*, int, IntPtr, void*, int, IntPtr, int, IntPtr, int>)NativeLibrary.GetExport(lib, "MPI_Gather");
        bcast = (delegate* unmanaged<void*, int, IntPtr, int, IntPtr, int>)NativeLibrary.GetExport(lib, "MPI_Bcast");
        barrier = (delegate* unmanaged<IntPtr, int>)NativeLibrary.GetExport(lib, "MPI_Barrier");
    }

    /// <summary>MPI_Allreduce(MPI_IN_PLACE, buffer, length, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD).</summary>
    public void AllreduceInPlace(double[] buffer, int length)
    {
        fixed (double* p = buffer) Check(allreduce((void*)1, p, length, mpiDouble, sum, world));
    }

    /// <summary>MPI_Allreduce of floats in place.</summary>
    public void AllreduceInPlace(float[] buffer, int length)
    {
        fixed (float* p = buffer) Check(allreduce((void*)1, p, length, mpiFloat, sum, world));
    }

    /// <summary>MPI_Allgather of <paramref name="length"/> doubles per rank into <paramref name="all"/>.</summary>
    public void Allgather(double[] buffer, int length, double[] all)
    {
        fixed (double* p = buffer)
        fixed (double* q = all)
            Check(allgather(p, length, mpiDouble, q, length, mpiDouble, world));
    }

    /// <summary>MPI_Gather of <paramref name="length"/> doubles per rank into <paramref name="all"/> on rank 0, then MPI_Bcast of <paramref name="length"/> doubles from rank 0 (no addition).</summary>
    public void GatherBcast(double[] buffer, int length, double[] all)
    {
        fixed (double* p = buffer)
        fixed (double* q = all)
        {
            Check(gather(p, length, mpiDouble, q, length, mpiDouble, 0, world));
            Check(bcast(p, length, mpiDouble, 0, world));
        }
    }

    public void Barrier() => Check(barrier(world));

    private static void Check(int code)
    {
        if (code != 0) throw new InvalidOperationException($"MPI error {code}");
    }
}
