using ILGPU;
using ILGPU.Runtime;
using TfSyncBN.Gpu.Kernels;

namespace TfSyncBN.Gpu;

// Batch normalization: statistics, normalization and backward, optionally synchronized through a host all-reduce.
public sealed partial class IlgpuDevice
{
    /// <summary>
    /// Training-mode batch normalization along <paramref name="axis"/>: <c>y = γ·(x − μ)/sqrt(σ² + ε) + β</c> with the batch
    /// mean μ and biased variance σ² of each channel over every other axis.
    /// </summary>
    /// <remarks>
    /// <para>The local statistics are two deterministic float64 passes on the device (Σx, then Σ(x − μ)²; see
    /// <see cref="ReductionKernels"/>). Without <paramref name="allReduce"/> they are the batch statistics and nothing
    /// leaves the device. With it (SyncBatchNormalization), the 2C+1 float64 values <c>[n | n·μ | M2 + n·μ²]</c> are read
    /// back, passed to <paramref name="allReduce"/> (which must return their element-wise sum over the replicas, in an
    /// order that is the same on every replica), and the global count-weighted <c>μ = S₁/N</c>,
    /// <c>σ² = max(S₂/N − μ², 0)</c> are used, exactly as the CPU backend combines them. N = 0 gives μ = σ² = 0.</para>
    /// </remarks>
    /// <param name="x">The input; any rank ≥ 1.</param>
    /// <param name="axis">The channel axis; negative counts from the end (−1: NHWC/channels last; 1: NCHW).</param>
    /// <param name="gamma">γ, shape [C]; ones when null.</param>
    /// <param name="beta">β, shape [C]; zeros when null.</param>
    /// <param name="epsilon">ε &gt; 0.</param>
    /// <param name="allReduce">The cross-replica sum of a float64 buffer, or null for local statistics.</param>
    /// <returns>The output and the statistics the backward pass needs.</returns>
    /// <exception cref="ArgumentException">The axis is out of range, a parameter is not of shape [C], or <paramref name="allReduce"/> returned a buffer of another length.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="epsilon"/> is not finite and positive.</exception>
    public BatchNormResult BatchNormTraining(GpuTensor x, int axis = -1, GpuTensor? gamma = null, GpuTensor? beta = null, float epsilon = 1e-3f,
        Func<IReadOnlyList<double>, IReadOnlyList<double>>? allReduce = null)
    {
        var l = Layout(x, axis, gamma, beta, epsilon);
        int c = l.Channels;
        long n = l.Count;
        using var sum = ChannelSums(x, null, null, l, ReductionKernels.SumX);
        var mean = ScaleDouble(sum, n > 0 ? 1.0 / n : 0.0, joinScope: true);
        using var m2 = ChannelSums(x, null, mean, l, ReductionKernels.SumSquaredDeviation);
        PooledBuffer<double> globalMean, variance;
        long total = n;
        if (allReduce is null)
        {
            globalMean = mean;
            variance = ScaleDouble(m2, n > 0 ? 1.0 / n : 0.0, joinScope: true);
        }
        else
        {
            double[] localMean = mean.ToArray(), localM2 = m2.ToArray();
            var buffer = new double[2 * c + 1];
            buffer[0] = n;
            for (int i = 0; i < c; i++)
            {
                buffer[1 + i] = n * localMean[i];
                buffer[1 + c + i] = localM2[i] + n * localMean[i] * localMean[i];
            }
            var global = Reduced(allReduce, buffer);
            total = (long)global[0];
            var gm = new double[c];
            var gv = new double[c];
            for (int i = 0; i < c; i++)
            {
                gm[i] = total > 0 ? global[1 + i] / total : 0;
                gv[i] = total > 0 ? Math.Max(global[1 + c + i] / total - gm[i] * gm[i], 0) : 0;
            }
            mean.Dispose();
            globalMean = new PooledBuffer<double>(Pool, c, joinScope: true);
            globalMean.Upload(gm);
            variance = new PooledBuffer<double>(Pool, c, joinScope: true);
            variance.Upload(gv);
        }
        var y = Normalize(x, l, globalMean, variance, gamma, beta, epsilon, out var inv);
        var meanF = ToSingle(globalMean, [c]);
        var varF = ToSingle(variance, [c]);
        variance.Dispose();
        return new BatchNormResult(y, meanF, varF, total, globalMean, inv, axis);
    }

