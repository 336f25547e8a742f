using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using TfSyncBN.Tensors.Kernels;

namespace TfSyncBN.Benchmarks;

/// <summary>
/// The memory-bandwidth reference: a copy of the same tensor, its range split into <c>threads</c> contiguous parts,
/// one per thread, with ordinary stores (<see cref="Span{T}.CopyTo"/>, i.e. memmove) or with the kernels' streaming
/// stores (<see cref="StreamStore"/>: non-temporal, one cache line in 4 KiB ordinary; the kernels write outputs of
/// 16 MiB or more that way, so the reference may too). The report takes the faster of the two as "the copy".
/// </summary>
/// <remarks>
/// The parts run on <see cref="KernelTeam"/>, the kernels' own fork-join (part 0 on the caller, the others on helper
/// threads that poll between calls), not on <see cref="Parallel.For"/>: a pool thread that is slow to wake leaves
/// both parts to the caller, which once made the 2-thread copy as slow as the 1-thread one and the "x copy" ratios
/// flattering.
/// </remarks>
internal static class Copy
{
    public static void Run(float[] source, float[] destination, int threads, bool nonTemporal = false) =>
        KernelTeam.For(Math.Max(1, threads), p =>
        {
            int start = (int)((long)source.Length * p / threads), end = (int)((long)source.Length * (p + 1) / threads);
            if (!nonTemporal) source.AsSpan(start, end - start).CopyTo(destination.AsSpan(start));
            else if (Vector512.IsHardwareAccelerated) Stream<V512>(source, destination, start, end);
            else if (Vector256.IsHardwareAccelerated) Stream<V256>(source, destination, start, end);
            else Stream<V128>(source, destination, start, end);
        });

    /// <summary>Elements [start, end): element by element up to the first whole vector of the destination, then vectors.</summary>
    private static unsafe void Stream<TV>(float[] source, float[] destination, int start, int end) where TV : struct, IVec<TV>
    {
        fixed (float* pin = destination)
        {
            ref float s = ref MemoryMarshal.GetArrayDataReference(source);
            ref float d = ref MemoryMarshal.GetArrayDataReference(destination);
            int i = start, w = TV.Count;
            for (; i < end && ((nint)(pin + i) & (w * sizeof(float) - 1)) != 0; i++) Unsafe.Add(ref d, i) = Unsafe.Add(ref s, i);
            for (; i + w <= end; i += w) StreamStore.Store(TV.Load(ref Unsafe.Add(ref s, i)), ref Unsafe.Add(ref d, i));
            for (; i < end; i++) Unsafe.Add(ref d, i) = Unsafe.Add(ref s, i);
            if (Sse.IsSupported) Sse.StoreFence();
        }
    }
}
