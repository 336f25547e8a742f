using TfSyncBN.Tensors;

namespace TfSyncBN.Keras;

/// <summary>
/// The base of all metrics (<c>keras.metrics.Metric</c>): a stateful weighted mean <c>Total / Count</c>.
/// </summary>
/// <remarks>
/// <para>Every built-in metric accumulates a total and a count (in float64): <see cref="Result"/> is
/// <c>Total / Count</c>, or 0 before anything was counted (Keras' <c>divide_no_nan</c>).</para>
/// <para>Under data-parallel training a model computes each replica's (total, count) contribution, sums them across
/// replicas and updates the metric once, so the result is the count-weighted mean over the global batch, exact for
/// uneven and empty per-replica batches. A metric object is not itself thread-safe.</para>
/// </remarks>
public abstract class Metric : IKerasObject
{
    /// <summary>Initializes the metric.</summary>
    /// <param name="name">The name under which the metric appears in logs.</param>
    protected Metric(string name) => Name = name;

    /// <summary>The name under which the metric appears in logs (e.g. <c>accuracy</c>).</summary>
    public string Name { get; }

    /// <inheritdoc/>
    public virtual string ClassName => GetType().Name;

    /// <summary>The accumulated (weighted) sum of values.</summary>
    public double Total { get; private set; }

    /// <summary>The accumulated weight (the number of values, for unweighted updates).</summary>
    public double Count { get; private set; }

    /// <summary>The current value: <c>Total / Count</c>, or 0 when <c>Count</c> is 0.</summary>
    public double Result() => Count == 0 ? 0 : Total / Count;

    /// <summary>Forgets everything accumulated (<c>reset_state</c>).</summary>
    public void Reset()
    {
        Total = 0;
        Count = 0;
    }

    /// <summary>Adds a contribution: <see cref="Total"/> += <paramref name="total"/>, <see cref="Count"/> += <paramref name="count"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="count"/> is negative or NaN.</exception>
    public void Merge(double total, double count)
    {
        if (!(count >= 0)) throw new ArgumentOutOfRangeException(nameof(count), count, "count must be >= 0.");
        Total += total;
        Count += count;
    }

    /// <summary>The Keras config: <c>name</c> and <c>dtype</c>.</summary>
    public virtual IReadOnlyDictionary<string, object?> GetConfig() => new Dictionary<string, object?>
    {
        ["name"] = Name,
        ["dtype"] = "float32",
    };

    /// <summary>The name and current result.</summary>
    public override string ToString() => $"{ClassName} '{Name}' = {Result()}";
}

/// <summary>
/// A metric computed from targets and predictions (<c>keras.metrics.MeanMetricWrapper</c>): each example (or element)
/// contributes a value to the mean.
/// </summary>
public abstract class PredictionMetric : Metric
{
    /// <summary>Initializes the metric.</summary>
    /// <param name="name">The name under which the metric appears in logs.</param>
    protected PredictionMetric(string name) : base(name) { }

    /// <summary>Accumulates the values for a batch (<c>update_state(y_true, y_pred)</c>).</summary>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="ArgumentException">The shapes do not fit (see each metric).</exception>
    public void Update(Tensor yTrue, Tensor yPred)
    {
        var c = Contribution(yTrue, yPred);
        Merge(c.Total, c.Count);
    }

    /// <summary>The (total, count) a batch would add, without changing the state; what each replica computes before the cross-replica sum.</summary>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="ArgumentException">The shapes do not fit (see each metric).</exception>
    public MetricContribution Contribution(Tensor yTrue, Tensor yPred)
    {
        ArgumentNullException.ThrowIfNull(yTrue);
        ArgumentNullException.ThrowIfNull(yPred);
        return Compute(yTrue, yPred);
    }

    /// <summary>The contribution of a batch, with arguments already checked for null.</summary>
    protected abstract MetricContribution Compute(Tensor yTrue, Tensor yPred);

    /// <summary>The index of the largest of <paramref name="row"/> (the first one on ties, as <c>argmax</c>).</summary>
    internal static int ArgMax(ReadOnlySpan<float> row) => System.Numerics.Tensors.TensorPrimitives.IndexOfMax(row);
}

/// <summary>What one batch adds to a metric: <see cref="Total"/> to its total and <see cref="Count"/> to its count.</summary>
/// <param name="Total">The sum of the batch's values.</param>
/// <param name="Count">The number (or weight) of the batch's values.</param>
public sealed record MetricContribution(double Total, double Count);
