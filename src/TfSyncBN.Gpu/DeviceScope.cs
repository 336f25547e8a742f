namespace TfSyncBN.Gpu;

/// <summary>
/// Collects the pooled <see cref="GpuTensor"/>s created on this thread while it is the innermost scope, and disposes
/// them (returning their buffers to their device's <see cref="DevicePool"/>) when it is disposed, except those passed to
/// <see cref="Keep"/>. Variables (<see cref="IlgpuDevice.CreateVariable"/>) own their memory and never join a scope.
/// Scopes nest; a scope belongs to the thread that created it.
/// </summary>
public sealed class DeviceScope : IDisposable
{
    [ThreadStatic] private static DeviceScope? current;
    private readonly DeviceScope? parent;
    private readonly List<IDisposable> tensors = [];
    private readonly int thread = Environment.CurrentManagedThreadId;
    private bool disposed;

    /// <summary>Opens a scope on this thread.</summary>
    public DeviceScope()
    {
        parent = current;
        current = this;
    }

    internal static DeviceScope? Current => current;

    internal void Add(IDisposable item) => tensors.Add(item);

    /// <summary>Moves <paramref name="tensor"/> (a <see cref="GpuTensor"/> or an op result holding device memory) out of
    /// this scope into the enclosing one, or to the caller, who then disposes it.</summary>
    /// <returns>The tensor.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="tensor"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="tensor"/> does not belong to this scope.</exception>
    public T Keep<T>(T tensor) where T : class, IDisposable
    {
        ArgumentNullException.ThrowIfNull(tensor);
        if (!tensors.Remove(tensor)) throw new ArgumentException("The tensor does not belong to this scope.", nameof(tensor));
        parent?.tensors.Add(tensor);
        return tensor;
    }

    /// <summary>Disposes every tensor of the scope not kept, and makes the enclosing scope current again.</summary>
    /// <exception cref="InvalidOperationException">Called on another thread, or while an inner scope is still open.</exception>
    public void Dispose()
    {
        if (disposed) return;
        if (Environment.CurrentManagedThreadId != thread)
            throw new InvalidOperationException("A DeviceScope must be disposed on the thread that created it.");
        if (current != this) throw new InvalidOperationException("An inner DeviceScope is still open; dispose scopes in reverse order.");
        disposed = true;
        current = parent;
        foreach (var t in tensors) t.Dispose();
        tensors.Clear();
    }
}
