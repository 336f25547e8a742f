using System.Buffers;
using TfSyncBN.Tensors.Kernels;

namespace TfSyncBN.Tensors;

/// <summary>Global batch statistics of one training-mode call, per channel (biased variance); Count is N, the global count.</summary>
internal sealed record BatchMoments(double[] Mean, double[] Variance, long Count);

/// <summary>
/// Which slot of the fused collective buffer a replica writes and reads: <see cref="Groups"/> process groups, this
/// replica in group <see cref="Group"/>. The default (1 group, slot 0) synchronizes over all replicas.
/// </summary>
internal readonly record struct GroupSlot(int Groups, int Group)
{
    public static GroupSlot All => new(1, 0);
}

/// <summary>
/// The differentiable batch-normalization operation shared by the layers and <see cref="Ops.BatchNorm"/>.
/// </summary>
/// <remarks>
/// <para>Training: each replica computes its count, mean and M2 per channel with a shifted single pass; when
/// <c>sync</c> spans several replicas, ONE all-reduce(SUM) of the float64 buffer <c>[n | n·mean | M2 + n·mean²]</c>
/// (2C+1 values) gives the count-weighted global mean and biased variance, exact for uneven and empty replicas. With
/// G process groups the buffer is G × (2C+1) values: each replica fills only its own group's slot (zeros elsewhere)
/// and reads only that slot back, so a group's statistics are those of its own replicas while every replica still
/// makes the same single collective (no new collectives, no hangs); the backward buffer is likewise G × 2C. The
/// backward pass all-reduces ONE buffer <c>[Σdy | Σdy·(x−μ)]</c> (2C values) and applies
/// <c>dx = γ·inv·(dy − Σdy/N − (x−μ)·inv²·Σdy(x−μ)/N)</c>. The gradients of γ and β stay local to the replica.</para>
/// <para>A mask (1 keeps, 0 drops; one value per element of the non-channel axes) removes elements from the
/// statistics, as Keras does; every element is still normalized, and a masked element's gradient has only the direct term.</para>
/// <para>Inference: <c>y = γ·(x − mean)/sqrt(var + ε) + β</c> with the given statistics and no communication.</para>
/// <para>With a ReLU (<see cref="BatchNormEpilogue"/>) the op is batch normalization followed by a ReLU, <c>max(y, 0)</c>, in the same passes: the
/// forward map clamps as it writes, and the backward passes recompute the pre-activation from x with the forward's
/// own arithmetic and drop dy where it is not &gt; 0, so the results equal the separate ops bit for bit.</para>
/// <para>With a max pooling after the ReLU as well (host tensors, channels last, windows that tile the input) the op also max-pools
/// the ReLU's output: the forward pass writes only the pooled map, and the backward passes read the pooled gradient
/// and find each window's first maximal position from x, again bit for bit the separate ops.</para>
/// </remarks>
internal static partial class BatchNormCore
{
    public static Tensor Training(Tensor x, ChannelLayout layout, Tensor? gamma, Tensor? beta, double epsilon,
        ICollective? sync, out BatchMoments moments, Tensor? maskTensor = null, GroupSlot slot = default, BatchNormEpilogue? epilogue = null)
    {
        // Tensors are immutable and the kernels only read the mask: its storage is shared, not copied per call.
        var mask = x.HostArray is null ? DeviceMask(maskTensor) : maskTensor?.Data;
        int C = layout.Channels;
        if (slot.Groups == 0) slot = GroupSlot.All;
        var (n, mean, m2) = LocalMoments(x, layout, mask);

        long total = n;
        var variance = new double[C];
        if (sync is { IsDistributed: true })
        {
            int stride = 2 * C + 1, at = slot.Group * stride;
            var buffer = new double[slot.Groups * stride];
            buffer[at] = n;
            for (int c = 0; c < C; c++)
            {
                buffer[at + 1 + c] = n * mean[c];
                buffer[at + 1 + C + c] = m2[c] + n * mean[c] * mean[c];
            }
            sync.SumInPlace(buffer, "SyncBatchNormalization moments",
                slot.Groups == 1 ? $"{C} channels" : $"{C} channels, {slot.Groups} process groups");
            total = (long)buffer[at];
            for (int c = 0; c < C; c++)
            {
                mean[c] = total > 0 ? buffer[at + 1 + c] / total : 0;
                variance[c] = total > 0 ? Math.Max(buffer[at + 1 + C + c] / total - mean[c] * mean[c], 0) : 0;
            }
        }
        else
        {
            for (int c = 0; c < C; c++) variance[c] = n > 0 ? m2[c] / n : 0;
        }
        moments = new BatchMoments(mean, variance, total);
        var stats = Statistics.From(mean, variance, epsilon, gamma, beta);
        return Record(x, layout, gamma, beta, stats, training: true, sync, total, mask, slot, epilogue ?? BatchNormEpilogue.None);
    }

