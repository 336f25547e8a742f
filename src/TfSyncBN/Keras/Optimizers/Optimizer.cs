using TfSyncBN.Distribute;
using TfSyncBN.Tensors;

namespace TfSyncBN.Keras;

/// <summary>
/// The base of all optimizers (<c>keras.optimizers.Optimizer</c>, Keras 3 / tf.keras 2.11+ semantics).
/// </summary>
/// <remarks>
/// <para><see cref="ApplyGradients"/> reads the learning rate for the current <see cref="Iterations"/> (the schedule's
/// step), updates each variable that has a gradient with the subclass' formula, then projects each updated variable that
/// has a constraint (<c>w ← constraint(w)</c>), then adds 1 to <see cref="Iterations"/>. Variables whose gradient is null
/// are left alone, as in Keras.</para>
/// <para>Data parallelism: the iteration counter and the slot variables (momenta, moments) are created like the variable
/// they belong to, mirrored over its strategy. Inside <c>strategy.Run</c> (a replica context with more than one replica)
/// <see cref="ApplyGradients"/> first sums each gradient over all replicas in one fused all-reduce, as tf.keras optimizers
/// do by default (<c>skip_gradients_aggregation=False</c>); then each replica applies the same summed gradients to its own
/// copy with the same float32 arithmetic, so the copies stay bitwise identical. In cross-replica code an update is
/// computed from the first copy and written to every copy.</para>
/// </remarks>
public abstract class Optimizer : IKerasObject
{
    private readonly object buildLock = new();
    private readonly Dictionary<Variable, Variable[]> slots = new(ReferenceEqualityComparer.Instance);
    private readonly List<Variable> stateVariables = [];
    private Variable? iterations;

    /// <summary>Initializes the optimizer.</summary>
    /// <param name="name">The optimizer's name.</param>
    /// <param name="learningRate">A constant learning rate, positive and finite (used when <paramref name="schedule"/> is null).</param>
    /// <param name="schedule">A learning rate schedule that replaces the constant rate, or null.</param>
    /// <param name="weightDecay">Keras 3's decoupled weight decay <c>wd</c> (<c>weight_decay</c>), or null for none: before
    /// each update, every variable that has a gradient becomes <c>w − w·wd·η</c> (η the step's learning rate).</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="learningRate"/> is not positive and finite, or
    /// <paramref name="weightDecay"/> is negative or not finite.</exception>
    protected Optimizer(string name, float learningRate, ILearningRateSchedule? schedule, float? weightDecay = null)
    {
        if (!(learningRate > 0) || !float.IsFinite(learningRate))
            throw new ArgumentOutOfRangeException(nameof(learningRate), learningRate, "learningRate must be positive and finite.");
        if (weightDecay is { } wd && (!(wd >= 0) || !float.IsFinite(wd)))
            throw new ArgumentOutOfRangeException(nameof(weightDecay), weightDecay, "weightDecay must be null or finite and >= 0.");
        Name = name;
        this.learningRate = learningRate;
        Schedule = schedule;
        WeightDecay = weightDecay;
    }

    /// <summary>The decoupled weight decay (Keras <c>weight_decay</c>), or null for none.</summary>
    public float? WeightDecay { get; }

    /// <summary>The optimizer's name.</summary>
    public string Name { get; }

    /// <inheritdoc/>
    public virtual string ClassName => GetType().Name;

    /// <summary>The constant learning rate (ignored when <see cref="Schedule"/> is set). Settable between steps, as Keras'
    /// <c>optimizer.learning_rate</c> (callbacks such as <see cref="ReduceLROnPlateau"/> do).</summary>
    /// <exception cref="ArgumentOutOfRangeException">Set to a value that is not positive and finite.</exception>
    /// <exception cref="InvalidOperationException">Set while a <see cref="Schedule"/> drives the rate.</exception>
    public float LearningRate
    {
        get => learningRate;
        set
        {
            if (!(value > 0) || !float.IsFinite(value))
                throw new ArgumentOutOfRangeException(nameof(value), value, "The learning rate must be positive and finite.");
            if (Schedule is not null)
                throw new InvalidOperationException($"Optimizer '{Name}' takes its learning rate from a schedule ({Schedule.GetType().Name}); the rate cannot be set.");
            learningRate = value;
        }
    }

    private float learningRate;

    /// <summary>The learning rate schedule, or null for the constant <see cref="LearningRate"/>.</summary>
    public ILearningRateSchedule? Schedule { get; }

