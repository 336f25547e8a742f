using TfSyncBN.Tensors.Kernels;

namespace TfSyncBN.Tensors;

/// <summary>Functional operations that have no natural home on <see cref="Tensor"/> (<c>tf.nn</c>, <c>mindspore.ops</c>).</summary>
public static class Ops
{
    /// <summary>
    /// Batch normalization over axis 1 of an (N, C, ...) input, in the form of MindSpore <c>ops.batch_norm</c>.
    /// </summary>
    /// <remarks>
    /// <para>Inference (<paramref name="training"/> false):
    /// <c>y = weight·(x − runningMean)/sqrt(runningVar + epsilon) + bias</c>.</para>
    /// <para>Training: the batch mean and biased batch variance over every axis but 1 replace the running statistics,
    /// which are then updated in place with the PyTorch/MindSpore-functional convention
    /// <c>running = (1 − momentum)·running + momentum·batch</c>. Inside a multi-replica <c>Run</c> the statistics are
    /// local to the replica (use <c>SyncBatchNormalization</c> to synchronize them).</para>
    /// <para>Example (MindSpore's): x = [[1,2],[3,4]], running mean [0.5,1.5], running var [0.1,0.2], weight [2,2],
    /// bias [-1,-1], inference → [[2.1621194, 1.2360122], [14.810596, 10.180061]].</para>
    /// </remarks>
    /// <param name="x">Input of rank ≥ 2, channels on axis 1.</param>
    /// <param name="runningMean">Running mean, shape [C]; updated in training.</param>
    /// <param name="runningVar">Running variance, shape [C]; updated in training.</param>
    /// <param name="weight">γ, shape [C]; ones when null.</param>
    /// <param name="bias">β, shape [C]; zeros when null.</param>
    /// <param name="training">Whether to normalize with batch statistics and update the running ones.</param>
    /// <param name="momentum">Weight of the batch statistics in the running update, in [0, 1].</param>
    /// <param name="epsilon">Added to the variance, in (0, 1].</param>
    /// <exception cref="ArgumentNullException"><paramref name="x"/>, <paramref name="runningMean"/> or <paramref name="runningVar"/> is null.</exception>
    /// <exception cref="ArgumentException">The rank of <paramref name="x"/> is below 2, or a parameter's shape is not [C].</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="momentum"/> is outside [0, 1] or <paramref name="epsilon"/> outside (0, 1].</exception>
    public static Tensor BatchNorm(Tensor x, Variable runningMean, Variable runningVar, ITensorLike? weight = null,
        ITensorLike? bias = null, bool training = false, float momentum = 0.1f, float epsilon = 1e-5f)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(runningMean);
        ArgumentNullException.ThrowIfNull(runningVar);
        if (!(momentum >= 0 && momentum <= 1))
            throw new ArgumentOutOfRangeException(nameof(momentum), momentum, "momentum must be in [0, 1].");
        if (!(epsilon > 0 && epsilon <= 1))
            throw new ArgumentOutOfRangeException(nameof(epsilon), epsilon, "epsilon must be in (0, 1].");
        if (x.Rank < 2)
            throw new ArgumentException($"x must have rank >= 2 (N, C, ...), but has shape {Tensor.ShapeString(x.ShapeArray)}.", nameof(x));
        var (outer, inner) = Layout.Split(x.ShapeArray, 1);
        var layout = new ChannelLayout(outer, x.ShapeArray[1], inner);
        var w = CheckChannels(weight?.ToTensor(), layout.Channels, nameof(weight));
        var b = CheckChannels(bias?.ToTensor(), layout.Channels, nameof(bias));
        var mean = CheckChannels(runningMean.Value, layout.Channels, nameof(runningMean))!;
        var variance = CheckChannels(runningVar.Value, layout.Channels, nameof(runningVar))!;
        if (!training) return BatchNormCore.Inference(x, layout, mean.AsSpan(), variance.AsSpan(), w, b, epsilon);

        var y = BatchNormCore.Training(x, layout, w, b, epsilon, sync: null, out var moments);
        if (moments.Count > 0)
        {
            runningMean.Assign(MovingAverage(mean, moments.Mean, 1.0 - momentum));
            runningVar.Assign(MovingAverage(variance, moments.Variance, 1.0 - momentum));
        }
        return y;
    }

    /// <summary>
    /// Cross-entropy of integer class labels and logits, one loss per row (<c>tf.nn.sparse_softmax_cross_entropy_with_logits</c>):
    /// <c>loss = logsumexp(x) − x[k]</c>, computed from a stable log-softmax (no overflow for any finite logits), with
    /// gradient <c>softmax(x) − onehot(k)</c> with respect to the logits.
    /// </summary>
    /// <param name="labels">Class ids as floats, one per row of <paramref name="logits"/> (any shape with that many elements); not differentiated.</param>
    /// <param name="logits">Logits with the classes on the last axis, shape <c>[..., C]</c>.</param>
    /// <returns>The losses, shape <c>logits.Shape[..^1]</c>.</returns>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="ArgumentException">The logits are a scalar or have no classes, the label count differs from the row count, or a label is not an integer in [0, C).</exception>
    public static Tensor SparseSoftmaxCrossEntropyWithLogits(Tensor labels, Tensor logits)
    {
        ArgumentNullException.ThrowIfNull(labels);
        ArgumentNullException.ThrowIfNull(logits);
        return SoftmaxCrossEntropy.Sparse(labels.StopGradient(), logits);
    }

    /// <summary>
    /// Cross-entropy of label distributions and logits, one loss per row (<c>tf.nn.softmax_cross_entropy_with_logits</c>):
    /// <c>loss = −Σ y·log_softmax(x)</c>, differentiable with respect to both (<c>∂/∂x = softmax(x)·Σy − y</c>,
    /// <c>∂/∂y = −log_softmax(x)</c>).
    /// </summary>
    /// <param name="labels">Label distributions, the shape of <paramref name="logits"/>.</param>
    /// <param name="logits">Logits with the classes on the last axis, shape <c>[..., C]</c>.</param>
    /// <returns>The losses, shape <c>logits.Shape[..^1]</c>.</returns>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="ArgumentException">The logits are a scalar or have no classes, or the shapes differ.</exception>
    public static Tensor SoftmaxCrossEntropyWithLogits(Tensor labels, Tensor logits)
    {
        ArgumentNullException.ThrowIfNull(labels);
        ArgumentNullException.ThrowIfNull(logits);
        return SoftmaxCrossEntropy.Dense(labels, logits);
    }

    /// <summary><c>keep·moving + (1 − keep)·batch</c>, computed in float64 and rounded once.</summary>
    internal static Tensor MovingAverage(Tensor moving, double[] batch, double keep)
    {
        // A moving statistic on a device is read back once (a sync point); the host result goes back with the variable's assignment.
        var m = moving.HostArray ?? moving.ToArray();
        return Tensor.FromFunction(moving.ShapeArray, c => (float)(keep * m[c] + (1 - keep) * batch[c]));
    }

    private static Tensor? CheckChannels(Tensor? t, int channels, string name) =>
        t is null || (t.Rank == 1 && t.ShapeArray[0] == channels)
            ? t
            : throw new ArgumentException($"{name} must have shape [{channels}] (one value per channel), but has shape {Tensor.ShapeString(t.ShapeArray)}.", name);
}
