using TfSyncBN.Tensors;
using Tensor = TfSyncBN.Tensors.Tensor;

namespace TfSyncBN.Keras;

/// <summary>
/// RMSprop (<c>keras.optimizers.RMSprop</c>, Keras 3 formula, without momentum and not centered): with the slot
/// <c>velocity</c>, <c>v ← ρ·v + (1 − ρ)·g²</c>, then <c>w ← w − η·g / sqrt(v + ε)</c>. Registered as <c>rmsprop</c>.
/// </summary>
public sealed class RMSprop : Optimizer
{
    /// <summary>Creates the optimizer.</summary>
    /// <param name="learningRate">The constant learning rate η, positive (Keras default 0.001).</param>
    /// <param name="rho">The velocity's decay ρ, in [0, 1) (Keras default 0.9).</param>
    /// <param name="epsilon">The stabilizer ε added to v under the square root, finite and ≥ 0 (Keras default 1e-7).</param>
    /// <param name="schedule">A learning rate schedule replacing <paramref name="learningRate"/>, or null.</param>
    /// <param name="name">The name; <c>rmsprop</c> when null.</param>
    /// <param name="weightDecay">Keras 3's decoupled weight decay (<c>w ← w − w·wd·η</c> before each update), or null for none.</param>
    /// <exception cref="ArgumentOutOfRangeException">An argument is outside the range stated for it.</exception>
    public RMSprop(float learningRate = 0.001f, float rho = 0.9f, float epsilon = 1e-7f, ILearningRateSchedule? schedule = null, string? name = null,
        float? weightDecay = null)
        : base(name ?? "rmsprop", learningRate, schedule, weightDecay)
    {
        if (!(rho >= 0 && rho < 1)) throw new ArgumentOutOfRangeException(nameof(rho), rho, "rho must be in [0, 1).");
        if (!(epsilon >= 0) || !float.IsFinite(epsilon)) throw new ArgumentOutOfRangeException(nameof(epsilon), epsilon, "epsilon must be finite and >= 0.");
        Rho = rho;
        Epsilon = epsilon;
    }

    /// <summary>The velocity's decay ρ.</summary>
    public float Rho { get; }

    /// <summary>The stabilizer ε.</summary>
    public float Epsilon { get; }

    /// <inheritdoc/>
    protected override IReadOnlyList<string> SlotNames => ["velocity"];

    /// <inheritdoc/>
    protected override void UpdateStep(Tensor gradient, Variable variable, IReadOnlyList<Variable> slotVariables, float learningRate, long step)
    {
        var wt = OptimizerOps.RmsPropUpdate(variable.Value, gradient, slotVariables[0].Value, learningRate, Rho, Epsilon, out var vt);
        slotVariables[0].AssignFresh(vt);
        variable.AssignFresh(wt);
    }

    /// <summary>The Keras config: the base keys, <c>rho</c>, <c>epsilon</c>, <c>momentum</c> (0) and <c>centered</c> (false).</summary>
    public override IReadOnlyDictionary<string, object?> GetConfig() => new Dictionary<string, object?>(base.GetConfig())
    {
        ["rho"] = KerasConfig.Number(Rho),
        ["epsilon"] = KerasConfig.Number(Epsilon),
        ["momentum"] = 0.0,
        ["centered"] = false,
    };

    /// <summary>Rebuilds the optimizer (without state) from <see cref="GetConfig"/> output; missing keys take Keras' defaults.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="config"/> is null.</exception>
    /// <exception cref="ArgumentException"><c>momentum</c> is not 0 or <c>centered</c> is true (not supported).</exception>
    public static RMSprop FromConfig(IReadOnlyDictionary<string, object?> config)
    {
        ArgumentNullException.ThrowIfNull(config);
        if (KerasConfig.GetFloat(config, "momentum", 0f) != 0)
            throw new ArgumentException("RMSprop momentum is not supported; accepted value: 0.", nameof(config));
        if (KerasConfig.GetBool(config, "centered", false))
            throw new ArgumentException("centered RMSprop is not supported; accepted value: false.", nameof(config));
        var (rate, schedule) = ReadLearningRate(config, 0.001f);
        return new RMSprop(rate, KerasConfig.GetFloat(config, "rho", 0.9f), KerasConfig.GetFloat(config, "epsilon", 1e-7f), schedule,
            KerasConfig.GetString(config, "name"), ReadWeightDecay(config));
    }
}
