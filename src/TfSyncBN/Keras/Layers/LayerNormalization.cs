using TfSyncBN.Tensors;

namespace TfSyncBN.Keras;

/// <summary>
/// Layer normalization (<c>keras.layers.LayerNormalization</c>): each sample is normalized over the axes <c>axis</c>,
/// <c>y = γ·(x − μ)/√(σ² + ε) + β</c>, with μ and σ² the mean and the biased variance over those axes (one pair per
/// position of the other axes), and γ, β of the shape of the normalized axes, broadcast over the others.
/// </summary>
/// <remarks>Keras defaults: axis -1, epsilon 1e-3, center and scale (β zeros, γ ones). The same in training and
/// inference; no moving statistics. Computed with tensor ops (mean, square, sqrt, divide), so the gradient is
/// the tape's.</remarks>
public sealed class LayerNormalization : Layer
{
    private readonly int[] axis;
    private int[]? resolved, paramShape, broadcastShape;
    private Variable? gamma, beta;
    private readonly AffineOptions affine;

    /// <summary>Creates the layer; γ and β are created on the first call.</summary>
    /// <param name="axis">The axes to normalize over (negative counts from the end); [-1] when null. The batch axis 0 cannot be one.</param>
    /// <param name="epsilon">ε &gt; 0 added to the variance.</param>
    /// <param name="center">Whether to add β.</param>
    /// <param name="scale">Whether to multiply by γ.</param>
    /// <param name="betaInitializer">Initializer of β; zeros when null.</param>
    /// <param name="gammaInitializer">Initializer of γ; ones when null.</param>
    /// <param name="betaRegularizer">Penalty on β, or null.</param>
    /// <param name="gammaRegularizer">Penalty on γ, or null.</param>
    /// <param name="betaConstraint">Projection of β after optimizer updates, or null.</param>
    /// <param name="gammaConstraint">Projection of γ after optimizer updates, or null.</param>
    /// <param name="name">The layer name; generated when null.</param>
    /// <param name="trainable">Whether γ and β are trained.</param>
    /// <exception cref="ArgumentException"><paramref name="axis"/> is empty or repeats an axis.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="epsilon"/> is not a finite number &gt; 0.</exception>
    public LayerNormalization(IReadOnlyList<int>? axis = null, float epsilon = 1e-3f, bool center = true, bool scale = true,
        IInitializer? betaInitializer = null, IInitializer? gammaInitializer = null, IRegularizer? betaRegularizer = null,
        IRegularizer? gammaRegularizer = null, IConstraint? betaConstraint = null, IConstraint? gammaConstraint = null, string? name = null,
        bool trainable = true) : base(name, trainable)
    {
        var a = axis ?? [-1];
        if (a.Count == 0 || a.Distinct().Count() != a.Count)
            throw new ArgumentException($"axis must hold one or more distinct axes, but is [{string.Join(", ", a)}].", nameof(axis));
        if (!(epsilon > 0) || float.IsInfinity(epsilon))
            throw new ArgumentOutOfRangeException(nameof(epsilon), epsilon, "epsilon must be a finite number > 0.");
        this.axis = [.. a];
        Epsilon = epsilon;
        affine = AffineOptions.Create(center, scale, betaInitializer, gammaInitializer, betaRegularizer, gammaRegularizer, betaConstraint, gammaConstraint);
    }

    /// <summary>The normalized axes, as given.</summary>
    public IReadOnlyList<int> Axis => Array.AsReadOnly(axis);

    /// <summary>ε.</summary>
    public float Epsilon { get; }

    /// <summary>Whether β is added.</summary>
    public bool Center => affine.Center;

    /// <summary>Whether γ multiplies.</summary>
    public bool Scale => affine.Scale;

    /// <summary>Initializer of β.</summary>
    public IInitializer BetaInitializer => affine.BetaInitializer;

    /// <summary>Initializer of γ.</summary>
    public IInitializer GammaInitializer => affine.GammaInitializer;

    /// <summary>Penalty on β, or null.</summary>
    public IRegularizer? BetaRegularizer => affine.BetaRegularizer;

    /// <summary>Penalty on γ, or null.</summary>
    public IRegularizer? GammaRegularizer => affine.GammaRegularizer;