    /// <summary>Inference with the statistics held by two tensors of C elements.</summary>
    public static Tensor Inference(Tensor x, ChannelLayout layout, Tensor mean, Tensor variance, Tensor? gamma, Tensor? beta, double epsilon,
        BatchNormEpilogue? epilogue = null) =>
        Inference(x, layout, mean.HostArray ?? mean.ToArray(), variance.HostArray ?? variance.ToArray(), gamma, beta, epsilon, epilogue);

    public static Tensor Inference(Tensor x, ChannelLayout layout, ReadOnlySpan<float> mean, ReadOnlySpan<float> variance,
        Tensor? gamma, Tensor? beta, double epsilon, BatchNormEpilogue? epilogue = null)
    {
        var m = new double[mean.Length];
        var v = new double[variance.Length];
        for (int c = 0; c < m.Length; c++)
        {
            m[c] = mean[c];
            v[c] = variance[c];
        }
        var stats = Statistics.From(m, v, epsilon, gamma, beta);
        return Record(x, layout, gamma, beta, stats, training: false, null, 0, null, GroupSlot.All, epilogue ?? BatchNormEpilogue.None);
    }

    /// <summary>Count, mean and M2 (sum of squared deviations) per channel of the local (unmasked) elements.</summary>
    private static (long Count, double[] Mean, double[] M2) LocalMoments(Tensor x, ChannelLayout layout, float[]? mask)
    {
        if (x.HostArray is null) return DeviceMoments(x, layout);
        int C = layout.Channels;
        var mean = new double[C];
        var m2 = new double[C];
        var data = x.Data;
        long n = layout.Count;
        int first = 0;
        if (mask is not null)
        {
            n = 0;
            foreach (float m in mask) n += m != 0 ? 1 : 0;
            first = Array.FindIndex(mask, m => m != 0);
        }
        if (n == 0) return (0, mean, m2);

        // Shift each channel by the mean of its first few kept elements, so the float32 sums are of small deviations.
        // (A single element would do for typical data, but an outlier there would inflate every squared deviation.)
        var shift = ShiftEstimate(data, layout, mask, first);
        float[]? pooled = null;
        if (mask is not null)
        {
            // A dropped element is replaced by its channel's shift, so it adds exactly zero to both sums. The masked
            // copy is scratch: it comes from the shared pool and goes back after the sums.
            pooled = ArrayPool<float>.Shared.Rent(data.Length);
            data.AsSpan().CopyTo(pooled);
            for (int e = 0; e < mask.Length; e++)
            {
                if (mask[e] != 0) continue;
                int o = e / layout.Inner, i = e % layout.Inner;
                for (int c = 0; c < C; c++) pooled[(o * C + c) * layout.Inner + i] = shift[c];
            }
        }
        var s1 = new double[C];
        var s2 = new double[C];
        var values = pooled is null ? data.AsSpan() : pooled.AsSpan(0, data.Length);
        BatchNormKernels.PairSums(values, values, layout, shift, shift, s1, s2);
        if (pooled is not null) ArrayPool<float>.Shared.Return(pooled);
        for (int c = 0; c < C; c++)
        {
            mean[c] = shift[c] + s1[c] / n;
            m2[c] = Math.Max(s2[c] - s1[c] * s1[c] / n, 0);
        }
        return (n, mean, m2);
    }