    /// <summary>Inference-mode batch normalization with given statistics: <c>y = γ·(x − mean)/sqrt(variance + ε) + β</c>.</summary>
    /// <param name="x">The input; any rank ≥ 1.</param>
    /// <param name="movingMean">The mean, shape [C].</param>
    /// <param name="movingVariance">The variance, shape [C].</param>
    /// <param name="axis">The channel axis; negative counts from the end.</param>
    /// <param name="gamma">γ, shape [C]; ones when null.</param>
    /// <param name="beta">β, shape [C]; zeros when null.</param>
    /// <param name="epsilon">ε &gt; 0.</param>
    /// <exception cref="ArgumentException">The axis is out of range, or a parameter is not of shape [C].</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="epsilon"/> is not finite and positive.</exception>
    public GpuTensor BatchNormInference(GpuTensor x, GpuTensor movingMean, GpuTensor movingVariance, int axis = -1, GpuTensor? gamma = null,
        GpuTensor? beta = null, float epsilon = 1e-3f)
    {
        var l = Layout(x, axis, gamma, beta, epsilon);
        CheckChannels(movingMean, l.Channels, nameof(movingMean));
        CheckChannels(movingVariance, l.Channels, nameof(movingVariance));
        using var mean = ToDouble(movingMean);
        using var variance = ToDouble(movingVariance);
        var y = Normalize(x, l, mean, variance, gamma, beta, epsilon, out var inv);
        inv.Dispose();
        return y;
    }

    /// <summary>
    /// The gradients of <see cref="BatchNormTraining"/>: <c>dx = γ·inv·(dy − Σdy/N − (x − μ)·inv²·Σdy(x − μ)/N)</c> with
    /// inv = 1/sqrt(σ² + ε), and the local <c>dγ = Σdy(x − μ)·inv</c>, <c>dβ = Σdy</c>. With <paramref name="allReduce"/>,
    /// the 2C float64 sums <c>[Σdy | Σdy(x − μ)]</c> are summed over the replicas for dx; dγ and dβ stay local (an
    /// optimizer's cross-replica gradient sum adds them up).
    /// </summary>
    /// <param name="x">The forward input.</param>
    /// <param name="dy">The upstream gradient, the shape of <paramref name="x"/>.</param>
    /// <param name="forward">The forward result.</param>
    /// <param name="gamma">γ as in the forward call.</param>
    /// <param name="allReduce">The same kind of cross-replica sum as in the forward call, or null.</param>
    /// <exception cref="ArgumentException">A shape differs from the forward call, or <paramref name="allReduce"/> returned a buffer of another length.</exception>
    public BatchNormGradients BatchNormBackward(GpuTensor x, GpuTensor dy, BatchNormResult forward, GpuTensor? gamma = null,
        Func<IReadOnlyList<double>, IReadOnlyList<double>>? allReduce = null)
    {
        ArgumentNullException.ThrowIfNull(forward);
        var l = Layout(x, forward.Axis, gamma, null, 1f);
        SameDevice(dy, nameof(dy));
        if (!dy.ShapeArray.SequenceEqual(x.ShapeArray))
            throw new ArgumentException($"dy must have the shape of x {ShapeString(x.Shape)}, but has {ShapeString(dy.Shape)}.", nameof(dy));
        if (forward.Mean.Length != l.Channels)
            throw new ArgumentException($"forward holds {forward.Mean.Length} channels, but x has {l.Channels} on axis {forward.Axis}.", nameof(forward));
        int c = l.Channels;
        using var sumDy = ChannelSums(x, dy, null, l, ReductionKernels.SumU);
        using var sumDyXmu = ChannelSums(x, dy, forward.MeanDouble, l, ReductionKernels.SumUTimesDeviation);
        var dgamma = New([c]);
        var dbeta = New([c]);
        if (c > 0)
            Kernel(nameof(BatchNormKernels.ParameterGradients), () => Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<double>, ArrayView<double>,
                ArrayView<float>, ArrayView<float>, ArrayView<float>>(BatchNormKernels.ParameterGradients))(c, sumDy.View, sumDyXmu.View, forward.InvStd.View, dgamma.View, dbeta.View);
        PooledBuffer<double>? globalDy = null, globalDyXmu = null;
        if (allReduce is not null)
        {
            double[] a = sumDy.ToArray(), b = sumDyXmu.ToArray();
            var global = Reduced(allReduce, [.. a, .. b]);
            globalDy = new PooledBuffer<double>(Pool, c, joinScope: false);
            globalDy.Upload([.. global.Take(c)]);
            globalDyXmu = new PooledBuffer<double>(Pool, c, joinScope: false);
            globalDyXmu.Upload([.. global.Skip(c)]);
        }
        var dx = New(x.ShapeArray);
        if (dx.Length > 0)
            Kernel(nameof(BatchNormKernels.BackwardInput), () => Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<double>,
                ArrayView<float>, ArrayView<float>, int, ArrayView<double>, ArrayView<double>, double, ChannelLayout, ArrayView<float>>(BatchNormKernels.BackwardInput))(
                dx.Length, x.View, dy.View, forward.MeanDouble.View, forward.InvStd.View, (gamma ?? forward.InvStd).View, gamma is null ? 0 : 1,
                (globalDy ?? sumDy).View, (globalDyXmu ?? sumDyXmu).View, forward.Count > 0 ? 1.0 / forward.Count : 0.0, l, dx.View);
        globalDy?.Dispose();
        globalDyXmu?.Dispose();
        return new BatchNormGradients(dx, dgamma, dbeta);
    }

