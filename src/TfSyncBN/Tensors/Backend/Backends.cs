using System.Collections.Concurrent;
using System.Reflection;
using System.Runtime.CompilerServices;

namespace TfSyncBN.Tensors;

/// <summary>The backend of each device: <see cref="CpuBackend"/> for <c>cpu</c>, and whatever other assemblies register.</summary>
internal static partial class Backends
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

    private static readonly object OpenLock = new();
    private static Func<Device, IBackend>? opener;

    /// <summary>Installs the function that opens a non-host device on first use (the <c>TfSyncBN.Gpu</c> assembly does, when it loads).</summary>
    internal static void RegisterOpener(Func<Device, IBackend> open) => opener = open;

    /// <summary>
    /// The backend of <paramref name="device"/>, opening the device when none is registered yet: <c>cpu</c> is built in;
    /// <c>ilgpu-cpu:N</c> and <c>cuda:N</c> are opened by the <c>TfSyncBN.Gpu</c> assembly (loaded on first use), each
    /// ordinal once per process, and stay open for the life of the process.
    /// </summary>
    /// <param name="device">The device.</param>
    /// <param name="paramName">The argument to name in exceptions.</param>
    /// <exception cref="InvalidOperationException">The <c>TfSyncBN.Gpu</c> assembly cannot be loaded, or the device cannot be opened (e.g. no CUDA GPU).</exception>
    internal static IBackend Open(Device device, string paramName = "device")
    {
        if (TryGet(device) is { } b) return b;
        lock (OpenLock)
        {
            if (TryGet(device) is { } again) return again;
            if (opener is null) LoadGpuAssembly(device, paramName);
            var open = opener ?? throw new InvalidOperationException(
                $"Device '{device}' ({paramName}) needs the TfSyncBN.Gpu assembly, which did not install its device opener.");
            var backend = open(device);
            Register(backend);
            return backend;
        }
    }

    private static void LoadGpuAssembly(Device device, string paramName)
    {
        try
        {
            var assembly = Assembly.Load("TfSyncBN.Gpu");
            RuntimeHelpers.RunModuleConstructor(assembly.ManifestModule.ModuleHandle);
        }
        catch (Exception e) when (e is FileNotFoundException or FileLoadException or BadImageFormatException)
        {
            throw new InvalidOperationException(
                $"Device '{device}' ({paramName}) needs the TfSyncBN.Gpu assembly (ILGPU), which could not be loaded: reference the TfSyncBN.Gpu package. {e.Message}", e);
        }
    }
}