    private const int ShiftSample = 64;

    /// <summary>The float64 mean of each channel's first (up to <see cref="ShiftSample"/>) kept elements, rounded to float32.</summary>
    private static float[] ShiftEstimate(float[] data, ChannelLayout layout, float[]? mask, int first)
    {
        int C = layout.Channels, inner = layout.Inner;
        var sum = new double[C];
        int taken = 0;
        for (int e = first; e < layout.Outer * inner && taken < ShiftSample; e++)
        {
            if (mask is not null && mask[e] == 0) continue;
            int o = e / inner, i = e % inner;
            for (int c = 0; c < C; c++) sum[c] += data[(o * C + c) * inner + i];
            taken++;
        }
        var shift = new float[C];
        for (int c = 0; c < C; c++) shift[c] = (float)(sum[c] / taken);
        return shift;
    }

    /// <summary>
    /// Per-channel constants of one call: the mean as a float32 pair <c>Mean + MeanLo</c> (the float64 mean rounded
    /// to float32, and the float64 remainder), the inverse standard deviation, and the weight and bias.
    /// </summary>
    /// <remarks>
    /// The kernels subtract only <see cref="Mean"/>: <c>x − Mean</c> is exact when x is within a factor of two of it
    /// (Sterbenz), and the remainder enters the per-channel constants instead: <c>(x − μ)·s + o = (x − Mean)·s +
    /// (o − MeanLo·s)</c>. So a mean that is large against the standard deviation costs no precision, and no
    /// arithmetic per element.
    /// </remarks>
    internal readonly record struct Statistics(float[] Mean, double[] MeanLo, double[] InvStd, float[] Weight, float[] Bias)
    {
        public static Statistics From(double[] mean, double[] variance, double epsilon, Tensor? gamma, Tensor? beta)
        {
            int C = mean.Length;
            float[] hi = new float[C], weight = new float[C], bias = new float[C];
            double[] lo = new double[C], invStd = new double[C];
            // γ and β on a device are read back once (C values each); host storage is read once per call, not per channel.
            if (gamma is { HostArray: null }) gamma = Tensor.FromArray(gamma.ToArray());
            if (beta is { HostArray: null }) beta = Tensor.FromArray(beta.ToArray());
            float[]? g = gamma?.Data, b = beta?.Data;
            for (int c = 0; c < C; c++)
            {
                hi[c] = (float)mean[c];
                lo[c] = mean[c] - hi[c];
                invStd[c] = 1.0 / Math.Sqrt(variance[c] + epsilon);
                weight[c] = g?[c] ?? 1f;
                bias[c] = b?[c] ?? 0f;
            }
            return new Statistics(hi, lo, invStd, weight, bias);
        }

        /// <summary>The forward map's float32 constants: <c>y = (x − Mean)·Scale + Offset</c>.</summary>
        public (float[] Scale, float[] Offset) Forward()
        {
            float[] weight = Weight, bias = Bias;
            double[] invStd = InvStd, lo = MeanLo;
            int C = weight.Length;
            var scale = new float[C];
            var offset = new float[C];
            for (int c = 0; c < C; c++)
            {
                scale[c] = (float)(weight[c] * invStd[c]);
                offset[c] = (float)(bias[c] - lo[c] * scale[c]);
            }
            return (scale, offset);
        }
    }