    /// <summary>The number of <see cref="ApplyGradients"/> calls so far (this replica's count inside <c>Run</c>; all replicas agree).</summary>
    /// <remarks>Stored as a float32 variable, like the rest of the optimizer state, so it is exact up to 2^24 steps.</remarks>
    public long Iterations
    {
        get
        {
            if (iterations is null) return 0;
            using (GradientTape.Pause()) return (long)iterations.Value.ToScalar();
        }
    }

    /// <summary>The learning rate that the next update uses: <see cref="Schedule"/> at <see cref="Iterations"/>, or <see cref="LearningRate"/>.</summary>
    public float CurrentLearningRate => Schedule?.Call(Iterations) ?? LearningRate;

    /// <summary>The optimizer's state: the iteration counter, then each variable's slots in the order the variables were first seen.</summary>
    public IReadOnlyList<Variable> Variables
    {
        get
        {
            lock (buildLock) return [.. stateVariables];
        }
    }

    /// <summary>The names of the slots each variable gets (e.g. <c>momentum</c>, or <c>m</c> and <c>v</c>).</summary>
    protected abstract IReadOnlyList<string> SlotNames { get; }

    /// <summary>
    /// Creates the iteration counter and the slots of <paramref name="variables"/> that do not have them yet
    /// (<c>optimizer.build</c>); <see cref="ApplyGradients"/> does it on first use. Thread-safe.
    /// </summary>
    /// <exception cref="ArgumentNullException"><paramref name="variables"/> or an entry is null.</exception>
    public void Build(IReadOnlyList<Variable> variables)
    {
        ArgumentNullException.ThrowIfNull(variables);
        lock (buildLock)
        {
            for (int i = 0; i < variables.Count; i++)
            {
                var v = variables[i] ?? throw new ArgumentNullException(nameof(variables), $"variables[{i}] is null.");
                if (iterations is null)
                {
                    iterations = NewState(v, Tensor.Scalar(0f), $"{Name}/iteration");
                    stateVariables.Add(iterations);
                }
                if (slots.ContainsKey(v)) continue;
                var names = SlotNames;
                var created = new Variable[names.Count];
                for (int s = 0; s < created.Length; s++)
                {
                    created[s] = NewState(v, Tensor.Zeros(v.Shape).To(v.Replicas[0].Device), $"{v.Name}_{names[s]}"); // slots live with their variable
                    stateVariables.Add(created[s]);
                }
                slots.Add(v, created);
            }
        }
    }

    /// <summary>A non-trainable state variable mirrored like <paramref name="like"/> (created under its strategy).</summary>
    private static Variable NewState(Variable like, Tensor initial, string name)
    {
        if (like.Strategy is Strategy s && !ReferenceEquals(Strategy.Current, s))
        {
            using (s.Scope()) return new Variable(initial, name, trainable: false);
        }
        return new Variable(initial, name, trainable: false);
    }

