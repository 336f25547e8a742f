using TfSyncBN.Tensors;

namespace TfSyncBN.Tests.TestUtil;

/// <summary>
/// Saves <see cref="KernelOptions.MaxThreads"/>, <see cref="KernelOptions.MinElementsPerThread"/> and
/// <see cref="KernelOptions.UseNativeBlas"/> and restores them on <see cref="Dispose"/>, for tests that change them
/// (<c>using var saved = new SavedKernelOptions();</c>).
/// </summary>
public sealed class SavedKernelOptions : IDisposable
{
    private readonly int maxThreads = KernelOptions.MaxThreads, minElementsPerThread = KernelOptions.MinElementsPerThread;
    private readonly bool useNativeBlas = KernelOptions.UseNativeBlas;

    public void Dispose()
    {
        KernelOptions.MaxThreads = maxThreads;
        KernelOptions.MinElementsPerThread = minElementsPerThread;
        KernelOptions.UseNativeBlas = useNativeBlas;
    }
}
