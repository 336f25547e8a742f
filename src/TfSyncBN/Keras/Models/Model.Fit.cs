using System.Diagnostics;
using TfSyncBN.Tensors;

namespace TfSyncBN.Keras;

/// <summary>Validation inputs and targets for <see cref="Model.Fit(Tensor, Tensor, int, int, int, IReadOnlyList{Callback}?, float, ValidationData?, bool, int?)"/>
/// (<c>validation_data=(x, y)</c>).</summary>
/// <param name="X">The inputs, samples on axis 0 (the first input when built from lists).</param>
/// <param name="Y">The targets, samples on axis 0 (the first target when built from lists).</param>
public sealed record ValidationData(Tensor X, Tensor Y)
{
    private readonly Tensor[]? inputs;
    private readonly Tensor[]? targets;

    /// <summary>Validation data for a model with several inputs or outputs (<c>validation_data=([a, b], [y1, y2])</c>).</summary>
    /// <param name="x">One tensor per model input, in input order, samples on axis 0.</param>
    /// <param name="y">One tensor per model output, in output order, samples on axis 0.</param>
    /// <exception cref="ArgumentNullException">A list or an entry is null.</exception>
    /// <exception cref="ArgumentException">A list is empty.</exception>
    public ValidationData(IReadOnlyList<Tensor> x, IReadOnlyList<Tensor> y) : this(First(x, nameof(x)), First(y, nameof(y)))
    {
        inputs = [.. x];
        targets = [.. y];
    }

    /// <summary>The inputs: the list given to the lists constructor, else <c>[X]</c>.</summary>
    public IReadOnlyList<Tensor> Inputs => inputs ?? [X];

    /// <summary>The targets: the list given to the lists constructor, else <c>[Y]</c>.</summary>
    public IReadOnlyList<Tensor> Targets => targets ?? [Y];

    private static Tensor First(IReadOnlyList<Tensor> list, string paramName)
    {
        ArgumentNullException.ThrowIfNull(list, paramName);
        if (list.Count == 0) throw new ArgumentException($"{paramName} is empty; give one tensor per model input/output.", paramName);
        for (int i = 0; i < list.Count; i++)
            if (list[i] is null) throw new ArgumentNullException(paramName, $"{paramName}[{i}] is null.");
        return list[0];
    }
}

