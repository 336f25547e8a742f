using TfSyncBN.Distribute;

namespace TfSyncBN.Keras;

public abstract partial class Model
{
    private readonly Mean lossTracker = new("loss");
    private Mean[] outputLossTrackers = [];
    private CompiledMetric[] compiledMetrics = [];
    private Loss[] outputLosses = [];
    private float[] lossWeights = [];

    /// <summary>A compiled metric: the metric, the output it reads, and its name in the logs.</summary>
    private sealed record CompiledMetric(PredictionMetric Metric, int Output, string LogName);

    /// <summary>The optimizer given to <see cref="Compile"/>, or null before.</summary>
    public Optimizer? Optimizer { get; private set; }

    /// <summary>The loss given to <see cref="Compile"/> when one loss was given for every output; null before, or when
    /// a list was given (see <see cref="CompiledLosses"/>).</summary>
    public Loss? Loss { get; private set; }

    /// <summary>The loss of each model output, in output order (empty before <see cref="Compile"/>).</summary>
    public IReadOnlyList<Loss> CompiledLosses => outputLosses;

    /// <summary>
    /// The metrics tracked by training and evaluation: the loss mean (<c>loss</c>) first, then, for a model with
    /// several outputs, each output's loss mean (<c>&lt;output&gt;_loss</c>), then the compiled metrics.
    /// </summary>
    public IReadOnlyList<Metric> Metrics => [lossTracker, .. outputLossTrackers, .. compiledMetrics.Select(m => m.Metric)];

    /// <summary>Whether <see cref="Compile"/> was called.</summary>
    public bool IsCompiled => Optimizer is not null;

    /// <summary>The number of model inputs (tensors in <c>x</c>).</summary>
    internal virtual int InputCount => 1;

    /// <summary>The names of the model outputs (the layers that produce them), in order; one entry per output.</summary>
    internal virtual IReadOnlyList<string> OutputNames => [Name];