    /// <summary>Projection of β, or null.</summary>
    public IConstraint? BetaConstraint => affine.BetaConstraint;

    /// <summary>Projection of γ, or null.</summary>
    public IConstraint? GammaConstraint => affine.GammaConstraint;

    /// <summary>γ (shape of the normalized axes), or null when <see cref="Scale"/> is false or before the layer is built.</summary>
    public Variable? Gamma => gamma;

    /// <summary>β (shape of the normalized axes), or null when <see cref="Center"/> is false or before the layer is built.</summary>
    public Variable? Beta => beta;

    /// <inheritdoc/>
    protected override void Build(IReadOnlyList<int> inputShape)
    {
        var s = LayerConfig.CheckRank(inputShape, 2, ClassName, atLeast: true, paramName: "inputs");
        var r = Tensor.NormalizeAxes(axis, s.Length, "axis");
        if (r[0] == 0) throw new ArgumentException($"axis [{string.Join(", ", axis)}] includes the batch axis 0 for inputs of rank {s.Length}.", "axis");
        resolved = r;
        paramShape = r.Select(a => s[a]).ToArray();
        broadcastShape = Enumerable.Range(0, s.Length).Select(i => Array.IndexOf(r, i) >= 0 ? s[i] : 1).ToArray();
        if (Scale) gamma = AddWeight("gamma", paramShape, GammaInitializer, GammaRegularizer, GammaConstraint);
        if (Center) beta = AddWeight("beta", paramShape, BetaInitializer, BetaRegularizer, BetaConstraint);
    }

    /// <inheritdoc/>
    protected override Tensor CallCore(Tensor inputs, bool training, Tensor? mask)
    {
        if (inputs.Rank != broadcastShape!.Length || resolved!.Any(a => inputs.Shape[a] != broadcastShape[a]))
            throw new ArgumentException($"{ClassName} '{Name}' was built for inputs of rank {broadcastShape.Length} with sizes [{string.Join(", ", paramShape!)}] on axes [{string.Join(", ", resolved!)}], but got shape {Tensor.ShapeString([.. inputs.Shape])}.", nameof(inputs));
        var centered = inputs - inputs.Mean(resolved, keepDims: true);
        var y = centered / (centered.Square().Mean(resolved, keepDims: true) + Epsilon).Sqrt();
        if (gamma is not null) y *= gamma.Value.Reshape(broadcastShape);
        if (beta is not null) y += beta.Value.Reshape(broadcastShape);
        return y;
    }

    /// <summary>
    /// The Keras config: <c>name, trainable, dtype, axis</c> (a list), <c>epsilon, center, scale, rms_scaling</c> (always
    /// false), the initializers, regularizers and constraints of β and γ.
    /// </summary>
    public override IReadOnlyDictionary<string, object?> GetConfig()
    {
        var config = LayerConfig.With(base.GetConfig(), ("axis", axis.ToArray()), ("epsilon", KerasConfig.Number(Epsilon)));
        affine.AddConfig(config, afterScale: [("rms_scaling", false)]);
        return config;
    }

    /// <summary>Rebuilds a layer from <see cref="GetConfig"/> output; <c>axis</c> may be an int or a list.</summary>
    /// <exception cref="ArgumentException">A value has the wrong type or is not accepted, or <c>rms_scaling</c> is true (not implemented).</exception>
    /// <exception cref="ArgumentOutOfRangeException"><c>epsilon</c> is out of range.</exception>
    public static LayerNormalization FromConfig(IReadOnlyDictionary<string, object?> config)
    {
        ArgumentNullException.ThrowIfNull(config);
        if (KerasConfig.GetBool(config, "rms_scaling", false))
            throw new ArgumentException("LayerNormalization implements rms_scaling = false only.", nameof(config));
        var a = AffineOptions.FromConfig(config);
        return new LayerNormalization(KerasConfig.GetInts(config, "axis"), KerasConfig.GetFloat(config, "epsilon", 1e-3f),
            a.Center, a.Scale, a.BetaInitializer, a.GammaInitializer, a.BetaRegularizer, a.GammaRegularizer, a.BetaConstraint, a.GammaConstraint,
            LayerConfig.Name(config), LayerConfig.Trainable(config));
    }
}
