using System.Collections.Concurrent;

namespace TfSyncBN.Tensors;

/// <summary>
/// A region of code whose intermediate tensors reuse memory: while a scope is open on a thread, the tensors that
/// operations create on that thread take their storage from a pool of that thread, and the scope gives the storage back
/// when it is disposed, so that a loop of same-shaped steps (a training step, a benchmark iteration) allocates no
/// tensor-sized memory in steady state. It plays the part of TensorFlow's and PyTorch's caching allocators, with the
/// lifetime made explicit as in TorchSharp's <c>DisposeScope</c>.
/// </summary>
/// <remarks>
/// <para>The contract: a tensor created inside a scope must not be used after the scope is disposed (its storage then
/// holds other tensors' values), unless it was passed to <see cref="Keep"/>, or assigned to a <see cref="Variable"/>
/// (variables take their storage out of the scope that allocated it, on whichever thread). The same holds for a
/// <see cref="Variable.Value"/> read inside a scope: when an optimizer updates that variable inside a scope, the value it
/// replaced goes back to the pool with that scope (so that a training loop's weights and optimizer slots reuse their
/// storage too). A value read outside any scope, passed to <see cref="Keep"/>, assigned to another variable or returned
/// by <see cref="Keras.Model.GetWeights"/> is never recycled.
/// Views that share storage (<see cref="Tensor.Reshape"/>) share the fate of their storage.</para>
/// <para>Only storage of at least <see cref="MinPooledElements"/> floats is pooled: below that the garbage collector's
/// nursery is cheaper than the bookkeeping. Each thread's pool keeps at most <see cref="MaxPooledBytesPerThread"/>
/// bytes of free storage; what a disposed scope returns beyond that is left to the garbage collector.</para>
/// <para>Scopes are per thread and nest; each must be disposed on the thread that began it, innermost first.
/// <see cref="Keras.Model.TrainStep(Tensor, Tensor)"/> runs each replica's step in a scope of its own.</para>
/// </remarks>
public sealed class TensorScope : IDisposable
{
    /// <summary>The smallest storage, in floats (16 KiB), that scopes pool.</summary>
    public const int MinPooledElements = 4096;

    /// <summary>The most free storage, in bytes (1 GiB), that one thread's pool keeps between scopes.</summary>
    public const long MaxPooledBytesPerThread = 1L << 30;

    [ThreadStatic] private static TensorScope? current;

    /// <summary>Tests only: when set, scopes hand out fresh GC storage (a reference run to compare pooled runs with).</summary>
    internal static volatile bool PoolingDisabled;

    /// <summary>How many times, process-wide, a scope handed out storage that an earlier scope had returned.</summary>
    internal static long Reuses => Interlocked.Read(ref reuses);

    private static long reuses;
    [ThreadStatic] private static Pool? pool;

    private readonly TensorScope? outer;
    private readonly Thread owner = Thread.CurrentThread;
    private readonly List<float[]> allocated = [];
    private List<TensorStorage>? deviceAllocated;
    private bool disposed;

    /// <summary>
    /// The open scope that owns each piece of pooled storage handed out and not yet returned. Process-wide, so that a
    /// variable assigned on any thread takes its storage out of the scope that allocated it, whichever thread that is.
    /// </summary>
    private static readonly ConcurrentDictionary<float[], TensorScope> Owners = new(ReferenceEqualityComparer.Instance);

    /// <summary>The open scope that owns each piece of device storage (<see cref="Track"/>), as <see cref="Owners"/> for host storage.</summary>
    private static readonly ConcurrentDictionary<TensorStorage, TensorScope> DeviceOwners = new(ReferenceEqualityComparer.Instance);

    private TensorScope(TensorScope? outer) => this.outer = outer;

    /// <summary>Opens a scope on the calling thread, nested in the one already open there, if any.</summary>
    public static TensorScope Begin() => current = new TensorScope(current);

    /// <summary>Whether a scope is open on the calling thread.</summary>
    public static bool IsActive => current is not null;