    /// <summary>
    /// Configures the model for training (<c>model.compile</c>).
    /// </summary>
    /// <param name="optimizer">An <see cref="Keras.Optimizer"/>, or a name for <see cref="Optimizers.Get"/> (<c>"sgd"</c>, <c>"adam"</c>).</param>
    /// <param name="loss">A <see cref="Keras.Loss"/> or a name for <see cref="Keras.Losses.Get"/> (<c>"sparse_categorical_crossentropy"</c>,
    /// ...), used for every output; or a list (any non-string enumerable, e.g. <c>new[] { "mse", "mae" }</c>) of those, one
    /// per model output, in output order.</param>
    /// <param name="metrics">
    /// <see cref="PredictionMetric"/>s or names, computed on every output; or, per output, a list with one entry per
    /// model output, each a list of metrics (or null for none) for that output. <c>"accuracy"</c>/<c>"acc"</c> follow
    /// the output's loss as in Keras: sparse categorical accuracy for <see cref="SparseCategoricalCrossentropy"/>,
    /// categorical accuracy for <see cref="CategoricalCrossentropy"/>, else <see cref="Accuracy"/>, logged as
    /// <c>accuracy</c>. Other names go to <see cref="Keras.Metrics.Get"/>. With several outputs each metric is logged as
    /// <c>&lt;output layer name&gt;_&lt;metric name&gt;</c> (Keras 3's naming); a metric object (which holds state) can
    /// then only be given for one output, names for any.
    /// </param>
    /// <param name="lossWeights">One weight per output: the minimized loss is <c>Σ lossWeights[k] · loss_k</c>
    /// (every weight 1 when null), plus the regularization penalties.</param>
    /// <remarks>When the model was created outside any strategy and a multi-replica strategy's scope is current now,
    /// the model adopts that strategy (as Keras does for a model compiled in scope), provided its weights do not exist yet.</remarks>
    /// <exception cref="ArgumentNullException"><paramref name="optimizer"/> or <paramref name="loss"/> is null.</exception>
    /// <exception cref="ArgumentException">An argument is neither an object of the accepted type nor a known name; a list
    /// of losses, of per-output metrics or of loss weights does not have one entry per output; a loss weight is not
    /// finite; a metric is not a prediction metric; one metric object is used for several outputs; or two metrics share
    /// a logged name.</exception>
    public void Compile(object optimizer, object loss, IReadOnlyList<object>? metrics = null, IReadOnlyList<float>? lossWeights = null)
    {
        ArgumentNullException.ThrowIfNull(optimizer);
        ArgumentNullException.ThrowIfNull(loss);
        var opt = optimizer switch
        {
            Optimizer o => o,
            string s => Optimizers.Get(s),
            _ => throw new ArgumentException($"optimizer must be an Optimizer or one of the names {string.Join(", ", Optimizers.Names)}, but is a {optimizer.GetType().Name}.", nameof(optimizer)),
        };
        var names = OutputNames;
        int outputs = names.Count;
        Loss? single = null;
        Loss[] perOutput;
        if (loss is System.Collections.IEnumerable list and not string)
        {
            var entries = list.Cast<object?>().ToArray();
            if (entries.Length != outputs)
                throw new ArgumentException($"loss is a list of {entries.Length} losses, but model '{Name}' has {outputs} outputs ({string.Join(", ", names)}); give one loss per output, or one loss for all.", nameof(loss));
            perOutput = entries.Select((e, i) => ResolveLoss(e, $"loss[{i}]")).ToArray();
        }
        else
        {
            single = ResolveLoss(loss, "loss");
            perOutput = Enumerable.Repeat(single, outputs).ToArray();
        }
        var weights = Enumerable.Repeat(1f, outputs).ToArray();
        if (lossWeights is not null)
        {
            if (lossWeights.Count != outputs)
                throw new ArgumentException($"lossWeights has {lossWeights.Count} entries, but model '{Name}' has {outputs} outputs ({string.Join(", ", names)}).", nameof(lossWeights));
            for (int k = 0; k < outputs; k++)
                weights[k] = float.IsFinite(lossWeights[k]) ? lossWeights[k]
                    : throw new ArgumentException($"lossWeights[{k}] is {lossWeights[k]}; loss weights must be finite.", nameof(lossWeights));
        }

        var resolved = new List<CompiledMetric>();
        var perOutputMetrics = MetricsPerOutput(metrics, outputs, names);
        for (int k = 0; k < outputs; k++)
        {
            foreach (var m in perOutputMetrics[k])
            {
                var metric = m switch
                {
                    PredictionMetric p => p,
                    "accuracy" or "acc" => perOutput[k] switch
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
                if (resolved.Any(r => ReferenceEquals(r.Metric, metric)))
                    throw new ArgumentException($"The metric object '{metric.Name}' is given for several outputs (or twice); a metric holds state, so give each output its own object or a name.", nameof(metrics));
                string logName = outputs > 1 ? $"{names[k]}_{metric.Name}" : metric.Name;
                if (logName == "loss" || resolved.Any(r => r.LogName == logName) || outputs > 1 && names.Any(n => logName == n + "_loss"))
                    throw new ArgumentException($"Two metrics are logged as '{logName}' (or one is named like a loss); give them distinct names.", nameof(metrics));
                resolved.Add(new CompiledMetric(metric, k, logName));
            }
        }
        if (strategy.NumReplicasInSync == 1 && Strategy.Current.NumReplicasInSync > 1 && !Built && Strategy.InCrossReplicaContext)
            strategy = Strategy.Current;
        Optimizer = opt;
        Loss = single;
        outputLosses = perOutput;
        this.lossWeights = weights;
        outputLossTrackers = outputs > 1 ? names.Select(n => new Mean(n + "_loss")).ToArray() : [];
        compiledMetrics = [.. resolved];
        ResetMetrics();
    }

    private static Loss ResolveLoss(object? loss, string what) => loss switch
    {
        Loss l => l,
        string s => Keras.Losses.Get(s),
        null => throw new ArgumentNullException("loss", $"{what} is null."),
        _ => throw new ArgumentException($"{what} must be a Loss or one of the names {string.Join(", ", Keras.Losses.Names)}, but is a {loss.GetType().Name}.", "loss"),
    };

    /// <summary>The metrics of each output: a flat list applies to every output; a list of lists (one per output, null
    /// for none) gives each output its own.</summary>
    private IReadOnlyList<object?>[] MetricsPerOutput(IReadOnlyList<object>? metrics, int outputs, IReadOnlyList<string> names)
    {
        var result = new IReadOnlyList<object?>[outputs];
        bool nested = metrics is not null && metrics.Any(m => m is System.Collections.IEnumerable and not string);
        if (!nested)
        {
            for (int k = 0; k < outputs; k++) result[k] = metrics ?? [];
            return result;
        }
        if (metrics!.Count != outputs)
            throw new ArgumentException($"metrics is a list of {metrics.Count} per-output lists, but model '{Name}' has {outputs} outputs ({string.Join(", ", names)}); give one list (or null) per output, or a flat list for all outputs.", nameof(metrics));
        for (int k = 0; k < outputs; k++)
            result[k] = metrics[k] switch
            {
                null => [],
                System.Collections.IEnumerable e and not string => e.Cast<object?>().ToArray(),
                _ => throw new ArgumentException($"metrics[{k}] is a {metrics[k].GetType().Name}; when some entries of metrics are per-output lists, every entry must be a list (or null).", nameof(metrics)),
            };
        return result;
    }

    /// <summary>Resets the loss means and every compiled metric (Fit and Evaluate do it at the start of each epoch/run).</summary>
    public void ResetMetrics()
    {
        lock (metricsLock)
        {
            lossTracker.Reset();
            foreach (var t in outputLossTrackers) t.Reset();
            foreach (var m in compiledMetrics) m.Metric.Reset();
        }
    }

    /// <summary>The current results: <c>loss</c>, each output's loss (several outputs), and each compiled metric by its logged name.</summary>
    private Dictionary<string, double> MetricResults()
    {
        var logs = new Dictionary<string, double> { ["loss"] = lossTracker.Result() };
        foreach (var t in outputLossTrackers) logs[t.Name] = t.Result();
        foreach (var m in compiledMetrics) logs[m.LogName] = m.Metric.Result();
        return logs;
    }

    private Optimizer RequireCompiled()
    {
        RequireStrategyScope();
        return Optimizer is { } o && outputLosses.Length > 0
            ? o
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
