using System.Numerics.Tensors;

namespace TfSyncBN.Tensors.Kernels;

/// <summary>
/// Fused, numerically stable softmax cross-entropy of logits (<c>tf.nn.softmax_cross_entropy_with_logits</c> and its
/// sparse twin), with their gradients. Each row of the last axis is one distribution.
/// </summary>
/// <remarks>
/// <para>Per row x of C logits: <c>m = max(x)</c>, <c>s = Σ exp(x − m)</c>, <c>lse = m + log(s)</c>,
/// <c>softmax = exp(x − m)/s</c>. Subtracting the maximum keeps every exponent ≤ 0, so nothing overflows, and the loss
/// never takes the logarithm of a rounded probability (which would give +∞ for a confident wrong class).</para>
/// <para>Dense labels y: <c>loss = lse·Σy − Σ y·x</c>; <c>∂loss/∂x = softmax·Σy − y</c>; <c>∂loss/∂y = lse − x</c>.
/// Sparse label k: <c>loss = lse − x[k]</c>; <c>∂loss/∂x = softmax − onehot(k)</c>. The softmax is kept from the forward
/// pass for the backward pass.</para>
/// <para>This lives here rather than next to the activation ops because it is one fused kernel, not a composition of them.</para>
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
        for (int r = 0; r < rows; r++)
        {
            float v = labels.Data[r];
            if (!(v >= 0 && v < classes) || v != MathF.Floor(v))
                throw new ArgumentException($"Sparse labels must be integers in [0, {classes}), but label {r} is {v}.", nameof(labels));
            ids[r] = (int)v;
        }
        var softmax = new float[logits.Size];
        var loss = Tensor.Uninitialized(logits.ShapeArray[..^1]);
        for (int r = 0; r < rows; r++)
        {
            var x = logits.Data.AsSpan(r * classes, classes);
            float lse = SoftmaxRow(x, softmax.AsSpan(r * classes, classes));
            loss.Data[r] = lse - x[ids[r]];
        }
        GradientTape.Record(loss, [logits], (dy, _) =>
        {
            var dx = Tensor.Uninitialized(logits.ShapeArray);
            for (int r = 0; r < rows; r++)
            {
                var d = dx.Data.AsSpan(r * classes, classes);
                float g = dy.Data[r];
                TensorPrimitives.Multiply(softmax.AsSpan(r * classes, classes), g, d);
                d[ids[r]] -= g;
            }
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
        var softmax = new float[logits.Size];
        var lses = new float[rows];
        var labelSums = new float[rows];
        var loss = Tensor.Uninitialized(logits.ShapeArray[..^1]);
        for (int r = 0; r < rows; r++)
        {
            var x = logits.Data.AsSpan(r * classes, classes);
            var y = labels.Data.AsSpan(r * classes, classes);
            lses[r] = SoftmaxRow(x, softmax.AsSpan(r * classes, classes));
            labelSums[r] = TensorPrimitives.Sum(y);
            loss.Data[r] = lses[r] * labelSums[r] - TensorPrimitives.Dot(y, x);
        }
        GradientTape.Record(loss, [labels, logits], (dy, needed) =>
        {
            Tensor? dLabels = null, dLogits = null;
            if (needed[0])
            {
                dLabels = Tensor.Uninitialized(logits.ShapeArray);
                for (int r = 0; r < rows; r++)
                {
                    var d = dLabels.Data.AsSpan(r * classes, classes);
                    TensorPrimitives.Subtract(lses[r], logits.Data.AsSpan(r * classes, classes), d);
                    TensorPrimitives.Multiply(d, dy.Data[r], d);
                }
            }
            if (needed[1])
            {
                dLogits = Tensor.Uninitialized(logits.ShapeArray);
                for (int r = 0; r < rows; r++)
                {
                    var d = dLogits.Data.AsSpan(r * classes, classes);
                    float g = dy.Data[r];
                    // g·(softmax·Σy − y) = (g·Σy)·softmax − g·y
                    TensorPrimitives.Multiply(labels.Data.AsSpan(r * classes, classes), -g, d);
                    TensorPrimitives.MultiplyAdd(softmax.AsSpan(r * classes, classes), g * labelSums[r], d, d);
                }
            }
            return [dLabels, dLogits];
        });
        return loss;
    }

    /// <summary>Writes the softmax of <paramref name="x"/> to <paramref name="softmax"/> and returns log Σ exp(x).</summary>
    private static float SoftmaxRow(ReadOnlySpan<float> x, Span<float> softmax)
    {
        float max = TensorPrimitives.Max(x);
        if (float.IsPositiveInfinity(max) || float.IsNaN(max))
        {
            softmax.Fill(float.NaN);
            return float.NaN;
        }
        TensorPrimitives.Subtract(x, max, softmax);
        TensorPrimitives.Exp(softmax, softmax);
        float sum = TensorPrimitives.Sum(softmax);
        TensorPrimitives.Divide(softmax, sum, softmax);
        return max + MathF.Log(sum);
    }

    private static int CheckLogits(Tensor logits)
    {
        if (logits.Rank == 0 || logits.ShapeArray[^1] == 0)
            throw new ArgumentException($"Logits need a non-empty class axis (the last), but have shape {Tensor.ShapeString(logits.ShapeArray)}.", nameof(logits));
        return logits.ShapeArray[^1];
    }
}
