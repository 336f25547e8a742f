using System.Numerics.Tensors;

namespace TfSyncBN.Tensors.Kernels;

/// <summary>
/// Fused, numerically stable softmax cross-entropy of logits (<c>tf.nn.softmax_cross_entropy_with_logits</c> and its
/// sparse twin), with their gradients. Each row of the last axis is one distribution.
/// </summary>
/// <remarks>
/// <para>Both start from the log-softmax of each row, <c>log p = x − m − log Σ exp(x − m)</c> with m the row maximum
/// (<see cref="NnKernels.Softmax"/>, the kernel of <c>Tensor.LogSoftmax</c>): every exponent is ≤ 0, so nothing
/// overflows, and the loss never takes the logarithm of a rounded probability (which would give +∞ for a confident
/// wrong class).</para>
/// <para>Dense labels y: <c>loss = −Σ y·log p</c>; <c>∂loss/∂x = p·Σy − y</c>; <c>∂loss/∂y = −log p</c>.
/// Sparse label k: <c>loss = −log p[k]</c>; <c>∂loss/∂x = p − onehot(k)</c>. The backward pass reuses the forward
/// log-probabilities (one fused op instead of LogSoftmax, Multiply and Sum, each with its own backward).</para>
/// </remarks>
internal static class SoftmaxCrossEntropy
{
    /// <summary>Losses of shape <c>logits.Shape[..^1]</c> for integer class ids <paramref name="labels"/> (any shape holding one id per row).</summary>
    /// <exception cref="ArgumentException">The logits have rank 0 or no classes, the label count differs from the row count, or a label is not an integer in [0, C).</exception>
    public static Tensor Sparse(Tensor labels, Tensor logits)
    {
        int classes = CheckLogits(logits);
        int rows = logits.Size / classes;
        if (labels.Size != rows)
            throw new ArgumentException($"Sparse labels must hold one class id per row of the logits ({rows} rows of {classes} classes, logits shape {Tensor.ShapeString(logits.ShapeArray)}), but have shape {Tensor.ShapeString(labels.ShapeArray)}.", nameof(labels));
        var ids = new int[rows];
        var values = labels.HostArray ?? labels.ToArray();
        for (int r = 0; r < rows; r++)
        {
            float v = values[r];
            if (!(v >= 0 && v < classes) || v != MathF.Floor(v))
                throw new ArgumentException($"Sparse labels must be integers in [0, {classes}), but label {r} is {v}.", nameof(labels));
            ids[r] = (int)v;
        }
        if (logits.HostArray is null) return DeviceNn.SparseSoftmaxCrossEntropy(labels, logits, values, rows, classes);
        var logp = LogSoftmax(logits, rows, classes);
        var loss = Tensor.Uninitialized(logits.ShapeArray[..^1]);
        for (int r = 0; r < rows; r++) loss.Data[r] = -logp[r * classes + ids[r]];
        GradientTape.Record(loss, [logits], (dy, _) =>
        {
            var dx = Tensor.Uninitialized(logits.ShapeArray);
            for (int r = 0; r < rows; r++)
                CpuBackend.SparseSoftmaxCrossEntropyRowBackward(logp.AsSpan(r * classes, classes), ids[r], dy.Data[r], dx.Data.AsSpan(r * classes, classes));
            return [dx];
        });
        return loss;
    }

    /// <summary>Losses of shape <c>logits.Shape[..^1]</c> for label distributions <paramref name="labels"/> of the logits' shape.</summary>
    /// <exception cref="ArgumentException">The logits have rank 0 or no classes, or the shapes differ.</exception>
    public static Tensor Dense(Tensor labels, Tensor logits)
    {
        int classes = CheckLogits(logits);
        if (!Tensor.SameShape(labels.ShapeArray, logits.ShapeArray))
            throw new ArgumentException($"Labels must have the logits' shape {Tensor.ShapeString(logits.ShapeArray)}, but have shape {Tensor.ShapeString(labels.ShapeArray)}.", nameof(labels));
        int rows = logits.Size / classes;
        var logp = LogSoftmax(logits, rows, classes);
        var labelSums = new float[rows];
        var loss = Tensor.Uninitialized(logits.ShapeArray[..^1]);
        for (int r = 0; r < rows; r++)
        {
            var y = labels.Data.AsSpan(r * classes, classes);
            labelSums[r] = TensorPrimitives.Sum(y);
            loss.Data[r] = -TensorPrimitives.Dot(y, logp.AsSpan(r * classes, classes));
        }
        GradientTape.Record(loss, [labels, logits], (dy, needed) =>
        {
            Tensor? dLabels = null, dLogits = null;
            if (needed[0])
            {
                dLabels = Tensor.Uninitialized(logits.ShapeArray);
                for (int r = 0; r < rows; r++)
                {
                    TensorPrimitives.Multiply(logp.AsSpan(r * classes, classes), -dy.Data[r], dLabels.Data.AsSpan(r * classes, classes));
                }
            }
            if (needed[1])
            {
                dLogits = Tensor.Uninitialized(logits.ShapeArray);
                var p = new float[classes];
                for (int r = 0; r < rows; r++)
                {
                    var d = dLogits.Data.AsSpan(r * classes, classes);
                    float g = dy.Data[r];
                    // g·(p·Σy − y) = (g·Σy)·p − g·y
                    TensorPrimitives.Exp(logp.AsSpan(r * classes, classes), p);
                    TensorPrimitives.Multiply(labels.Data.AsSpan(r * classes, classes), -g, d);
                    TensorPrimitives.MultiplyAdd(p, g * labelSums[r], d, d);
                }
            }
            return [dLabels, dLogits];
        });
        return loss;
    }

    /// <summary>The log-softmax of each row of the logits viewed as [rows, classes].</summary>
    private static float[] LogSoftmax(Tensor logits, int rows, int classes)
    {
        var logp = new float[logits.Size];
        NnKernels.Softmax(logits.Data, logp, rows, classes, 1, log: true);
        return logp;
    }

    private static int CheckLogits(Tensor logits)
    {
        if (logits.Rank == 0 || logits.ShapeArray[^1] == 0)
            throw new ArgumentException($"Logits need a non-empty class axis (the last), but have shape {Tensor.ShapeString(logits.ShapeArray)}.", nameof(logits));
        return logits.ShapeArray[^1];
    }
}
