using TfSyncBN.Tensors;
using TfSyncBN.Tensors.Kernels;

namespace TfSyncBN.Gpu;

// The neural-network members: each launches the device kernels of IlgpuDevice.Nn on the storages' views, holding the device's lock.
internal sealed partial class IlgpuBackend
{
    /// <inheritdoc/>
    public void BinaryScalar(BinaryOpKind op, TensorStorage x, float scalar, bool scalarFirst, TensorStorage destination)
    {
        lock (Owner) Owner.BinaryScalar(op, S(x).View, scalar, scalarFirst, S(destination).View);
    }

    /// <inheritdoc/>
    public void BroadcastScalar(TensorStorage source, TensorStorage destination)
    {
        lock (Owner) Owner.BroadcastScalar(S(source).View, S(destination).View);
    }

    /// <inheritdoc/>
    public void Activation(ActivationKind op, TensorStorage x, TensorStorage y)
    {
        lock (Owner) Owner.Activation(op, S(x).View, S(y).View);
    }

    /// <inheritdoc/>
    public void ActivationBackward(ActivationKind op, TensorStorage saved, TensorStorage dy, TensorStorage dx)
    {
        lock (Owner) Owner.ActivationBackward(op, S(saved).View, S(dy).View, S(dx).View);
    }

    /// <inheritdoc/>
    public void Softmax(TensorStorage x, TensorStorage y, int outer, int length, int inner, bool log)
    {
        lock (Owner) Owner.Softmax(S(x).View, S(y).View, outer, length, inner, log);
    }

    /// <inheritdoc/>
    public void SoftmaxBackward(TensorStorage y, TensorStorage dy, TensorStorage dx, int outer, int length, int inner, bool log)
    {
        lock (Owner) Owner.SoftmaxBackward(S(y).View, S(dy).View, S(dx).View, outer, length, inner, log);
    }

    /// <inheritdoc/>
    public void MatMul(TensorStorage a, bool transposeA, TensorStorage b, bool transposeB, int m, int n, int k, TensorStorage y)
    {
        lock (Owner) Owner.Gemm(S(a).View, S(b).View, S(y).View, m, n, k, transposeA, transposeB);
    }

    /// <inheritdoc/>
    public void BiasAdd(TensorStorage x, TensorStorage bias, TensorStorage y)
    {
        lock (Owner) Owner.BiasAddInto(S(x).View, S(bias).View, S(y).View);
    }

    /// <inheritdoc/>
    public void ColumnSums(TensorStorage x, TensorStorage y)
    {
        lock (Owner) Owner.ColumnSums(S(x).View, S(y).View);
    }

    /// <inheritdoc/>
    public void Conv2D(TensorStorage x, TensorStorage kernel, WindowGeometry geometry, int filters, TensorStorage y)
    {
        lock (Owner) Owner.Conv2DInto(S(x).View, S(kernel).View, Owner.Shape(geometry, "Conv2D"), filters, S(y).View);
    }

    /// <inheritdoc/>
    public void Conv2DBackward(TensorStorage x, TensorStorage kernel, TensorStorage dy, WindowGeometry geometry, int filters,
        TensorStorage? dx, TensorStorage? dkernel)
    {
        lock (Owner) Owner.Conv2DBackwardInto(S(x).View, S(kernel).View, S(dy).View, Owner.Shape(geometry, "Conv2D"), filters, dx is null ? null : S(dx).View, dkernel is null ? null : S(dkernel).View);
    }

    /// <inheritdoc/>
    public void MaxPool2D(TensorStorage x, WindowGeometry geometry, TensorStorage y)
    {
        lock (Owner) Owner.MaxPool2DInto(S(x).View, Owner.Shape(geometry, "MaxPool2D"), S(y).View);
    }

    /// <inheritdoc/>
    public void MaxPool2DBackward(TensorStorage x, TensorStorage y, TensorStorage dy, WindowGeometry geometry, TensorStorage dx)
    {
        lock (Owner) Owner.MaxPool2DBackwardInto(S(x).View, S(dy).View, Owner.Shape(geometry, "MaxPool2D"), S(dx).View);
    }

    /// <inheritdoc/>
    public void DropoutMask(TensorStorage mask, ulong key, long call, int replica, uint threshold, float scale)
    {
        lock (Owner) Owner.DropoutMask(S(mask).View, key, call, replica, threshold, scale);
    }

    /// <inheritdoc/>
    public void SparseSoftmaxCrossEntropy(TensorStorage logits, TensorStorage labels, int rows, int classes, TensorStorage loss, TensorStorage logp)
    {
        lock (Owner) Owner.SparseSoftmaxCrossEntropyInto(S(logits).View, S(labels).View, rows, classes, S(loss).View, S(logp).View);
    }

    /// <inheritdoc/>
    public void SparseSoftmaxCrossEntropyBackward(TensorStorage logp, TensorStorage labels, TensorStorage dloss, int rows, int classes, TensorStorage dx)
    {
        lock (Owner) Owner.SparseSoftmaxCrossEntropyBackwardInto(S(logp).View, S(labels).View, S(dloss).View, rows, classes, S(dx).View);
    }

    /// <inheritdoc/>
    public void ArgMax(TensorStorage x, int rows, int classes, TensorStorage y)
    {
        lock (Owner) Owner.ArgMax(S(x).View, rows, classes, S(y).View);
    }

    /// <inheritdoc/>
    public int CountEqual(TensorStorage x, TensorStorage y)
    {
        lock (Owner) return Owner.CountEqual(S(x).View, S(y).View);
    }
}
