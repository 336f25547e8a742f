using TfSyncBN.Tensors;

namespace TfSyncBN.Gpu;

/// <summary>
/// The <see cref="IBackend"/> of an <see cref="IlgpuDevice"/> (registered by <see cref="IlgpuDevice.AttachToTensors"/>):
/// storage is <see cref="IlgpuStorage"/> from the device's pool, registered with the open <see cref="TensorScope"/>; every
/// member enqueues one kernel (or one copy) on the device's stream, in call order, holding the device's lock (several
/// replicas' threads may share one device).
/// </summary>
internal sealed partial class IlgpuBackend(IlgpuDevice owner, Tensors.Device device) : IBackend
{
    /// <summary>The ILGPU device that runs the kernels.</summary>
    public IlgpuDevice Owner { get; } = owner;

    /// <inheritdoc/>
    public Tensors.Device Device { get; } = device;

    private IlgpuStorage S(TensorStorage s) => s is IlgpuStorage g && g.Owner == Owner
        ? g
        : throw new ArgumentException($"The storage is on '{s.Device}' ({s.GetType().Name}), not in the memory of the backend of '{Device}'.", nameof(s));

    /// <inheritdoc/>
    public TensorStorage Allocate(int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        var storage = new IlgpuStorage(Owner, Device, length);
        TensorScope.Track(storage);
        return storage;
    }

    /// <inheritdoc/>
    public TensorStorage Upload(ReadOnlySpan<float> values)
    {
        var storage = (IlgpuStorage)Allocate(values.Length);
        storage.Upload(values);
        return storage;
    }

    /// <inheritdoc/>
    public void Fill(TensorStorage destination, float value)
    {
        lock (Owner) Owner.Fill(S(destination).View, value);
    }

    /// <inheritdoc/>
    public void Binary(BinaryOpKind op, TensorStorage x, TensorStorage y, TensorStorage destination)
    {
        lock (Owner) Owner.Binary(op, S(x).View, S(y).View, S(destination).View);
    }

    /// <inheritdoc/>
    public void SgdUpdate(TensorStorage weights, TensorStorage gradient, TensorStorage? momentum, float learningRate, float mu,
        bool nesterov, TensorStorage newWeights, TensorStorage? newMomentum)
    {
        lock (Owner)
            Owner.SgdInto(S(weights).View, S(gradient).View, momentum is null ? null : S(momentum).View, learningRate, mu, nesterov,
                S(newWeights).View, newMomentum is null ? null : S(newMomentum).View);
    }

    /// <inheritdoc/>
    public void AdamUpdate(TensorStorage weights, TensorStorage gradient, TensorStorage m, TensorStorage v, float alpha, float beta1,
        float beta2, float epsilon, TensorStorage newWeights, TensorStorage newM, TensorStorage newV)
    {
        lock (Owner)
            Owner.AdamInto(S(weights).View, S(gradient).View, S(m).View, S(v).View, alpha, beta1, beta2, epsilon,
                S(newWeights).View, S(newM).View, S(newV).View);
    }
}
