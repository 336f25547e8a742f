using TfSyncBN.Tensors;
using Tensor = TfSyncBN.Tensors.Tensor;

namespace TfSyncBN.Keras;

/// <summary>
/// Adam (<c>keras.optimizers.Adam</c>, Keras 3 formulas).
/// </summary>
/// <remarks>
/// <para>With learning rate η, gradient g, slots m and v (initially 0) and t = iterations + 1, each step computes:</para>
/// <code>α = η·sqrt(1 − β₂ᵗ)/(1 − β₁ᵗ)
/// m ← m + (g − m)·(1 − β₁)
/// v ← v + (g² − v)·(1 − β₂)
/// w ← w − (m·α)/(sqrt(v) + ε)</code>
/// <para>α is computed in float64 and rounded once; the element-wise updates run in float32.</para>
/// </remarks>
public class Adam : Optimizer
{
    /// <summary>Creates the optimizer.</summary>
    /// <param name="learningRate">The constant learning rate η, positive (Keras default 0.001).</param>
    /// <param name="beta1">The decay of the first moment, in [0, 1).</param>
    /// <param name="beta2">The decay of the second moment, in [0, 1).</param>
    /// <param name="epsilon">The stabilizer ε added to sqrt(v), ≥ 0 (Keras default 1e-7).</param>
    /// <param name="schedule">A learning rate schedule replacing <paramref name="learningRate"/>, or null.</param>
    /// <param name="name">The name; <c>adam</c> when null.</param>
    /// <param name="weightDecay">Keras 3's decoupled weight decay (<c>w ← w − w·wd·η</c> before each update), or null for none.</param>
    /// <exception cref="ArgumentOutOfRangeException">An argument is outside its range.</exception>
    public Adam(float learningRate = 0.001f, float beta1 = 0.9f, float beta2 = 0.999f, float epsilon = 1e-7f,
        ILearningRateSchedule? schedule = null, string? name = null, float? weightDecay = null)
        : base(name ?? "adam", learningRate, schedule, weightDecay)
    {
        if (!(beta1 >= 0 && beta1 < 1)) throw new ArgumentOutOfRangeException(nameof(beta1), beta1, "beta1 must be in [0, 1).");
        if (!(beta2 >= 0 && beta2 < 1)) throw new ArgumentOutOfRangeException(nameof(beta2), beta2, "beta2 must be in [0, 1).");
        if (!(epsilon >= 0) || !float.IsFinite(epsilon)) throw new ArgumentOutOfRangeException(nameof(epsilon), epsilon, "epsilon must be finite and >= 0.");
        Beta1 = beta1;
        Beta2 = beta2;
        Epsilon = epsilon;
    }

    /// <summary>β₁.</summary>
    public float Beta1 { get; }

    /// <summary>β₂.</summary>
    public float Beta2 { get; }

    /// <summary>ε.</summary>
    public float Epsilon { get; }

    /// <inheritdoc/>
    protected override IReadOnlyList<string> SlotNames => ["m", "v"];

    /// <inheritdoc/>
    protected override void UpdateStep(Tensor gradient, Variable variable, IReadOnlyList<Variable> slotVariables, float learningRate, long step)
    {
        double t = step + 1;
        float alpha = (float)(learningRate * Math.Sqrt(1 - Math.Pow(Beta2, t)) / (1 - Math.Pow(Beta1, t)));
        // One fused op writes the new weights and slots into new tensors (inside a training step's TensorScope the
        // scratch comes from the pool), which the variables then take.
        var wt = TrainingOps.AdamUpdate(variable.Value, gradient, slotVariables[0].Value, slotVariables[1].Value, alpha, Beta1, Beta2,
            Epsilon, out var mt, out var vt);
        slotVariables[0].AssignFresh(mt);
        slotVariables[1].AssignFresh(vt);
        variable.AssignFresh(wt);
    }

    /// <inheritdoc/>
    public override IReadOnlyDictionary<string, object?> GetConfig() => new Dictionary<string, object?>(base.GetConfig())
    {
        ["beta_1"] = KerasConfig.Number(Beta1),
        ["beta_2"] = KerasConfig.Number(Beta2),
        ["epsilon"] = KerasConfig.Number(Epsilon),
        ["amsgrad"] = false,
    };

    /// <summary>Rebuilds the optimizer (without state) from <see cref="GetConfig"/> output; missing keys take Keras' defaults.</summary>
    /// <exception cref="ArgumentException">A value has the wrong type, names an unknown schedule, or <c>amsgrad</c> is true (not supported).</exception>
    /// <exception cref="ArgumentOutOfRangeException">A value is out of range.</exception>
    public static Adam FromConfig(IReadOnlyDictionary<string, object?> config)
    {
        ArgumentNullException.ThrowIfNull(config);
        if (KerasConfig.GetBool(config, "amsgrad", false))
            throw new ArgumentException("amsgrad is not supported; accepted value: false.", nameof(config));
        var (rate, schedule) = ReadLearningRate(config, 0.001f);
        return new Adam(rate, KerasConfig.GetFloat(config, "beta_1", 0.9f), KerasConfig.GetFloat(config, "beta_2", 0.999f),
            KerasConfig.GetFloat(config, "epsilon", 1e-7f), schedule, KerasConfig.GetString(config, "name"), ReadWeightDecay(config));
    }
}
