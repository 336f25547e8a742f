namespace TfSyncBN.Gpu;

/// <summary>The gradients of <see cref="IlgpuDevice.Conv2D"/> with respect to its input and its kernel.</summary>
public sealed class Conv2DGradients
{
    internal Conv2DGradients(GpuTensor input, GpuTensor kernel)
    {
        Input = input;
        Kernel = kernel;
    }

    /// <summary>dL/dx, the input's shape.</summary>
    public GpuTensor Input { get; }

    /// <summary>dL/dkernel, the kernel's shape.</summary>
    public GpuTensor Kernel { get; }
}
