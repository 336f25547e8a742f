using ILGPU;
using ILGPU.Runtime;

namespace TfSyncBN.Gpu;

/// <summary>
/// The buffer pool of one <see cref="IlgpuDevice"/>: device buffers are kept by element type and exact length and
/// handed out again instead of being allocated, so a training loop that repeats the same shapes stops allocating after
/// its first step. Buffers return when their <see cref="GpuTensor"/> is disposed, which a <see cref="DeviceScope"/> does
/// for every tensor created inside it. Thread-safe.
/// </summary>
public sealed class DevicePool
{
    private readonly Accelerator accelerator;
    private readonly Dictionary<(Type, long), Stack<MemoryBuffer>> free = [];
    private readonly object gate = new();

    // Strong references to the buffers handed out: a holder finalized by the garbage collector (IlgpuStorage) returns
    // its buffer from its finalizer, which is only safe while the buffer itself cannot be finalized with it.
    private readonly HashSet<MemoryBuffer> lent = new(ReferenceEqualityComparer.Instance);

    internal DevicePool(Accelerator accelerator) => this.accelerator = accelerator;

    /// <summary>How many device allocations the pool has made since it was created (a reused buffer does not count).</summary>
    public long Allocations { get; private set; }

    /// <summary>Bytes of device memory the pool holds now, handed out or free.</summary>
    public long HeldBytes { get; private set; }

    /// <summary>Buffers handed out and not yet returned.</summary>
    public int Outstanding { get; private set; }

    internal MemoryBuffer1D<T, Stride1D.Dense> Rent<T>(long length) where T : unmanaged
    {
        lock (gate)
        {
            Outstanding++;
            if (free.TryGetValue((typeof(T), length), out var stack) && stack.Count > 0)
            {
                var reused = (MemoryBuffer1D<T, Stride1D.Dense>)stack.Pop();
                lent.Add(reused);
                return reused;
            }
            Allocations++;
            var buffer = accelerator.Allocate1D<T>(Math.Max(length, 1));
            HeldBytes += buffer.LengthInBytes;
            lent.Add(buffer);
            return buffer;
        }
    }

    internal void Return<T>(MemoryBuffer1D<T, Stride1D.Dense> buffer, long length) where T : unmanaged
    {
        lock (gate)
        {
            Outstanding--;
            lent.Remove(buffer);
            var key = (typeof(T), length);
            if (!free.TryGetValue(key, out var stack)) free[key] = stack = new Stack<MemoryBuffer>();
            stack.Push(buffer);
        }
    }

    /// <summary>Frees every buffer that is not handed out.</summary>
    public void Trim()
    {
        lock (gate)
        {
            foreach (var stack in free.Values)
                while (stack.Count > 0)
                {
                    var b = stack.Pop();
                    HeldBytes -= b.LengthInBytes;
                    b.Dispose();
                }
            free.Clear();
        }
    }
}
