using System.Numerics.Tensors;

namespace TfSyncBN.Tensors.Kernels;

/// <summary>Kernels that move or reduce data along axes. Each views the tensor as [outer, axis, inner].</summary>
internal static class Layout
{
    public static (int Outer, int Inner) Split(int[] shape, int axis)
    {
        int outer = 1, inner = 1;
        for (int i = 0; i < axis; i++) outer *= shape[i];
        for (int i = axis + 1; i < shape.Length; i++) inner *= shape[i];
        return (outer, inner);
    }

    /// <summary>Sums along one axis, keeping it with size 1.</summary>
    public static Tensor SumAxis(Tensor x, int axis)
    {
        var (outer, inner) = Split(x.ShapeArray, axis);
        int len = x.ShapeArray[axis];
        var shape = (int[])x.ShapeArray.Clone();
        shape[axis] = 1;
        var y = Tensor.Zeros(shape);
        for (int o = 0; o < outer; o++)
        {
            var src = x.Data.AsSpan(o * len * inner, len * inner);
            if (inner == 1)
            {
                y.Data[o] = TensorPrimitives.Sum(src);
                continue;
            }
            var dst = y.Data.AsSpan(o * inner, inner);
            for (int r = 0; r < len; r++) TensorPrimitives.Add(dst, src.Slice(r * inner, inner), dst);
        }
        return y;
    }

    /// <summary>Copies <paramref name="length"/> entries of <paramref name="axis"/> starting at <paramref name="start"/>.</summary>
    public static Tensor Slice(Tensor x, int axis, int start, int length)
    {
        var (outer, inner) = Split(x.ShapeArray, axis);
        int len = x.ShapeArray[axis];
        var shape = (int[])x.ShapeArray.Clone();
        shape[axis] = length;
        var y = Tensor.Uninitialized(shape);
        for (int o = 0; o < outer; o++)
            x.Data.AsSpan((o * len + start) * inner, length * inner).CopyTo(y.Data.AsSpan(o * length * inner));
        return y;
    }

    /// <summary>Writes <paramref name="part"/> into <paramref name="whole"/> at <paramref name="start"/> along <paramref name="axis"/>.</summary>
    public static void Place(Tensor part, Tensor whole, int axis, int start)
    {
        var (outer, inner) = Split(whole.ShapeArray, axis);
        int len = whole.ShapeArray[axis], plen = part.ShapeArray[axis];
        for (int o = 0; o < outer; o++)
            part.Data.AsSpan(o * plen * inner, plen * inner).CopyTo(whole.Data.AsSpan((o * len + start) * inner));
    }

    /// <summary>Permutes axes: output axis i is input axis <paramref name="perm"/>[i].</summary>
    public static Tensor Transpose(Tensor x, int[] perm)
    {
        int n = x.Rank;
        var shape = new int[n];
        var inStride = new int[n];
        int s = 1;
        for (int i = n - 1; i >= 0; i--)
        {
            inStride[i] = s;
            s *= x.ShapeArray[i];
        }
        var stride = new int[n];
        for (int i = 0; i < n; i++)
        {
            shape[i] = x.ShapeArray[perm[i]];
            stride[i] = inStride[perm[i]];
        }
        var y = Tensor.Uninitialized(shape);
        if (y.Size == 0) return y;
        int innerLen = shape[n - 1], innerStride = stride[n - 1];
        var idx = new int[n];
        int off = 0;
        float[] xs = x.Data, ys = y.Data;
        for (int o = 0; o < ys.Length; o += innerLen)
        {
            var dst = ys.AsSpan(o, innerLen);
            if (innerStride == 1) xs.AsSpan(off, innerLen).CopyTo(dst);
            else for (int j = 0; j < innerLen; j++) dst[j] = xs[off + j * innerStride];
            for (int k = n - 2; k >= 0; k--)
            {
                off += stride[k];
                if (++idx[k] < shape[k]) break;
                off -= stride[k] * shape[k];
                idx[k] = 0;
            }
        }
        return y;
    }
}
