using TfSyncBN.Tensors;

namespace TfSyncBN.Keras;

/// <summary>
/// Mean absolute error (<c>keras.metrics.MeanAbsoluteError</c>, registered as <c>mae</c> and
/// <c>mean_absolute_error</c>): each example's <c>mean over the last axis of |y_true − y_pred|</c> (a rank-1 input is one
/// value per example), averaged over all examples seen.
/// </summary>
public sealed class MeanAbsoluteError : PredictionMetric
{
    /// <summary>Creates the metric.</summary>
    /// <param name="name">The name; <c>mean_absolute_error</c> when null.</param>
    public MeanAbsoluteError(string? name = null) : base(name ?? "mean_absolute_error") { }

    /// <inheritdoc/>
    /// <exception cref="ArgumentException">The shapes differ, or the predictions are a scalar.</exception>
    protected override MetricContribution Compute(Tensor yTrue, Tensor yPred)
    {
        if (yPred.Rank == 0 || !Tensor.SameShape(yTrue.ShapeArray, yPred.ShapeArray))
            throw new ArgumentException($"yTrue must have the shape of yPred {Tensor.ShapeString(yPred.ShapeArray)} (with a batch axis), but has {Tensor.ShapeString(yTrue.ShapeArray)}.", nameof(yTrue));
        var errors = (yTrue - yPred).Abs();
        var perExample = yPred.Rank == 1 ? errors : errors.Mean([-1]);
        return new(perExample.Size == 0 ? 0 : perExample.Sum().ToScalar(), perExample.Size);
    }

    /// <summary>Rebuilds the metric from its config.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="config"/> is null.</exception>
    public static MeanAbsoluteError FromConfig(IReadOnlyDictionary<string, object?> config)
    {
        ArgumentNullException.ThrowIfNull(config);
        return new(KerasConfig.GetString(config, "name"));
    }
}

/// <summary>
/// Top-k categorical accuracy (<c>keras.metrics.TopKCategoricalAccuracy</c>, registered as
/// <c>top_k_categorical_accuracy</c>): the fraction of rows whose true class (the arg-max of the one-hot
/// <c>y_true</c>) is among the k largest predictions; as <c>tf.math.in_top_k</c>, a class counts as in the top k when
/// fewer than k classes have a strictly larger prediction (ties at the boundary count as hits).
/// </summary>
public sealed class TopKCategoricalAccuracy : PredictionMetric
{
    /// <summary>Creates the metric.</summary>
    /// <param name="k">The number of top predictions, at least 1 (Keras default 5).</param>
    /// <param name="name">The name; <c>top_k_categorical_accuracy</c> when null.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="k"/> is less than 1.</exception>
    public TopKCategoricalAccuracy(int k = 5, string? name = null) : base(name ?? "top_k_categorical_accuracy")
    {
        if (k < 1) throw new ArgumentOutOfRangeException(nameof(k), k, "k must be at least 1.");
        K = k;
    }

    /// <summary>The number of top predictions that count.</summary>
    public int K { get; }

    /// <inheritdoc/>
    /// <exception cref="ArgumentException">The shapes differ, or the predictions have no class axis.</exception>
    protected override MetricContribution Compute(Tensor yTrue, Tensor yPred)
    {
        int classes = SparseCategoricalAccuracy.Classes(yPred);
        if (!Tensor.SameShape(yTrue.ShapeArray, yPred.ShapeArray))
            throw new ArgumentException($"yTrue must have the shape of yPred {Tensor.ShapeString(yPred.ShapeArray)}, but has {Tensor.ShapeString(yTrue.ShapeArray)}.", nameof(yTrue));
        int rows = yPred.Size / classes;
        var target = TrainingOps.ArgMaxLastAxis(yTrue);
        var p = yPred.ToArray();   // the metric's sync point: predictions to host
        int hits = 0;
        for (int r = 0; r < rows; r++)
        {
            float t = p[r * classes + target[r]];
            int larger = 0;
            for (int c = 0; c < classes; c++) larger += p[r * classes + c] > t ? 1 : 0;
            hits += larger < K ? 1 : 0;
        }
        return new(hits, rows);
    }

    /// <summary>The Keras config: <c>name</c>, <c>dtype</c> and <c>k</c>.</summary>
    public override IReadOnlyDictionary<string, object?> GetConfig() => new Dictionary<string, object?>(base.GetConfig()) { ["k"] = K };

    /// <summary>Rebuilds the metric from its config (<c>k</c> defaults to 5).</summary>
    /// <exception cref="ArgumentNullException"><paramref name="config"/> is null.</exception>
    public static TopKCategoricalAccuracy FromConfig(IReadOnlyDictionary<string, object?> config)
    {
        ArgumentNullException.ThrowIfNull(config);
        return new(KerasConfig.GetNullableInt(config, "k") ?? 5, KerasConfig.GetString(config, "name"));
    }
}
