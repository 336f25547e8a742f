using ILGPU;
using ILGPU.Runtime;
using TfSyncBN.Gpu.Kernels;
using TfSyncBN.Tensors;
using WindowGeometry = TfSyncBN.Tensors.Kernels.WindowGeometry;

namespace TfSyncBN.Gpu;

// The neural-network kernels IlgpuBackend launches on storage views (one launch, or a fixed short sequence, per op).
public sealed partial class IlgpuDevice
{
    private void Launch1(string name, Action<Index1D, ArrayView<float>, ArrayView<float>> method, int n, ArrayView<float> x, ArrayView<float> y)
    {
        if (n > 0) Unary(name, method)(n, x, y);
    }

    private void Launch2(string name, Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>> method, int n,
        ArrayView<float> a, ArrayView<float> b, ArrayView<float> y)
    {
        if (n > 0) Binary(name, method)(n, a, b, y);
    }

    internal void BinaryScalar(BinaryOpKind op, ArrayView<float> x, float scalar, bool scalarFirst, ArrayView<float> y)
    {
        if (y.Length == 0) return;
        Kernel(nameof(TensorOpKernels.BinaryScalar), () => Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, float, int, int,
            ArrayView<float>>(TensorOpKernels.BinaryScalar))((int)y.Length, x, scalar, (int)op, scalarFirst ? 1 : 0, y);
    }

    internal void BroadcastScalar(ArrayView<float> source, ArrayView<float> y) =>
        Launch1(nameof(TensorOpKernels.BroadcastScalar), TensorOpKernels.BroadcastScalar, (int)y.Length, source, y);

    internal void Activation(ActivationKind op, ArrayView<float> x, ArrayView<float> y)
    {
        int n = (int)y.Length;
        switch (op)
        {
            case ActivationKind.Relu: Launch1("TensorOp.Relu", TensorOpKernels.Relu, n, x, y); break;
            case ActivationKind.Sigmoid: Launch1(nameof(ElementwiseKernels.Sigmoid), ElementwiseKernels.Sigmoid, n, x, y); break;
            case ActivationKind.Tanh: Launch1(nameof(ElementwiseKernels.Tanh), ElementwiseKernels.Tanh, n, x, y); break;
            default: throw new ArgumentOutOfRangeException(nameof(op), op, "Unknown activation.");
        }
    }

    internal void ActivationBackward(ActivationKind op, ArrayView<float> saved, ArrayView<float> dy, ArrayView<float> dx)
    {
        int n = (int)dx.Length;
        switch (op)
        {
            case ActivationKind.Relu: Launch2(nameof(ElementwiseKernels.ReluBackward), ElementwiseKernels.ReluBackward, n, saved, dy, dx); break;
            case ActivationKind.Sigmoid: Launch2(nameof(ElementwiseKernels.SigmoidBackward), ElementwiseKernels.SigmoidBackward, n, saved, dy, dx); break;
            case ActivationKind.Tanh: Launch2(nameof(ElementwiseKernels.TanhBackward), ElementwiseKernels.TanhBackward, n, saved, dy, dx); break;
            default: throw new ArgumentOutOfRangeException(nameof(op), op, "Unknown activation.");
        }
    }

    internal void Softmax(ArrayView<float> x, ArrayView<float> y, int outer, int length, int inner, bool log)
    {
        int lanes = outer * inner;
        if (lanes == 0 || length == 0) return;
        Kernel(nameof(TensorOpKernels.Softmax), () => Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, int, int, int>(
            TensorOpKernels.Softmax))(lanes, x, y, length, inner, log ? 1 : 0);
    }

    internal void SoftmaxBackward(ArrayView<float> y, ArrayView<float> dy, ArrayView<float> dx, int outer, int length, int inner, bool log)
    {
        int lanes = outer * inner;
        if (lanes == 0 || length == 0) return;
        Kernel(nameof(TensorOpKernels.SoftmaxBackward), () => Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, int, int, int>(TensorOpKernels.SoftmaxBackward))(lanes, y, dy, dx, length, inner, log ? 1 : 0);
    }

    internal void BiasAddInto(ArrayView<float> x, ArrayView<float> bias, ArrayView<float> y)
    {
        if (y.Length == 0 || bias.Length == 0) return;
        Kernel("BiasAdd", () => Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, int, ArrayView<float>>(
            ElementwiseKernels.BiasAdd))((int)y.Length, x, bias, (int)bias.Length, y);
    }

    /// <summary><c>y[c] = Σ_r x[r, c]</c>: the deterministic float64 channel sums, rounded once.</summary>
    internal void ColumnSums(ArrayView<float> x, ArrayView<float> y)
    {
        int c = (int)y.Length;
        if (c == 0) return;
        using var sums = ChannelSums(x, x, null, new ChannelLayout((int)(x.Length / c), c, 1), ReductionKernels.SumX);
        Kernel(nameof(ElementwiseKernels.ToSingle), () => Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<double>, ArrayView<float>>(
            ElementwiseKernels.ToSingle))(c, sums.View, y);
    }

    /// <summary>The device's window shape of <paramref name="g"/>.</summary>
    /// <exception cref="NotSupportedException">The window is dilated (the device's im2col has no dilation).</exception>
    internal WindowShape Shape(WindowGeometry g, string op)
    {
        if (g.DH != 1 || g.DW != 1)
            throw new NotSupportedException($"{op} with dilations [{g.DH}, {g.DW}] is not supported on device '{Name}': its kernels run dilation 1 only (use the cpu device).");
        return new WindowShape
        {
            N = g.N, H = g.H, W = g.W, C = g.C, KH = g.KH, KW = g.KW, SH = g.SH, SW = g.SW,
            PadTop = g.PadTop, PadLeft = g.PadLeft, OH = g.OH, OW = g.OW,
        };
    }

