using TfSyncBN.Tensors.Kernels;

namespace TfSyncBN.Tensors;

/// <summary>
/// The device side of the tensor ops: the path an op takes when an operand is not in host memory. It checks that the
/// operands share a device and runs the kernel of that device's <see cref="IBackend"/> (one dispatch per op). Host
/// tensors never come here: their ops call the span kernels directly.
/// </summary>
internal static class DeviceOps
{
    /// <summary>The device every operand is on.</summary>
    /// <exception cref="ArgumentException">The operands are on different devices.</exception>
    internal static Device Common(string op, Tensor a, Tensor b, string paramName = "other")
    {
        if (a.Device != b.Device)
            throw new ArgumentException($"{op} needs operands on one device, but they are on '{a.Device}' and '{b.Device}': move one with Tensor.To.", paramName);
        return a.Device;
    }

    /// <summary>A tensor of <paramref name="shape"/> with uninitialized storage from <paramref name="device"/>'s backend.</summary>
    internal static Tensor Allocate(Device device, int[] shape) =>
        device.IsHost ? Tensor.Uninitialized(shape) : new Tensor(Backends.For(device).Allocate(Tensor.ShapeSize(shape)), shape);

    /// <summary>A tensor of <paramref name="like"/>'s shape and device, every element <paramref name="value"/>.</summary>
    internal static Tensor Fill(Tensor like, float value)
    {
        var backend = Backends.For(like.Device);
        var storage = backend.Allocate(like.Size);
        backend.Fill(storage, value);
        return new Tensor(storage, like.ShapeArray);
    }

    /// <summary>The element-wise binary op <typeparamref name="TOp"/> on a device (operands of one shape: a device has no broadcasting yet).</summary>
    /// <exception cref="ArgumentException">The operands are on different devices.</exception>
    /// <remarks>A one-element host operand (e.g. <c>Tensor.Scalar</c>) of rank at most the other's is broadcast on the device.</remarks>
    /// <exception cref="NotSupportedException">The shapes differ otherwise (other broadcasting runs on the host only).</exception>
    internal static Tensor Binary<TOp>(Tensor a, Tensor b) where TOp : IBinaryOp
    {
        if (a.HostArray is { Length: 1 } sa && b.Rank >= a.Rank) return Scalar<TOp>(b, sa[0], scalarFirst: true);
        if (b.HostArray is { Length: 1 } sb && a.Rank >= b.Rank) return Scalar<TOp>(a, sb[0], scalarFirst: false);
        var device = Common(TOp.Name, a, b);
        if (!Tensor.SameShape(a.ShapeArray, b.ShapeArray))
            throw new NotSupportedException(
                $"{TOp.Name} of shapes {Tensor.ShapeString(a.ShapeArray)} and {Tensor.ShapeString(b.ShapeArray)} on '{device}': broadcasting runs on the cpu device only.");
        var backend = Backends.For(device);
        var y = backend.Allocate(a.Size);
        backend.Binary(Kind<TOp>(), a.Storage, b.Storage, y);
        return new Tensor(y, a.ShapeArray);
    }

    /// <summary><c>op(s, x)</c> or <c>op(x, s)</c> for a device tensor x and a one-element host tensor s (broadcast to x's shape).</summary>
    private static Tensor Scalar<TOp>(Tensor x, float s, bool scalarFirst) where TOp : IBinaryOp
    {
        var backend = Backends.For(x.Device);
        var y = backend.Allocate(x.Size);
        backend.BinaryScalar(Kind<TOp>(), x.Storage, s, scalarFirst, y);
        return new Tensor(y, x.ShapeArray);
    }

    private static BinaryOpKind Kind<TOp>() where TOp : IBinaryOp =>
        typeof(TOp) == typeof(AddOp) ? BinaryOpKind.Add
        : typeof(TOp) == typeof(SubtractOp) ? BinaryOpKind.Subtract
        : typeof(TOp) == typeof(MultiplyOp) ? BinaryOpKind.Multiply
        : typeof(TOp) == typeof(DivideOp) ? BinaryOpKind.Divide
        : typeof(TOp) == typeof(MaximumOp) ? BinaryOpKind.Maximum
        : typeof(TOp) == typeof(MinimumOp) ? BinaryOpKind.Minimum
        : throw new NotSupportedException($"{TOp.Name} has no device kernel.");
}