    /// <summary>
    /// PyTorch's <c>batch_norm_elemt</c>: <c>y = (x − mean)·invstd·weight + bias</c>, with the mean as its float32 pair;
    /// then the <paramref name="epilogue"/>'s ReLU (and max pooling, without the full-size map).
    /// </summary>
    internal static Tensor Elemt(Tensor x, ChannelLayout layout, Statistics s, BatchNormEpilogue? epilogue = null)
    {
        var (scale, offset) = s.Forward();
        bool relu = epilogue?.Relu ?? false;
        if (epilogue?.MaxPool is { } g)
        {
            var pooled = Tensor.Uninitialized([g.N, g.OH, g.OW, g.C]);
            BatchNormKernels.AffineReluMaxPool(x.Data, g, s.Mean, scale, offset, pooled.Data);
            return pooled;
        }
        var y = Tensor.Uninitialized(x.ShapeArray);
        BatchNormKernels.Affine(x.Data, default, layout, s.Mean, scale, offset, default, y.Data, relu: relu);
        return y;
    }

    /// <summary>
    /// PyTorch's <c>batch_norm_backward_elemt</c>:
    /// <c>dx = (dy − sumDy/N − (x − mean)·invstd²·sumDyXmu/N)·weight·invstd</c>, where <paramref name="count"/> is N,
    /// the global number of elements per channel. Masked-out elements get only the direct term <c>dy·weight·invstd</c>.
    /// With the <paramref name="epilogue"/>'s ReLU, dy is first zeroed where the fused forward's pre-activation is not
    /// &gt; 0; with its max pooling, dy is the pooled gradient, first routed to each window's first maximal position.
    /// </summary>
    internal static Tensor BackwardElemt(Tensor x, Tensor dy, ChannelLayout layout, Statistics s, double[] sumDy,
        double[] sumDyXmu, double count, float[]? mask = null, BatchNormEpilogue? epilogue = null)
    {
        bool relu = epilogue?.Relu ?? false;
        int C = layout.Channels;
        var (a, k, b) = BackwardCoefficients(s, sumDy, sumDyXmu, count);
        var dx = Tensor.Uninitialized(x.ShapeArray);
        var (scale, offset) = relu ? s.Forward() : (Array.Empty<float>(), Array.Empty<float>());
        if (epilogue?.MaxPool is { } g) BatchNormKernels.PooledAffine(x.Data, dy.Data, g, s.Mean, k, b, a, dx.Data, scale, offset);
        else BatchNormKernels.Affine(x.Data, dy.Data, layout, s.Mean, k, b, a, dx.Data, relu: relu, gs: scale, go: offset);
        if (mask is not null)
        {
            float[] xs = x.Data, dys = dy.Data, dxs = dx.Data, hi = s.Mean;
            for (int e = 0; e < mask.Length; e++)
            {
                if (mask[e] != 0) continue;
                int o = e / layout.Inner, i = e % layout.Inner;
                for (int c = 0; c < C; c++)
                {
                    int at = (o * C + c) * layout.Inner + i;
                    bool on = !relu || MathF.FusedMultiplyAdd(xs[at] - hi[c], scale[c], offset[c]) > 0;
                    dxs[at] = (on ? dys[at] : 0f) * a[c];
                }
            }
        }
        return dx;
    }

    /// <summary>The per-channel constants of <see cref="BackwardElemt"/>: <c>dx = dy·a + (x − Mean)·k + b</c>.</summary>
    private static (float[] A, float[] K, float[] B) BackwardCoefficients(Statistics s, double[] sumDy, double[] sumDyXmu, double count)
    {
        int C = s.Mean.Length;
        var a = new float[C];
        var k = new float[C];
        var b = new float[C];
        for (int c = 0; c < C; c++)
        {
            double g = s.Weight[c] * s.InvStd[c];
            a[c] = (float)g;
            k[c] = (float)(-g * s.InvStd[c] * s.InvStd[c] * sumDyXmu[c] / count);
            b[c] = (float)(-g * sumDy[c] / count - s.MeanLo[c] * k[c]);
        }
        return (a, k, b);
    }

