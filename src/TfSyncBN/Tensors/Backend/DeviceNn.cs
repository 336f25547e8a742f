using TfSyncBN.Tensors.Kernels;

namespace TfSyncBN.Tensors;

/// <summary>
/// The device path of the neural-network tensor ops: shapes were checked by the public op, which comes here when its
/// operand is not in host memory. Each op allocates its result on the operand's device, makes one call to that device's
/// <see cref="IBackend"/>, and records a backward pass that does the same.
/// </summary>
internal static class DeviceNn
{
    private static IBackend Backend(Tensor x) => Backends.For(x.Device);

    private static Tensor New(Tensor like, int[] shape) => DeviceOps.Allocate(like.Device, shape);

    /// <summary>The upstream gradient, which must be on <paramref name="x"/>'s device.</summary>
    private static Tensor On(Tensor dy, Tensor x, string op)
    {
        DeviceOps.Common(op, x, dy, "dy");
        return dy;
    }

    /// <summary>An exception for an option the device path does not run.</summary>
    internal static NotSupportedException Unsupported(string op, string option, Device device) =>
        new($"{op} with {option} is not supported on device '{device}': the device runs it only without that option. Copy the operands to the host with To(Device.Cpu) to use it.");

    internal static Tensor Activation(Tensor x, ActivationKind kind)
    {
        var b = Backend(x);
        var y = New(x, x.ShapeArray);
        b.Activation(kind, x.Storage, y.Storage);
        GradientTape.Record(y, [x], (dy, _) =>
        {
            var dx = New(x, x.ShapeArray);
            b.ActivationBackward(kind, kind == ActivationKind.Relu ? x.Storage : y.Storage, On(dy, x, kind.ToString()).Storage, dx.Storage);
            return [dx];
        });
        return y;
    }

    internal static Tensor Softmax(Tensor x, int outer, int len, int inner, bool log)
    {
        var b = Backend(x);
        var y = New(x, x.ShapeArray);
        b.Softmax(x.Storage, y.Storage, outer, len, inner, log);
        GradientTape.Record(y, [x], (dy, _) =>
        {
            var dx = New(x, x.ShapeArray);
            b.SoftmaxBackward(y.Storage, On(dy, x, "Softmax").Storage, dx.Storage, outer, len, inner, log);
            return [dx];
        });
        return y;
    }

    internal static Tensor MatMul(Tensor a, Tensor other, bool transposeA, bool transposeB, int m, int n, int k)
    {
        DeviceOps.Common("MatMul", a, other);
        var b = Backend(a);
        var y = New(a, [m, n]);
        b.MatMul(a.Storage, transposeA, other.Storage, transposeB, m, n, k, y.Storage);
        GradientTape.Record(y, [a, other], (dy, needed) =>
        {
            var g = On(dy, a, "MatMul").Storage;
            Tensor? da = null, db = null;
            if (needed[0])
            {
                da = New(a, a.ShapeArray);
                if (!transposeA) b.MatMul(g, false, other.Storage, !transposeB, m, k, n, da.Storage);
                else b.MatMul(other.Storage, transposeB, g, true, k, m, n, da.Storage);
            }
            if (needed[1])
            {
                db = New(a, other.ShapeArray);
                if (!transposeB) b.MatMul(a.Storage, !transposeA, g, false, k, n, m, db.Storage);
                else b.MatMul(g, true, a.Storage, transposeA, n, k, m, db.Storage);
            }
            return [da, db];
        });
        return y;
    }

    internal static Tensor BiasAdd(Tensor x, Tensor bias)
    {
        DeviceOps.Common("BiasAdd", x, bias, nameof(bias));
        var b = Backend(x);
        var y = New(x, x.ShapeArray);
        b.BiasAdd(x.Storage, bias.Storage, y.Storage);
        GradientTape.Record(y, [x, bias], (dy, needed) =>
        {
            Tensor? db = null;
            if (needed[1])
            {
                db = New(x, bias.ShapeArray);
                b.ColumnSums(On(dy, x, "BiasAdd").Storage, db.Storage);
            }
            return [needed[0] ? dy : null, db];
        });
        return y;
    }

