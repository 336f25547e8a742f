using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace TfSyncBN.Tensors.Kernels;

/// <summary>
/// A float vector of the machine's preferred width. Kernels are written once against this interface and instantiated
/// for <see cref="V512"/>, <see cref="V256"/> or <see cref="V128"/>; the JIT specializes each instantiation, so
/// there is no call or boxing per vector (.NET 10 keeps <c>ISimdVector</c> internal, hence this small twin).
/// </summary>
internal interface IVec<TSelf> where TSelf : struct, IVec<TSelf>
{
    static abstract int Count { get; }
    static abstract TSelf Load(ref float source);
    static abstract void Store(TSelf value, ref float destination);
    static abstract TSelf Splat(float value);
    static abstract TSelf Add(TSelf a, TSelf b);
    static abstract TSelf Subtract(TSelf a, TSelf b);
    static abstract TSelf Multiply(TSelf a, TSelf b);

    /// <summary><c>a * b + c</c>, fused where the hardware can.</summary>
    static abstract TSelf MultiplyAdd(TSelf a, TSelf b, TSelf c);

    /// <summary>The lane-wise IEEE maximum (NaN propagates, +0 above −0), as <c>TensorPrimitives.Max</c>.</summary>
    static abstract TSelf Max(TSelf a, TSelf b);

    /// <summary><paramref name="value"/> where <paramref name="condition"/> &gt; 0, else +0 (the ReLU gradient's select).</summary>
    static abstract TSelf WherePositive(TSelf condition, TSelf value);

    /// <summary>All bits set in the lanes where <c>a == b</c> (IEEE: NaN equals nothing, +0 equals −0), else 0.</summary>
    static abstract TSelf EqualMask(TSelf a, TSelf b);

    /// <summary>The lane-wise bitwise or (of masks).</summary>
    static abstract TSelf Or(TSelf a, TSelf b);

    /// <summary>The lane-wise bitwise and (a mask and a value: the value where the mask is set, else +0).</summary>
    static abstract TSelf And(TSelf a, TSelf b);

    /// <summary>The lane-wise <c>a &amp; ~b</c>.</summary>
    static abstract TSelf AndNot(TSelf a, TSelf b);

    /// <summary>All bits set in the lanes where <c>a &gt; b</c> (false where either is NaN), else 0.</summary>
    static abstract TSelf GreaterThanMask(TSelf a, TSelf b);

    /// <summary>All bits set in the lanes where <c>a</c> or <c>b</c> is NaN, else 0.</summary>
    static abstract TSelf UnorderedMask(TSelf a, TSelf b);

    /// <summary><paramref name="a"/> in the lanes set in <paramref name="mask"/> (a mask: all bits or none), else <paramref name="b"/>.</summary>
    static abstract TSelf Select(TSelf mask, TSelf a, TSelf b);

    /// <summary>
    /// Stores with a non-temporal hint (bypassing the caches, no read-for-ownership of the destination line) where the
    /// hardware has it, else an ordinary store. <paramref name="destination"/> must be aligned to the vector size and
    /// its array pinned.
    /// </summary>
    static abstract void StoreNonTemporal(TSelf value, ref float destination);

    /// <summary>
    /// Adds the lanes into <paramref name="destination"/>[0..Count), each widened to float64 exactly (two vector adds, no
    /// scalar loop).
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="destination"/> is shorter than <see cref="Count"/>.</exception>
    static abstract void AccumulateInto(TSelf value, Span<double> destination);

    /// <summary>The sum of the lanes, each widened to float64 first (a tree of vector adds, no scalar loop).</summary>
    static abstract double SumWide(TSelf value);
}

