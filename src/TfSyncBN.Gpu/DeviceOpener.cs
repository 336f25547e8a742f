using System.Runtime.CompilerServices;
using TfSyncBN.Tensors;

namespace TfSyncBN.Gpu;

/// <summary>
/// Opens <c>ilgpu-cpu:N</c> and <c>cuda:N</c> for the tensor core when a tensor or a strategy first names one that no
/// <see cref="IlgpuDevice.AttachToTensors"/> registered: each ordinal gets its own <see cref="IlgpuDevice"/> (for
/// <c>ilgpu-cpu:N</c>, its own CPU accelerator and pool), open for the life of the process.
/// </summary>
internal static class DeviceOpener
{
    private static readonly List<IlgpuDevice> Opened = [];

    // A library module initializer on purpose: loading this assembly (the tensor core does so by name when a device is
    // first named) is what plugs its devices into the core, before any of its types is touched.
#pragma warning disable CA2255
    [ModuleInitializer]
    internal static void Install() => Backends.RegisterOpener(Open);
#pragma warning restore CA2255

    private static IBackend Open(Tensors.Device device)
    {
        var d = IlgpuDevice.Create(device.ToString());
        lock (Opened) Opened.Add(d);
        d.AttachToTensors();
        return Backends.TryGet(device) ?? throw new InvalidOperationException($"Device '{device}' did not register its backend.");
    }
}
