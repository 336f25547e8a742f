namespace TfSyncBN.Gpu;

/// <summary>The output and statistics of <see cref="IlgpuDevice.BatchNormTraining"/>; Dispose returns its buffers to the pool.</summary>
public sealed class BatchNormResult : IDisposable
{
    internal BatchNormResult(GpuTensor y, GpuTensor mean, GpuTensor variance, long count, PooledBuffer<double> meanDouble, GpuTensor invStd, int axis)
    {
        Y = y;
        Mean = mean;
        Variance = variance;
        Count = count;
        MeanDouble = meanDouble;
        InvStd = invStd;
        Axis = axis;
    }

    /// <summary>The normalized output.</summary>
    public GpuTensor Y { get; }

    /// <summary>The (global) batch mean per channel, rounded to float32.</summary>
    public GpuTensor Mean { get; }

    /// <summary>The (global) biased batch variance per channel, rounded to float32.</summary>
    public GpuTensor Variance { get; }

    /// <summary>The (global) number of elements per channel, N.</summary>
    public long Count { get; }

    internal PooledBuffer<double> MeanDouble { get; }

    internal GpuTensor InvStd { get; }

    internal int Axis { get; }

    /// <summary>Returns every buffer to the pool.</summary>
    public void Dispose()
    {
        Y.Dispose();
        Mean.Dispose();
        Variance.Dispose();
        MeanDouble.Dispose();
        InvStd.Dispose();
    }
}
