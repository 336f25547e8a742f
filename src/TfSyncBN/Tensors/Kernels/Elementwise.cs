using System.Numerics.Tensors;

namespace TfSyncBN.Tensors.Kernels;

/// <summary>A binary element-wise operation in its three span forms, so broadcasting never calls per element.</summary>
internal interface IBinaryOp
{
    static abstract string Name { get; }
    static abstract void Invoke(ReadOnlySpan<float> x, ReadOnlySpan<float> y, Span<float> d);
    static abstract void Invoke(ReadOnlySpan<float> x, float y, Span<float> d);
    static abstract void Invoke(float x, ReadOnlySpan<float> y, Span<float> d);
}

internal readonly struct AddOp : IBinaryOp
{
    public static string Name => "Add";
    public static void Invoke(ReadOnlySpan<float> x, ReadOnlySpan<float> y, Span<float> d) => TensorPrimitives.Add(x, y, d);
    public static void Invoke(ReadOnlySpan<float> x, float y, Span<float> d) => TensorPrimitives.Add(x, y, d);
    public static void Invoke(float x, ReadOnlySpan<float> y, Span<float> d) => TensorPrimitives.Add(y, x, d);
}

internal readonly struct SubtractOp : IBinaryOp
{
    public static string Name => "Subtract";
    public static void Invoke(ReadOnlySpan<float> x, ReadOnlySpan<float> y, Span<float> d) => TensorPrimitives.Subtract(x, y, d);
    public static void Invoke(ReadOnlySpan<float> x, float y, Span<float> d) => TensorPrimitives.Subtract(x, y, d);
    public static void Invoke(float x, ReadOnlySpan<float> y, Span<float> d) => TensorPrimitives.Subtract(x, y, d);
}

internal readonly struct MultiplyOp : IBinaryOp
{
    public static string Name => "Multiply";
    public static void Invoke(ReadOnlySpan<float> x, ReadOnlySpan<float> y, Span<float> d) => TensorPrimitives.Multiply(x, y, d);
    public static void Invoke(ReadOnlySpan<float> x, float y, Span<float> d) => TensorPrimitives.Multiply(x, y, d);
    public static void Invoke(float x, ReadOnlySpan<float> y, Span<float> d) => TensorPrimitives.Multiply(y, x, d);
}

internal readonly struct DivideOp : IBinaryOp
{
    public static string Name => "Divide";
    public static void Invoke(ReadOnlySpan<float> x, ReadOnlySpan<float> y, Span<float> d) => TensorPrimitives.Divide(x, y, d);
    public static void Invoke(ReadOnlySpan<float> x, float y, Span<float> d) => TensorPrimitives.Divide(x, y, d);
    public static void Invoke(float x, ReadOnlySpan<float> y, Span<float> d) => TensorPrimitives.Divide(x, y, d);
}

internal readonly struct MaximumOp : IBinaryOp
{
    public static string Name => "Maximum";
    public static void Invoke(ReadOnlySpan<float> x, ReadOnlySpan<float> y, Span<float> d) => TensorPrimitives.Max(x, y, d);
    public static void Invoke(ReadOnlySpan<float> x, float y, Span<float> d) => TensorPrimitives.Max(x, y, d);
    public static void Invoke(float x, ReadOnlySpan<float> y, Span<float> d) => TensorPrimitives.Max(y, x, d);
}

internal readonly struct MinimumOp : IBinaryOp
{
    public static string Name => "Minimum";
    public static void Invoke(ReadOnlySpan<float> x, ReadOnlySpan<float> y, Span<float> d) => TensorPrimitives.Min(x, y, d);
    public static void Invoke(ReadOnlySpan<float> x, float y, Span<float> d) => TensorPrimitives.Min(x, y, d);
    public static void Invoke(float x, ReadOnlySpan<float> y, Span<float> d) => TensorPrimitives.Min(y, x, d);
}

/// <summary>Element-wise kernels with NumPy broadcasting.</summary>
internal static class Elementwise
{
    /// <summary>The broadcast shape of <paramref name="a"/> and <paramref name="b"/> (NumPy rules).</summary>
    /// <param name="a">The first operand's shape.</param>
    /// <param name="b">The second operand's shape.</param>
    /// <param name="op">The operation's name, for the message.</param>
    /// <param name="paramName">The public parameter that holds the second operand, reported as <see cref="ArgumentException.ParamName"/>.</param>
    public static int[] BroadcastShape(int[] a, int[] b, string op, string paramName = "other")
    {
        int n = Math.Max(a.Length, b.Length);
        var s = new int[n];
        for (int i = 0; i < n; i++)
        {
            int da = i < n - a.Length ? 1 : a[i - (n - a.Length)];
            int db = i < n - b.Length ? 1 : b[i - (n - b.Length)];
            if (da != db && da != 1 && db != 1)
                throw new ArgumentException($"{op}: shapes {Tensor.ShapeString(a)} and {Tensor.ShapeString(b)} cannot be broadcast together.", paramName);
            s[i] = da == 1 ? db : da;
        }
        return s;
    }

