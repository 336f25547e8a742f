using System.Globalization;
using System.Text;

namespace TfSyncBN.Tensors;

/// <summary>
/// Something that can be read as a <see cref="Tensor"/>: a tensor itself, or a <see cref="Variable"/> (its current value).
/// It is what <see cref="GradientTape.Gradient(Tensor, IReadOnlyList{ITensorLike}?, Tensor?, IReadOnlyList{Variable}?)"/> takes as a source, in the spirit of TensorFlow's <c>TensorLike</c>.
/// </summary>
public interface ITensorLike
{
    /// <summary>The value as a tensor. For a variable this is a read, which an active <see cref="GradientTape"/> records.</summary>
    Tensor ToTensor();
}

/// <summary>
/// A dense, immutable, row-major float32 tensor: the value type of the TfSyncBN tensor core.
/// </summary>
/// <remarks>
/// Every operation returns a new tensor and never changes its inputs, so a tensor captured for the backward pass
/// stays valid. Operations run while a <see cref="GradientTape"/> is recording are differentiable.
/// </remarks>
public sealed partial class Tensor : ITensorLike
{
    // The elements: a bare float[] for a host tensor (no wrapper object, no extra field per tensor on the CPU path),
    // else the device's TensorStorage.
    private readonly object store;
    private readonly int[] shape;

    /// <summary>A host tensor over <paramref name="data"/> (not copied; its length is the shape's size).</summary>
    internal Tensor(float[] data, int[] shape)
    {
        store = data;
        this.shape = shape;
    }

    /// <summary>A tensor over <paramref name="storage"/> (not copied; its length is the shape's size).</summary>
    internal Tensor(TensorStorage storage, int[] shape)
    {
        store = storage is HostStorage h ? h.Array : storage;
        this.shape = shape;
    }

    private TensorStorage? DeviceStorage => store as TensorStorage;

    /// <summary>The host array of the elements, for the CPU kernels inside <c>Tensors</c>.</summary>
    /// <exception cref="NotSupportedException">The tensor is not on the host (<see cref="Device"/> is not <c>cpu</c>); the message names the public op called.</exception>
    internal float[] Data => HostArray ?? NotOnHost();

    /// <summary>The host array of the elements, or null for a tensor on another device.</summary>
    internal float[]? HostArray => store as float[];

    /// <summary>The storage of the elements (for a host tensor, a new <see cref="HostStorage"/> wrapper over its array).</summary>
    internal TensorStorage Storage => DeviceStorage ?? new HostStorage(HostArray!);

    /// <summary>A new tensor object over the same storage with <paramref name="newShape"/> (same size): a view.</summary>
    internal Tensor ShareStorage(int[] newShape) => HostArray is not null ? new Tensor(HostArray, newShape) : new Tensor(DeviceStorage!, newShape);

    /// <summary>The device that holds the elements and runs the operations on this tensor.</summary>
    public Device Device => DeviceStorage?.Device ?? Device.Cpu;

    /// <summary>
    /// This tensor on <paramref name="device"/>: the tensor itself when it is already there, else a copy (through host
    /// memory between two non-host devices). An active <see cref="GradientTape"/> records it; the gradient is copied back.
    /// </summary>
    /// <exception cref="InvalidOperationException">No backend is registered for <paramref name="device"/>.</exception>
    public Tensor To(Device device)
    {
        if (device == Device) return this;
        var values = HostArray ?? ToArray();
        var y = device.IsHost
            ? new Tensor(HostArray is null ? values : (float[])values.Clone(), shape)
            : new Tensor(Backends.For(device).Upload(values), shape);
        var source = Device;
        GradientTape.Record(y, [this], (dy, _) => [dy.To(source)]);
        return y;
    }

    /// <summary>Throws for an operation whose kernel runs on the host only, named after the first public TfSyncBN method on
    /// the stack (the op the caller called). Only the failure path walks the stack.</summary>
    private float[] NotOnHost()
    {
        string op = "This operation";
        var frames = new System.Diagnostics.StackTrace(1, false).GetFrames();
        foreach (var frame in frames)
        {
            var m = frame.GetMethod();
            if (m?.DeclaringType is { } t && t.Assembly == typeof(Tensor).Assembly && m.IsPublic && t.IsPublic)
            {
                op = $"{t.Name}.{(m.IsSpecialName && m.Name.StartsWith("op_", StringComparison.Ordinal) ? m.Name[3..] : m.Name)}";
                break;
            }
        }
        throw new NotSupportedException(
            $"{op} is not supported on device '{Device}' yet: its backend has no kernel for it, and TfSyncBN does not copy to the host behind your back. " +
            "Copy the operands to the host with To(Device.Cpu) and run it there, or read the values with ToArray or CopyTo.");
    }

