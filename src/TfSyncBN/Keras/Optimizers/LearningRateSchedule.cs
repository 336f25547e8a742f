namespace TfSyncBN.Keras;

/// <summary>
/// A learning rate that depends on the optimizer step (<c>keras.optimizers.schedules.LearningRateSchedule</c>).
/// </summary>
public interface ILearningRateSchedule : IKerasObject
{
    /// <summary>The learning rate for the update at <paramref name="step"/> (0 for the first update: the optimizer's iteration count before it).</summary>
    float Call(long step);
}

/// <summary>
/// <c>initialLearningRate · decayRate^(step / decaySteps)</c>, with an integer exponent <c>⌊step / decaySteps⌋</c>
/// when <see cref="Staircase"/> (<c>keras.optimizers.schedules.ExponentialDecay</c>).
/// </summary>
public sealed class ExponentialDecay : ILearningRateSchedule
{
    /// <summary>Creates the schedule.</summary>
    /// <param name="initialLearningRate">The rate at step 0, finite.</param>
    /// <param name="decaySteps">The number of steps over which the rate is multiplied by <paramref name="decayRate"/>, positive.</param>
    /// <param name="decayRate">The factor per <paramref name="decaySteps"/>, finite.</param>
    /// <param name="staircase">Whether the rate changes in steps (integer exponent) rather than continuously.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="decaySteps"/> is not positive, or a rate is not finite.</exception>
    public ExponentialDecay(float initialLearningRate, long decaySteps, float decayRate, bool staircase = false)
    {
        if (!float.IsFinite(initialLearningRate)) throw new ArgumentOutOfRangeException(nameof(initialLearningRate), initialLearningRate, "initialLearningRate must be finite.");
        if (decaySteps <= 0) throw new ArgumentOutOfRangeException(nameof(decaySteps), decaySteps, "decaySteps must be positive.");
        if (!float.IsFinite(decayRate)) throw new ArgumentOutOfRangeException(nameof(decayRate), decayRate, "decayRate must be finite.");
        InitialLearningRate = initialLearningRate;
        DecaySteps = decaySteps;
        DecayRate = decayRate;
        Staircase = staircase;
    }

    /// <summary>The rate at step 0.</summary>
    public float InitialLearningRate { get; }

    /// <summary>The steps per factor of <see cref="DecayRate"/>.</summary>
    public long DecaySteps { get; }

    /// <summary>The decay factor.</summary>
    public float DecayRate { get; }

    /// <summary>Whether the exponent is rounded down to an integer.</summary>
    public bool Staircase { get; }

    /// <inheritdoc/>
    public string ClassName => "ExponentialDecay";

    /// <inheritdoc/>
    public float Call(long step)
    {
        double p = (double)step / DecaySteps;
        if (Staircase) p = Math.Floor(p);
        return (float)(InitialLearningRate * Math.Pow(DecayRate, p));
    }

    /// <inheritdoc/>
    public IReadOnlyDictionary<string, object?> GetConfig() => new Dictionary<string, object?>
    {
        ["initial_learning_rate"] = KerasConfig.Number(InitialLearningRate),
        ["decay_steps"] = DecaySteps,
        ["decay_rate"] = KerasConfig.Number(DecayRate),
        ["staircase"] = Staircase,
    };
}

/// <summary>
/// A piecewise constant rate (<c>keras.optimizers.schedules.PiecewiseConstantDecay</c>): <c>values[0]</c> while
/// <c>step ≤ boundaries[0]</c>, <c>values[i]</c> while <c>boundaries[i−1] &lt; step ≤ boundaries[i]</c>, and the last value after the last boundary.
/// </summary>
public sealed class PiecewiseConstantDecay : ILearningRateSchedule
{
    private readonly long[] boundaries;
    private readonly float[] values;

    /// <summary>Creates the schedule.</summary>
    /// <param name="boundaries">Increasing step boundaries.</param>
    /// <param name="values">The rates, one more than the boundaries.</param>
    /// <exception cref="ArgumentException">The counts do not match, or the boundaries do not increase.</exception>
    public PiecewiseConstantDecay(IReadOnlyList<long> boundaries, IReadOnlyList<float> values)
    {
        ArgumentNullException.ThrowIfNull(boundaries);
        ArgumentNullException.ThrowIfNull(values);
        if (values.Count != boundaries.Count + 1)
            throw new ArgumentException($"values must hold one more entry than boundaries ({boundaries.Count + 1}), but holds {values.Count}.", nameof(values));
        for (int i = 1; i < boundaries.Count; i++)
        {
            if (boundaries[i] <= boundaries[i - 1]) throw new ArgumentException("boundaries must be strictly increasing.", nameof(boundaries));
        }
        this.boundaries = [.. boundaries];
        this.values = [.. values];
    }

