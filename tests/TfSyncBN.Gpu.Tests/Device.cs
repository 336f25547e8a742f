using TfSyncBN.Gpu;

namespace TfSyncBN.Gpu.Tests;

/// <summary>One ILGPU CPU accelerator shared by the tests of this assembly (kernels compile once per device).</summary>
[TestClass]
public static class Device
{
    private static IlgpuDevice? cpu;

    public static IlgpuDevice Cpu => cpu ??= IlgpuDevice.Create("ilgpu-cpu:0");

    public static readonly object Gate = new();

    [AssemblyCleanup]
    public static void Cleanup() => cpu?.Dispose();
}