    internal void Conv2DInto(ArrayView<float> x, ArrayView<float> kernel, WindowShape g, int filters, ArrayView<float> y)
    {
        int rows = g.N * g.OH * g.OW, k = g.KH * g.KW * g.C;
        if (y.Length == 0) return;
        using var cols = new PooledBuffer<float>(Pool, (long)rows * k, joinScope: false);
        Im2Col(x, g, cols);
        Gemm(cols.View, kernel, y, rows, filters, k, false, false);
    }

    internal void Conv2DBackwardInto(ArrayView<float> x, ArrayView<float> kernel, ArrayView<float> dy, WindowShape g, int filters,
        ArrayView<float>? dx, ArrayView<float>? dk)
    {
        int rows = g.N * g.OH * g.OW, k = g.KH * g.KW * g.C;
        if (rows == 0 || k == 0 || filters == 0)
        {
            if (dx is { Length: > 0 } a) a.MemSetToZero();
            if (dk is { Length: > 0 } b) b.MemSetToZero();
            return;
        }
        using var cols = new PooledBuffer<float>(Pool, (long)rows * k, joinScope: false);
        if (dk is { } dkView)
        {
            Im2Col(x, g, cols);
            Gemm(cols.View, dy, dkView, k, filters, rows, transposeA: true, transposeB: false);
        }
        if (dx is { } dxView && dxView.Length > 0)
        {
            Gemm(dy, kernel, cols.View, rows, k, filters, transposeA: false, transposeB: true);
            Kernel(nameof(ConvKernels.Col2Im), () => Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, WindowShape, ArrayView<float>>(ConvKernels.Col2Im))(
                (int)dxView.Length, cols.View, g, dxView);
        }
    }

    internal void MaxPool2DInto(ArrayView<float> x, WindowShape g, ArrayView<float> y)
    {
        if (y.Length == 0) return;
        Kernel(nameof(ConvKernels.MaxPool), () => Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, WindowShape, ArrayView<float>>(ConvKernels.MaxPool))(
            (int)y.Length, x, g, y);
    }

    internal void MaxPool2DBackwardInto(ArrayView<float> x, ArrayView<float> dy, WindowShape g, ArrayView<float> dx)
    {
        if (dx.Length == 0) return;
        Kernel(nameof(ConvKernels.MaxPoolBackward), () => Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, WindowShape,
            ArrayView<float>>(ConvKernels.MaxPoolBackward))((int)dx.Length, x, dy, g, dx);
    }

    internal void DropoutMask(ArrayView<float> mask, ulong key, long call, int replica, uint threshold, float scale)
    {
        if (mask.Length == 0) return;
        Kernel(nameof(TensorOpKernels.DropoutMask), () => Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, uint, uint, uint, uint, uint,
            uint, float>(TensorOpKernels.DropoutMask))((int)((mask.Length + 3) / 4), mask, (uint)call, (uint)(call >> 32), (uint)replica,
            (uint)key, (uint)(key >> 32), threshold, scale);
    }

    private PooledBuffer<int> Ids(ArrayView<float> labels)
    {
        var ids = new PooledBuffer<int>(Pool, labels.Length, joinScope: false);
        if (labels.Length > 0)
            Kernel(nameof(TensorOpKernels.ToInt), () => Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<int>>(TensorOpKernels.ToInt))(
                (int)labels.Length, labels, ids.View);
        return ids;
    }

    internal void SparseSoftmaxCrossEntropyInto(ArrayView<float> logits, ArrayView<float> labels, int rows, int classes, ArrayView<float> loss, ArrayView<float> logp)
    {
        if (rows == 0) return;
        using var ids = Ids(labels);
        Kernel("SparseSoftmaxCrossEntropy", () => Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<int>, int, ArrayView<float>,
            ArrayView<float>>(LossKernels.SparseSoftmaxCrossEntropy))(rows, logits, ids.View, classes, loss, logp);
    }

    internal void SparseSoftmaxCrossEntropyBackwardInto(ArrayView<float> logp, ArrayView<float> labels, ArrayView<float> dloss, int rows, int classes, ArrayView<float> dx)
    {
        if (rows == 0 || classes == 0) return;
        using var ids = Ids(labels);
        Kernel("SparseSoftmaxCrossEntropyBackward", () => Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<int>, ArrayView<float>, int,
            ArrayView<float>>(LossKernels.SparseSoftmaxCrossEntropyBackward))(rows * classes, logp, ids.View, dloss, classes, dx);
    }

    internal void ArgMax(ArrayView<float> x, int rows, int classes, ArrayView<float> y)
    {
        if (rows == 0) return;
        Kernel(nameof(TensorOpKernels.ArgMax), () => Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, int, ArrayView<float>>(TensorOpKernels.ArgMax))(
            rows, x, classes, y);
    }

    /// <summary>The number of equal positions: an indicator per position, then the deterministic float64 sum (exact for any int count).</summary>
    internal int CountEqual(ArrayView<float> a, ArrayView<float> b)
    {
        int n = (int)a.Length;
        if (n == 0) return 0;
        using var hits = new PooledBuffer<float>(Pool, n, joinScope: false);
        Launch2(nameof(TensorOpKernels.EqualIndicator), TensorOpKernels.EqualIndicator, n, a, b, hits.View);
        using var sum = ChannelSums(hits.View, hits.View, null, new ChannelLayout(n, 1, 1), ReductionKernels.SumX);
        return (int)sum.ToArray()[0];
    }
}
