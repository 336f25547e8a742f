using TfSyncBN.Tensors;

namespace TfSyncBN.Keras;

/// <summary>
/// A densely connected layer (<c>keras.layers.Dense</c>): <c>y = activation(x·W + b)</c>.
/// </summary>
/// <remarks>
/// <para>For an input of shape [..., in], the kernel W has shape [in, units] and the bias b shape [units];
/// <c>y[..., j] = activation(Σ_i x[..., i]·W[i, j] + b[j])</c>, applied along the last axis (leading axes are batch
/// axes), so the output has shape [..., units]. The product runs on the blocked SIMD matrix kernel.</para>
/// <para>Keras defaults: no activation (<c>"linear"</c>), a bias, Glorot-uniform kernel, zero bias.</para>
/// </remarks>
public sealed class Dense : KernelLayer
{
    /// <summary>Creates the layer; the weights are created on the first call, from the input's last dimension.</summary>
    /// <param name="units">The output size, ≥ 1.</param>
    /// <param name="activation">The activation's Keras name (those of <see cref="Keras.Activation"/>); null means linear.</param>
    /// <param name="useBias">Whether to add a bias.</param>
    /// <param name="kernelInitializer">Initializer of W; Glorot uniform (unseeded) when null.</param>
    /// <param name="biasInitializer">Initializer of b; zeros when null.</param>
    /// <param name="kernelRegularizer">Penalty on W, or null.</param>
    /// <param name="biasRegularizer">Penalty on b, or null.</param>
    /// <param name="kernelConstraint">Projection of W after optimizer updates, or null.</param>
    /// <param name="biasConstraint">Projection of b after optimizer updates, or null.</param>
    /// <param name="name">The layer name; generated when null.</param>
    /// <param name="trainable">Whether the weights are trained.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="units"/> is below 1.</exception>
    /// <exception cref="ArgumentException"><paramref name="activation"/> is not a known name.</exception>
    public Dense(int units, string? activation = null, bool useBias = true, IInitializer? kernelInitializer = null,
        IInitializer? biasInitializer = null, IRegularizer? kernelRegularizer = null, IRegularizer? biasRegularizer = null,
        IConstraint? kernelConstraint = null, IConstraint? biasConstraint = null, string? name = null, bool trainable = true)
        : base(activation, useBias, kernelInitializer, biasInitializer, kernelRegularizer, biasRegularizer, kernelConstraint, biasConstraint, name, trainable)
    {
        if (units < 1) throw new ArgumentOutOfRangeException(nameof(units), units, "units must be a positive integer.");
        Units = units;
    }

    /// <summary>The output size.</summary>
    public int Units { get; }

    /// <summary>[..., units] for an input of shape [..., in].</summary>
    /// <exception cref="ArgumentException">The input has rank below 2.</exception>
    public override IReadOnlyList<int> ComputeOutputShape(IReadOnlyList<int> inputShape)
    {
        var s = LayerConfig.CheckRank(inputShape, 2, ClassName, atLeast: true);
        s[^1] = Units;
        return s;
    }

    /// <inheritdoc/>
    protected override void Build(IReadOnlyList<int> inputShape)
    {
        var s = LayerConfig.CheckRank(inputShape, 2, ClassName, atLeast: true, paramName: "inputs");
        if (s[^1] < 1) throw new ArgumentException($"{ClassName} needs a last input dimension >= 1, but got shape {Tensor.ShapeString(s)}.", "inputs");
        BuildWeights([s[^1], Units], Units);
    }

    /// <inheritdoc/>
    protected override Tensor CallCore(Tensor inputs, bool training, Tensor? mask) => CallWith(inputs, Kernel!.Value, Bias?.Value);

    private protected override Tensor CallWith(Tensor inputs, Tensor kernel, Tensor? b)
    {
        int inFeatures = Kernel!.Shape[0];
        var shape = inputs.Shape;
        if (shape.Count < 2 || shape[^1] != inFeatures)
            throw new ArgumentException($"{ClassName} '{Name}' was built for inputs with last dimension {inFeatures}, but got shape {Tensor.ShapeString([.. shape])}.", nameof(inputs));
        var z = shape.Count == 2
            ? inputs.MatMul(kernel)
            : inputs.Reshape([-1, inFeatures]).MatMul(kernel);
        var y = Finish(z, b);
        if (shape.Count == 2) return y;
        var outShape = shape.ToArray();
        outShape[^1] = Units;
        return y.Reshape(outShape);
    }

    /// <summary>
    /// The Keras config: <c>name, trainable, dtype, units, activation, use_bias</c>, the two initializers and the
    /// regularizers and constraints (each <c>{class_name, config}</c> or null).
    /// </summary>
    public override IReadOnlyDictionary<string, object?> GetConfig() =>
        LayerConfig.With(base.GetConfig(), [("units", Units), .. KernelConfig()]);

    /// <summary>Rebuilds a layer from <see cref="GetConfig"/> output (or Keras JSON of the same shape); <c>units</c> is required.</summary>
    /// <exception cref="ArgumentException"><c>units</c> is missing, or a value has the wrong type or an unknown class name.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><c>units</c> is below 1.</exception>
    public static Dense FromConfig(IReadOnlyDictionary<string, object?> config)
    {
        ArgumentNullException.ThrowIfNull(config);
        var a = KernelArgs.Read(config);
        return new Dense(LayerConfig.RequiredInt(config, "units", "Dense"), a.Activation, a.UseBias, a.KernelInitializer, a.BiasInitializer,
            a.KernelRegularizer, a.BiasRegularizer, a.KernelConstraint, a.BiasConstraint, a.Name, a.Trainable);
    }
}
