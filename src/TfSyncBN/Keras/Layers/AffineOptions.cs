namespace TfSyncBN.Keras;

/// <summary>
/// The options of a normalization layer's learned offset β and scale γ, shared by <see cref="BatchNormalization"/> and
/// <see cref="LayerNormalization"/>: Keras' <c>center</c>, <c>scale</c> and the <c>beta_</c>/<c>gamma_</c>
/// initializer, regularizer and constraint, with Keras' defaults (β zeros, γ ones, no regularizers or constraints).
/// </summary>
internal sealed record AffineOptions(bool Center, bool Scale, IInitializer BetaInitializer, IInitializer GammaInitializer,
    IRegularizer? BetaRegularizer, IRegularizer? GammaRegularizer, IConstraint? BetaConstraint, IConstraint? GammaConstraint)
{
    /// <summary>The options as a layer's constructor takes them: a null initializer means Keras' default.</summary>
    public static AffineOptions Create(bool center, bool scale, IInitializer? betaInitializer, IInitializer? gammaInitializer,
        IRegularizer? betaRegularizer, IRegularizer? gammaRegularizer, IConstraint? betaConstraint, IConstraint? gammaConstraint) =>
        new(center, scale, betaInitializer ?? Initializers.Zeros(), gammaInitializer ?? Initializers.Ones(),
            betaRegularizer, gammaRegularizer, betaConstraint, gammaConstraint);

    /// <summary>
    /// Reads <c>center</c>, <c>scale</c> (default true) and the six <c>beta_</c>/<c>gamma_</c> entries
    /// (<c>{class_name, config}</c> or null) of a Keras config.
    /// </summary>
    /// <exception cref="ArgumentException">A value has the wrong type or an unknown class name.</exception>
    public static AffineOptions FromConfig(IReadOnlyDictionary<string, object?> config) =>
        Create(KerasConfig.GetBool(config, "center", true), KerasConfig.GetBool(config, "scale", true),
            LayerConfig.Initializer(config, "beta_initializer"), LayerConfig.Initializer(config, "gamma_initializer"),
            LayerConfig.Regularizer(config, "beta_regularizer"), LayerConfig.Regularizer(config, "gamma_regularizer"),
            LayerConfig.Constraint(config, "beta_constraint"), LayerConfig.Constraint(config, "gamma_constraint"));

    /// <summary>
    /// Adds the Keras config entries in Keras' order: <c>center, scale</c>, then <paramref name="afterScale"/>,
    /// <c>beta_initializer, gamma_initializer</c>, then <paramref name="afterInitializers"/>, then the regularizers and
    /// constraints of β and γ.
    /// </summary>
    public void AddConfig(IDictionary<string, object?> config, IEnumerable<(string Key, object? Value)>? afterScale = null,
        IEnumerable<(string Key, object? Value)>? afterInitializers = null)
    {
        config["center"] = Center;
        config["scale"] = Scale;
        foreach (var (key, value) in afterScale ?? []) config[key] = value;
        config["beta_initializer"] = KerasConfig.Serialize(BetaInitializer);
        config["gamma_initializer"] = KerasConfig.Serialize(GammaInitializer);
        foreach (var (key, value) in afterInitializers ?? []) config[key] = value;
        config["beta_regularizer"] = KerasConfig.Serialize(BetaRegularizer);
        config["gamma_regularizer"] = KerasConfig.Serialize(GammaRegularizer);
        config["beta_constraint"] = KerasConfig.Serialize(BetaConstraint);
        config["gamma_constraint"] = KerasConfig.Serialize(GammaConstraint);
    }
}
