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
    /// <para>Called in cross-replica code (the usual case, and what <see cref="Fit"/> does), <paramref name="x"/> and
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
    /// </remarks>
    /// <param name="x">The inputs, samples on axis 0.</param>
    /// <param name="y">The targets, samples on axis 0.</param>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="ArgumentException">The sample counts differ, or the data does not fit the model or loss.</exception>
    /// <exception cref="InvalidOperationException">The model is not compiled, TrainStep runs inside another strategy's Run,
    /// or the model belongs to no strategy (created outside any scope) and is used inside a multi-replica strategy's scope.</exception>
    /// <exception cref="CheckNumericsException">The numerics check is on (<see cref="Debugging.EnableCheckNumerics"/>) and a
    /// layer's input, output or output gradient, a replica's weight gradient, or an updated moving statistic, weight or
    /// optimizer slot holds NaN or an infinity; no weight changes.</exception>
    public IReadOnlyDictionary<string, double> TrainStep(Tensor x, Tensor y)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(y);
        CheckSamples(x, y);
        RequireCompiled();
        if (Strategy.CurrentReplica is { } ctx)
        {
            if (strategy.NumReplicasInSync > 1 && !ReferenceEquals(ctx.Strategy, strategy))
                throw new InvalidOperationException($"Model '{Name}' trains under another strategy than the Run calling TrainStep; create and compile it inside that strategy's Scope().");
            return ReplicaTrainStep(ctx, x, y);
        }
        Prepare(x.Shape);
        var xs = Split(x, strategy.NumReplicasInSync);
        var ys = Split(y, strategy.NumReplicasInSync);
        return strategy.Run(c => ReplicaTrainStep(c, xs[c.ReplicaId], ys[c.ReplicaId]))[0];
    }

    /// <summary>Builds the model and the optimizer state under the model's strategy, before replicas run.</summary>
    private void Prepare(IReadOnlyList<int> inputShape)
    {
        if (this is Functional { Inputs.Count: not 1 } or Functional { Outputs.Count: not 1 })
            throw new InvalidOperationException($"Model '{Name}' has several inputs or outputs; Fit, Evaluate, Predict and TrainStep take one input and one target tensor, so train a model with one input and one output (run others with Call(IReadOnlyList<Tensor>)).");
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
    private IReadOnlyDictionary<string, double> ReplicaTrainStep(ReplicaContext ctx, Tensor x, Tensor y)
    {
        if (!Built) Build([-1, .. x.Shape.Skip(1)]);
        var weights = Weights;
        var before = new Tensor[weights.Count][];
        for (int i = 0; i < weights.Count; i++) before[i] = weights[i].Capture();
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

    private IReadOnlyDictionary<string, double> ReplicaTrainStepCore(ReplicaContext ctx, Tensor x, Tensor y)
    {
        // Every tensor of the step dies with it (what lasts is assigned to variables, which take their storage out of
        // the scope): the next step reuses the storage instead of asking the GC for activations and gradients anew.
        using var tensors = TensorScope.Begin();
        var (optimizer, loss) = RequireCompiled();
        if (!Built) Build([-1, .. x.Shape.Skip(1)]);
        var variables = TrainableWeights;
        Tensor prediction;
        float localLossSum;
        int localLossCount;
        IReadOnlyList<Tensor?> grads;
        using (var tape = new GradientTape())
        {
            // The replica's slice goes to its device once; the loss and metrics run on the host, on a copy of the
            // prediction (a sync point whose gradient goes back to the device). On the host both moves are no-ops.
            prediction = Call(x.To(ctx.Device), training: true).To(Device.Cpu);
            var losses = loss.Unreduced(y, prediction);
            var lossSum = losses.Sum();
            localLossSum = lossSum.ToScalar();
            localLossCount = losses.Size;
            grads = tape.Gradient(lossSum, variables);
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

        // The fused buffer: [gradients..., has-gradient flags..., loss sum, loss count, samples, (metric total, count)...].
        int gradSize = 0;
        foreach (var v in variables) gradSize += Tensor.ShapeSize(v.Shape.ToArray());
        int flags = gradSize, stats = flags + variables.Count;
        var buffer = TensorScope.Allocate(stats + 3 + 2 * compiledMetrics.Length); // pooled: recycled with the step
        buffer.AsSpan().Clear();
        for (int i = 0, at = 0; i < variables.Count; at += Tensor.ShapeSize(variables[i].Shape.ToArray()), i++)
        {
            if (grads[i] is not { } g) continue;
            if (Debugging.CheckNumericsEnabled) Debugging.CheckWeightGradient(g, variables[i], ctx.ReplicaId);
            g.CopyTo(buffer.AsSpan(at));
            buffer[flags + i] = 1;
        }
        buffer[stats] = localLossSum;
        buffer[stats + 1] = localLossCount;
        buffer[stats + 2] = x.Shape[0];
        for (int m = 0; m < compiledMetrics.Length; m++)
        {
            var c = compiledMetrics[m].Contribution(y, prediction);
            buffer[stats + 3 + 2 * m] = (float)c.Total;
            buffer[stats + 4 + 2 * m] = (float)c.Count;
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

        double batchLoss = count > 0 ? buffer[stats] / count + penalty : penalty;
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
                lossTracker.Update(batchLoss, buffer[stats + 2]);
                for (int m = 0; m < compiledMetrics.Length; m++)
                    compiledMetrics[m].Merge(buffer[stats + 3 + 2 * m], buffer[stats + 4 + 2 * m]);
            }
            return MetricResults();
        }
    }

    /// <summary>
    /// Splits a global batch over <paramref name="parts"/> replicas as <see cref="TrainStep"/> does: contiguous slices of
    /// axis 0, the first <c>B mod R</c> one sample longer than the others (empty slices when B &lt; R). For custom loops
    /// that call <see cref="TrainStep"/> inside <c>strategy.Run</c>.
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

    private static void CheckSamples(Tensor x, Tensor y)
    {
        if (x.Rank == 0) throw new ArgumentException("x needs a batch axis (axis 0), but is a scalar.", nameof(x));
        if (y.Rank == 0 || y.Shape[0] != x.Shape[0])
            throw new ArgumentException($"y must have as many samples (axis 0) as x ({x.Shape[0]}), but has shape {Tensor.ShapeString(y.ShapeArray)}.", nameof(y));
    }
}
