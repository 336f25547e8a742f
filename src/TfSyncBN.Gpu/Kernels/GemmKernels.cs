using ILGPU;

namespace TfSyncBN.Gpu.Kernels;

/// <summary>The tiled shared-memory matrix product.</summary>
internal static class GemmKernels
{
    /// <summary>The largest tile edge; a group is T×T threads with T = Group.DimX ≤ MaxTile.</summary>
    public const int MaxTile = 16;

    /// <summary>
    /// <c>C[i, j] = Σ_p op(A)[i, p]·op(B)[p, j]</c>. Each group loads a T×T tile of op(A) and of op(B) into shared memory
    /// per step of T along p; each thread owns one C element and adds its products in increasing p (one float32 multiply
    /// and one add per term). The summation order is therefore the same for every tile size and launch, so results do
    /// not depend on T. Grid: (⌈N/T⌉, ⌈M/T⌉) groups of (T, T) threads.
    /// </summary>
    public static void Gemm(ArrayView<float> a, ArrayView<float> b, ArrayView<float> c, GemmShape s)
    {
        var tileA = SharedMemory.Allocate<float>(MaxTile * MaxTile);
        var tileB = SharedMemory.Allocate<float>(MaxTile * MaxTile);
        int t = Group.DimX;
        int tx = Group.IdxX, ty = Group.IdxY;
        int row = Grid.IdxY * t + ty, col = Grid.IdxX * t + tx;
        float acc = 0f;
        for (int p0 = 0; p0 < s.K; p0 += t)
        {
            int pa = p0 + tx;
            float va = 0f;
            if (row < s.M && pa < s.K) va = s.TransposeA != 0 ? a[(long)pa * s.M + row] : a[(long)row * s.K + pa];
            tileA[ty * t + tx] = va;
            int pb = p0 + ty;
            float vb = 0f;
            if (pb < s.K && col < s.N) vb = s.TransposeB != 0 ? b[(long)col * s.K + pb] : b[(long)pb * s.N + col];
            tileB[ty * t + tx] = vb;
            Group.Barrier();
            int steps = s.K - p0 < t ? s.K - p0 : t;
            for (int q = 0; q < steps; q++) acc += tileA[ty * t + q] * tileB[q * t + tx];
            Group.Barrier();
        }
        if (row < s.M && col < s.N) c[(long)row * s.N + col] = acc;
    }
}