internal readonly struct V512(Vector512<float> v) : IVec<V512>
{
    private readonly Vector512<float> v = v;
    public static int Count => Vector512<float>.Count;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V512 Load(ref float s) => new(Vector512.LoadUnsafe(ref s));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(V512 x, ref float d) => x.v.StoreUnsafe(ref d);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe void StoreNonTemporal(V512 x, ref float d)
    {
        if (Avx512F.IsSupported) Avx512F.StoreAlignedNonTemporal((float*)Unsafe.AsPointer(ref d), x.v);
        else x.v.StoreUnsafe(ref d);
    }
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V512 Splat(float x) => new(Vector512.Create(x));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V512 Add(V512 a, V512 b) => new(a.v + b.v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V512 Subtract(V512 a, V512 b) => new(a.v - b.v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V512 Multiply(V512 a, V512 b) => new(a.v * b.v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V512 MultiplyAdd(V512 a, V512 b, V512 c) => new(Vector512.FusedMultiplyAdd(a.v, b.v, c.v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V512 Max(V512 a, V512 b) => new(Vector512.Max(a.v, b.v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V512 WherePositive(V512 condition, V512 value) => new(Vector512.ConditionalSelect(Vector512.GreaterThan(condition.v, Vector512<float>.Zero), value.v, Vector512<float>.Zero));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V512 EqualMask(V512 a, V512 b) => new(Vector512.Equals(a.v, b.v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V512 Or(V512 a, V512 b) => new(a.v | b.v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V512 And(V512 a, V512 b) => new(a.v & b.v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V512 AndNot(V512 a, V512 b) => new(Vector512.AndNot(a.v, b.v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V512 GreaterThanMask(V512 a, V512 b) => new(Vector512.GreaterThan(a.v, b.v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V512 UnorderedMask(V512 a, V512 b) => new(Avx512F.IsSupported ? Avx512F.CompareUnordered(a.v, b.v) : ~(Vector512.Equals(a.v, a.v) & Vector512.Equals(b.v, b.v)));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V512 Select(V512 mask, V512 a, V512 b) => new(Vector512.ConditionalSelect(mask.v, a.v, b.v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void AccumulateInto(V512 x, Span<double> d)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(d.Length, Count, nameof(d));
        var (lo, hi) = Vector512.Widen(x.v);
        ref double d0 = ref MemoryMarshal.GetReference(d);
        (Vector512.LoadUnsafe(ref d0) + lo).StoreUnsafe(ref d0);
        (Vector512.LoadUnsafe(ref d0, (nuint)(Count / 2)) + hi).StoreUnsafe(ref d0, (nuint)(Count / 2));
    }
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static double SumWide(V512 x)
    {
        var (lo, hi) = Vector512.Widen(x.v);
        return Vector512.Sum(lo + hi);
    }
}

internal readonly struct V256(Vector256<float> v) : IVec<V256>
{
    private readonly Vector256<float> v = v;
    public static int Count => Vector256<float>.Count;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V256 Load(ref float s) => new(Vector256.LoadUnsafe(ref s));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(V256 x, ref float d) => x.v.StoreUnsafe(ref d);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe void StoreNonTemporal(V256 x, ref float d)
    {
        if (Avx.IsSupported) Avx.StoreAlignedNonTemporal((float*)Unsafe.AsPointer(ref d), x.v);
        else x.v.StoreUnsafe(ref d);
    }
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V256 Splat(float x) => new(Vector256.Create(x));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V256 Add(V256 a, V256 b) => new(a.v + b.v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V256 Subtract(V256 a, V256 b) => new(a.v - b.v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V256 Multiply(V256 a, V256 b) => new(a.v * b.v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V256 MultiplyAdd(V256 a, V256 b, V256 c) => new(Vector256.FusedMultiplyAdd(a.v, b.v, c.v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V256 Max(V256 a, V256 b) => new(Vector256.Max(a.v, b.v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V256 WherePositive(V256 condition, V256 value) => new(Vector256.ConditionalSelect(Vector256.GreaterThan(condition.v, Vector256<float>.Zero), value.v, Vector256<float>.Zero));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V256 EqualMask(V256 a, V256 b) => new(Vector256.Equals(a.v, b.v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V256 Or(V256 a, V256 b) => new(a.v | b.v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V256 And(V256 a, V256 b) => new(a.v & b.v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V256 AndNot(V256 a, V256 b) => new(Vector256.AndNot(a.v, b.v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V256 GreaterThanMask(V256 a, V256 b) => new(Vector256.GreaterThan(a.v, b.v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V256 UnorderedMask(V256 a, V256 b) => new(Avx.IsSupported ? Avx.CompareUnordered(a.v, b.v) : ~(Vector256.Equals(a.v, a.v) & Vector256.Equals(b.v, b.v)));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V256 Select(V256 mask, V256 a, V256 b) => new(Vector256.ConditionalSelect(mask.v, a.v, b.v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void AccumulateInto(V256 x, Span<double> d)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(d.Length, Count, nameof(d));
        var (lo, hi) = Vector256.Widen(x.v);
        ref double d0 = ref MemoryMarshal.GetReference(d);
        (Vector256.LoadUnsafe(ref d0) + lo).StoreUnsafe(ref d0);
        (Vector256.LoadUnsafe(ref d0, (nuint)(Count / 2)) + hi).StoreUnsafe(ref d0, (nuint)(Count / 2));
    }
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static double SumWide(V256 x)
    {
        var (lo, hi) = Vector256.Widen(x.v);
        return Vector256.Sum(lo + hi);
    }
}

internal readonly struct V128(Vector128<float> v) : IVec<V128>
{
    private readonly Vector128<float> v = v;
    public static int Count => Vector128<float>.Count;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V128 Load(ref float s) => new(Vector128.LoadUnsafe(ref s));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(V128 x, ref float d) => x.v.StoreUnsafe(ref d);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe void StoreNonTemporal(V128 x, ref float d)
    {
        if (Sse.IsSupported) Sse.StoreAlignedNonTemporal((float*)Unsafe.AsPointer(ref d), x.v);
        else x.v.StoreUnsafe(ref d);
    }
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V128 Splat(float x) => new(Vector128.Create(x));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V128 Add(V128 a, V128 b) => new(a.v + b.v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V128 Subtract(V128 a, V128 b) => new(a.v - b.v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V128 Multiply(V128 a, V128 b) => new(a.v * b.v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V128 MultiplyAdd(V128 a, V128 b, V128 c) => new(Vector128.FusedMultiplyAdd(a.v, b.v, c.v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V128 Max(V128 a, V128 b) => new(Vector128.Max(a.v, b.v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V128 WherePositive(V128 condition, V128 value) => new(Vector128.ConditionalSelect(Vector128.GreaterThan(condition.v, Vector128<float>.Zero), value.v, Vector128<float>.Zero));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V128 EqualMask(V128 a, V128 b) => new(Vector128.Equals(a.v, b.v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V128 Or(V128 a, V128 b) => new(a.v | b.v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V128 And(V128 a, V128 b) => new(a.v & b.v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V128 AndNot(V128 a, V128 b) => new(Vector128.AndNot(a.v, b.v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V128 GreaterThanMask(V128 a, V128 b) => new(Vector128.GreaterThan(a.v, b.v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V128 UnorderedMask(V128 a, V128 b) => new(Sse.IsSupported ? Sse.CompareUnordered(a.v, b.v) : ~(Vector128.Equals(a.v, a.v) & Vector128.Equals(b.v, b.v)));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V128 Select(V128 mask, V128 a, V128 b) => new(Vector128.ConditionalSelect(mask.v, a.v, b.v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void AccumulateInto(V128 x, Span<double> d)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(d.Length, Count, nameof(d));
        var (lo, hi) = Vector128.Widen(x.v);
        ref double d0 = ref MemoryMarshal.GetReference(d);
        (Vector128.LoadUnsafe(ref d0) + lo).StoreUnsafe(ref d0);
        (Vector128.LoadUnsafe(ref d0, (nuint)(Count / 2)) + hi).StoreUnsafe(ref d0, (nuint)(Count / 2));
    }
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static double SumWide(V128 x)
    {
        var (lo, hi) = Vector128.Widen(x.v);
        return Vector128.Sum(lo + hi);
    }
}

/// <summary>How a kernel writes an output too large to stay in cache (the batch-norm maps; the benchmarks' copy).</summary>
internal static class StreamStore
{
    /// <summary>
    /// One whole cache line in every this many bytes is stored ordinarily: a map pass with every store non-temporal
    /// was slower (BENCHMARKS.md, "How the kernels reach the bandwidth limit").
    /// </summary>
    public const int OrdinaryLineEvery = 4096;

    /// <summary>
    /// Stores one vector non-temporally (<see cref="IVec{TSelf}.StoreNonTemporal"/>), except in the first 64-byte line
    /// of each <see cref="OrdinaryLineEvery"/> bytes, where it stores ordinarily. <paramref name="destination"/> must be
    /// aligned to the vector size and its array pinned; after the last store, <c>Sse.StoreFence</c> before anyone reads.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe void Store<TV>(TV value, ref float destination) where TV : struct, IVec<TV>
    {
        if (((nint)Unsafe.AsPointer(ref destination) & (OrdinaryLineEvery - 1)) >= 64) TV.StoreNonTemporal(value, ref destination);
        else TV.Store(value, ref destination);
    }
}