    /// <summary>The step boundaries.</summary>
    public IReadOnlyList<long> Boundaries => Array.AsReadOnly(boundaries);

    /// <summary>The rates.</summary>
    public IReadOnlyList<float> Values => Array.AsReadOnly(values);

    /// <inheritdoc/>
    public string ClassName => "PiecewiseConstantDecay";

    /// <inheritdoc/>
    public float Call(long step)
    {
        int i = 0;
        while (i < boundaries.Length && step > boundaries[i]) i++;
        return values[i];
    }

    /// <inheritdoc/>
    public IReadOnlyDictionary<string, object?> GetConfig() => new Dictionary<string, object?>
    {
        ["boundaries"] = boundaries.ToArray(),
        ["values"] = values.Select(KerasConfig.Number).ToArray(),
    };
}

/// <summary>
/// Cosine decay (<c>keras.optimizers.schedules.CosineDecay</c>), optionally after a linear warmup.
/// </summary>
/// <remarks>
/// <para>Without warmup: with <c>s = min(step, decaySteps)</c>,
/// <c>rate = initialLearningRate · ((1 − alpha)·0.5·(1 + cos(π·s/decaySteps)) + alpha)</c>.</para>
/// <para>With <c>warmupSteps &gt; 0</c> and a <c>warmupTarget</c>: for <c>step &lt; warmupSteps</c> the rate rises linearly,
/// <c>initialLearningRate + (warmupTarget − initialLearningRate)·step/warmupSteps</c>; afterwards it decays from
/// <c>warmupTarget</c> as above with <c>step − warmupSteps</c> in place of step.</para>
/// </remarks>
public sealed class CosineDecay : ILearningRateSchedule
{
    /// <summary>Creates the schedule.</summary>
    /// <param name="initialLearningRate">The rate at step 0, finite.</param>
    /// <param name="decaySteps">The number of decay steps, positive.</param>
    /// <param name="alpha">The final rate as a fraction of the starting one, in [0, 1].</param>
    /// <param name="warmupTarget">The rate reached after the warmup, or null for no warmup.</param>
    /// <param name="warmupSteps">The warmup length, ≥ 0.</param>
    /// <exception cref="ArgumentOutOfRangeException">An argument is outside its range.</exception>
    public CosineDecay(float initialLearningRate, long decaySteps, float alpha = 0f, float? warmupTarget = null, long warmupSteps = 0)
    {
        if (!float.IsFinite(initialLearningRate)) throw new ArgumentOutOfRangeException(nameof(initialLearningRate), initialLearningRate, "initialLearningRate must be finite.");
        if (decaySteps <= 0) throw new ArgumentOutOfRangeException(nameof(decaySteps), decaySteps, "decaySteps must be positive.");
        if (!(alpha >= 0 && alpha <= 1)) throw new ArgumentOutOfRangeException(nameof(alpha), alpha, "alpha must be in [0, 1].");
        if (warmupSteps < 0) throw new ArgumentOutOfRangeException(nameof(warmupSteps), warmupSteps, "warmupSteps must be >= 0.");
        InitialLearningRate = initialLearningRate;
        DecaySteps = decaySteps;
        Alpha = alpha;
        WarmupTarget = warmupTarget;
        WarmupSteps = warmupSteps;
    }

    /// <summary>The rate at step 0.</summary>
    public float InitialLearningRate { get; }

    /// <summary>The number of decay steps.</summary>
    public long DecaySteps { get; }

    /// <summary>The final rate as a fraction of the starting one.</summary>
    public float Alpha { get; }

    /// <summary>The rate after the warmup, or null.</summary>
    public float? WarmupTarget { get; }

    /// <summary>The warmup length.</summary>
    public long WarmupSteps { get; }

    /// <inheritdoc/>
    public string ClassName => "CosineDecay";

    /// <inheritdoc/>
    public float Call(long step)
    {
        double start = InitialLearningRate;
        if (WarmupTarget is float target && WarmupSteps > 0)
        {
            if (step < WarmupSteps) return (float)(start + (target - start) * step / WarmupSteps);
            start = target;
            step -= WarmupSteps;
        }
        double s = Math.Min(step, DecaySteps);
        double cosine = 0.5 * (1 + Math.Cos(Math.PI * s / DecaySteps));
        return (float)(start * ((1 - Alpha) * cosine + Alpha));
    }

    /// <inheritdoc/>
    public IReadOnlyDictionary<string, object?> GetConfig() => new Dictionary<string, object?>
    {
        ["initial_learning_rate"] = KerasConfig.Number(InitialLearningRate),
        ["decay_steps"] = DecaySteps,
        ["alpha"] = KerasConfig.Number(Alpha),
        ["warmup_target"] = WarmupTarget is float t ? KerasConfig.Number(t) : null,
        ["warmup_steps"] = WarmupSteps,
    };
}
