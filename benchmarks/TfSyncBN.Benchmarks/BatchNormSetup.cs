using TfSyncBN.Tensors;

namespace TfSyncBN.Benchmarks;

/// <summary>
/// The global setup and cleanup the batch-norm suites (<see cref="LayerBenchmarks"/>, <see cref="BatchNormReluBenchmarks"/>)
/// share: the kernels on the benchmark's thread count, the case, and a copy destination of the case's size.
/// </summary>
internal static class BatchNormSetup
{
    /// <summary>Sets <see cref="KernelOptions.MaxThreads"/> to <paramref name="threads"/> and builds the case.</summary>
    public static (BatchNormCase Case, float[] CopyDestination) Create(string shape, string layout, int threads, bool synchronized = false)
    {
        KernelOptions.MaxThreads = threads;
        var bn = new BatchNormCase(shape, layout, synchronized);
        return (bn, new float[bn.Elements]);
    }

    /// <summary>Restores the kernels' thread count to 1.</summary>
    public static void Cleanup() => KernelOptions.MaxThreads = 1;
}
