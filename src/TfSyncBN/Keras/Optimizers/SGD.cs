using TfSyncBN.Tensors;
using Tensor = TfSyncBN.Tensors.Tensor;

namespace TfSyncBN.Keras;

/// <summary>
/// Stochastic gradient descent with optional (Nesterov) momentum (<c>keras.optimizers.SGD</c>, Keras 3 formulas).
/// </summary>
/// <remarks>
/// <para>With learning rate η, gradient g and momentum μ (slot m, initially 0), each step computes in float32:</para>
/// <code>μ = 0:        w ← w − g·η
/// μ &gt; 0:        m ← m·μ − g·η;   w ← w + m
/// nesterov:     m ← m·μ − g·η;   w ← w + (m·μ − g·η)</code>
/// <para>Each product is rounded to float32 before the sum (no fused multiply-add), like Keras' separate multiply and subtract.</para>
/// </remarks>
public sealed class SGD : Optimizer
{
    /// <summary>Creates the optimizer.</summary>
    /// <param name="learningRate">The constant learning rate η, positive (Keras default 0.01).</param>
    /// <param name="momentum">The momentum μ in [0, 1].</param>
    /// <param name="nesterov">Whether to use Nesterov momentum.</param>
    /// <param name="schedule">A learning rate schedule replacing <paramref name="learningRate"/>, or null.</param>
    /// <param name="name">The name; <c>SGD</c> when null.</param>
    /// <param name="weightDecay">Keras 3's decoupled weight decay (<c>w ← w − w·wd·η</c> before each update), or null for none.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="learningRate"/> is not positive, or <paramref name="momentum"/> is outside [0, 1].</exception>
    public SGD(float learningRate = 0.01f, float momentum = 0f, bool nesterov = false, ILearningRateSchedule? schedule = null, string? name = null,
        float? weightDecay = null)
        : base(name ?? "SGD", learningRate, schedule, weightDecay)
    {
        if (!(momentum >= 0 && momentum <= 1))
            throw new ArgumentOutOfRangeException(nameof(momentum), momentum, "momentum must be in [0, 1].");
        Momentum = momentum;
        Nesterov = nesterov;
    }

    /// <summary>The momentum μ.</summary>
    public float Momentum { get; }

    /// <summary>Whether Nesterov momentum is used.</summary>
    public bool Nesterov { get; }

    /// <inheritdoc/>
    protected override IReadOnlyList<string> SlotNames => Momentum != 0 ? ["momentum"] : [];

    /// <inheritdoc/>
    protected override void UpdateStep(Tensor gradient, Variable variable, IReadOnlyList<Variable> slotVariables, float learningRate, long step)
    {
        // One fused op writes the new weights (and momentum) into new tensors, which the variables then take.
        var momentum = Momentum == 0 ? null : slotVariables[0];
        var result = TrainingOps.SgdUpdate(variable.Value, gradient, momentum?.Value, learningRate, Momentum, Nesterov, out var newMomentum);
        if (momentum is not null) momentum.AssignFresh(newMomentum!);
        variable.AssignFresh(result);
    }

    /// <inheritdoc/>
    public override IReadOnlyDictionary<string, object?> GetConfig() => new Dictionary<string, object?>(base.GetConfig())
    {
        ["momentum"] = KerasConfig.Number(Momentum),
        ["nesterov"] = Nesterov,
    };

    /// <summary>Rebuilds the optimizer (without state) from <see cref="GetConfig"/> output; missing keys take Keras' defaults.</summary>
    /// <exception cref="ArgumentException">A value has the wrong type or names an unknown schedule.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A value is out of range.</exception>
    public static SGD FromConfig(IReadOnlyDictionary<string, object?> config)
    {
        ArgumentNullException.ThrowIfNull(config);
        var (rate, schedule) = ReadLearningRate(config, 0.01f);
        return new SGD(rate, KerasConfig.GetFloat(config, "momentum", 0f), KerasConfig.GetBool(config, "nesterov", false), schedule,
            KerasConfig.GetString(config, "name"), ReadWeightDecay(config));
    }
}
