using System.Numerics.Tensors;
using TfSyncBN.Tensors.Kernels;

namespace TfSyncBN.Tensors;

// Differentiable operations. Each computes its result with a kernel, then records a backward function that maps the
// upstream gradient to the inputs' gradients (only those that are needed).
public sealed partial class Tensor
{
    /// <summary>Element-wise <c>this + other</c> with NumPy broadcasting.</summary>
    /// <exception cref="ArgumentException">The shapes cannot be broadcast together.</exception>
    public Tensor Add(Tensor other) => Binary<AddOp>(this, other,
        (dy, a, b, n) => [n[0] ? dy.SumTo(a) : null, n[1] ? dy.SumTo(b) : null]);

    /// <summary>Element-wise <c>this - other</c> with NumPy broadcasting.</summary>
    /// <exception cref="ArgumentException">The shapes cannot be broadcast together.</exception>
    public Tensor Subtract(Tensor other) => Binary<SubtractOp>(this, other,
        (dy, a, b, n) => [n[0] ? dy.SumTo(a) : null, n[1] ? (-dy).SumTo(b) : null]);

    /// <summary>Element-wise <c>this * other</c> with NumPy broadcasting.</summary>
    /// <exception cref="ArgumentException">The shapes cannot be broadcast together.</exception>
    public Tensor Multiply(Tensor other) => Binary<MultiplyOp>(this, other,
        (dy, a, b, n) => [n[0] ? (dy * b).SumTo(a) : null, n[1] ? (dy * a).SumTo(b) : null]);

    /// <summary>Element-wise <c>this / other</c> with NumPy broadcasting (IEEE semantics for division by zero).</summary>
    /// <exception cref="ArgumentException">The shapes cannot be broadcast together.</exception>
    public Tensor Divide(Tensor other) => Binary<DivideOp>(this, other,
        (dy, a, b, n) => [n[0] ? (dy / b).SumTo(a) : null, n[1] ? (-dy * a / (b * b)).SumTo(b) : null]);

    /// <summary>Element-wise maximum with broadcasting; the gradient flows to <c>this</c> where it is the larger (ties included).</summary>
    /// <exception cref="ArgumentException">The shapes cannot be broadcast together.</exception>
    public Tensor Maximum(Tensor other) => Binary<MaximumOp>(this, other, (dy, a, b, n) =>
    {
        var mask = Elementwise.Binary<SubtractOp>(a, b).Map(static v => v >= 0 ? 1f : 0f);
        return [n[0] ? (dy * mask).SumTo(a) : null, n[1] ? (dy * (1f - mask)).SumTo(b) : null];
    });

    /// <summary>Element-wise minimum with broadcasting; the gradient flows to <c>this</c> where it is the smaller (ties included).</summary>
    /// <exception cref="ArgumentException">The shapes cannot be broadcast together.</exception>
    public Tensor Minimum(Tensor other) => Binary<MinimumOp>(this, other, (dy, a, b, n) =>
    {
        var mask = Elementwise.Binary<SubtractOp>(a, b).Map(static v => v <= 0 ? 1f : 0f);
        return [n[0] ? (dy * mask).SumTo(a) : null, n[1] ? (dy * (1f - mask)).SumTo(b) : null];
    });