    /// <summary>The backward pass's one collective: <c>[Σdy | Σdy·(x−μ)]</c> summed over the replicas of this replica's group.</summary>
    private static (double[] SumDy, double[] SumDyXmu) SumGradientSums(ICollective sync, GroupSlot slot, double[] sumDy, double[] sumDyXmu)
    {
        int C = sumDy.Length;
        int off = slot.Group * 2 * C;
        var buffer = new double[slot.Groups * 2 * C];
        sumDy.CopyTo(buffer, off);
        sumDyXmu.CopyTo(buffer, off + C);
        sync.SumInPlace(buffer, "SyncBatchNormalization gradient",
            slot.Groups == 1 ? $"{C} channels" : $"{C} channels, {slot.Groups} process groups");
        return (buffer[off..(off + C)], buffer[(off + C)..(off + 2 * C)]);
    }

    private static Tensor Record(Tensor x, ChannelLayout layout, Tensor? gamma, Tensor? beta, Statistics stats, bool training,
        ICollective? sync, long total, float[]? mask, GroupSlot slot, BatchNormEpilogue epilogue)
    {
        // A device operand takes the device path, which refuses operands on different devices.
        bool onDevice = x.HostArray is null || gamma is { HostArray: null } || beta is { HostArray: null };
        if (epilogue.MaxPool is { } pool && (onDevice || mask is not null || !BatchNormKernels.FusesMaxPool(pool)))
            throw new ArgumentException("A fused max pooling needs host tensors, no mask and windows that BatchNormKernels.FusesMaxPool accepts.", nameof(epilogue));
        if (onDevice) return RecordOnDevice(x, layout, gamma, beta, stats, training, sync, total, slot, epilogue.Relu);
        var y = Elemt(x, layout, stats, epilogue);
        Tensor[] inputs = [x, .. gamma is null ? Array.Empty<Tensor>() : [gamma], .. beta is null ? Array.Empty<Tensor>() : [beta]];
        GradientTape.Record(y, inputs, (dy, needed) =>
        {
            int C = layout.Channels;
            var sumDy = new double[C];
            var sumDyXmu = new double[C];
            var (scale, offset) = epilogue.Relu ? stats.Forward() : (Array.Empty<float>(), Array.Empty<float>());
            if (epilogue.MaxPool is { } g) BatchNormKernels.PooledPairSums(dy.Data, x.Data, g, stats.Mean, sumDy, sumDyXmu, scale, offset);
            else BatchNormKernels.PairSums(dy.Data, x.Data, layout, new float[C], stats.Mean, sumDy, sumDyXmu, gs: scale, go: offset);
            // Σdy·(x − μ) = Σdy·(x − Mean) − MeanLo·Σdy (see Statistics).
            for (int c = 0; c < C; c++) sumDyXmu[c] -= stats.MeanLo[c] * sumDy[c];
            var grads = new Tensor?[inputs.Length];
            int at = 1;
            if (gamma is not null && needed[at++]) grads[at - 1] = Tensor.FromFunction(gamma.ShapeArray, c => (float)(stats.InvStd[c] * sumDyXmu[c]));
            if (beta is not null && needed[at++]) grads[at - 1] = Tensor.FromFunction(beta.ShapeArray, c => (float)sumDy[c]);
            if (!needed[0]) return grads;
            if (!training)
            {
                // The statistics are constants: only the direct term.
                grads[0] = BackwardElemt(x, dy, layout, stats, new double[C], new double[C], 1, epilogue: epilogue);
                return grads;
            }
            if (sync is { IsDistributed: true }) (sumDy, sumDyXmu) = SumGradientSums(sync, slot, sumDy, sumDyXmu);
            grads[0] = BackwardElemt(x, dy, layout, stats, sumDy, sumDyXmu, Math.Max(total, 1), mask, epilogue);
            return grads;
        });
        return y;
    }
}
