using TfSyncBN.Distribute;
using TfSyncBN.Tensors;

namespace TfSyncBN.Keras;

public abstract partial class Model
{
    private readonly object metricsLock = new();
    private long[] replicaSteps = [];
    private long appliedSteps;

    /// <summary>
    /// One training step on one batch (<c>model.train_step</c>): forward pass in training mode, loss, gradients, one
    /// optimizer update, metric updates. Returns the running results since the last reset (<c>loss</c> and each metric).
    /// </summary>
    /// <remarks>
    /// <para>Called in cross-replica code (the usual case, and what <c>Fit</c> does), <paramref name="x"/> and
    /// <paramref name="y"/> are the global batch: it is split over the strategy's replicas (replica r gets rows
    /// <c>[start_r, start_r + n_r)</c>, the first <c>B mod R</c> replicas one more row than the others, so some replicas
    /// get none when B &lt; R) and the step runs in <c>strategy.Run</c>.</para>
    /// <para>Called inside <c>strategy.Run</c> (a custom loop), they are this replica's part of the global batch; every
    /// replica must call it. Either way the gradient applied is the sum over replicas of each replica's gradient of
    /// <c>(its Σ per-example losses) / (global count) + Σ penalties / R</c>, i.e. the gradient of single-device training
    /// on the global batch, obtained with ONE fused all-reduce per step (see <see cref="Model"/>); every replica's copy
    /// of the weights gets the same update.</para>
    /// <para>The logged loss is <c>Σ per-example losses / global count + penalties</c>, averaged over steps weighted by
    /// the global batch size, as Keras' loss tracker does.</para>
    /// <para>A step is all or nothing: when it throws, every weight, moving statistic and optimizer variable keeps the
    /// value it had before the step.</para>
    /// <para>A model with several inputs or outputs takes the lists overload: one tensor per input (in the order of
    /// the model's inputs) and one target per output; each is split over the replicas the same way. The minimized loss
    /// is <c>Σ_k lossWeights[k] · (Σ per-example losses of output k) / (global count of output k)</c> plus the penalties,
    /// logged as <c>loss</c>, and each output's unweighted loss is logged as <c>&lt;output&gt;_loss</c> (see
    /// <see cref="Compile"/>).</para>
    /// </remarks>
    /// <param name="x">The inputs, samples on axis 0.</param>
    /// <param name="y">The targets, samples on axis 0.</param>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="ArgumentException">The model has several inputs or outputs (use the lists overload), the sample
    /// counts differ, or the data does not fit the model or loss.</exception>
    /// <exception cref="InvalidOperationException">The model is not compiled, TrainStep runs inside another strategy's Run,
    /// or the model belongs to no strategy (created outside any scope) and is used inside a multi-replica strategy's scope.</exception>
    /// <exception cref="CheckNumericsException">The numerics check is on (<see cref="Debugging.EnableCheckNumerics"/>) and a
    /// layer's input, output or output gradient, a replica's weight gradient, or an updated moving statistic, weight or
    /// optimizer slot holds NaN or an infinity; no weight changes.</exception>
    public IReadOnlyDictionary<string, double> TrainStep(Tensor x, Tensor y)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(y);
        return TrainStep([x], [y]);
    }

    /// <summary>
    /// One training step of a model with any number of inputs and outputs (<c>model.train_step((x, y))</c> with lists);
    /// see <see cref="TrainStep(Tensor, Tensor)"/>. A separate overload because C# has no "tensor or list" type; it
    /// mirrors <see cref="Call(IReadOnlyList{Tensor}, bool)"/>.
    /// </summary>
    /// <param name="x">One batch per model input, in the order of the model's inputs, samples on axis 0.</param>
    /// <param name="y">One batch of targets per model output, in output order, samples on axis 0.</param>
    /// <exception cref="ArgumentNullException">A list or an entry is null.</exception>
    /// <exception cref="ArgumentException">A list does not have one tensor per model input/output, the sample counts
    /// differ, or the data does not fit the model or loss.</exception>
    /// <exception cref="InvalidOperationException">As <see cref="TrainStep(Tensor, Tensor)"/>.</exception>
    /// <exception cref="CheckNumericsException">As <see cref="TrainStep(Tensor, Tensor)"/>.</exception>
    public IReadOnlyDictionary<string, double> TrainStep(IReadOnlyList<Tensor> x, IReadOnlyList<Tensor> y)
    {
        var (xs, ys) = CheckData(x, y, nameof(x), nameof(y));
        RequireCompiled();
        if (Strategy.CurrentReplica is { } ctx)
        {
            if (strategy.NumReplicasInSync > 1 && !ReferenceEquals(ctx.Strategy, strategy))
                throw new InvalidOperationException($"Model '{Name}' trains under another strategy than the Run calling TrainStep; create and compile it inside that strategy's Scope().");
            return ReplicaTrainStep(ctx, xs, ys);
        }
        Prepare(xs[0].Shape);
        using var slices = TensorScope.Begin(); // the replicas' slices die with the step: the next one reuses their storage
        var xParts = SplitAll(xs, strategy.NumReplicasInSync);
        var yParts = SplitAll(ys, strategy.NumReplicasInSync);
        return strategy.Run(c => ReplicaTrainStep(c, xParts[c.ReplicaId], yParts[c.ReplicaId]))[0];
    }

    /// <summary>Builds the model and the optimizer state under the model's strategy, before replicas run.</summary>
    private void Prepare(IReadOnlyList<int> inputShape)
    {
        if (!Built) Build([-1, .. inputShape.Skip(1)]);
        if (Optimizer is { } o)
        {
            using var scope = EnterScope();
            o.Build(TrainableWeights);
        }
    }

    /// <summary>
    /// One replica's step, all or nothing: if it throws (a failing constraint, a numerics check, another replica's
    /// failure), this replica's copies of the weights and moving statistics are put back as they were before the step
    /// (the optimizer restores its own state).
    /// </summary>
    private IReadOnlyDictionary<string, double> ReplicaTrainStep(ReplicaContext ctx, IReadOnlyList<Tensor> x, IReadOnlyList<Tensor> y)
    {
        if (!Built) Build([-1, .. x[0].Shape.Skip(1)]);
        var weights = Weights;
        var before = new Tensor[weights.Count][];
        for (int i = 0; i < weights.Count; i++) before[i] = weights[i].Capture();
        // Every tensor of the step dies with it (what lasts is assigned to variables, which take their storage out of
        // the scope): the next step reuses the storage instead of asking the GC for activations and gradients anew. The
        // restore below runs inside the scope, so that it takes back the previous weights the optimizer gave to it.
        using var tensors = TensorScope.Begin();
        try
        {
            return ReplicaTrainStepCore(ctx, x, y);
        }
        catch
        {
            for (int i = weights.Count - 1; i >= 0; i--) weights[i].Restore(before[i]);
            throw;
        }
    }

    /// <summary>
    /// The compiled loss of one replica's batch: the differentiable objective, and each output's per-example loss sum
    /// and count. With several outputs (or a loss weight other than 1) the objective is
    /// <c>Σ_k w_k · sum_k · (c_0 / c_k)</c>, where <c>c_k</c> is output k's number of loss values per sample, so that
    /// dividing it by output 0's global count gives <c>Σ_k w_k · sum_k / (global count of output k)</c>; with one
    /// output and weight 1 it is output 0's sum itself.
    /// </summary>
    private (Tensor Objective, double[] Sums, double[] Counts) CompiledLoss(IReadOnlyList<Tensor> y, IReadOnlyList<Tensor> predictions)
    {
        int outputs = outputLosses.Length;
        var sums = new double[outputs];
        var counts = new double[outputs];
        Tensor? objective = null;
        int perSample0 = 1;
        for (int k = 0; k < outputs; k++)
        {
            var losses = outputLosses[k].Unreduced(y[k], predictions[k]);
            var sum = losses.Sum();
            sums[k] = sum.ToScalar();
            counts[k] = losses.Size;
            int perSample = losses.Rank == 0 ? 1 : Tensor.ShapeSize(losses.ShapeArray[1..]);
            if (k == 0) perSample0 = perSample;
            float factor = perSample == 0 ? 0 : lossWeights[k] * ((float)perSample0 / perSample);
            var term = factor == 1f ? sum : sum * factor;
            objective = objective is null ? term : objective + term;
        }
        return (objective!, sums, counts);
    }

    /// <summary><c>Σ_k w_k · sum_k / count_k</c> over the outputs with a nonzero count, from <paramref name="values"/> laid
    /// out as (sum, count) per output.</summary>
    private double WeightedLoss(ReadOnlySpan<double> values)
    {
        double total = 0;
        for (int k = 0; k < outputLosses.Length; k++)
            if (values[2 * k + 1] > 0) total += lossWeights[k] * (values[2 * k] / values[2 * k + 1]);
        return total;
    }

    /// <summary>The tensors on <paramref name="device"/> (the list itself on the host).</summary>
    private static IReadOnlyList<Tensor> OnDevice(IReadOnlyList<Tensor> tensors, Device device) =>
        device.IsHost ? tensors : [.. tensors.Select(t => t.To(device))];

    /// <summary>The tensors on the host (the list itself when all are there already).</summary>
    private static IReadOnlyList<Tensor> OnHost(IReadOnlyList<Tensor> tensors)
    {
        foreach (var t in tensors)
        {
            if (!t.Device.IsHost) return [.. tensors.Select(u => u.To(Device.Cpu))];
        }
        return tensors;
    }

    private IReadOnlyDictionary<string, double> ReplicaTrainStepCore(ReplicaContext ctx, IReadOnlyList<Tensor> x, IReadOnlyList<Tensor> y)
    {
        var optimizer = RequireCompiled();
        if (!Built) Build([-1, .. x[0].Shape.Skip(1)]);
        var variables = TrainableWeights;
        IReadOnlyList<Tensor> predictions;
        double[] localSums, localCounts;
        IReadOnlyList<Tensor?> grads;
        using (var tape = new GradientTape())
        {
            // The replica's slice goes to its device once; the loss and metrics run on the host, on copies of the
            // predictions (a sync point whose gradient goes back to the device). On the host both moves are no-ops.
            predictions = OnHost(Call(OnDevice(x, ctx.Device), training: true));
            (var objective, localSums, localCounts) = CompiledLoss(y, predictions);
            grads = tape.Gradient(objective, variables);
        }

        // Penalties depend only on the weights, which every replica holds identically: each replica adds the whole
        // penalty gradient itself instead of all-reducing R copies of penalty/R (the same sum, with less rounding).
        float penalty = 0;
        IReadOnlyList<Tensor?>? penaltyGrads = null;
        using (var tape = new GradientTape())
        {
            var penalties = Losses;
            if (penalties.Count > 0)
            {
                var total = penalties[0];
                for (int i = 1; i < penalties.Count; i++) total += penalties[i];
                penalty = total.ToScalar();
                penaltyGrads = tape.Gradient(total, variables);
            }
        }

        // The fused buffer: [gradients..., has-gradient flags..., (loss sum, loss count) per output, samples, (metric total, count)...].
        int outputs = outputLosses.Length;
        int gradSize = 0;
        foreach (var v in variables) gradSize += Tensor.ShapeSize(v.Shape.ToArray());
        int flags = gradSize, stats = flags + variables.Count, samplesAt = stats + 2 * outputs, metricsAt = samplesAt + 1;
        var buffer = TensorScope.Allocate(metricsAt + 2 * compiledMetrics.Length); // pooled: recycled with the step
        buffer.AsSpan().Clear();
        for (int i = 0, at = 0; i < variables.Count; at += Tensor.ShapeSize(variables[i].Shape.ToArray()), i++)
        {
            if (grads[i] is not { } g) continue;
            if (Debugging.CheckNumericsEnabled) Debugging.CheckWeightGradient(g, variables[i], ctx.ReplicaId);
            g.CopyTo(buffer.AsSpan(at));
            buffer[flags + i] = 1;
        }
        for (int k = 0; k < outputs; k++)
        {
            buffer[stats + 2 * k] = (float)localSums[k];
            buffer[stats + 2 * k + 1] = (float)localCounts[k];
        }
        buffer[samplesAt] = x[0].Shape[0];
        for (int m = 0; m < compiledMetrics.Length; m++)
        {
            var (metric, output, _) = compiledMetrics[m];
            var c = metric.Contribution(y[output], predictions[output]);
            buffer[metricsAt + 2 * m] = (float)c.Total;
            buffer[metricsAt + 2 * m + 1] = (float)c.Count;
        }
        ctx.AllReduceInPlace(ReduceOp.Sum, buffer, "TrainStep gradients", $"{variables.Count} gradients, {buffer.Length} values");

        float count = buffer[stats + 1];
        var globalGrads = new Tensor?[variables.Count];
        for (int i = 0, at = 0; i < variables.Count; i++)
        {
            int size = Tensor.ShapeSize(variables[i].Shape.ToArray());
            bool any = buffer[flags + i] > 0 || penaltyGrads?[i] is not null;
            if (any && count > 0)
            {
                globalGrads[i] = TrainingOps.ScaledFromHost(buffer.AsSpan(at, size), count, [.. variables[i].Shape], penaltyGrads?[i]).To(ctx.Device);
            }
            at += size;
        }
        // The gradients are already the global sum: the optimizer must not all-reduce them again.
        if (count > 0) optimizer.ApplyGradients(globalGrads, variables, skipGradientsAggregation: true);

        // In float, as the buffer: with one output of weight 1 this is sum / count + penalty.
        float weighted = 0;
        for (int k = 0; k < outputs; k++)
            if (buffer[stats + 2 * k + 1] > 0) weighted += lossWeights[k] * (buffer[stats + 2 * k] / buffer[stats + 2 * k + 1]);
        double batchLoss = weighted + penalty;
        lock (metricsLock)
        {
            // Every replica holds the same reduced values; the first to get here updates the metrics for this step.
            if (replicaSteps.Length != ctx.NumReplicasInSync)
            {
                replicaSteps = new long[ctx.NumReplicasInSync];
                appliedSteps = 0;
            }
            long step = ++replicaSteps[ctx.ReplicaId];
            if (step > appliedSteps)
            {
                appliedSteps = step;
                float samples = buffer[samplesAt];
                lossTracker.Update(batchLoss, samples);
                for (int k = 0; k < outputLossTrackers.Length; k++)
                    if (buffer[stats + 2 * k + 1] > 0) outputLossTrackers[k].Update(buffer[stats + 2 * k] / buffer[stats + 2 * k + 1], samples);
                for (int m = 0; m < compiledMetrics.Length; m++)
                    compiledMetrics[m].Metric.Merge(buffer[metricsAt + 2 * m], buffer[metricsAt + 2 * m + 1]);
            }
            return MetricResults();
        }
    }

    /// <summary>
    /// Splits a global batch over <paramref name="parts"/> replicas as <see cref="TrainStep(Tensor, Tensor)"/> does: contiguous slices of
    /// axis 0, the first <c>B mod R</c> one sample longer than the others (empty slices when B &lt; R). For custom loops
    /// that call <see cref="TrainStep(Tensor, Tensor)"/> inside <c>strategy.Run</c>.
    /// </summary>
    /// <param name="t">The global batch, samples on axis 0.</param>
    /// <param name="parts">The number of replicas, at least 1.</param>
    /// <returns>One slice per replica, in replica order.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="t"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="t"/> is a scalar.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="parts"/> is less than 1.</exception>
    public static IReadOnlyList<Tensor> Split(Tensor t, int parts)
    {
        ArgumentNullException.ThrowIfNull(t);
        if (t.Rank == 0) throw new ArgumentException("A batch needs a sample axis (axis 0), but this tensor is a scalar.", nameof(t));
        if (parts < 1) throw new ArgumentOutOfRangeException(nameof(parts), parts, "parts must be at least 1.");
        int n = t.Shape[0];
        var result = new Tensor[parts];
        int baseSize = n / parts, extra = n % parts;
        using var pause = GradientTape.Pause();
        for (int r = 0, start = 0; r < parts; r++)
        {
            int len = baseSize + (r < extra ? 1 : 0);
            result[r] = t.Slice(0, start, len);
            start += len;
        }
        return result;
    }

    /// <summary>Each of <paramref name="batches"/> split by <see cref="Split"/>: per replica, one slice of every batch.</summary>
    private static IReadOnlyList<Tensor>[] SplitAll(IReadOnlyList<Tensor> batches, int parts)
    {
        var split = batches.Select(b => Split(b, parts)).ToArray();
        var result = new IReadOnlyList<Tensor>[parts];
        for (int r = 0; r < parts; r++) result[r] = split.Select(s => s[r]).ToArray();
        return result;
    }

    /// <summary>
    /// Checks inputs and targets against the model: one tensor per input and per output, none null or scalar, all with
    /// the same number of samples. Returns them as arrays.
    /// </summary>
    private (Tensor[] X, Tensor[] Y) CheckData(IReadOnlyList<Tensor> x, IReadOnlyList<Tensor>? y, string xName, string yName)
    {
        var xs = CheckList(x, InputCount, "input", xName);
        if (xs[0].Rank == 0) throw new ArgumentException($"{xName} needs a batch axis (axis 0), but {ItemName(xs.Length, xName, 0)} is a scalar.", xName);
        int n = xs[0].Shape[0];
        for (int i = 1; i < xs.Length; i++)
            if (xs[i].Rank == 0 || xs[i].Shape[0] != n)
                throw new ArgumentException($"{xName}[{i}] must have as many samples (axis 0) as {xName}[0] ({n}), but has shape {Tensor.ShapeString(xs[i].ShapeArray)}.", xName);
        if (y is null) return (xs, []);
        var ys = CheckList(y, OutputNames.Count, "output", yName);
        for (int i = 0; i < ys.Length; i++)
            if (ys[i].Rank == 0 || ys[i].Shape[0] != n)
                throw new ArgumentException($"{ItemName(ys.Length, yName, i)} must have as many samples (axis 0) as {xName} ({n}), but has shape {Tensor.ShapeString(ys[i].ShapeArray)}.", yName);
        return (xs, ys);
    }

    private Tensor[] CheckList(IReadOnlyList<Tensor> list, int expected, string what, string paramName)
    {
        ArgumentNullException.ThrowIfNull(list, paramName);
        if (list.Count != expected)
        {
            string names = what == "output" ? $" ({string.Join(", ", OutputNames)})" : this is Functional f ? $" ({string.Join(", ", f.Inputs.Select(t => t.Name))})" : "";
            throw new ArgumentException(list.Count == 1 && expected > 1
                ? $"{paramName} is one tensor, but model '{Name}' has {expected} {what}s{names}: pass a list with one tensor per {what}."
                : $"{paramName} has {list.Count} tensors, but model '{Name}' has {expected} {what}{(expected == 1 ? "" : "s")}{names}: pass one tensor per {what}.", paramName);
        }
        var result = list.ToArray();
        for (int i = 0; i < result.Length; i++)
            if (result[i] is null) throw new ArgumentNullException(paramName, $"{ItemName(result.Length, paramName, i)} is null.");
        return result;
    }

    private static string ItemName(int count, string name, int i) => count == 1 ? name : $"{name}[{i}]";
}
