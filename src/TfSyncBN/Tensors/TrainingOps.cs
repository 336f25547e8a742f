using System.Numerics.Tensors;

namespace TfSyncBN.Tensors;

/// <summary>
/// Fused operations of the training loop that work on whole tensors (optimizer updates, gradient averaging, batch
/// gathering, metric counts), so that code outside the tensor core never reads or writes tensor storage. None of them
/// is recorded by a <see cref="GradientTape"/>. New tensors take their storage from the thread's <see cref="TensorScope"/>
/// where noted, as <see cref="Tensor.Uninitialized"/> does.
/// </summary>
internal static class TrainingOps
{
    /// <summary>
    /// One SGD step (Keras <c>SGD</c>): without momentum (<paramref name="momentum"/> null) <c>w − η·g</c>; with momentum
    /// <c>m' = μ·m − η·g</c> and <c>w + m'</c>, or with Nesterov <c>w + μ·m' − η·g</c>. All outputs are new (pooled) tensors.
    /// </summary>
    /// <param name="weights">w.</param>
    /// <param name="gradient">g, of w's shape.</param>
    /// <param name="momentum">m, or null for plain SGD.</param>
    /// <param name="learningRate">η.</param>
    /// <param name="mu">μ.</param>
    /// <param name="nesterov">Whether the Nesterov form is used.</param>
    /// <param name="newMomentum">m' (null without momentum).</param>
    /// <returns>The new weights.</returns>
    internal static Tensor SgdUpdate(Tensor weights, Tensor gradient, Tensor? momentum, float learningRate, float mu, bool nesterov,
        out Tensor? newMomentum)
    {
        var device = DeviceOps.Common("SgdUpdate", weights, gradient, nameof(gradient));
        if (momentum is not null) DeviceOps.Common("SgdUpdate", weights, momentum, nameof(momentum));
        var resultTensor = DeviceOps.Allocate(device, weights.ShapeArray);
        var mTensor = momentum is null ? null : DeviceOps.Allocate(device, weights.ShapeArray);
        if (device.IsHost)
            CpuBackend.SgdUpdate(weights.Data, gradient.Data, momentum is null ? default : momentum.Data, momentum is not null, learningRate, mu,
                nesterov, resultTensor.Data, mTensor is null ? default : mTensor.Data);
        else
            Backends.For(device).SgdUpdate(weights.Storage, gradient.Storage, momentum?.Storage, learningRate, mu, nesterov,
                resultTensor.Storage, mTensor?.Storage);
        newMomentum = mTensor;
        return resultTensor;
    }

    /// <summary>
    /// One Adam step (Keras <c>Adam</c>, no AMSGrad): <c>m' = m + (g − m)(1 − β₁)</c>, <c>v' = v + (g² − v)(1 − β₂)</c>,
    /// <c>w − α·m' / (sqrt(v') + ε)</c> with the bias-corrected step <paramref name="alpha"/>. All outputs are new (pooled) tensors.
    /// </summary>
    /// <returns>The new weights.</returns>
    internal static Tensor AdamUpdate(Tensor weights, Tensor gradient, Tensor m, Tensor v, float alpha, float beta1, float beta2,
        float epsilon, out Tensor newM, out Tensor newV)
    {
        var device = DeviceOps.Common("AdamUpdate", weights, gradient, nameof(gradient));
        DeviceOps.Common("AdamUpdate", weights, m, nameof(m));
        DeviceOps.Common("AdamUpdate", weights, v, nameof(v));
        var mt = DeviceOps.Allocate(device, weights.ShapeArray);
        var vt = DeviceOps.Allocate(device, weights.ShapeArray);
        var wt = DeviceOps.Allocate(device, weights.ShapeArray);
        if (device.IsHost)
        {
            CpuBackend.AdamUpdate(weights.Data, gradient.Data, m.Data, v.Data, alpha, beta1, beta2, epsilon, wt.Data, mt.Data, vt.Data);
        }
        else
        {
            Backends.For(device).AdamUpdate(weights.Storage, gradient.Storage, m.Storage, v.Storage, alpha, beta1, beta2, epsilon,
                wt.Storage, mt.Storage, vt.Storage);
        }
        newM = mt;
        newV = vt;
        return wt;
    }

