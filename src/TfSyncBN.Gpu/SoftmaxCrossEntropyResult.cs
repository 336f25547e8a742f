namespace TfSyncBN.Gpu;

/// <summary>The losses of <see cref="IlgpuDevice.SparseSoftmaxCrossEntropy"/> and what its backward pass needs.</summary>
public sealed class SoftmaxCrossEntropyResult : IDisposable
{
    internal SoftmaxCrossEntropyResult(GpuTensor loss, GpuTensor logProbabilities, PooledBuffer<int> labels)
    {
        Loss = loss;
        LogProbabilities = logProbabilities;
        Labels = labels;
    }

    /// <summary>One loss per row, shape [rows].</summary>
    public GpuTensor Loss { get; }

    /// <summary>The log-softmax of the logits, shape [rows, classes].</summary>
    public GpuTensor LogProbabilities { get; }

    internal PooledBuffer<int> Labels { get; }

    /// <summary>Returns the buffers to the pool.</summary>
    public void Dispose()
    {
        Loss.Dispose();
        LogProbabilities.Dispose();
        Labels.Dispose();
    }
}
