using System.Numerics.Tensors;
using TfSyncBN.Keras;
using TfSyncBN.Tensors.Kernels;

namespace TfSyncBN.Tensors;

// The neural-network members: today's span kernels (host tensors call them directly; these members serve the
// conformance suite and code that holds only storage).
internal sealed partial class CpuBackend
{
    /// <inheritdoc/>
    public void BinaryScalar(BinaryOpKind op, TensorStorage x, float scalar, bool scalarFirst, TensorStorage destination)
    {
        var s = TensorScope.Allocate(x.Length);
        s.AsSpan().Fill(scalar);
        if (scalarFirst) Binary(op, s, A(x), A(destination));
        else Binary(op, A(x), s, A(destination));
    }

    /// <inheritdoc/>
    public void BroadcastScalar(TensorStorage source, TensorStorage destination) => A(destination).AsSpan().Fill(A(source)[0]);

    /// <inheritdoc/>
    public void Activation(ActivationKind op, TensorStorage x, TensorStorage y)
    {
        switch (op)
        {
            case ActivationKind.Relu: TensorPrimitives.Max(A(x), 0f, A(y)); break;
            case ActivationKind.Sigmoid: TensorPrimitives.Sigmoid(A(x), A(y)); break;
            case ActivationKind.Tanh: TensorPrimitives.Tanh(A(x), A(y)); break;
            default: throw new ArgumentOutOfRangeException(nameof(op), op, "Unknown activation.");
        }
    }

    /// <inheritdoc/>
    public void ActivationBackward(ActivationKind op, TensorStorage saved, TensorStorage dy, TensorStorage dx)
    {
        switch (op)
        {
            case ActivationKind.Relu: NnKernels.ReluBackward(A(saved), A(dy), A(dx)); break;
            case ActivationKind.Sigmoid: NnKernels.SigmoidBackward(A(saved), A(dy), A(dx)); break;
            case ActivationKind.Tanh: NnKernels.TanhBackward(A(saved), A(dy), A(dx)); break;
            default: throw new ArgumentOutOfRangeException(nameof(op), op, "Unknown activation.");
        }
    }

    /// <inheritdoc/>
    public void Softmax(TensorStorage x, TensorStorage y, int outer, int length, int inner, bool log) =>
        NnKernels.Softmax(A(x), A(y), outer, length, inner, log);

    /// <inheritdoc/>
    public void SoftmaxBackward(TensorStorage y, TensorStorage dy, TensorStorage dx, int outer, int length, int inner, bool log) =>
        NnKernels.SoftmaxBackward(A(y), A(dy), A(dx), outer, length, inner, log);

    /// <inheritdoc/>
    public void MatMul(TensorStorage a, bool transposeA, TensorStorage b, bool transposeB, int m, int n, int k, TensorStorage y) =>
        Gemm.Multiply(m, n, k, A(a), transposeA, A(b), transposeB, A(y), accumulate: false);

    /// <inheritdoc/>
    public void BiasAdd(TensorStorage x, TensorStorage bias, TensorStorage y)
    {
        if (bias.Length > 0) NnKernels.BiasAdd(A(x), A(bias), A(y));
    }

    /// <inheritdoc/>
    public void ColumnSums(TensorStorage x, TensorStorage y) => NnKernels.ColumnSums(A(x), A(y));

    /// <inheritdoc/>
    public void Conv2D(TensorStorage x, TensorStorage kernel, WindowGeometry geometry, int filters, TensorStorage y) =>
        ConvKernels.Conv2DForward(A(x), A(kernel), filters, geometry, A(y));

    /// <inheritdoc/>
    public void Conv2DBackward(TensorStorage x, TensorStorage kernel, TensorStorage dy, WindowGeometry geometry, int filters,
        TensorStorage? dx, TensorStorage? dkernel) =>
        ConvKernels.Conv2DBackward(A(x), A(kernel), A(dy), filters, geometry, dx is null ? [] : A(dx), dkernel is null ? [] : A(dkernel));