    /// <summary>The dimensions, outermost first. A scalar has none.</summary>
    public IReadOnlyList<int> Shape => Array.AsReadOnly(shape);

    /// <summary>The number of dimensions.</summary>
    public int Rank => shape.Length;

    /// <summary>The number of elements: the product of <see cref="Shape"/> (1 for a scalar).</summary>
    public int Size => HostArray?.Length ?? DeviceStorage!.Length;

    internal int[] ShapeArray => shape;

    /// <summary>The elements in row-major order, as a read-only span (no copy) of a tensor on the host.</summary>
    /// <exception cref="NotSupportedException">The tensor is not on the host: use <see cref="ToArray"/> or <see cref="CopyTo"/>.</exception>
    public ReadOnlySpan<float> AsSpan() => Data;

    /// <summary>A copy of the elements in row-major order (for a tensor on another device, a synchronizing copy to the host).</summary>
    public float[] ToArray()
    {
        if (HostArray is not null) return (float[])HostArray.Clone();
        var copy = GC.AllocateUninitializedArray<float>(DeviceStorage!.Length);
        DeviceStorage.CopyTo(copy);
        return copy;
    }

    /// <summary>Copies the elements in row-major order to the start of <paramref name="destination"/> (for a tensor on
    /// another device, a synchronizing copy to the host).</summary>
    /// <exception cref="ArgumentException"><paramref name="destination"/> holds fewer than <see cref="Size"/> elements.</exception>
    public void CopyTo(Span<float> destination)
    {
        if (destination.Length < Size)
            throw new ArgumentException($"The destination holds {destination.Length} elements, but the tensor has {Size}.", nameof(destination));
        if (HostArray is not null) HostArray.CopyTo(destination);
        else DeviceStorage!.CopyTo(destination);
    }

    /// <summary>The single element of a tensor of size 1.</summary>
    /// <exception cref="InvalidOperationException">The tensor does not hold exactly one element.</exception>
    public float ToScalar() => Size == 1
        ? HostArray?[0] ?? ToArray()[0]
        : throw new InvalidOperationException($"ToScalar needs a tensor of size 1, but this one has shape {ShapeString(shape)}.");

    /// <inheritdoc/>
    Tensor ITensorLike.ToTensor() => this;

    /// <summary>Creates a tensor holding a copy of <paramref name="values"/>.</summary>
    /// <param name="values">The elements in row-major order.</param>
    /// <param name="shape">The shape; when omitted, a vector of <c>values.Length</c> elements. One entry may be -1, meaning "whatever the size requires".</param>
    /// <exception cref="ArgumentNullException"><paramref name="values"/> is null.</exception>
    /// <param name="device">Where the tensor lives (default <c>cpu</c>); for another device the values are uploaded to
    /// storage of that device's backend.</param>
    /// <exception cref="ArgumentException">The shape has a negative entry or does not hold <c>values.Length</c> elements.</exception>
    /// <exception cref="InvalidOperationException">No backend is registered for <paramref name="device"/>.</exception>
    public static Tensor FromArray(float[] values, IReadOnlyList<int>? shape = null, Device device = default)
    {
        ArgumentNullException.ThrowIfNull(values);
        int[] s = shape is null ? [values.Length] : ResolveShape(shape, values.Length, nameof(shape));
        return device.IsHost ? new Tensor((float[])values.Clone(), s) : new Tensor(Backends.For(device).Upload(values), s);
    }

    /// <summary>Creates a scalar (rank-0) tensor.</summary>
    public static Tensor Scalar(float value) => new([value], []);

    /// <summary>Creates a tensor of <paramref name="shape"/> with every element equal to <paramref name="value"/>.</summary>
    /// <exception cref="ArgumentException">The shape has a negative entry.</exception>
    public static Tensor Fill(IReadOnlyList<int> shape, float value)
    {
        var t = Uninitialized(CheckShape(shape, nameof(shape)));
        t.Data.AsSpan().Fill(value);
        return t;
    }

    /// <summary>A tensor of zeros.</summary>
    /// <exception cref="ArgumentException">The shape has a negative entry.</exception>
    public static Tensor Zeros(IReadOnlyList<int> shape)
    {
        var s = CheckShape(shape, nameof(shape));
        return new Tensor(new float[ShapeSize(s)], s);
    }

    /// <summary>A tensor of ones.</summary>
    /// <exception cref="ArgumentException">The shape has a negative entry.</exception>
    public static Tensor Ones(IReadOnlyList<int> shape) => Fill(shape, 1f);