    private GpuTensor Normalize(GpuTensor x, ChannelLayout l, PooledBuffer<double> mean, PooledBuffer<double> variance, GpuTensor? gamma,
        GpuTensor? beta, float epsilon, out GpuTensor inv)
    {
        int c = l.Channels;
        inv = New([c]);
        using var scale = new PooledBuffer<float>(Pool, c, joinScope: false);
        using var shift = new PooledBuffer<float>(Pool, c, joinScope: false);
        if (c > 0)
            Kernel(nameof(BatchNormKernels.Coefficients), () => Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<double>, ArrayView<double>, ArrayView<float>,
                ArrayView<float>, int, int, double, ArrayView<float>, ArrayView<float>, ArrayView<float>>(BatchNormKernels.Coefficients))(
                c, mean.View, variance.View, (gamma ?? inv).View, (beta ?? inv).View, gamma is null ? 0 : 1, beta is null ? 0 : 1, (double)epsilon,
                inv.View, scale.View, shift.View);
        var y = New(x.ShapeArray);
        if (y.Length > 0)
            Kernel(nameof(BatchNormKernels.Normalize), () => Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>,
                ChannelLayout, ArrayView<float>>(BatchNormKernels.Normalize))(y.Length, x.View, scale.View, shift.View, l, y.View);
        return y;
    }

    private PooledBuffer<double> ToDouble(GpuTensor x)
    {
        var y = new PooledBuffer<double>(Pool, x.Length, joinScope: false);
        if (x.Length > 0)
            Kernel(nameof(ElementwiseKernels.ToDouble), () => Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<double>>(ElementwiseKernels.ToDouble))(
                x.Length, x.View, y.View);
        return y;
    }

    private ChannelLayout Layout(GpuTensor x, int axis, GpuTensor? gamma, GpuTensor? beta, float epsilon)
    {
        SameDevice(x, nameof(x));
        int rank = x.Shape.Count;
        if (rank == 0) throw new ArgumentException("Batch normalization needs a tensor of rank >= 1, but x is a scalar.", nameof(x));
        int ax = axis < 0 ? axis + rank : axis;
        if (ax < 0 || ax >= rank) throw new ArgumentException($"axis must be in [-{rank}, {rank - 1}] for x of shape {ShapeString(x.Shape)}, but is {axis}.", nameof(axis));
        if (!(epsilon > 0) || !float.IsFinite(epsilon)) throw new ArgumentOutOfRangeException(nameof(epsilon), epsilon, "epsilon must be finite and > 0.");
        int outer = 1, inner = 1;
        for (int i = 0; i < ax; i++) outer *= x.Shape[i];
        for (int i = ax + 1; i < rank; i++) inner *= x.Shape[i];
        int c = x.Shape[ax];
        if (gamma is not null) CheckChannels(gamma, c, nameof(gamma));
        if (beta is not null) CheckChannels(beta, c, nameof(beta));
        return new ChannelLayout(outer, c, inner);
    }

    private void CheckChannels(GpuTensor t, int channels, string name)
    {
        SameDevice(t, name);
        if (t.Shape.Count != 1 || t.Shape[0] != channels)
            throw new ArgumentException($"{name} must have shape [{channels}] (one value per channel), but has {ShapeString(t.Shape)}.", name);
    }

    private static double[] Reduced(Func<IReadOnlyList<double>, IReadOnlyList<double>> allReduce, double[] buffer)
    {
        var result = allReduce(buffer) ?? throw new ArgumentException("allReduce returned null.", nameof(allReduce));
        if (result.Count != buffer.Length)
            throw new ArgumentException($"allReduce must return a buffer of the length it was given ({buffer.Length}), but returned {result.Count} values.", nameof(allReduce));
        return [.. result];
    }
}
