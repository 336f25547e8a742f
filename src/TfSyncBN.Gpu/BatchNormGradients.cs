namespace TfSyncBN.Gpu;

/// <summary>The gradients of <see cref="IlgpuDevice.BatchNormTraining"/> with respect to x, γ and β.</summary>
public sealed class BatchNormGradients
{
    internal BatchNormGradients(GpuTensor input, GpuTensor gamma, GpuTensor beta)
    {
        Input = input;
        Gamma = gamma;
        Beta = beta;
    }

    /// <summary>dL/dx.</summary>
    public GpuTensor Input { get; }

    /// <summary>dL/dγ (local to this replica).</summary>
    public GpuTensor Gamma { get; }

    /// <summary>dL/dβ (local to this replica).</summary>
    public GpuTensor Beta { get; }
}
