using TfSyncBN.Distribute;

namespace TfSyncBN.Keras;

public abstract partial class Model
{
    private readonly Mean lossTracker = new("loss");
    private PredictionMetric[] compiledMetrics = [];

    /// <summary>The optimizer given to <see cref="Compile"/>, or null before.</summary>
    public Optimizer? Optimizer { get; private set; }

    /// <summary>The loss given to <see cref="Compile"/>, or null before.</summary>
    public Loss? Loss { get; private set; }

    /// <summary>The metrics tracked by training and evaluation: the loss mean (<c>loss</c>) first, then the compiled metrics.</summary>
    public IReadOnlyList<Metric> Metrics => [lossTracker, .. compiledMetrics];

    /// <summary>Whether <see cref="Compile"/> was called.</summary>
    public bool IsCompiled => Optimizer is not null;

    /// <summary>
    /// Configures the model for training (<c>model.compile</c>).
    /// </summary>
    /// <param name="optimizer">An <see cref="Keras.Optimizer"/>, or a name for <see cref="Optimizers.Get"/> (<c>"sgd"</c>, <c>"adam"</c>).</param>
    /// <param name="loss">A <see cref="Keras.Loss"/>, or a name for <see cref="Keras.Losses.Get"/> (<c>"sparse_categorical_crossentropy"</c>, ...).</param>
    /// <param name="metrics">
    /// <see cref="PredictionMetric"/>s or names. <c>"accuracy"</c>/<c>"acc"</c> follow the loss as in Keras: sparse
    /// categorical accuracy for <see cref="SparseCategoricalCrossentropy"/>, categorical accuracy for
    /// <see cref="CategoricalCrossentropy"/>, else <see cref="Accuracy"/>, logged as <c>accuracy</c>. Other names go to <see cref="Keras.Metrics.Get"/>.
    /// </param>
    /// <remarks>When the model was created outside any strategy and a multi-replica strategy's scope is current now,
    /// the model adopts that strategy (as Keras does for a model compiled in scope), provided its weights do not exist yet.</remarks>
    /// <exception cref="ArgumentNullException"><paramref name="optimizer"/> or <paramref name="loss"/> is null.</exception>
    /// <exception cref="ArgumentException">An argument is neither an object of the accepted type nor a known name, a metric is
    /// not a prediction metric, or two metrics share a name.</exception>
    public void Compile(object optimizer, object loss, IReadOnlyList<object>? metrics = null)
    {
        ArgumentNullException.ThrowIfNull(optimizer);
        ArgumentNullException.ThrowIfNull(loss);
        var opt = optimizer switch
        {
            Optimizer o => o,
            string s => Optimizers.Get(s),
            _ => throw new ArgumentException($"optimizer must be an Optimizer or one of the names {string.Join(", ", Optimizers.Names)}, but is a {optimizer.GetType().Name}.", nameof(optimizer)),
        };
        var lossObject = loss switch
        {
            Loss l => l,
            string s => Keras.Losses.Get(s),
            _ => throw new ArgumentException($"loss must be a Loss or one of the names {string.Join(", ", Keras.Losses.Names)}, but is a {loss.GetType().Name}.", nameof(loss)),
        };
        var resolved = new List<PredictionMetric>();
        foreach (var m in metrics ?? [])
        {
            var metric = m switch
            {
                PredictionMetric p => p,
                "accuracy" or "acc" => lossObject switch
                {
                    SparseCategoricalCrossentropy => new SparseCategoricalAccuracy("accuracy"),
                    CategoricalCrossentropy => new CategoricalAccuracy("accuracy"),
                    _ => new Accuracy("accuracy"),
                },
                string s => Keras.Metrics.Get(s) as PredictionMetric
                    ?? throw new ArgumentException($"Metric '{s}' does not compare targets with predictions, so it cannot be compiled; use a prediction metric such as accuracy.", nameof(metrics)),
                null => throw new ArgumentException("metrics contains null.", nameof(metrics)),
                _ => throw new ArgumentException($"A metric must be a PredictionMetric or a name ({string.Join(", ", Keras.Metrics.Names)}), but one is a {m.GetType().Name}.", nameof(metrics)),
            };
            if (metric.Name == "loss" || resolved.Any(r => r.Name == metric.Name))
                throw new ArgumentException($"Two metrics are named '{metric.Name}' (or one is named 'loss'); give them distinct names.", nameof(metrics));
            resolved.Add(metric);
        }
        if (strategy.NumReplicasInSync == 1 && Strategy.Current.NumReplicasInSync > 1 && !Built && Strategy.InCrossReplicaContext)
            strategy = Strategy.Current;
        Optimizer = opt;
        Loss = lossObject;
        compiledMetrics = [.. resolved];
        ResetMetrics();
    }

    /// <summary>Resets the loss mean and every compiled metric (Fit and Evaluate do it at the start of each epoch/run).</summary>
    public void ResetMetrics()
    {
        lock (metricsLock)
        {
            lossTracker.Reset();
            foreach (var m in compiledMetrics) m.Reset();
        }
    }

    /// <summary>The current results: <c>loss</c> and each compiled metric by name.</summary>
    private Dictionary<string, double> MetricResults()
    {
        var logs = new Dictionary<string, double> { ["loss"] = lossTracker.Result() };
        foreach (var m in compiledMetrics) logs[m.Name] = m.Result();
        return logs;
    }

    private (Optimizer Optimizer, Loss Loss) RequireCompiled()
    {
        RequireStrategyScope();
        return Optimizer is { } o && Loss is { } l
            ? (o, l)
            : throw new InvalidOperationException($"Model '{Name}' must be compiled before training or evaluation: call Compile(optimizer, loss, metrics).");
    }

    /// <summary>
    /// Refuses to run a single-device model (created and built outside any strategy scope) inside a multi-replica
    /// strategy's scope, with a message that says so (its weights have one copy, so the replicas cannot train it).
    /// </summary>
    private void RequireStrategyScope()
    {
        if (!Strategy.InCrossReplicaContext || strategy.NumReplicasInSync > 1) return;
        var current = Strategy.Current;
        if (current.NumReplicasInSync <= 1) return;
        throw new InvalidOperationException(
            $"Model '{Name}' was created{(Built ? " and built" : " and compiled")} outside any strategy scope{(Built ? ", so its weights have a single copy," : "")} but it is used inside " +
            $"the scope of a {current.GetType().Name} with {current.NumReplicasInSync} replicas. Create the model (or at least build and compile it) " +
            "inside strategy.Scope() to train it on the strategy's replicas, or call it outside the scope to train it on one device.");
    }
}