    /// <inheritdoc/>
    public void MaxPool2D(TensorStorage x, WindowGeometry geometry, TensorStorage y) => ConvKernels.MaxPoolForward(A(x), geometry, A(y));

    /// <inheritdoc/>
    public void MaxPool2DBackward(TensorStorage x, TensorStorage y, TensorStorage dy, WindowGeometry geometry, TensorStorage dx) =>
        ConvKernels.MaxPoolBackward(A(x), A(y), A(dy), geometry, A(dx));

    /// <inheritdoc/>
    public void DropoutMask(TensorStorage mask, ulong key, long call, int replica, uint threshold, float scale) =>
        DropoutMask(A(mask), key, call, replica, threshold, scale);

    /// <summary>The kernel of <see cref="IBackend.DropoutMask"/> on a host span.</summary>
    internal static void DropoutMask(Span<float> m, ulong key, long call, int replica, uint threshold, float scale)
    {
        uint k0 = (uint)key, k1 = (uint)(key >> 32);
        Span<uint> words = stackalloc uint[4];
        for (int i = 0; i < m.Length; i += 4)
        {
            var b = StatelessRandom.Philox((uint)(i >> 2), (uint)call, (uint)(call >> 32), (uint)replica, k0, k1);
            words[0] = b.X0;
            words[1] = b.X1;
            words[2] = b.X2;
            words[3] = b.X3;
            int n = Math.Min(4, m.Length - i);
            for (int j = 0; j < n; j++) m[i + j] = words[j] >= threshold ? scale : 0f;
        }
    }

    /// <inheritdoc/>
    public void SparseSoftmaxCrossEntropy(TensorStorage logits, TensorStorage labels, int rows, int classes, TensorStorage loss, TensorStorage logp)
    {
        float[] lp = A(logp), l = A(loss), ids = A(labels);
        NnKernels.Softmax(A(logits), lp, rows, classes, 1, log: true);
        for (int r = 0; r < rows; r++) l[r] = -lp[r * classes + (int)ids[r]];
    }

    /// <inheritdoc/>
    public void SparseSoftmaxCrossEntropyBackward(TensorStorage logp, TensorStorage labels, TensorStorage dloss, int rows, int classes, TensorStorage dx)
    {
        float[] lp = A(logp), ids = A(labels), g = A(dloss), d = A(dx);
        for (int r = 0; r < rows; r++) SparseSoftmaxCrossEntropyRowBackward(lp.AsSpan(r * classes, classes), (int)ids[r], g[r], d.AsSpan(r * classes, classes));
    }

    /// <summary>One row of <see cref="IBackend.SparseSoftmaxCrossEntropyBackward"/>: <c>d = exp(logp)·g</c>, then <c>d[label] −= g</c>.</summary>
    internal static void SparseSoftmaxCrossEntropyRowBackward(ReadOnlySpan<float> logp, int label, float g, Span<float> d)
    {
        TensorPrimitives.Exp(logp, d);
        TensorPrimitives.Multiply(d, g, d);
        d[label] -= g;
    }

    /// <inheritdoc/>
    public void ArgMax(TensorStorage x, int rows, int classes, TensorStorage y)
    {
        float[] v = A(x), r = A(y);
        for (int i = 0; i < rows; i++) r[i] = TensorPrimitives.IndexOfMax(v.AsSpan(i * classes, classes));
    }

    /// <inheritdoc/>
    public int CountEqual(TensorStorage x, TensorStorage y) => CountEqual(A(x), A(y));

    /// <summary>The kernel of <see cref="IBackend.CountEqual"/> on host spans.</summary>
    internal static int CountEqual(ReadOnlySpan<float> x, ReadOnlySpan<float> y)
    {
        int hits = 0;
        for (int i = 0; i < x.Length; i++) hits += x[i] == y[i] ? 1 : 0;
        return hits;
    }
}
