using System.Numerics.Tensors;
using BenchmarkDotNet.Attributes;
using TfSyncBN.Tensors.Kernels;

namespace TfSyncBN.Benchmarks;

/// <summary>
/// The batch-norm kernels against the same work written with TensorPrimitives span calls, and against a copy of the
/// same bytes (the memory-bandwidth reference). NHWC (32, 32, 32, 64) float32 = 8 MiB, one thread.
/// </summary>
[MemoryDiagnoser]
public class KernelBenchmarks
{
    private const int Rows = 32 * 32 * 32, Channels = 64;
    private readonly float[] x = new float[Rows * Channels], g = new float[Rows * Channels], y = new float[Rows * Channels];
    private readonly float[] shift = new float[Channels], scale = new float[Channels], offset = new float[Channels], k = new float[Channels];
    private readonly double[] s1 = new double[Channels], s2 = new double[Channels];
    private readonly float[] acc1 = new float[Channels], acc2 = new float[Channels], tmp = new float[Channels];
    private readonly ChannelLayout layout = new(Rows, Channels, 1);

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Random(1);
        for (int i = 0; i < x.Length; i++) { x[i] = (float)rng.NextDouble(); g[i] = (float)rng.NextDouble(); }
        for (int c = 0; c < Channels; c++) { shift[c] = x[c]; scale[c] = 1.5f; offset[c] = 0.5f; k[c] = 0.25f; }
    }

    [Benchmark(Baseline = true, Description = "copy (bandwidth reference)")]
    public void Copy() => x.AsSpan().CopyTo(y);

    [Benchmark(Description = "moments: hand-written SIMD")]
    public void MomentsHand()
    {
        Array.Clear(s1);
        Array.Clear(s2);
        BatchNormKernels.PairSums(x, x, layout, shift, shift, s1, s2);
    }

    [Benchmark(Description = "moments: TensorPrimitives per row")]
    public void MomentsTensorPrimitives()
    {
        Array.Clear(acc1);
        Array.Clear(acc2);
        for (int r = 0; r < Rows; r++)
        {
            var row = x.AsSpan(r * Channels, Channels);
            TensorPrimitives.Subtract(row, shift, tmp);
            TensorPrimitives.Add(acc1, tmp, acc1);
            TensorPrimitives.FusedMultiplyAdd(tmp, tmp, acc2, acc2);
        }
    }

    [Benchmark(Description = "normalize: hand-written SIMD")]
    public void NormalizeHand() => BatchNormKernels.Affine(x, default, layout, shift, scale, offset, default, y);

    [Benchmark(Description = "normalize: TensorPrimitives per row")]
    public void NormalizeTensorPrimitives()
    {
        for (int r = 0; r < Rows; r++)
        {
            var dst = y.AsSpan(r * Channels, Channels);
            TensorPrimitives.Subtract(x.AsSpan(r * Channels, Channels), shift, dst);
            TensorPrimitives.FusedMultiplyAdd(dst, scale, offset, dst);
        }
    }

    [Benchmark(Description = "input gradient: hand-written SIMD")]
    public void InputGradientHand() => BatchNormKernels.Affine(x, g, layout, shift, scale, offset, k, y);
}
