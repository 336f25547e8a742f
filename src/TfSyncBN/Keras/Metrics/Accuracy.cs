using TfSyncBN.Tensors;

namespace TfSyncBN.Keras;

/// <summary>How often predictions equal targets exactly, element by element (<c>keras.metrics.Accuracy</c>).</summary>
/// <remarks>Targets and predictions must have the same number of elements; each element counts once.
/// Example (Keras docs): yTrue [[1], [2], [3], [4]], yPred [[0], [2], [3], [4]] → 0.75.</remarks>
public sealed class Accuracy : PredictionMetric
{
    /// <summary>Creates the metric.</summary>
    /// <param name="name">The name; <c>accuracy</c> when null.</param>
    public Accuracy(string? name = null) : base(name ?? "accuracy") { }

    /// <inheritdoc/>
    /// <exception cref="ArgumentException">The element counts differ.</exception>
    protected override MetricContribution Compute(Tensor yTrue, Tensor yPred)
    {
        if (yTrue.Size != yPred.Size)
            throw new ArgumentException($"yTrue (shape {Tensor.ShapeString(yTrue.ShapeArray)}) and yPred (shape {Tensor.ShapeString(yPred.ShapeArray)}) must have the same number of elements.", nameof(yPred));
        return new(TrainingOps.CountEqual(yTrue, yPred), yTrue.Size);
    }

    /// <summary>Rebuilds the metric from <see cref="Metric.GetConfig"/> output.</summary>
    public static Accuracy FromConfig(IReadOnlyDictionary<string, object?> config)
    {
        ArgumentNullException.ThrowIfNull(config);
        return new(KerasConfig.GetString(config, "name"));
    }
}

/// <summary>How often the largest prediction is at the integer label (<c>keras.metrics.SparseCategoricalAccuracy</c>).</summary>
/// <remarks>Predictions <c>[N, ..., C]</c>; labels hold one class id per row (<c>[N, ...]</c> or <c>[N, ..., 1]</c>).
/// Example (Keras docs): labels [[2], [1]], predictions [[0.1, 0.6, 0.3], [0.05, 0.95, 0]] → 0.5.</remarks>
public sealed class SparseCategoricalAccuracy : PredictionMetric
{
    /// <summary>Creates the metric.</summary>
    /// <param name="name">The name; <c>sparse_categorical_accuracy</c> when null.</param>
    public SparseCategoricalAccuracy(string? name = null) : base(name ?? "sparse_categorical_accuracy") { }

    /// <inheritdoc/>
    /// <exception cref="ArgumentException">The predictions have no class axis, or the label count differs from the row count.</exception>
    protected override MetricContribution Compute(Tensor yTrue, Tensor yPred)
    {
        int classes = Classes(yPred);
        int rows = yPred.Size / classes;
        if (yTrue.Size != rows)
            throw new ArgumentException($"Labels must hold one class id per row of yPred ({rows} rows, shape {Tensor.ShapeString(yPred.ShapeArray)}), but have shape {Tensor.ShapeString(yTrue.ShapeArray)}.", nameof(yTrue));
        var predicted = TrainingOps.ArgMaxLastAxis(yPred);
        var t = yTrue.ToArray();
        int hits = 0;
        for (int r = 0; r < rows; r++) hits += predicted[r] == t[r] ? 1 : 0;
        return new(hits, rows);
    }

    internal static int Classes(Tensor yPred) => yPred.Rank >= 1 && yPred.ShapeArray[^1] > 0
        ? yPred.ShapeArray[^1]
        : throw new ArgumentException($"yPred needs a non-empty class axis (the last), but has shape {Tensor.ShapeString(yPred.ShapeArray)}.", nameof(yPred));

    /// <summary>Rebuilds the metric from <see cref="Metric.GetConfig"/> output.</summary>
    public static SparseCategoricalAccuracy FromConfig(IReadOnlyDictionary<string, object?> config)
    {
        ArgumentNullException.ThrowIfNull(config);
        return new(KerasConfig.GetString(config, "name"));
    }
}

/// <summary>How often the largest prediction is where the largest target is (<c>keras.metrics.CategoricalAccuracy</c>).</summary>
/// <remarks>Targets (one-hot) and predictions share the shape <c>[N, ..., C]</c>.
/// Example (Keras docs): yTrue [[0, 0, 1], [0, 1, 0]], yPred [[0.1, 0.9, 0.8], [0.05, 0.95, 0]] → 0.5.</remarks>
public sealed class CategoricalAccuracy : PredictionMetric
{
    /// <summary>Creates the metric.</summary>
    /// <param name="name">The name; <c>categorical_accuracy</c> when null.</param>
    public CategoricalAccuracy(string? name = null) : base(name ?? "categorical_accuracy") { }

    /// <inheritdoc/>
    /// <exception cref="ArgumentException">The shapes differ, or there is no class axis.</exception>
    protected override MetricContribution Compute(Tensor yTrue, Tensor yPred)
    {
        int classes = SparseCategoricalAccuracy.Classes(yPred);
        if (!Tensor.SameShape(yTrue.ShapeArray, yPred.ShapeArray))
            throw new ArgumentException($"yTrue must have the shape of yPred {Tensor.ShapeString(yPred.ShapeArray)}, but has {Tensor.ShapeString(yTrue.ShapeArray)}.", nameof(yTrue));
        int rows = yPred.Size / classes;
        var predicted = TrainingOps.ArgMaxLastAxis(yPred);
        var expected = TrainingOps.ArgMaxLastAxis(yTrue);
        int hits = 0;
        for (int r = 0; r < rows; r++) hits += predicted[r] == expected[r] ? 1 : 0;
        return new(hits, rows);
    }

    /// <summary>Rebuilds the metric from <see cref="Metric.GetConfig"/> output.</summary>
    public static CategoricalAccuracy FromConfig(IReadOnlyDictionary<string, object?> config)
    {
        ArgumentNullException.ThrowIfNull(config);
        return new(KerasConfig.GetString(config, "name"));
    }
}
