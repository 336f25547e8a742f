namespace TfSyncBN.Keras;

/// <summary>
/// AdamW (<c>keras.optimizers.AdamW</c>, Keras 3): <see cref="Adam"/> with decoupled weight decay, each step first
/// <c>w ← w − w·wd·η</c>, then the Adam update. Registered as <c>adamw</c>.
/// </summary>
public sealed class AdamW : Adam
{
    /// <summary>Creates the optimizer.</summary>
    /// <param name="learningRate">The constant learning rate η, positive (Keras default 0.001).</param>
    /// <param name="weightDecay">The weight decay wd, finite and ≥ 0 (Keras default 0.004).</param>
    /// <param name="beta1">The decay of the first moment, in [0, 1).</param>
    /// <param name="beta2">The decay of the second moment, in [0, 1).</param>
    /// <param name="epsilon">The stabilizer ε added to sqrt(v), ≥ 0 (Keras default 1e-7).</param>
    /// <param name="schedule">A learning rate schedule replacing <paramref name="learningRate"/>, or null.</param>
    /// <param name="name">The name; <c>adamw</c> when null.</param>
    /// <exception cref="ArgumentOutOfRangeException">An argument is outside the range stated for it.</exception>
    public AdamW(float learningRate = 0.001f, float weightDecay = 0.004f, float beta1 = 0.9f, float beta2 = 0.999f, float epsilon = 1e-7f,
        ILearningRateSchedule? schedule = null, string? name = null)
        : base(learningRate, beta1, beta2, epsilon, schedule, name ?? "adamw", weightDecay)
    {
    }

    /// <summary>Rebuilds the optimizer (without state) from <see cref="Optimizer.GetConfig"/> output; missing keys take Keras' defaults.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="config"/> is null.</exception>
    /// <exception cref="ArgumentException"><c>amsgrad</c> is true (not supported).</exception>
    public static new AdamW FromConfig(IReadOnlyDictionary<string, object?> config)
    {
        var adam = Adam.FromConfig(config);
        return new AdamW(adam.LearningRate, ReadWeightDecay(config, 0.004f) ?? 0.004f, adam.Beta1, adam.Beta2, adam.Epsilon, adam.Schedule,
            KerasConfig.GetString(config, "name"));
    }
}