    /// <summary>Computes <c>d = op(a, b)</c> with broadcasting into a new tensor of the broadcast shape.</summary>
    public static Tensor Binary<TOp>(Tensor a, Tensor b) where TOp : IBinaryOp
    {
        var shape = Tensor.SameShape(a.ShapeArray, b.ShapeArray) ? a.ShapeArray : BroadcastShape(a.ShapeArray, b.ShapeArray, TOp.Name);
        var d = Tensor.Uninitialized(shape);
        if (d.Size == 0) return d;
        if (a.Size == d.Size && b.Size == d.Size) TOp.Invoke(a.Data, b.Data, d.Data);
        else if (b.Size == 1) TOp.Invoke(a.Data, b.Data[0], d.Data);
        else if (a.Size == 1) TOp.Invoke(a.Data[0], b.Data, d.Data);
        else Strided<TOp>(a, b, d);
        return d;
    }

    /// <summary>The general case: dimensions with the same broadcast pattern are merged, then the innermost run is one span call.</summary>
    private static void Strided<TOp>(Tensor a, Tensor b, Tensor d) where TOp : IBinaryOp
    {
        int n = d.Rank;
        var dims = new List<(int Size, bool A, bool B)>();
        for (int i = 0; i < n; i++)
        {
            int size = d.ShapeArray[i];
            bool inA = Dim(a.ShapeArray, n, i) == size && size != 1, inB = Dim(b.ShapeArray, n, i) == size && size != 1;
            if (size == 1) continue;
            if (dims.Count > 0 && dims[^1].A == inA && dims[^1].B == inB) dims[^1] = (dims[^1].Size * size, inA, inB);
            else dims.Add((size, inA, inB));
        }
        int m = dims.Count;
        var sa = new int[m];
        var sb = new int[m];
        int stA = 1, stB = 1;
        for (int i = m - 1; i >= 0; i--)
        {
            sa[i] = dims[i].A ? stA : 0;
            sb[i] = dims[i].B ? stB : 0;
            if (dims[i].A) stA *= dims[i].Size;
            if (dims[i].B) stB *= dims[i].Size;
        }
        int inner = dims[m - 1].Size;
        var idx = new int[m];
        int offA = 0, offB = 0;
        for (int o = 0; o < d.Size; o += inner)
        {
            var dst = d.Data.AsSpan(o, inner);
            if (sa[m - 1] == 1 && sb[m - 1] == 1) TOp.Invoke(a.Data.AsSpan(offA, inner), b.Data.AsSpan(offB, inner), dst);
            else if (sa[m - 1] == 1) TOp.Invoke(a.Data.AsSpan(offA, inner), b.Data[offB], dst);
            else TOp.Invoke(a.Data[offA], b.Data.AsSpan(offB, inner), dst);
            for (int k = m - 2; k >= 0; k--)
            {
                offA += sa[k];
                offB += sb[k];
                if (++idx[k] < dims[k].Size) break;
                offA -= sa[k] * dims[k].Size;
                offB -= sb[k] * dims[k].Size;
                idx[k] = 0;
            }
        }
    }

    private static int Dim(int[] shape, int rank, int i) => i < rank - shape.Length ? 1 : shape[i - (rank - shape.Length)];

    /// <summary>The element-wise sum of equally shaped tensors, added in list order (deterministic).</summary>
    public static Tensor SumOf(IReadOnlyList<Tensor> parts)
    {
        var r = Tensor.FromArray(parts[0].Data, parts[0].ShapeArray);
        for (int i = 1; i < parts.Count; i++) TensorPrimitives.Add(r.Data, parts[i].Data, r.Data);
        return r;
    }

    /// <summary>The element-wise mean of equally shaped tensors.</summary>
    public static Tensor MeanOf(IReadOnlyList<Tensor> parts)
    {
        var r = SumOf(parts);
        TensorPrimitives.Divide(r.Data, parts.Count, r.Data);
        return r;
    }
}