public abstract partial class Model
{
    /// <summary>
    /// Trains the model for a number of epochs (<c>model.fit</c>), data-parallel under the model's strategy.
    /// </summary>
    /// <remarks>
    /// <para>Each epoch resets the metrics, shuffles the sample order (when <paramref name="shuffle"/>), and runs
    /// <see cref="TrainStep(Tensor, Tensor)"/> on consecutive global batches of <paramref name="batchSize"/> samples (the last one
    /// smaller when the count does not divide). Then, with validation data, it runs <see cref="Evaluate(IReadOnlyList{Tensor}, IReadOnlyList{Tensor}, int)"/> and logs its
    /// results with a <c>val_</c> prefix. <paramref name="validationSplit"/> holds out the LAST fraction of the samples,
    /// before any shuffling, as Keras does.</para>
    /// <para>Callbacks run in order, on this thread; <see cref="History"/> is always added first and returned.
    /// <paramref name="verbose"/> 1 adds a <see cref="ProgressBar"/> (plain lines when the output is not an interactive
    /// console: redirected, <c>CI</c> set or <c>TERM=dumb</c>), 2 a
    /// <see cref="ProgressBar"/> that writes one line per epoch, 0 nothing.</para>
    /// <para>A model with several inputs or outputs takes the lists overload (see <see cref="TrainStep(IReadOnlyList{Tensor}, IReadOnlyList{Tensor})"/>).</para>
    /// </remarks>
    /// <param name="x">The training inputs, samples on axis 0.</param>
    /// <param name="y">The training targets, samples on axis 0.</param>
    /// <param name="batchSize">The global batch size, ≥ 1 (split over the replicas).</param>
    /// <param name="epochs">The number of epochs, ≥ 0.</param>
    /// <param name="verbose">0 (silent), 1 (progress bar) or 2 (one line per epoch).</param>
    /// <param name="callbacks">Callbacks to call, or null.</param>
    /// <param name="validationSplit">The fraction of the samples to hold out for validation, in [0, 1); ignored when <paramref name="validationData"/> is given.</param>
    /// <param name="validationData">Validation inputs and targets, or null.</param>
    /// <param name="shuffle">Whether to shuffle the training samples before each epoch.</param>
    /// <param name="seed">The seed of the shuffling; a random one when null.</param>
    /// <returns>The per-epoch logs.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="x"/> or <paramref name="y"/> is null.</exception>
    /// <exception cref="ArgumentException">The model has several inputs or outputs (use the lists overload), the sample
    /// counts differ, or the data does not fit the model.</exception>
    /// <exception cref="ArgumentOutOfRangeException">An argument is outside its range.</exception>
    /// <exception cref="InvalidOperationException">The model is not compiled, or it belongs to no strategy (created outside
    /// any scope) and is used inside a multi-replica strategy's scope.</exception>
    public History Fit(Tensor x, Tensor y, int batchSize = 32, int epochs = 1, int verbose = 1,
        IReadOnlyList<Callback>? callbacks = null, float validationSplit = 0f, ValidationData? validationData = null,
        bool shuffle = true, int? seed = null)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(y);
        return Fit([x], [y], batchSize, epochs, verbose, callbacks, validationSplit, validationData, shuffle, seed);
    }

    /// <summary>
    /// Trains a model with any number of inputs and outputs (<c>model.fit([a, b], [y1, y2])</c>); see
    /// <see cref="Fit(Tensor, Tensor, int, int, int, IReadOnlyList{Callback}?, float, ValidationData?, bool, int?)"/>. Every
    /// input and target is shuffled, batched, split over the replicas and held out by <paramref name="validationSplit"/>
    /// with the same sample order. A separate overload because C# has no "tensor or list" type; it mirrors
    /// <see cref="Call(IReadOnlyList{Tensor}, bool)"/>.
    /// </summary>
    /// <param name="x">One tensor per model input, in the order of the model's inputs, samples on axis 0.</param>
    /// <param name="y">One tensor of targets per model output, in output order, samples on axis 0.</param>
    /// <param name="batchSize">The global batch size, ≥ 1 (split over the replicas).</param>
    /// <param name="epochs">The number of epochs, ≥ 0.</param>
    /// <param name="verbose">0 (silent), 1 (progress bar) or 2 (one line per epoch).</param>
    /// <param name="callbacks">Callbacks to call, or null.</param>
    /// <param name="validationSplit">The fraction of the samples to hold out for validation, in [0, 1); ignored when <paramref name="validationData"/> is given.</param>
    /// <param name="validationData">Validation inputs and targets (one per model input and output), or null.</param>
    /// <param name="shuffle">Whether to shuffle the training samples before each epoch.</param>
    /// <param name="seed">The seed of the shuffling; a random one when null.</param>
    /// <returns>The per-epoch logs.</returns>
    /// <exception cref="ArgumentNullException">A list or an entry is null.</exception>
    /// <exception cref="ArgumentException">A list (or the validation data's) does not have one tensor per model
    /// input/output, the sample counts differ, or the data does not fit the model.</exception>
    /// <exception cref="ArgumentOutOfRangeException">An argument is outside its range.</exception>
    /// <exception cref="InvalidOperationException">As the single-tensor overload.</exception>
    public History Fit(IReadOnlyList<Tensor> x, IReadOnlyList<Tensor> y, int batchSize = 32, int epochs = 1, int verbose = 1,
        IReadOnlyList<Callback>? callbacks = null, float validationSplit = 0f, ValidationData? validationData = null,
        bool shuffle = true, int? seed = null)
    {
        var (xs, ys) = CheckData(x, y, nameof(x), nameof(y));
        RequireCompiled();
        if (batchSize < 1) throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, "batchSize must be at least 1.");
        if (epochs < 0) throw new ArgumentOutOfRangeException(nameof(epochs), epochs, "epochs must be >= 0.");
        if (verbose is < 0 or > 2) throw new ArgumentOutOfRangeException(nameof(verbose), verbose, "verbose must be 0, 1 or 2.");
        if (!(validationSplit >= 0 && validationSplit < 1))
            throw new ArgumentOutOfRangeException(nameof(validationSplit), validationSplit, "validationSplit must be in [0, 1).");
        Tensor[]? valX = null, valY = null;
        if (validationData is not null) (valX, valY) = CheckData(validationData.Inputs, validationData.Targets, "validationData.Inputs", "validationData.Targets");
        else if (validationSplit > 0)
        {
            int n = xs[0].Shape[0];
            // The split as the decimal the caller wrote (0.2f is 0.2, not 0.2000000030), so 600 samples keep 480, as in Keras.
            int split = (int)Math.Floor(n * (1.0 - KerasConfig.Number(validationSplit)));
            if (split == 0 || split == n)
                throw new ArgumentOutOfRangeException(nameof(validationSplit), validationSplit, $"validationSplit {validationSplit} of {n} samples leaves no training or no validation samples.");
            using (GradientTape.Pause())
            {
                valX = xs.Select(t => t.Slice(0, split, n - split)).ToArray();
                valY = ys.Select(t => t.Slice(0, split, n - split)).ToArray();
                xs = xs.Select(t => t.Slice(0, 0, split)).ToArray();
                ys = ys.Select(t => t.Slice(0, 0, split)).ToArray();
            }
        }

        int samples = xs[0].Shape[0];
        int steps = (samples + batchSize - 1) / batchSize;
        var history = new History();
        var list = new List<Callback> { history };
        list.AddRange(callbacks ?? []);
        if (verbose > 0) list.Add(new ProgressBar(interactive: verbose == 1 ? null : false));
        var hooks = new CallbackList(list);
        hooks.Configure(this, new TrainingParameters(epochs, steps, samples, verbose));

        AgreeOnPlanAcrossWorkers(steps, batchSize, samples, epochs);
        Prepare(xs[0].Shape);
        var random = seed is int s ? new Random(s) : new Random();
        var order = Enumerable.Range(0, samples).ToArray();
        StopTraining = false;
        IReadOnlyDictionary<string, double> epochLogs = new Dictionary<string, double>();
        hooks.TrainBegin(epochLogs);
        for (int epoch = 0; epoch < epochs && !StopTraining; epoch++)
        {
            ResetMetrics();
            hooks.EpochBegin(epoch, new Dictionary<string, double>());
            if (shuffle) random.Shuffle(order);
            IReadOnlyDictionary<string, double> logs = MetricResults();
            for (int step = 0; step < steps; step++)
            {
                int start = step * batchSize, count = Math.Min(batchSize, samples - start);
                using (TensorScope.Begin()) // the batch dies with the step: the next one reuses its storage
                {
                    var xb = xs.Select(t => Rows(t, order, start, count, shuffle)).ToArray();
                    var yb = ys.Select(t => Rows(t, order, start, count, shuffle)).ToArray();
                    logs = TrainStep(xb, yb);
                }
                hooks.BatchEnd(step, logs);
                if (StopTraining) break;   // as Keras 3: a callback may stop training after any batch
            }
            var all = new Dictionary<string, double>(logs);
            if (valX is not null && valY is not null)
            {
                foreach (var (k, v) in Evaluate(valX, valY, batchSize)) all["val_" + k] = v;
            }
            epochLogs = all;
            hooks.EpochEnd(epoch, epochLogs);
        }
        hooks.TrainEnd(epochLogs);
        return history;
    }

    /// <summary>
    /// The loss and metrics of the model on data, in inference mode (<c>model.evaluate(..., return_dict=True)</c>).
    /// </summary>
    /// <remarks>Batches are split over the replicas like training batches; the results are the means over all samples
    /// (count-weighted across replicas and batches). The loss includes the regularization penalties, as in Keras. It
    /// accumulates in its own counters, so the model's running training metrics are left as they are. Under a
    /// multi-worker strategy every worker evaluates its replicas' share of each batch and the sums are combined over
    /// all workers (every worker must call it).</remarks>
    /// <param name="x">The inputs, samples on axis 0.</param>
    /// <param name="y">The targets, samples on axis 0.</param>
    /// <param name="batchSize">The global batch size, ≥ 1.</param>
    /// <returns><c>loss</c>, each output's loss (several outputs), and each compiled metric by its logged name.</returns>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="ArgumentException">The model has several inputs or outputs (use the lists overload), the sample
    /// counts differ, or the data does not fit the model.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="batchSize"/> is less than 1.</exception>
    /// <exception cref="InvalidOperationException">The model is not compiled, or it belongs to no strategy (created outside
    /// any scope) and is used inside a multi-replica strategy's scope.</exception>
    public IReadOnlyDictionary<string, double> Evaluate(Tensor x, Tensor y, int batchSize = 32)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(y);
        return Evaluate([x], [y], batchSize);
    }

    /// <summary>
    /// The loss and metrics of a model with any number of inputs and outputs (<c>model.evaluate([a, b], [y1, y2])</c>);
    /// see <see cref="Evaluate(Tensor, Tensor, int)"/>. The loss is <c>Σ_k lossWeights[k] · loss_k</c> plus the
    /// penalties; each output's unweighted loss is logged as <c>&lt;output&gt;_loss</c>.
    /// </summary>
    /// <param name="x">One tensor per model input, in input order, samples on axis 0.</param>
    /// <param name="y">One tensor of targets per model output, in output order, samples on axis 0.</param>
    /// <param name="batchSize">The global batch size, ≥ 1.</param>
    /// <returns><c>loss</c>, each output's loss (several outputs), and each compiled metric by its logged name.</returns>
    /// <exception cref="ArgumentNullException">A list or an entry is null.</exception>
    /// <exception cref="ArgumentException">A list does not have one tensor per model input/output, the sample counts
    /// differ, or the data does not fit the model.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="batchSize"/> is less than 1.</exception>
    /// <exception cref="InvalidOperationException">As the single-tensor overload.</exception>
    public IReadOnlyDictionary<string, double> Evaluate(IReadOnlyList<Tensor> x, IReadOnlyList<Tensor> y, int batchSize = 32)
    {
        var (xs, ys) = CheckData(x, y, nameof(x), nameof(y));
        RequireCompiled();
        if (batchSize < 1) throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, "batchSize must be at least 1.");
        Prepare(xs[0].Shape);
        var evalMetrics = compiledMetrics;
        int outputs = outputLosses.Length, metricsAt = 2 * outputs;
        var tracker = new Mean("loss");
        var outputTrackers = outputLossTrackers.Select(t => new Mean(t.Name)).ToArray();
        var totals = new double[evalMetrics.Length * 2];
        float penalty;
        using (GradientTape.Pause()) penalty = Losses.Sum(p => p.ToScalar());
        int n = xs[0].Shape[0];
        for (int start = 0; start < n; start += batchSize)
        {
            int count = Math.Min(batchSize, n - start);
            Tensor[] xb, yb;
            using (GradientTape.Pause())
            {
                xb = xs.Select(t => t.Slice(0, start, count)).ToArray();
                yb = ys.Select(t => t.Slice(0, start, count)).ToArray();
            }
            var xParts = SplitAll(xb, strategy.NumReplicasInSync);
            var yParts = SplitAll(yb, strategy.NumReplicasInSync);
            var parts = strategy.Run(c =>
            {
                int r = c.ReplicaId;
                var result = new double[metricsAt + 2 * evalMetrics.Length];
                if (xParts[r][0].Shape[0] == 0) return result;
                using var pause = GradientTape.Pause();
                using var tensors = TensorScope.Begin(); // only doubles leave the replica: its tensors are recycled
                // On a device the slice moves there and the predictions back (loss and metrics run on the host).
                var predictions = OnHost(Call(OnDevice(xParts[r], c.Device), training: false));
                for (int k = 0; k < outputs; k++)
                {
                    var losses = outputLosses[k].Unreduced(yParts[r][k], predictions[k]);
                    result[2 * k] = losses.Sum().ToScalar();
                    result[2 * k + 1] = losses.Size;
                }
                for (int m = 0; m < evalMetrics.Length; m++)
                {
                    var (metric, output, _) = evalMetrics[m];
                    var c2 = metric.Contribution(yParts[r][output], predictions[output]);
                    result[metricsAt + 2 * m] = c2.Total;
                    result[metricsAt + 2 * m + 1] = c2.Count;
                }
                return result;
            });
            var batch = new double[metricsAt + totals.Length];
            foreach (var p in parts) for (int i = 0; i < batch.Length; i++) batch[i] += p[i];
            // Under a multi-worker strategy Run returned this worker's replicas only: add the other workers' sums (a
            // collective on every worker).
            if (strategy.SpansWorkers) strategy.SumAcrossWorkers(batch);
            for (int i = 0; i < totals.Length; i++) totals[i] += batch[metricsAt + i];
            tracker.Update(WeightedLoss(batch) + penalty, count);
            for (int k = 0; k < outputTrackers.Length; k++)
                if (batch[2 * k + 1] > 0) outputTrackers[k].Update(batch[2 * k] / batch[2 * k + 1], count);
        }
        var logs = new Dictionary<string, double> { ["loss"] = tracker.Result() };
        foreach (var t in outputTrackers) logs[t.Name] = t.Result();
        for (int m = 0; m < evalMetrics.Length; m++) logs[evalMetrics[m].LogName] = totals[2 * m + 1] == 0 ? 0 : totals[2 * m] / totals[2 * m + 1];
        return logs;
    }

    /// <summary>
    /// The model's outputs for all samples, in inference mode and in sample order (<c>model.predict</c>).
    /// </summary>
    /// <remarks>Batches are split over the replicas, which run in parallel; the results are concatenated in order.
    /// Under a multi-worker strategy every worker predicts its replicas' rows and receives all of them (every worker
    /// must call it). A model with several inputs or outputs takes the lists overload.</remarks>
    /// <param name="x">The inputs, samples on axis 0.</param>
    /// <param name="batchSize">The global batch size, ≥ 1.</param>
    /// <exception cref="ArgumentNullException"><paramref name="x"/> is null.</exception>
    /// <exception cref="ArgumentException">The model has several inputs or outputs (use the lists overload), the data
    /// does not fit the model, or has no batch axis.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="batchSize"/> is less than 1.</exception>
    /// <exception cref="InvalidOperationException">The model belongs to no strategy (created outside any scope) and is used
    /// inside a multi-replica strategy's scope.</exception>
    public Tensor Predict(Tensor x, int batchSize = 32)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (OutputNames.Count != 1)
            throw new ArgumentException($"Model '{Name}' has {OutputNames.Count} outputs ({string.Join(", ", OutputNames)}); call Predict(IReadOnlyList<Tensor>), which returns one tensor per output.", nameof(x));
        return Predict([x], batchSize)[0];
    }

    /// <summary>
    /// The outputs of a model with any number of inputs and outputs for all samples (<c>model.predict([a, b])</c>): one
    /// tensor per model output, in output order; see <see cref="Predict(Tensor, int)"/>.
    /// </summary>
    /// <param name="x">One tensor per model input, in input order, samples on axis 0.</param>
    /// <param name="batchSize">The global batch size, ≥ 1.</param>
    /// <exception cref="ArgumentNullException">The list or an entry is null.</exception>
    /// <exception cref="ArgumentException">The list does not have one tensor per model input, the sample counts differ,
    /// or the data does not fit the model.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="batchSize"/> is less than 1.</exception>
    /// <exception cref="InvalidOperationException">As the single-tensor overload.</exception>
    public IReadOnlyList<Tensor> Predict(IReadOnlyList<Tensor> x, int batchSize = 32)
    {
        RequireStrategyScope();
        var (xs, _) = CheckData(x, null, nameof(x), "y");
        if (batchSize < 1) throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, "batchSize must be at least 1.");
        Prepare(xs[0].Shape);
        int n = xs[0].Shape[0];
        if (n == 0)
        {
            using var pause = GradientTape.Pause();
            if (!strategy.PlacesOnDevices) return Call(xs, training: false);
            // Replicas on devices: cross-replica reads of the weights would mix devices, so the first local replica runs
            // the model on the empty input in its replica context, on its device; the outputs come back to the host.
            return strategy.Run(c =>
            {
                using var replicaPause = GradientTape.Pause();
                return OnHost(Call(OnDevice(xs, c.Device), training: false));
            }).Values[0];
        }
        int outputCount = OutputNames.Count;
        var outputs = Enumerable.Range(0, outputCount).Select(_ => new List<Tensor>()).ToArray();
        for (int start = 0; start < n; start += batchSize)
        {
            int count = Math.Min(batchSize, n - start);
            Tensor[] xb;
            using (GradientTape.Pause()) xb = xs.Select(t => t.Slice(0, start, count)).ToArray();
            var xParts = SplitAll(xb, strategy.NumReplicasInSync);
            // Inference needs no collectives, so replicas with an empty slice simply skip it; across workers they run the
            // model on their empty slice instead, on their device, so that a worker without rows of this batch still
            // learns the output's shape (see GatherPredictionsAcrossWorkers).
            var parts = strategy.Run(c =>
            {
                using var pause = GradientTape.Pause();
                if (xParts[c.ReplicaId][0].Shape[0] == 0 && !strategy.SpansWorkers) return null;
                // The activations are recycled; the predictions are kept (they leave the scope).
                using var tensors = TensorScope.Begin();
                return OnHost(Call(OnDevice(xParts[c.ReplicaId], c.Device), training: false)).Select(tensors.Keep).ToArray();
            });
            for (int k = 0; k < outputCount; k++)
            {
                if (strategy.SpansWorkers) outputs[k].Add(GatherPredictionsAcrossWorkers(parts.Values.Select(p => p?[k]).ToArray(), xParts.Select(p => p[0]).ToArray(), xb, k));
                else foreach (var p in parts) if (p is not null) outputs[k].Add(p[k]);
            }
        }
        using (GradientTape.Pause()) return outputs.Select(o => o.Count == 1 ? o[0] : Tensor.Concat(o, 0)).ToArray();
    }

    /// <summary>Rows <c>order[start..start+count)</c> of <paramref name="t"/> (a slice when not shuffled).</summary>
    private static Tensor Rows(Tensor t, int[] order, int start, int count, bool shuffled)
    {
        using var pause = GradientTape.Pause();
        if (!shuffled) return t.Slice(0, start, count);
        return TrainingOps.GatherRows(t, order, start, count);
    }
}
