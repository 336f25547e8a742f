using ILGPU;
using ILGPU.Runtime;

namespace TfSyncBN.Gpu;

/// <summary>A buffer rented from a <see cref="DevicePool"/> (scratch or per-channel statistics); Dispose returns it.</summary>
internal sealed class PooledBuffer<T> : IDisposable where T : unmanaged
{
    private readonly DevicePool pool;
    private MemoryBuffer1D<T, Stride1D.Dense>? buffer;

    public PooledBuffer(DevicePool pool, long length, bool joinScope)
    {
        this.pool = pool;
        Length = length;
        buffer = pool.Rent<T>(length);
        if (joinScope) DeviceScope.Current?.Add(this);
    }

    public long Length { get; }

    public ArrayView<T> View => (buffer ?? throw new ObjectDisposedException(nameof(PooledBuffer<T>))).View.SubView(0, Length);

    public T[] ToArray()
    {
        var r = new T[Length];
        if (Length > 0) View.CopyToCPU(r);
        return r;
    }

    public void Upload(T[] values)
    {
        if (Length > 0) View.CopyFromCPU(values);
    }

    public void Dispose()
    {
        if (buffer is null) return;
        pool.Return(buffer, Length);
        buffer = null;
    }
}
