using System.Collections.Concurrent;

namespace TfSyncBN.Tensors;

/// <summary>The backend of each device: <see cref="CpuBackend"/> for <c>cpu</c>, and whatever other assemblies register.</summary>
internal static class Backends
{
    private static readonly ConcurrentDictionary<Device, IBackend> Registered = new();

    /// <summary>Makes <paramref name="backend"/> the backend of its device (replacing an earlier one; the CPU's cannot be replaced).</summary>
    /// <exception cref="ArgumentException"><paramref name="backend"/> is for the CPU.</exception>
    internal static void Register(IBackend backend)
    {
        ArgumentNullException.ThrowIfNull(backend);
        if (backend.Device.IsHost) throw new ArgumentException("The cpu backend is built in and cannot be replaced.", nameof(backend));
        Registered[backend.Device] = backend;
    }

    /// <summary>Removes the backend of <paramref name="device"/>, if any (the CPU's stays).</summary>
    internal static void Unregister(Device device) => Registered.TryRemove(device, out _);

    /// <summary>The backend registered for <paramref name="device"/> (the CPU's for <c>cpu</c>), or null.</summary>
    internal static IBackend? TryGet(Device device) => device.IsHost ? CpuBackend.Instance : Registered.GetValueOrDefault(device);

    /// <summary>The backend of <paramref name="device"/>.</summary>
    /// <exception cref="InvalidOperationException">No backend is registered for the device.</exception>
    internal static IBackend For(Device device) => device.IsHost
        ? CpuBackend.Instance
        : Registered.TryGetValue(device, out var b)
            ? b
            : throw new InvalidOperationException(
                $"No backend is registered for device '{device}' (registered: cpu{string.Concat(Registered.Keys.Select(k => ", " + k))}).");
}
