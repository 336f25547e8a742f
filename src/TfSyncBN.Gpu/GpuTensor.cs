using ILGPU;
using ILGPU.Runtime;

namespace TfSyncBN.Gpu;

/// <summary>
/// A dense row-major float32 tensor in the memory of an <see cref="IlgpuDevice"/>. Op results come from the device's
/// <see cref="DevicePool"/> and join the current <see cref="DeviceScope"/>; <see cref="Dispose"/> returns the buffer.
/// Variables own their buffer and free it on <see cref="Dispose"/>.
/// </summary>
public sealed class GpuTensor : IDisposable
{
    private readonly int[] shape;
    private MemoryBuffer1D<float, Stride1D.Dense>? buffer;
    private readonly GpuTensor? owner;
    private readonly bool pooled;

    internal GpuTensor(IlgpuDevice device, int[] shape, bool pooled)
    {
        Device = device;
        this.shape = shape;
        Length = Checked(shape);
        this.pooled = pooled;
        buffer = pooled ? device.Pool.Rent<float>(Length) : device.Accelerator.Allocate1D<float>(Math.Max(Length, 1));
        if (pooled) DeviceScope.Current?.Add(this);
    }

    private GpuTensor(GpuTensor owner, int[] shape)
    {
        Device = owner.Device;
        this.shape = shape;
        Length = owner.Length;
        this.owner = owner;
    }

    /// <summary>The device that holds the tensor.</summary>
    public IlgpuDevice Device { get; }

    /// <summary>The shape.</summary>
    public IReadOnlyList<int> Shape => shape;

    /// <summary>The number of elements.</summary>
    public int Length { get; }

    internal int[] ShapeArray => shape;

    /// <summary>Whether the tensor (or the tensor whose memory it views) was disposed.</summary>
    public bool IsDisposed => owner?.IsDisposed ?? buffer is null;

    internal ArrayView<float> View
    {
        get
        {
            var b = owner is null ? buffer : owner.buffer;
            if (b is null) throw new ObjectDisposedException(nameof(GpuTensor), "The GpuTensor was disposed (its buffer went back to the pool).");
            return b.View.SubView(0, Length);
        }
    }

    /// <summary>Copies the values to a new host array (waits for the device).</summary>
    /// <exception cref="ObjectDisposedException">The tensor was disposed.</exception>
    public float[] ToArray()
    {
        var result = new float[Length];
        if (Length > 0) View.CopyToCPU(result);
        return result;
    }

    /// <summary>A tensor of another shape with the same elements, viewing this tensor's memory (valid while this one is).</summary>
    /// <param name="newShape">The new shape; its element count must equal <see cref="Length"/>.</param>
    /// <exception cref="ArgumentException">The element counts differ, or a dimension is negative.</exception>
    public GpuTensor Reshape(IReadOnlyList<int> newShape)
    {
        ArgumentNullException.ThrowIfNull(newShape);
        var s = newShape.ToArray();
        if (Checked(s) != Length)
            throw new ArgumentException($"newShape [{string.Join(", ", s)}] holds a different number of elements than [{string.Join(", ", shape)}].", nameof(newShape));
        return new GpuTensor(owner ?? this, s);
    }

    /// <summary>Returns a pooled buffer to its pool, or frees a variable's; a reshaped view releases nothing. Idempotent.</summary>
    public void Dispose()
    {
        if (owner is not null || buffer is null) return;
        if (pooled) Device.Pool.Return(buffer, Length);
        else buffer.Dispose();
        buffer = null;
    }

    private static int Checked(int[] shape)
    {
        long n = 1;
        foreach (int d in shape)
        {
            if (d < 0) throw new ArgumentException($"Dimensions must be >= 0, but the shape is [{string.Join(", ", shape)}].", nameof(shape));
            n *= d;
            if (n > int.MaxValue) throw new ArgumentException($"The shape [{string.Join(", ", shape)}] holds more than {int.MaxValue} elements.", nameof(shape));
        }
        return (int)n;
    }
}
