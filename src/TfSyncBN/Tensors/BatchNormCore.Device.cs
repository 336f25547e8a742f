using TfSyncBN.Tensors.Kernels;

namespace TfSyncBN.Tensors;

// Batch normalization of a tensor on a device: the same statistics, collectives and per-channel arithmetic as the host
// path, with the element passes (pair sums, affine map) run by the device's backend. Only C-sized arrays cross to the host.
internal static partial class BatchNormCore
{
    /// <exception cref="NotSupportedException">A mask was given: masked statistics run on the cpu device only.</exception>
    private static float[]? DeviceMask(Tensor? mask) => mask is null
        ? null
        : throw new NotSupportedException("Batch normalization with a mask runs on the cpu device only: move the input and mask to the host with To(Device.Cpu).");

    /// <summary>
    /// Count, mean and M2 per channel of a device tensor, by two deterministic pair-sum passes: Σx gives a float32
    /// shift (the rounded mean), then the shifted sums give <c>mean = shift + s₁/n</c> and <c>M2 = max(s₂ − s₁²/n, 0)</c>,
    /// the host path's formulas.
    /// </summary>
    private static (long Count, double[] Mean, double[] M2) DeviceMoments(Tensor x, ChannelLayout layout)
    {
        int C = layout.Channels;
        var mean = new double[C];
        var m2 = new double[C];
        long n = layout.Count;
        if (n == 0 || C == 0) return (n, mean, m2);
        var backend = Backends.For(x.Device);
        var zero = new float[C];
        var sum = new double[C];
        backend.BatchNormPairSums(x.Storage, x.Storage, layout, zero, zero, sum, new double[C], null, null);
        var shift = new float[C];
        for (int c = 0; c < C; c++) shift[c] = (float)(sum[c] / n);
        var s1 = new double[C];
        var s2 = new double[C];
        backend.BatchNormPairSums(x.Storage, x.Storage, layout, shift, shift, s1, s2, null, null);
        for (int c = 0; c < C; c++)
        {
            mean[c] = shift[c] + s1[c] / n;
            m2[c] = Math.Max(s2[c] - s1[c] * s1[c] / n, 0);
        }
        return (n, mean, m2);
    }

    /// <summary><see cref="Record"/> for a device tensor: the forward map and the tape entry, with the backward on the device.</summary>
    private static Tensor RecordOnDevice(Tensor x, ChannelLayout layout, Tensor? gamma, Tensor? beta, Statistics stats, bool training,
        ICollective? sync, long total, GroupSlot slot, bool relu)
    {
        var device = x.Device;
        if (gamma is not null) DeviceOps.Common("BatchNormalization", x, gamma, nameof(gamma));
        if (beta is not null) DeviceOps.Common("BatchNormalization", x, beta, nameof(beta));
        var backend = Backends.For(device);
        var (scale, offset) = stats.Forward();
        var y = DeviceOps.Allocate(device, x.ShapeArray);
        backend.BatchNormAffine(x.Storage, null, layout, stats.Mean, scale, offset, null, relu, null, null, y.Storage);
        Tensor[] inputs = [x, .. gamma is null ? Array.Empty<Tensor>() : [gamma], .. beta is null ? Array.Empty<Tensor>() : [beta]];
        GradientTape.Record(y, inputs, (dy, needed) =>
        {
            int C = layout.Channels;
            dy = dy.To(device);
            var sumDy = new double[C];
            var sumDyXmu = new double[C];
            backend.BatchNormPairSums(dy.Storage, x.Storage, layout, new float[C], stats.Mean, sumDy, sumDyXmu,
                relu ? scale : null, relu ? offset : null);
            // Σdy·(x − μ) = Σdy·(x − Mean) − MeanLo·Σdy (see Statistics).
            for (int c = 0; c < C; c++) sumDyXmu[c] -= stats.MeanLo[c] * sumDy[c];
            var grads = new Tensor?[inputs.Length];
            int at = 1;
            if (gamma is not null && needed[at++])
                grads[at - 1] = Tensor.FromArray([.. Enumerable.Range(0, C).Select(c => (float)(stats.InvStd[c] * sumDyXmu[c]))], gamma.ShapeArray, device);
            if (beta is not null && needed[at++])
                grads[at - 1] = Tensor.FromArray([.. sumDy.Select(v => (float)v)], beta.ShapeArray, device);
            if (!needed[0]) return grads;
            double count = 1;
            if (training)
            {
                if (sync is { IsDistributed: true }) (sumDy, sumDyXmu) = SumGradientSums(sync, slot, sumDy, sumDyXmu);
                count = Math.Max(total, 1);
            }
            else
            {
                // The statistics are constants: only the direct term.
                sumDy = new double[C];
                sumDyXmu = new double[C];
            }
            var (a, k, b) = BackwardCoefficients(stats, sumDy, sumDyXmu, count);
            var dx = DeviceOps.Allocate(device, x.ShapeArray);
            backend.BatchNormAffine(x.Storage, dy.Storage, layout, stats.Mean, k, b, a, relu, relu ? scale : null, relu ? offset : null, dx.Storage);
            grads[0] = dx;
            return grads;
        });
        return y;
    }
}
