using System.Runtime.InteropServices;
using ILGPU;
using ILGPU.Runtime;
using TfSyncBN.Tensors;

namespace TfSyncBN.Gpu;

/// <summary>
/// Tensor storage in the memory of an <see cref="IlgpuDevice"/>: a buffer rented from the device's <see cref="DevicePool"/>.
/// It goes back to the pool when the <see cref="TensorScope"/> that allocated it is disposed (<see cref="ReturnToPool"/>),
/// or, for storage made outside a scope or taken by a variable, when the garbage collector finalizes it.
/// </summary>
internal sealed class IlgpuStorage : TensorStorage
{
    private readonly IlgpuDevice device;
    private MemoryBuffer1D<float, Stride1D.Dense>? buffer;

    internal IlgpuStorage(IlgpuDevice device, Tensors.Device tensorDevice, int length)
    {
        this.device = device;
        Device = tensorDevice;
        Length = length;
        buffer = device.Pool.Rent<float>(length);
    }

    ~IlgpuStorage()
    {
        if (Interlocked.Exchange(ref buffer, null) is { } b) device.Pool.Return(b, Length);
    }

    /// <inheritdoc/>
    public override Tensors.Device Device { get; }

    /// <inheritdoc/>
    public override int Length { get; }

    /// <summary>The ILGPU device that holds the buffer.</summary>
    internal IlgpuDevice Owner => device;

    /// <summary>The elements.</summary>
    /// <exception cref="ObjectDisposedException">The storage went back to the pool.</exception>
    internal ArrayView<float> View => (buffer ?? throw new ObjectDisposedException(nameof(IlgpuStorage),
        "This tensor's device storage went back to the pool when its TensorScope was disposed: keep it with TensorScope.Keep.")).View.SubView(0, Length);

    /// <inheritdoc/>
    public override void CopyTo(Span<float> destination)
    {
        if (destination.Length < Length)
            throw new ArgumentException($"The destination holds {destination.Length} elements, fewer than the storage's {Length}.", nameof(destination));
        if (Length == 0) return;
        lock (device) View.CopyToCPU(destination[..Length]);
    }

    /// <summary>Copies <paramref name="values"/> (of <see cref="Length"/> elements) into the storage.</summary>
    internal void Upload(ReadOnlySpan<float> values)
    {
        if (Length == 0) return;
        var target = (buffer ?? throw new ObjectDisposedException(nameof(IlgpuStorage))).View.SubView(0, Length);
        lock (device) target.CopyFromCPU(ref MemoryMarshal.GetReference(values), Length);
    }

    /// <inheritdoc/>
    internal override void ReturnToPool()
    {
        if (Interlocked.Exchange(ref buffer, null) is not { } b) return;
        GC.SuppressFinalize(this);
        device.Pool.Return(b, Length);
    }
}