    /// <summary>A tensor of <paramref name="shape"/> whose element at flat index <c>i</c> is <paramref name="generator"/>(i).</summary>
    /// <exception cref="ArgumentException">The shape has a negative entry.</exception>
    public static Tensor FromFunction(IReadOnlyList<int> shape, Func<int, float> generator)
    {
        ArgumentNullException.ThrowIfNull(generator);
        var t = Uninitialized(CheckShape(shape, nameof(shape)));
        var values = t.Data;
        for (int i = 0; i < values.Length; i++) values[i] = generator(i);
        return t;
    }

    /// <summary>A tensor whose elements the caller overwrites: storage from the thread's <see cref="TensorScope"/> pool when one is open.</summary>
    internal static Tensor Uninitialized(int[] shape) => new(TensorScope.Allocate(ShapeSize(shape)), shape);

    internal static Tensor ZerosLike(Tensor t) => new(new float[t.Size], t.shape);

    internal static Tensor OnesLike(Tensor t)
    {
        if (t.HostArray is null) return DeviceOps.Fill(t, 1f);
        var r = Uninitialized(t.shape);
        r.Data.AsSpan().Fill(1f);
        return r;
    }

    /// <summary>The number of elements of a shape with non-negative entries; throws if an array cannot hold them.</summary>
    /// <remarks>Overflow-safe: the running product is checked after every factor (a 64-bit product of int
    /// dimensions could otherwise wrap around, e.g. to 0 for [65536, 65536, 65536, 65536]).</remarks>
    internal static int ShapeSize(ReadOnlySpan<int> shape, string paramName = "shape")
    {
        if (shape.Contains(0)) return 0;
        long size = 1;
        foreach (int d in shape)
        {
            size *= d; // both factors are at most 2^31, so this cannot overflow
            if (size > Array.MaxLength)
                throw new ArgumentException($"A tensor of shape {ShapeString(shape)} has more elements than an array can hold.", paramName);
        }
        return (int)size;
    }

    internal static int[] CheckShape(IReadOnlyList<int> shape, string paramName)
    {
        ArgumentNullException.ThrowIfNull(shape, paramName);
        var s = shape.ToArray();
        foreach (int d in s)
        {
            if (d < 0) throw new ArgumentException($"Shape dimensions must be >= 0, but {paramName} is {ShapeString(s)}.", paramName);
        }
        ShapeSize(s, paramName);
        return s;
    }

    /// <summary>Validates a shape that may hold one -1 and resolves it against <paramref name="size"/>.</summary>
    internal static int[] ResolveShape(IReadOnlyList<int> shape, int size, string paramName)
    {
        ArgumentNullException.ThrowIfNull(shape, paramName);
        var s = shape.ToArray();
        int unknown = -1;
        long known = 1;
        for (int i = 0; i < s.Length; i++)
        {
            if (s[i] == -1 && unknown < 0) unknown = i;
            else if (s[i] < 0) throw new ArgumentException($"Shape dimensions must be >= 0 (one may be -1), but {paramName} is {ShapeString(s)}.", paramName);
            else known *= s[i];
        }
        if (unknown >= 0)
        {
            if (known == 0 || size % known != 0)
                throw new ArgumentException($"Cannot infer the -1 in {paramName} {ShapeString(s)} for {size} elements.", paramName);
            s[unknown] = (int)(size / known);
        }
        else if (known != size)
        {
            throw new ArgumentException($"{paramName} {ShapeString(s)} holds {known} elements, but there are {size}.", paramName);
        }
        ShapeSize(s, paramName); // the long product above can wrap around for huge dimensions
        return s;
    }

    internal static string ShapeString(ReadOnlySpan<int> shape)
    {
        var sb = new StringBuilder("[");
        for (int i = 0; i < shape.Length; i++) sb.Append(i == 0 ? "" : ", ").Append(shape[i]);
        return sb.Append(']').ToString();
    }

    internal static bool SameShape(ReadOnlySpan<int> a, ReadOnlySpan<int> b) => a.SequenceEqual(b);

    /// <summary>Shape and up to the first 8 elements, e.g. <c>Tensor[2, 3] [1, 2, 3, 4, 5, 6]</c> (a synchronizing copy for a tensor on another device).</summary>
    public override string ToString()
    {
        var sb = new StringBuilder("Tensor").Append(ShapeString(shape)).Append(" [");
        int n = Math.Min(Size, 8);
        var values = HostArray ?? ToArray();
        for (int i = 0; i < n; i++) sb.Append(i == 0 ? "" : ", ").Append(values[i].ToString("G7", CultureInfo.InvariantCulture));
        if (Size > n) sb.Append(", ...");
        return sb.Append(']').ToString();
    }
}
