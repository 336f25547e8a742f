namespace TfSyncBN.Tensors;

/// <summary>
/// The elements of a tensor, on one <see cref="Tensors.Device"/>: a flat float32 buffer of <see cref="Length"/>
/// elements in row-major order. Tensors never change their storage after the operation that created them has
/// written it; views (reshapes, variable reads) share it.
/// </summary>
/// <remarks>
/// Host tensors keep a bare <c>float[]</c> (see <see cref="HostStorage"/>), so that the CPU path allocates nothing
/// per tensor beyond its elements; a backend for another device subclasses this type.
/// </remarks>
internal abstract class TensorStorage
{
    /// <summary>The device that holds the elements.</summary>
    public abstract Device Device { get; }

    /// <summary>The number of float32 elements.</summary>
    public abstract int Length { get; }

    /// <summary>Copies every element to <paramref name="destination"/> (a synchronization point for an asynchronous device).</summary>
    /// <exception cref="ArgumentException"><paramref name="destination"/> is shorter than <see cref="Length"/>.</exception>
    public abstract void CopyTo(Span<float> destination);

    /// <summary>
    /// Gives the elements back to the device's pool: called once by the <see cref="TensorScope"/> that the storage was
    /// registered with (<see cref="TensorScope.Track"/>) when it is disposed, unless the storage was kept or taken by a
    /// variable. The storage must not be read afterwards. Host storage is pooled by the scope itself and ignores this.
    /// </summary>
    internal virtual void ReturnToPool() { }
}

/// <summary>Storage in host memory: a managed <c>float[]</c> of exactly the tensor's size (possibly from a <see cref="TensorScope"/> pool).</summary>
internal sealed class HostStorage(float[] array) : TensorStorage
{
    /// <summary>The elements.</summary>
    public float[] Array { get; } = array;

    /// <inheritdoc/>
    public override Device Device => Device.Cpu;

    /// <inheritdoc/>
    public override int Length => Array.Length;

    /// <inheritdoc/>
    public override void CopyTo(Span<float> destination)
    {
        if (destination.Length < Array.Length)
            throw new ArgumentException($"The destination holds {destination.Length} elements, fewer than the storage's {Array.Length}.", nameof(destination));
        Array.CopyTo(destination);
    }
}