    /// <summary>
    /// Applies one update step: <c>variables[i]</c> moves according to <c>gradients[i]</c> (skipped when null), then
    /// constraints are applied and <see cref="Iterations"/> grows by one.
    /// </summary>
    /// <remarks>
    /// Called inside <c>strategy.Run</c> with more than one replica in sync, the gradients are first summed over the
    /// replicas (tf.keras' default gradient aggregation): <c>g_i ← Σ_r g_i(r)</c>, in ONE fused Sum all-reduce that every
    /// replica must join (a replica's null gradient counts as zeros; <c>variables[i]</c> is left alone only when its
    /// gradient is null on every replica). So a custom loop whose replicas each compute the gradient of
    /// <c>Σ per-example losses / global batch size</c> trains exactly as one device on the global batch. Pass
    /// <paramref name="skipGradientsAggregation"/> = true when the gradients are already reduced (each replica then
    /// applies its own gradients as given, which must be equal on every replica to keep the copies identical).
    /// Outside <c>Run</c>, or with one replica, no reduction happens.
    /// </remarks>
    /// <param name="gradients">One gradient per variable, of its shape, or null to leave it alone.</param>
    /// <param name="variables">The variables to update (normally trainable ones).</param>
    /// <param name="skipGradientsAggregation">Keras' <c>skip_gradients_aggregation</c>: true applies the gradients without
    /// the cross-replica sum (default false).</param>
    /// <exception cref="ArgumentNullException">A list or a variable is null.</exception>
    /// <exception cref="ArgumentException">The lists differ in length, or a gradient's shape differs from its variable's.</exception>
    /// <exception cref="InvalidOperationException">A variable is not mirrored while several replicas update it (see
    /// <see cref="Variable.Assign"/>), or a constraint returned null or a tensor of another shape than its variable.</exception>
    /// <exception cref="CheckNumericsException">The numerics check is on (<see cref="Debugging.EnableCheckNumerics"/>) and an
    /// updated variable or slot holds NaN or an infinity (the message names the layer, the variable and the channel).</exception>
    /// <exception cref="CollectiveMismatchException">Aggregating: another replica passed other variables' shapes.</exception>
    /// <exception cref="ReplicaFailedException">Aggregating: another replica failed while this one waited.</exception>
    /// <exception cref="TimeoutException">Aggregating: another replica did not call ApplyGradients within the collective timeout.</exception>
    /// <remarks>An update is all or nothing: when it throws, every variable, slot and <see cref="Iterations"/> keeps the
    /// value it had before the call.</remarks>
    public void ApplyGradients(IReadOnlyList<Tensor?> gradients, IReadOnlyList<Variable> variables, bool skipGradientsAggregation = false)
    {
        ArgumentNullException.ThrowIfNull(gradients);
        ArgumentNullException.ThrowIfNull(variables);
        if (gradients.Count != variables.Count)
            throw new ArgumentException($"There are {gradients.Count} gradients for {variables.Count} variables; pass one (or null) per variable.", nameof(gradients));
        for (int i = 0; i < variables.Count; i++)
        {
            var v = variables[i] ?? throw new ArgumentNullException(nameof(variables), $"variables[{i}] is null.");
            if (gradients[i] is { } g && !Tensor.SameShape(g.ShapeArray, v.Shape.ToArray()))
                throw new ArgumentException($"gradients[{i}] has shape {Tensor.ShapeString(g.ShapeArray)}, but variable '{v.Name}' has shape {Tensor.ShapeString(v.Shape.ToArray())}.", nameof(gradients));
        }
        if (variables.Count == 0) return;
        Build(variables);
        using var pause = GradientTape.Pause();
        if (!skipGradientsAggregation && ReplicaContext.Current is { IsDistributed: true } ctx)
            gradients = SumOverReplicas(ctx, gradients, variables);
        long step = Iterations;
        float lr = Schedule?.Call(step) ?? LearningRate;
        // All or nothing: every variable, slot and the counter this step writes is captured first; if any update,
        // constraint or check fails, all of them get their previous values back before the exception leaves.
        var touched = new List<(Variable Variable, Tensor[] Before)> { (iterations!, iterations!.Capture()) };
        int replica = Debugging.CurrentReplicaId;
        try
        {
            for (int i = 0; i < variables.Count; i++)
            {
                if (gradients[i] is null) continue;
                var v = variables[i];
                Variable[] s;
                lock (buildLock) s = slots[v];
                touched.Add((v, v.Capture()));
                foreach (var slot in s) touched.Add((slot, slot.Capture()));
            }
            for (int i = 0; i < variables.Count; i++)
            {
                if (gradients[i] is not { } g) continue;
                var v = variables[i];
                Variable[] s;
                lock (buildLock) s = slots[v];
                if (WeightDecay is { } wd && wd != 0) v.Assign(OptimizerOps.DecayWeights(v.Value, wd, lr));
                UpdateStep(g, v, s, lr, step);
                if (v.Constraint is { } c)
                {
                    var projected = c(v.Value);
                    if (projected is null || !Tensor.SameShape(projected.ShapeArray, v.Shape.ToArray()))
                        throw new InvalidOperationException(
                            $"The constraint of variable '{v.Name}' returned {(projected is null ? "null" : "shape " + Tensor.ShapeString(projected.ShapeArray))}, " +
                            $"but the variable has shape {Tensor.ShapeString(v.Shape.ToArray())}: a constraint must return a tensor of its input's shape. No variable was updated.");
                    v.Assign(projected);
                }
                if (Debugging.CheckNumericsEnabled)
                {
                    Debugging.CheckUpdatedVariable(v.Value, v, replica);
                    foreach (var slot in s) Debugging.CheckUpdatedVariable(slot.Value, slot, replica);
                }
            }
            iterations!.Assign(Tensor.Scalar(step + 1));
        }
        catch
        {
            for (int i = touched.Count - 1; i >= 0; i--) touched[i].Variable.Restore(touched[i].Before);
            throw;
        }
        // Committed: inside a scope, the values the fused ops replaced go back to its pool for the next step's update.
        foreach (var (variable, before) in touched) variable.Retire(before);
    }

