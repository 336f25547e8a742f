using ILGPU;
using ILGPU.Runtime;
using TfSyncBN.Gpu.Kernels;
using TfSyncBN.Tensors;

namespace TfSyncBN.Gpu;

// The tensor-core backend of this device: registration and the kernels IlgpuBackend launches on storage views.
public sealed partial class IlgpuDevice
{
    private Tensors.Device? attached;

    /// <summary>
    /// Makes this device run the operations of <see cref="Tensor"/>s on the <see cref="Tensors.Device"/> of its
    /// <see cref="Name"/> (<c>ilgpu-cpu:0</c> or <c>cuda:N</c>), replacing a device registered there before, and returns
    /// that device for <see cref="Tensor.To"/> and <see cref="Tensor.FromArray"/>. Such tensors take their memory from
    /// <see cref="Pool"/>; a <see cref="TensorScope"/> returns it when disposed. The operations supported are
    /// allocation, upload, <see cref="Tensor.ToArray"/>/<see cref="Tensor.CopyTo"/> (which wait for the device), the
    /// element-wise add, subtract, multiply, divide, maximum and minimum of tensors of one shape, and the SGD and Adam
    /// updates of the Keras optimizers; any other op on such a tensor throws <see cref="NotSupportedException"/> naming
    /// the op and the device. <see cref="Dispose"/> unregisters the device. Idempotent.
    /// </summary>
    /// <returns>The tensor device, e.g. <c>ilgpu-cpu:0</c>.</returns>
    /// <exception cref="ObjectDisposedException">The device was disposed.</exception>
    public Tensors.Device AttachToTensors()
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        var d = Tensors.Device.Parse(Name);
        Backends.Register(new IlgpuBackend(this, d));
        attached = d;
        return d;
    }

    private void Detach()
    {
        if (attached is { } d && Backends.TryGet(d) is IlgpuBackend b && b.Owner == this) Backends.Unregister(d);
        attached = null;
    }

    private Action<Index1D, ArrayView<float>, float> FillKernel => Kernel(nameof(ElementwiseKernels.Fill),
        () => Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, float>(ElementwiseKernels.Fill));

    internal void Fill(ArrayView<float> y, float value)
    {
        if (y.Length > 0) FillKernel((int)y.Length, y, value);
    }

    internal void Binary(BinaryOpKind op, ArrayView<float> a, ArrayView<float> b, ArrayView<float> y)
    {
        var kernel = op switch
        {
            BinaryOpKind.Add => Binary(nameof(ElementwiseKernels.Add), ElementwiseKernels.Add),
            BinaryOpKind.Subtract => Binary(nameof(ElementwiseKernels.Subtract), ElementwiseKernels.Subtract),
            BinaryOpKind.Multiply => Binary(nameof(ElementwiseKernels.Multiply), ElementwiseKernels.Multiply),
            BinaryOpKind.Divide => Binary(nameof(ElementwiseKernels.Divide), ElementwiseKernels.Divide),
            BinaryOpKind.Maximum => Binary(nameof(ElementwiseKernels.Maximum), ElementwiseKernels.Maximum),
            BinaryOpKind.Minimum => Binary(nameof(ElementwiseKernels.Minimum), ElementwiseKernels.Minimum),
            _ => throw new ArgumentOutOfRangeException(nameof(op), op, "Unknown binary operation."),
        };
        if (y.Length > 0) kernel((int)y.Length, a, b, y);
    }

    internal void SgdInto(ArrayView<float> w, ArrayView<float> g, ArrayView<float>? m, float learningRate, float mu, bool nesterov,
        ArrayView<float> wNew, ArrayView<float>? mNew)
    {
        if (w.Length == 0) return;
        var p = new OptimizerParameters { LearningRate = learningRate, Momentum = mu, Nesterov = m is null ? -1 : nesterov ? 1 : 0 };
        Kernel(nameof(OptimizerKernels.SgdInto), () => Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, OptimizerParameters, ArrayView<float>, ArrayView<float>>(OptimizerKernels.SgdInto))(
            (int)w.Length, w, g, m ?? w, p, wNew, mNew ?? wNew);
    }

    internal void AdamInto(ArrayView<float> w, ArrayView<float> g, ArrayView<float> m, ArrayView<float> v, float alpha, float beta1,
        float beta2, float epsilon, ArrayView<float> wNew, ArrayView<float> mNew, ArrayView<float> vNew)
    {
        if (w.Length == 0) return;
        var p = new OptimizerParameters { Alpha = alpha, Beta1 = 1f - beta1, Beta2 = 1f - beta2, Epsilon = epsilon };
        Kernel(nameof(OptimizerKernels.AdamInto), () => Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, OptimizerParameters, ArrayView<float>, ArrayView<float>, ArrayView<float>>(OptimizerKernels.AdamInto))(
            (int)w.Length, w, g, m, v, p, wNew, mNew, vNew);
    }
}