    private static Tensor Binary<TOp>(Tensor a, Tensor b, Func<Tensor, Tensor, Tensor, bool[], Tensor?[]> backward) where TOp : IBinaryOp
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        var y = a.HostArray is not null && b.HostArray is not null ? Elementwise.Binary<TOp>(a, b) : DeviceOps.Binary<TOp>(a, b);
        GradientTape.Record(y, [a, b], (dy, needed) => backward(dy, a, b, needed));
        return y;
    }

    /// <summary>The same values, cut off from the tape: no gradient flows through the result (<c>tf.stop_gradient</c>).</summary>
    public Tensor StopGradient() => ShareStorage(shape);

    /// <summary>Element-wise negation.</summary>
    public Tensor Negate() => Unary(TensorPrimitives.Negate, (dy, x, y) => -dy);

    /// <summary>Element-wise square.</summary>
    public Tensor Square() => Unary((x, d) => TensorPrimitives.Multiply(x, x, d), (dy, x, y) => dy * x * 2f);

    /// <summary>Element-wise square root (NaN for negative elements).</summary>
    public Tensor Sqrt() => Unary(TensorPrimitives.Sqrt, (dy, x, y) => dy / (y * 2f));

    /// <summary>Element-wise absolute value; its gradient at 0 is 0.</summary>
    public Tensor Abs() => Unary(TensorPrimitives.Abs, (dy, x, y) => dy * x.Map(static v => MathF.Sign(v)));

    /// <summary>Element-wise natural exponential.</summary>
    public Tensor Exp() => Unary(TensorPrimitives.Exp, (dy, x, y) => dy * y);

    /// <summary>Element-wise natural logarithm.</summary>
    public Tensor Log() => Unary(TensorPrimitives.Log, (dy, x, y) => dy / x);

    private delegate void SpanKernel(ReadOnlySpan<float> x, Span<float> destination);

    private Tensor Unary(SpanKernel kernel, Func<Tensor, Tensor, Tensor, Tensor> backward)
    {
        var y = Uninitialized(shape);
        kernel(Data, y.Data);
        GradientTape.Record(y, [this], (dy, _) => [backward(dy, this, y)]);
        return y;
    }

    /// <summary>A new tensor with <paramref name="f"/> applied to every element; not differentiable.</summary>
    internal Tensor Map(Func<float, float> f)
    {
        var y = Uninitialized(shape);
        float[] xs = Data, ys = y.Data;
        for (int i = 0; i < xs.Length; i++) ys[i] = f(xs[i]);
        return y;
    }

    /// <summary>The sum over <paramref name="axes"/> (all axes when null).</summary>
    /// <param name="axes">Axes to reduce; negative values count from the end.</param>
    /// <param name="keepDims">Whether reduced axes stay, with size 1.</param>
    /// <exception cref="ArgumentException">An axis is out of range or repeated.</exception>
    public Tensor Sum(IReadOnlyList<int>? axes = null, bool keepDims = false)
    {
        var ax = NormalizeAxes(axes, Rank, nameof(axes));
        if (HostArray is null) return DeviceNn.SumLeading(this, ax, keepDims);
        var y = this;
        using (GradientTape.Pause())
        {
            for (int i = ax.Length - 1; i >= 0; i--) y = Layout.SumAxis(y, ax[i]);
        }
        var kept = y.ShapeArray;
        if (!keepDims) y = new Tensor(y.Data, shape.Where((_, i) => Array.IndexOf(ax, i) < 0).ToArray());
        else if (ReferenceEquals(y, this)) y = new Tensor(Data, shape);
        GradientTape.Record(y, [this], (dy, _) => [new Tensor(dy.Data, kept).BroadcastTo(shape)]);
        return y;
    }

    /// <summary>The mean over <paramref name="axes"/> (all axes when null); NaN over an empty set.</summary>
    /// <exception cref="ArgumentException">An axis is out of range or repeated.</exception>
    public Tensor Mean(IReadOnlyList<int>? axes = null, bool keepDims = false)
    {
        var ax = NormalizeAxes(axes, Rank, nameof(axes));
        long count = 1;
        foreach (int a in ax) count *= shape[a];
        return Sum(ax, keepDims) / (float)count;
    }

    /// <summary>The same elements with another shape; one entry may be -1.</summary>
    /// <exception cref="ArgumentException">The shape does not hold <see cref="Size"/> elements.</exception>
    public Tensor Reshape(IReadOnlyList<int> newShape)
    {
        var s = ResolveShape(newShape, Size, nameof(newShape));
        var y = ShareStorage(s);
        GradientTape.Record(y, [this], (dy, _) => [dy.ShareStorage(shape)]);
        return y;
    }

    /// <summary>Permutes the axes: output axis i is input axis <paramref name="perm"/>[i]; reverses them when null.</summary>
    /// <exception cref="ArgumentException"><paramref name="perm"/> is not a permutation of 0..Rank-1.</exception>
    public Tensor Transpose(IReadOnlyList<int>? perm = null)
    {
        var p = perm?.ToArray() ?? Enumerable.Range(0, Rank).Reverse().ToArray();
        if (p.Length != Rank || !p.OrderBy(v => v).SequenceEqual(Enumerable.Range(0, Rank)))
            throw new ArgumentException($"perm must be a permutation of 0..{Rank - 1}, but is {ShapeString(p)}.", nameof(perm));
        var y = Rank == 0 ? new Tensor(Data, shape) : Layout.Transpose(this, p);
        var inverse = new int[p.Length];
        for (int i = 0; i < p.Length; i++) inverse[p[i]] = i;
        GradientTape.Record(y, [this], (dy, _) => [dy.Rank == 0 ? dy : Layout.Transpose(dy, inverse)]);
        return y;
    }

    /// <summary>The entries <c>[start, start + length)</c> of <paramref name="axis"/>, e.g. one replica's part of a batch.</summary>
    /// <exception cref="ArgumentException">The axis is out of range.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="start"/> is outside [0, length of the axis], or <paramref name="length"/> is negative or reaches past the end.</exception>
    public Tensor Slice(int axis, int start, int length)
    {
        int ax = NormalizeAxes([axis], Rank, nameof(axis))[0];
        if (start < 0 || start > shape[ax])
            throw new ArgumentOutOfRangeException(nameof(start), start, $"start must be in [0, {shape[ax]}] for axis {axis} of length {shape[ax]}.");
        if (length < 0 || length > shape[ax] - start)
            throw new ArgumentOutOfRangeException(nameof(length), length, $"length must be in [0, {shape[ax] - start}]: a slice from {start} cannot extend past the end of axis {axis} of length {shape[ax]}.");
        var y = Layout.Slice(this, ax, start, length);
        GradientTape.Record(y, [this], (dy, _) =>
        {
            var dx = ZerosLike(this);
            Layout.Place(dy, dx, ax, start);
            return [dx];
        });
        return y;
    }

    /// <summary>Joins tensors along <paramref name="axis"/>; all other dimensions must agree.</summary>
    /// <exception cref="ArgumentException">The list is empty, or ranks or other dimensions differ, or the axis is out of range.</exception>
    public static Tensor Concat(IReadOnlyList<Tensor> tensors, int axis)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        if (tensors.Count == 0) throw new ArgumentException("Concat needs at least one tensor.", nameof(tensors));
        var first = tensors[0] ?? throw new ArgumentNullException(nameof(tensors), "tensors[0] is null.");
        int ax = NormalizeAxes([axis], first.Rank, nameof(axis))[0];
        var shape = (int[])first.ShapeArray.Clone();
        shape[ax] = 0;
        for (int i = 0; i < tensors.Count; i++)
        {
            var t = tensors[i] ?? throw new ArgumentNullException(nameof(tensors), $"tensors[{i}] is null.");
            for (int d = 0; d < shape.Length; d++)
            {
                if (t.Rank != first.Rank || (d != ax && t.ShapeArray[d] != first.ShapeArray[d]))
                    throw new ArgumentException($"Concat along axis {axis}: tensors[{i}] has shape {ShapeString(t.ShapeArray)}, which does not match tensors[0]'s {ShapeString(first.ShapeArray)}.", nameof(tensors));
            }
            shape[ax] += t.ShapeArray[ax];
        }
        var y = Uninitialized(shape);
        var starts = new int[tensors.Count];
        for (int i = 0, at = 0; i < tensors.Count; at += tensors[i].ShapeArray[ax], i++)
        {
            starts[i] = at;
            Layout.Place(tensors[i], y, ax, at);
        }
        var inputs = tensors.ToArray();
        GradientTape.Record(y, inputs, (dy, needed) =>
            inputs.Select((t, i) => needed[i] ? Layout.Slice(dy, ax, starts[i], t.ShapeArray[ax]) : null).ToArray());
        return y;
    }

    /// <summary>Sums a broadcast gradient back down to <paramref name="target"/>'s shape.</summary>
    internal Tensor SumTo(Tensor target)
    {
        if (SameShape(shape, target.ShapeArray)) return this;
        int lead = Rank - target.Rank;
        var axes = Enumerable.Range(0, Rank).Where(i => i < lead || (target.ShapeArray[i - lead] == 1 && shape[i] != 1)).ToArray();
        return new Tensor(Sum(axes).Data, target.ShapeArray);
    }

    /// <summary>Repeats this tensor to <paramref name="target"/> (broadcasting rules); not recorded.</summary>
    internal Tensor BroadcastTo(int[] target) =>
        SameShape(shape, target) ? this : Elementwise.Binary<AddOp>(new Tensor(new float[ShapeSize(target)], target), this);

    /// <summary>Validates axes against a rank, resolving negatives; returns them sorted. Null means all axes.</summary>
    internal static int[] NormalizeAxes(IReadOnlyList<int>? axes, int rank, string paramName)
    {
        if (axes is null) return Enumerable.Range(0, rank).ToArray();
        var result = new int[axes.Count];
        for (int i = 0; i < result.Length; i++)
        {
            int a = axes[i];
            int r = a < 0 ? a + rank : a;
            if (r < 0 || r >= rank)
                throw new ArgumentException($"{paramName} contains {a}, which is out of range for rank {rank}; accepted values are -{rank}..{rank - 1}.", paramName);
            if (Array.IndexOf(result, r, 0, i) >= 0)
                throw new ArgumentException($"{paramName} contains axis {r} more than once.", paramName);
            result[i] = r;
        }
        Array.Sort(result);
        return result;
    }

#pragma warning disable CS1591 // Operators mirror the named methods above.
    public static Tensor operator +(Tensor a, Tensor b) => a.Add(b);
    public static Tensor operator -(Tensor a, Tensor b) => a.Subtract(b);
    public static Tensor operator *(Tensor a, Tensor b) => a.Multiply(b);
    public static Tensor operator /(Tensor a, Tensor b) => a.Divide(b);
    public static Tensor operator -(Tensor a) => a.Negate();
    public static Tensor operator +(Tensor a, float b) => a.Add(Scalar(b));
    public static Tensor operator -(Tensor a, float b) => a.Subtract(Scalar(b));
    public static Tensor operator *(Tensor a, float b) => a.Multiply(Scalar(b));
    public static Tensor operator /(Tensor a, float b) => a.Divide(Scalar(b));
    public static Tensor operator +(float a, Tensor b) => Scalar(a).Add(b);
    public static Tensor operator -(float a, Tensor b) => Scalar(a).Subtract(b);
    public static Tensor operator *(float a, Tensor b) => Scalar(a).Multiply(b);
    public static Tensor operator /(float a, Tensor b) => Scalar(a).Divide(b);
#pragma warning restore CS1591
}
