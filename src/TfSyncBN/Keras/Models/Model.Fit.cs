using System.Diagnostics;
using TfSyncBN.Tensors;

namespace TfSyncBN.Keras;

/// <summary>Validation inputs and targets for <see cref="Model.Fit"/> (<c>validation_data=(x, y)</c>).</summary>
/// <param name="X">The inputs, samples on axis 0.</param>
/// <param name="Y">The targets, samples on axis 0.</param>
public sealed record ValidationData(Tensor X, Tensor Y);

public abstract partial class Model
{
    /// <summary>
    /// Trains the model for a number of epochs (<c>model.fit</c>), data-parallel under the model's strategy.
    /// </summary>
    /// <remarks>
    /// <para>Each epoch resets the metrics, shuffles the sample order (when <paramref name="shuffle"/>), and runs
    /// <see cref="TrainStep"/> on consecutive global batches of <paramref name="batchSize"/> samples (the last one
    /// smaller when the count does not divide). Then, with validation data, it runs <see cref="Evaluate"/> and logs its
    /// results with a <c>val_</c> prefix. <paramref name="validationSplit"/> holds out the LAST fraction of the samples,
    /// before any shuffling, as Keras does.</para>
    /// <para>Callbacks run in order, on this thread; <see cref="History"/> is always added first and returned.
    /// <paramref name="verbose"/> 1 adds a <see cref="ProgressBar"/> (plain lines when the output is not an interactive
    /// console: redirected, <c>CI</c> set or <c>TERM=dumb</c>), 2 a
    /// <see cref="ProgressBar"/> that writes one line per epoch, 0 nothing.</para>
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
    /// <exception cref="ArgumentException">The sample counts differ or the data does not fit the model.</exception>
    /// <exception cref="ArgumentOutOfRangeException">An argument is outside its range.</exception>
    /// <exception cref="InvalidOperationException">The model is not compiled, or it belongs to no strategy (created outside
    /// any scope) and is used inside a multi-replica strategy's scope.</exception>
    public History Fit(Tensor x, Tensor y, int batchSize = 32, int epochs = 1, int verbose = 1,
        IReadOnlyList<Callback>? callbacks = null, float validationSplit = 0f, ValidationData? validationData = null,
        bool shuffle = true, int? seed = null)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(y);
        CheckSamples(x, y);
        RequireCompiled();
        if (batchSize < 1) throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, "batchSize must be at least 1.");
        if (epochs < 0) throw new ArgumentOutOfRangeException(nameof(epochs), epochs, "epochs must be >= 0.");
        if (verbose is < 0 or > 2) throw new ArgumentOutOfRangeException(nameof(verbose), verbose, "verbose must be 0, 1 or 2.");
        if (!(validationSplit >= 0 && validationSplit < 1))
            throw new ArgumentOutOfRangeException(nameof(validationSplit), validationSplit, "validationSplit must be in [0, 1).");
        if (validationData is not null) CheckSamples(validationData.X, validationData.Y);
        if (validationData is null && validationSplit > 0)
        {
            int n = x.Shape[0];
            // The split as the decimal the caller wrote (0.2f is 0.2, not 0.2000000030), so 600 samples keep 480, as in Keras.
            int split = (int)Math.Floor(n * (1.0 - KerasConfig.Number(validationSplit)));
            if (split == 0 || split == n)
                throw new ArgumentOutOfRangeException(nameof(validationSplit), validationSplit, $"validationSplit {validationSplit} of {n} samples leaves no training or no validation samples.");
            using (GradientTape.Pause())
            {
                validationData = new ValidationData(x.Slice(0, split, n - split), y.Slice(0, split, n - split));
                x = x.Slice(0, 0, split);
                y = y.Slice(0, 0, split);
            }
        }

        int samples = x.Shape[0];
        int steps = (samples + batchSize - 1) / batchSize;
        var history = new History();
        var list = new List<Callback> { history };
        list.AddRange(callbacks ?? []);
        if (verbose > 0) list.Add(new ProgressBar(interactive: verbose == 1 ? null : false));
        var hooks = new CallbackList(list);
        hooks.Configure(this, new TrainingParameters(epochs, steps, samples, verbose));

        AgreeOnPlanAcrossWorkers(steps, batchSize, samples, epochs);
        Prepare(x.Shape);
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
                var xb = Rows(x, order, start, count, shuffle);
                var yb = Rows(y, order, start, count, shuffle);
                logs = TrainStep(xb, yb);
                hooks.BatchEnd(step, logs);
                if (StopTraining) break;   // as Keras 3: a callback may stop training after any batch
            }
            var all = new Dictionary<string, double>(logs);
            if (validationData is not null)
            {
                foreach (var (k, v) in Evaluate(validationData.X, validationData.Y, batchSize)) all["val_" + k] = v;
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
    /// <returns><c>loss</c> and each compiled metric by name.</returns>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="ArgumentException">The sample counts differ or the data does not fit the model.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="batchSize"/> is less than 1.</exception>
    /// <exception cref="InvalidOperationException">The model is not compiled, or it belongs to no strategy (created outside
    /// any scope) and is used inside a multi-replica strategy's scope.</exception>
    public IReadOnlyDictionary<string, double> Evaluate(Tensor x, Tensor y, int batchSize = 32)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(y);
        CheckSamples(x, y);
        var (_, loss) = RequireCompiled();
        if (batchSize < 1) throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, "batchSize must be at least 1.");
        Prepare(x.Shape);
        var evalMetrics = compiledMetrics;
        var tracker = new Mean("loss");
        var totals = new double[evalMetrics.Length * 2];
        float penalty;
        using (GradientTape.Pause()) penalty = Losses.Sum(p => p.ToScalar());
        int n = x.Shape[0];
        for (int start = 0; start < n; start += batchSize)
        {
            int count = Math.Min(batchSize, n - start);
            Tensor xb, yb;
            using (GradientTape.Pause())
            {
                xb = x.Slice(0, start, count);
                yb = y.Slice(0, start, count);
            }
            var xs = Split(xb, strategy.NumReplicasInSync);
            var ys = Split(yb, strategy.NumReplicasInSync);
            var parts = strategy.Run(c =>
            {
                int r = c.ReplicaId;
                var result = new double[2 + 2 * evalMetrics.Length];
                if (xs[r].Shape[0] == 0) return result;
                using var pause = GradientTape.Pause();
                using var tensors = TensorScope.Begin(); // only doubles leave the replica: its tensors are recycled
                // On a device the slice moves there and the prediction back (loss and metrics run on the host).
                var prediction = Call(xs[r].To(c.Device), training: false).To(Device.Cpu);
                var losses = loss.Unreduced(ys[r], prediction);
                result[0] = losses.Sum().ToScalar();
                result[1] = losses.Size;
                for (int m = 0; m < evalMetrics.Length; m++)
                {
                    var c2 = evalMetrics[m].Contribution(ys[r], prediction);
                    result[2 + 2 * m] = c2.Total;
                    result[3 + 2 * m] = c2.Count;
                }
                return result;
            });
            double lossSum = 0, lossCount = 0;
            if (strategy.SpansWorkers)
            {
                // Run returned this worker's replicas only: add the other workers' sums (a collective on every worker).
                var batch = new double[2 + totals.Length];
                foreach (var p in parts) for (int i = 0; i < batch.Length; i++) batch[i] += p[i];
                strategy.SumAcrossWorkers(batch);
                (lossSum, lossCount) = (batch[0], batch[1]);
                for (int i = 0; i < totals.Length; i++) totals[i] += batch[2 + i];
            }
            else
            {
                foreach (var p in parts)
                {
                    lossSum += p[0];
                    lossCount += p[1];
                    for (int i = 0; i < totals.Length; i++) totals[i] += p[2 + i];
                }
            }
            tracker.Update((lossCount > 0 ? lossSum / lossCount : 0) + penalty, count);
        }
        var logs = new Dictionary<string, double> { ["loss"] = tracker.Result() };
        for (int m = 0; m < evalMetrics.Length; m++) logs[evalMetrics[m].Name] = totals[2 * m + 1] == 0 ? 0 : totals[2 * m] / totals[2 * m + 1];
        return logs;
    }

    /// <summary>
    /// The model's outputs for all samples, in inference mode and in sample order (<c>model.predict</c>).
    /// </summary>
    /// <remarks>Batches are split over the replicas, which run in parallel; the results are concatenated in order.
    /// Under a multi-worker strategy every worker predicts its replicas' rows and receives all of them (every worker
    /// must call it).</remarks>
    /// <param name="x">The inputs, samples on axis 0.</param>
    /// <param name="batchSize">The global batch size, ≥ 1.</param>
    /// <exception cref="ArgumentNullException"><paramref name="x"/> is null.</exception>
    /// <exception cref="ArgumentException">The data does not fit the model, or has no batch axis.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="batchSize"/> is less than 1.</exception>
    /// <exception cref="InvalidOperationException">The model belongs to no strategy (created outside any scope) and is used
    /// inside a multi-replica strategy's scope.</exception>
    public Tensor Predict(Tensor x, int batchSize = 32)
    {
        RequireStrategyScope();
        ArgumentNullException.ThrowIfNull(x);
        if (x.Rank == 0) throw new ArgumentException("x needs a batch axis (axis 0), but is a scalar.", nameof(x));
        if (batchSize < 1) throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, "batchSize must be at least 1.");
        Prepare(x.Shape);
        int n = x.Shape[0];
        if (n == 0)
        {
            using (GradientTape.Pause()) return Call(x, training: false);
        }
        var outputs = new List<Tensor>();
        for (int start = 0; start < n; start += batchSize)
        {
            int count = Math.Min(batchSize, n - start);
            Tensor xb;
            using (GradientTape.Pause()) xb = x.Slice(0, start, count);
            var xs = Split(xb, strategy.NumReplicasInSync);
            // Inference needs no collectives, so replicas with an empty slice simply skip it.
            var parts = strategy.Run(c =>
            {
                using var pause = GradientTape.Pause();
                if (xs[c.ReplicaId].Shape[0] == 0) return null;
                // The activations are recycled; the predictions are kept (they leave the scope).
                using var tensors = TensorScope.Begin();
                return tensors.Keep(Call(xs[c.ReplicaId].To(c.Device), training: false).To(Device.Cpu));
            });
            if (strategy.SpansWorkers) outputs.Add(GatherPredictionsAcrossWorkers(parts.Values, xs, xb));
            else foreach (var p in parts) if (p is not null) outputs.Add(p);
        }
        using (GradientTape.Pause()) return outputs.Count == 1 ? outputs[0] : Tensor.Concat(outputs, 0);
    }

    /// <summary>Rows <c>order[start..start+count)</c> of <paramref name="t"/> (a slice when not shuffled).</summary>
    private static Tensor Rows(Tensor t, int[] order, int start, int count, bool shuffled)
    {
        using var pause = GradientTape.Pause();
        if (!shuffled) return t.Slice(0, start, count);
        return TrainingOps.GatherRows(t, order, start, count);
    }
}