    /// <summary>
    /// Sums the gradients over the replicas in one collective: the gradients (zeros for a null one) and a has-gradient
    /// flag per variable, so a variable with a gradient on any replica is updated on every replica.
    /// </summary>
    private static Tensor?[] SumOverReplicas(ReplicaContext ctx, IReadOnlyList<Tensor?> gradients, IReadOnlyList<Variable> variables)
    {
        var parts = new Tensor[variables.Count + 1];
        var flags = new float[variables.Count];
        for (int i = 0; i < variables.Count; i++)
        {
            parts[i] = gradients[i] ?? Tensor.Zeros(variables[i].Shape);
            flags[i] = gradients[i] is null ? 0f : 1f;
        }
        parts[^1] = Tensor.FromArray(flags);
        var reduced = ctx.AllReduce(ReduceOp.Sum, parts);
        var any = reduced[^1].ToArray();
        var result = new Tensor?[variables.Count];
        for (int i = 0; i < result.Length; i++) result[i] = any[i] > 0 ? reduced[i] : null;
        return result;
    }

    /// <summary>
    /// Updates one variable (and its slots) from its gradient; called with the tape paused.
    /// </summary>
    /// <param name="gradient">The gradient, of the variable's shape.</param>
    /// <param name="variable">The variable.</param>
    /// <param name="slotVariables">Its slots, in the order of <see cref="SlotNames"/>.</param>
    /// <param name="learningRate">The learning rate of this step.</param>
    /// <param name="step">The iteration count before this step (0 for the first).</param>
    protected abstract void UpdateStep(Tensor gradient, Variable variable, IReadOnlyList<Variable> slotVariables, float learningRate, long step);

    /// <summary>The Keras config: <c>name</c>, <c>learning_rate</c> (a number or a serialized schedule) and each optimizer's own keys.</summary>
    public virtual IReadOnlyDictionary<string, object?> GetConfig() => new Dictionary<string, object?>
    {
        ["name"] = Name,
        ["learning_rate"] = Schedule is null ? KerasConfig.Number(LearningRate) : KerasConfig.Serialize(Schedule),
        ["weight_decay"] = WeightDecay is { } wd ? KerasConfig.Number(wd) : null,
    };

    /// <summary>Reads <c>weight_decay</c> of a config (null or absent: none).</summary>
    internal static float? ReadWeightDecay(IReadOnlyDictionary<string, object?> config, float? fallback = null) =>
        config.ContainsKey("weight_decay") ? KerasConfig.GetNullableFloat(config, "weight_decay") : fallback;

    /// <summary>Reads <c>learning_rate</c> of a config: a number, or a serialized built-in schedule.</summary>
    internal static (float Rate, ILearningRateSchedule? Schedule) ReadLearningRate(IReadOnlyDictionary<string, object?> config, float fallback)
    {
        if (!config.TryGetValue("learning_rate", out var v) || v is null) return (fallback, null);
        if (v is not IReadOnlyDictionary<string, object?> d) return (KerasConfig.GetFloat(config, "learning_rate", fallback), null);
        var inner = KerasConfig.GetDictionary(d, "config") ?? new Dictionary<string, object?>();
        long L(string key, long f) => KerasConfig.GetNullableInt(inner, key) ?? f;
        ILearningRateSchedule schedule = KerasConfig.GetString(d, "class_name") switch
        {
            "ExponentialDecay" => new ExponentialDecay(KerasConfig.GetFloat(inner, "initial_learning_rate", fallback), L("decay_steps", 1),
                KerasConfig.GetFloat(inner, "decay_rate", 1f), KerasConfig.GetBool(inner, "staircase", false)),
            "CosineDecay" => new CosineDecay(KerasConfig.GetFloat(inner, "initial_learning_rate", fallback), L("decay_steps", 1),
                KerasConfig.GetFloat(inner, "alpha", 0f), KerasConfig.GetNullableFloat(inner, "warmup_target"), L("warmup_steps", 0)),
            "PiecewiseConstantDecay" => new PiecewiseConstantDecay(
                (KerasConfig.GetInts(inner, "boundaries") ?? []).Select(b => (long)b).ToArray(),
                inner.TryGetValue("values", out var vals) && vals is System.Collections.IEnumerable e
                    ? e.Cast<object>().Select(o => Convert.ToSingle(o, System.Globalization.CultureInfo.InvariantCulture)).ToArray() : [fallback]),
            var other => throw new ArgumentException($"Unknown learning rate schedule '{other}'. Accepted: ExponentialDecay, PiecewiseConstantDecay, CosineDecay.", nameof(config)),
        };
        return (fallback, schedule);
    }

    /// <summary>The class name and optimizer name.</summary>
    public override string ToString() => $"{ClassName} '{Name}'";
}