    /// <summary>A new (pooled) tensor of <paramref name="shape"/>: <c>sum / count</c>, plus <paramref name="addend"/> when given.</summary>
    internal static Tensor ScaledFromHost(ReadOnlySpan<float> sum, float count, int[] shape, Tensor? addend)
    {
        var result = Tensor.Uninitialized(shape);
        var r = result.Data;
        TensorPrimitives.Divide(sum, count, r);
        if (addend is not null) TensorPrimitives.Add(r, addend.Data, r);
        return result;
    }

    /// <summary>
    /// A new tensor (pooled inside a <see cref="TensorScope"/>) of rows <c>order[start..start+count)</c> of
    /// <paramref name="t"/> along axis 0, in that order.
    /// </summary>
    internal static Tensor GatherRows(Tensor t, int[] order, int start, int count)
    {
        var shape = t.ShapeArray;
        int row = shape[0] == 0 ? 0 : t.Size / shape[0];
        var data = TensorScope.Allocate(count * row);
        ReadOnlySpan<float> source = t.Data;
        for (int i = 0; i < count; i++) source.Slice(order[start + i] * row, row).CopyTo(data.AsSpan(i * row, row));
        return new Tensor(data, [count, .. shape.AsSpan(1)]);
    }

    /// <summary>A new tensor of <paramref name="x"/>'s shape: 1 where <c>x ≥ threshold</c>, else 0 (NaN gives 0).</summary>
    internal static Tensor GreaterEqualMask(Tensor x, float threshold)
    {
        var mask = new float[x.Size];
        var v = x.Data;
        for (int i = 0; i < v.Length; i++) mask[i] = v[i] >= threshold ? 1f : 0f;
        return new Tensor(mask, x.ShapeArray);
    }

    /// <summary>The index of the largest element of each row of the last axis (the first on ties; a NaN wins,
    /// as <see cref="TensorPrimitives.IndexOfMax{T}(ReadOnlySpan{T})"/>); a host array, one entry per row.</summary>
    /// <exception cref="ArgumentException"><paramref name="t"/> has no axis, or an empty last axis.</exception>
    internal static int[] ArgMaxLastAxis(Tensor t)
    {
        if (t.Rank == 0 || t.ShapeArray[^1] == 0)
            throw new ArgumentException($"ArgMax needs a non-empty last axis, but the tensor has shape {Tensor.ShapeString(t.ShapeArray)}.", nameof(t));
        int classes = t.ShapeArray[^1], rows = t.Size / classes;
        if (t.HostArray is null)
        {
            var backend = Backends.For(t.Device);
            var indices = backend.Allocate(rows);
            backend.ArgMax(t.Storage, rows, classes, indices);
            var copy = new float[rows];
            indices.CopyTo(copy);
            return Array.ConvertAll(copy, v => (int)v);
        }
        ReadOnlySpan<float> p = t.Data;
        var result = new int[rows];
        for (int r = 0; r < rows; r++) result[r] = TensorPrimitives.IndexOfMax(p.Slice(r * classes, classes));
        return result;
    }

    /// <summary>How many flat positions hold equal values in <paramref name="a"/> and <paramref name="b"/> (same size; NaN equals nothing).</summary>
    /// <exception cref="ArgumentException">The sizes differ.</exception>
    internal static int CountEqual(Tensor a, Tensor b)
    {
        if (a.Size != b.Size)
            throw new ArgumentException($"CountEqual needs tensors of the same size, but they have {a.Size} and {b.Size} elements.", nameof(b));
        if (a.HostArray is null || b.HostArray is null) return Backends.For(DeviceOps.Common("CountEqual", a, b, nameof(b))).CountEqual(a.Storage, b.Storage);
        return CpuBackend.CountEqual(a.Data, b.Data);
    }

    /// <summary>
    /// The mask of the Keras <c>Dropout</c> layer on <paramref name="device"/>: shape <paramref name="shape"/>, element i
    /// <paramref name="scale"/> when word i mod 4 of Philox4x32-10 at counter (i/4, call, replica) and key
    /// <paramref name="key"/> is ≥ <paramref name="threshold"/>, else 0. Made where it is used: on the host, or by the
    /// device's kernel.
    /// </summary>
    internal static Tensor DropoutMask(Device device, int[] shape, ulong key, long call, int replica, uint threshold, float scale)
    {
        if (device.IsHost)
        {
            var m = new float[Tensor.ShapeSize(shape)];
            CpuBackend.DropoutMask(m, key, call, replica, threshold, scale);
            return new Tensor(m, shape);
        }
        var mask = DeviceOps.Allocate(device, shape);
        Backends.For(device).DropoutMask(mask.Storage, key, call, replica, threshold, scale);
        return mask;
    }
}