    /// <summary>
    /// Takes <paramref name="tensor"/>'s storage out of this scope, so that the tensor stays valid after the scope is
    /// disposed: it moves to the enclosing scope if there is one, else to the garbage collector.
    /// </summary>
    /// <returns><paramref name="tensor"/>, for chaining.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="tensor"/> is null.</exception>
    /// <exception cref="ObjectDisposedException">The scope was disposed.</exception>
    /// <exception cref="InvalidOperationException">Called on another thread than the one that began the scope.</exception>
    public Tensor Keep(Tensor tensor)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        ObjectDisposedException.ThrowIf(disposed, this);
        if (Thread.CurrentThread != owner)
            throw new InvalidOperationException("TensorScope.Keep must be called on the thread that began the scope.");
        if (tensor.HostArray is { } host) Variable.Escape(host); // a variable's storage kept beyond the scope is never recycled
        if (tensor.HostArray is not { } data)
        {
            var storage = tensor.Storage;
            if (outer is null) DeviceOwners.TryRemove(KeyValuePair.Create(storage, this));
            else if (DeviceOwners.TryUpdate(storage, outer, this)) (outer.deviceAllocated ??= []).Add(storage);
            return tensor;
        }
        if (outer is null) Owners.TryRemove(KeyValuePair.Create(data, this));
        else if (Owners.TryUpdate(data, outer, this)) outer.allocated.Add(data);
        return tensor;
    }

    /// <summary>Closes the scope and returns the storage of every tensor created in it (and not kept) to the thread's pool.</summary>
    /// <exception cref="InvalidOperationException">Called on another thread than the one that began the scope, or while a
    /// scope nested in this one is still open.</exception>
    public void Dispose()
    {
        if (disposed) return;
        if (Thread.CurrentThread != owner)
            throw new InvalidOperationException("A TensorScope must be disposed on the thread that began it.");
        if (!ReferenceEquals(current, this))
            throw new InvalidOperationException("A TensorScope must be disposed after the scopes nested in it (innermost first).");
        disposed = true;
        current = outer;
        var p = pool ??= new Pool();
        foreach (var data in allocated)
        {
            // Storage kept into the outer scope or taken by a variable has left this scope: only the rest is returned.
            if (Owners.TryRemove(KeyValuePair.Create(data, this))) p.Return(data);
        }
        allocated.Clear();
        if (deviceAllocated is null) return;
        foreach (var storage in deviceAllocated)
            if (DeviceOwners.TryRemove(KeyValuePair.Create(storage, this))) storage.ReturnToPool();
        deviceAllocated = null;
    }

    /// <summary>
    /// Registers device storage just allocated by a backend with the scope open on the calling thread, if any: that
    /// scope calls <see cref="TensorStorage.ReturnToPool"/> when it is disposed, unless the storage was kept
    /// (<see cref="Keep"/>) or taken by a variable (<see cref="Release(TensorStorage)"/>). Without a scope nothing happens.
    /// </summary>
    internal static void Track(TensorStorage storage)
    {
        var scope = current;
        if (scope is null || PoolingDisabled) return;
        DeviceOwners[storage] = scope;
        (scope.deviceAllocated ??= []).Add(storage);
    }

    /// <summary>Takes device storage out of the scope that registered it, on any thread: it now belongs to a variable.</summary>
    internal static void Release(TensorStorage storage) => DeviceOwners.TryRemove(storage, out _);

    /// <summary>Storage for a new tensor of <paramref name="length"/> floats (contents unspecified): pooled inside a scope, else from the GC.</summary>
    internal static float[] Allocate(int length)
    {
        var scope = current;
        if (scope is null || length < MinPooledElements || PoolingDisabled) return GC.AllocateUninitializedArray<float>(length);
        var data = (pool ??= new Pool()).Rent(length);
        Owners[data] = scope;
        scope.allocated.Add(data);
        return data;
    }

    /// <summary>Takes <paramref name="data"/> out of the scope that allocated it, on any thread: it now belongs to a long-lived owner (a variable).</summary>
    internal static void Release(float[] data)
    {
        if (data.Length >= MinPooledElements) Owners.TryRemove(data, out _);
    }

    /// <summary>Whether <paramref name="data"/> was handed out by the scope open on the calling thread and is still owned by it.</summary>
    internal static bool OwnsNow(float[] data) =>
        current is { } scope && Owners.TryGetValue(data, out var owner) && ReferenceEquals(owner, scope);

    /// <summary>
    /// Makes the scope open on the calling thread the owner of <paramref name="data"/>, which nothing else references any
    /// more (a variable's previous value after an optimizer update): the scope returns it to the pool when disposed. Without
    /// a scope, or for storage too small to pool, the garbage collector takes it.
    /// </summary>
    internal static void Adopt(float[] data)
    {
        var scope = current;
        if (scope is null || data.Length < MinPooledElements || PoolingDisabled) return;
        Owners[data] = scope;
        scope.allocated.Add(data);
    }

    /// <summary>One thread's free storage, by exact length (tensors index their storage by its length).</summary>
    private sealed class Pool
    {
        private readonly Dictionary<int, Stack<float[]>> free = [];
        private long bytes;

        public float[] Rent(int length)
        {
            if (free.TryGetValue(length, out var stack) && stack.TryPop(out var data))
            {
                bytes -= 4L * length;
                Interlocked.Increment(ref reuses);
                return data;
            }
            return GC.AllocateUninitializedArray<float>(length);
        }

        public void Return(float[] data)
        {
            if (bytes + 4L * data.Length > MaxPooledBytesPerThread) return;
            if (!free.TryGetValue(data.Length, out var stack)) free[data.Length] = stack = new Stack<float[]>();
            stack.Push(data);
            bytes += 4L * data.Length;
        }
    }
}
