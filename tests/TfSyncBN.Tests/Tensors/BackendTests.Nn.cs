using TfSyncBN.Tensors;
using TfSyncBN.Tensors.Kernels;

namespace TfSyncBN.Tests.Tensors;

public sealed partial class BackendTests
{
    // The neural-network members, which these tests of the seam do not reach (tests/TfSyncBN.Gpu.Tests covers them).
    private sealed partial class ScalarBackend
    {
        private static NotSupportedException Unused() => new("not used by BackendTests");

        public void BinaryScalar(BinaryOpKind op, TensorStorage x, float scalar, bool scalarFirst, TensorStorage destination) => throw Unused();

        public void BroadcastScalar(TensorStorage source, TensorStorage destination) => throw Unused();

        public void Activation(ActivationKind op, TensorStorage x, TensorStorage y) => throw Unused();

        public void ActivationBackward(ActivationKind op, TensorStorage saved, TensorStorage dy, TensorStorage dx) => throw Unused();

        public void Softmax(TensorStorage x, TensorStorage y, int outer, int length, int inner, bool log) => throw Unused();

        public void SoftmaxBackward(TensorStorage y, TensorStorage dy, TensorStorage dx, int outer, int length, int inner, bool log) => throw Unused();

        public void MatMul(TensorStorage a, bool transposeA, TensorStorage b, bool transposeB, int m, int n, int k, TensorStorage y) => throw Unused();

        public void BiasAdd(TensorStorage x, TensorStorage bias, TensorStorage y) => throw Unused();

        public void ColumnSums(TensorStorage x, TensorStorage y) => throw Unused();

        public void Conv2D(TensorStorage x, TensorStorage kernel, WindowGeometry geometry, int filters, TensorStorage y) => throw Unused();

        public void Conv2DBackward(TensorStorage x, TensorStorage kernel, TensorStorage dy, WindowGeometry geometry, int filters,
            TensorStorage? dx, TensorStorage? dkernel) => throw Unused();

        public void MaxPool2D(TensorStorage x, WindowGeometry geometry, TensorStorage y) => throw Unused();

        public void MaxPool2DBackward(TensorStorage x, TensorStorage y, TensorStorage dy, WindowGeometry geometry, TensorStorage dx) => throw Unused();

        public void DropoutMask(TensorStorage mask, ulong key, long call, int replica, uint threshold, float scale) => throw Unused();

        public void SparseSoftmaxCrossEntropy(TensorStorage logits, TensorStorage labels, int rows, int classes, TensorStorage loss, TensorStorage logp) => throw Unused();

        public void SparseSoftmaxCrossEntropyBackward(TensorStorage logp, TensorStorage labels, TensorStorage dloss, int rows, int classes, TensorStorage dx) => throw Unused();

        public void ArgMax(TensorStorage x, int rows, int classes, TensorStorage y) => throw Unused();

        public int CountEqual(TensorStorage x, TensorStorage y) => throw Unused();
    }
}