    internal static Tensor Conv2D(Tensor x, Tensor kernel, WindowGeometry g, int filters)
    {
        DeviceOps.Common("Conv2D", x, kernel, nameof(kernel));
        var b = Backend(x);
        var y = New(x, [g.N, g.OH, g.OW, filters]);
        b.Conv2D(x.Storage, kernel.Storage, g, filters, y.Storage);
        GradientTape.Record(y, [x, kernel], (dy, needed) =>
        {
            var dx = needed[0] ? New(x, x.ShapeArray) : null;
            var dk = needed[1] ? New(x, kernel.ShapeArray) : null;
            b.Conv2DBackward(x.Storage, kernel.Storage, On(dy, x, "Conv2D").Storage, g, filters, dx?.Storage, dk?.Storage);
            return [dx, dk];
        });
        return y;
    }

    internal static Tensor MaxPool2D(Tensor x, WindowGeometry g)
    {
        var b = Backend(x);
        var y = New(x, [g.N, g.OH, g.OW, g.C]);
        b.MaxPool2D(x.Storage, g, y.Storage);
        GradientTape.Record(y, [x], (dy, _) =>
        {
            var dx = New(x, x.ShapeArray);
            b.MaxPool2DBackward(x.Storage, y.Storage, On(dy, x, "MaxPool2D").Storage, g, dx.Storage);
            return [dx];
        });
        return y;
    }

    /// <summary>
    /// The sum over the leading axes <c>[0, k)</c> of <paramref name="axes"/> (all axes when k is the rank): the device's
    /// deterministic column sums. Gradient: dy repeated over the summed axes.
    /// </summary>
    /// <exception cref="NotSupportedException">The axes are not a leading run (other sums run on the cpu device only).</exception>
    internal static Tensor SumLeading(Tensor x, int[] axes, bool keepDims)
    {
        for (int i = 0; i < axes.Length; i++)
        {
            if (axes[i] != i) throw Unsupported("Sum", $"axes [{string.Join(", ", axes)}] (only the leading axes 0..k-1 are summed on a device)", x.Device);
        }
        var shape = x.ShapeArray;
        var kept = (int[])shape.Clone();
        for (int i = 0; i < axes.Length; i++) kept[i] = 1;
        var outShape = keepDims ? kept : shape[axes.Length..];
        var b = Backend(x);
        var y = New(x, outShape);
        b.ColumnSums(x.Storage, y.Storage);
        GradientTape.Record(y, [x], (dy, _) => [Repeat(On(dy, x, "Sum"), shape)]);
        return y;
    }

    /// <summary><paramref name="row"/> (the trailing part of <paramref name="shape"/>, any leading 1s dropped) repeated over the leading axes; not recorded.</summary>
    internal static Tensor Repeat(Tensor row, int[] shape)
    {
        var b = Backend(row);
        var y = New(row, shape);
        if (y.Size == 0) return y;
        if (row.Size == 1)
        {
            b.BroadcastScalar(row.Storage, y.Storage);
            return y;
        }
        b.Fill(y.Storage, 0f);
        b.BiasAdd(y.Storage, row.Storage, y.Storage);
        return y;
    }

    /// <summary>
    /// Sparse softmax cross-entropy on the device: the labels are checked on the host (a sync point when they are on the
    /// device) and, when on the host, uploaded. Gradient with respect to the logits only.
    /// </summary>
    internal static Tensor SparseSoftmaxCrossEntropy(Tensor labels, Tensor logits, float[] labelValues, int rows, int classes)
    {
        var b = Backend(logits);
        var ids = labels.Device == logits.Device ? labels : new Tensor(b.Upload(labelValues), labels.ShapeArray);
        var loss = New(logits, logits.ShapeArray[..^1]);
        var logp = New(logits, logits.ShapeArray);
        b.SparseSoftmaxCrossEntropy(logits.Storage, ids.Storage, rows, classes, loss.Storage, logp.Storage);
        GradientTape.Record(loss, [logits], (dy, _) =>
        {
            var dx = New(logits, logits.ShapeArray);
            b.SparseSoftmaxCrossEntropyBackward(logp.Storage, ids.Storage, On(dy, logits, "SparseSoftmaxCrossEntropy").Storage, rows, classes, dx.Storage);
            return [dx];
        });
        return loss;
    }
}
