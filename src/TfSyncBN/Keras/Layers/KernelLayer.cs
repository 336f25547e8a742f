using TfSyncBN.Tensors;

namespace TfSyncBN.Keras;

/// <summary>
/// The shared part of the layers with a kernel, an optional bias and an activation (<see cref="Dense"/>,
/// <see cref="Conv2D"/>): <c>y = activation(op(x, kernel) + bias)</c>, with Keras' initializer, regularizer and
/// constraint arguments for both weights.
/// </summary>
public abstract class KernelLayer : Layer
{
    private Variable? kernel, bias;

    /// <summary>Stores the shared arguments (see <see cref="Dense"/> for their meaning).</summary>
    /// <exception cref="ArgumentException"><paramref name="activation"/> is not a known name.</exception>
    private protected KernelLayer(string? activation, bool useBias, IInitializer? kernelInitializer, IInitializer? biasInitializer,
        IRegularizer? kernelRegularizer, IRegularizer? biasRegularizer, IConstraint? kernelConstraint, IConstraint? biasConstraint,
        string? name, bool trainable)
        : base(name, trainable)
    {
        Activation = ActivationFunctions.Canonical(activation, nameof(activation));
        UseBias = useBias;
        KernelInitializer = kernelInitializer ?? Initializers.GlorotUniform();
        BiasInitializer = biasInitializer ?? Initializers.Zeros();
        KernelRegularizer = kernelRegularizer;
        BiasRegularizer = biasRegularizer;
        KernelConstraint = kernelConstraint;
        BiasConstraint = biasConstraint;
    }

    /// <summary>The activation's Keras name (see <see cref="Keras.Activation"/> for the accepted names).</summary>
    public string Activation { get; }

    /// <summary>Whether a bias is added.</summary>
    public bool UseBias { get; }

    /// <summary>Initializer of the kernel (Glorot uniform by default).</summary>
    public IInitializer KernelInitializer { get; }

    /// <summary>Initializer of the bias (zeros by default).</summary>
    public IInitializer BiasInitializer { get; }

    /// <summary>Penalty on the kernel, or null.</summary>
    public IRegularizer? KernelRegularizer { get; }

    /// <summary>Penalty on the bias, or null.</summary>
    public IRegularizer? BiasRegularizer { get; }

    /// <summary>Projection of the kernel after optimizer updates, or null.</summary>
    public IConstraint? KernelConstraint { get; }

    /// <summary>Projection of the bias after optimizer updates, or null.</summary>
    public IConstraint? BiasConstraint { get; }

    /// <summary>The kernel, or null before the layer is built.</summary>
    public Variable? Kernel => kernel;

    /// <summary>The bias, or null when <see cref="UseBias"/> is false or before the layer is built.</summary>
    public Variable? Bias => bias;

    /// <summary>Creates the kernel (and the bias of <paramref name="units"/> entries); called from <see cref="Layer.Build(IReadOnlyList{int})"/>.</summary>
    private protected void BuildWeights(int[] kernelShape, int units)
    {
        kernel = AddWeight("kernel", kernelShape, KernelInitializer, KernelRegularizer, KernelConstraint);
        if (UseBias) bias = AddWeight("bias", [units], BiasInitializer, BiasRegularizer, BiasConstraint);
    }

    /// <summary>Adds the bias along the last axis (along axis 1 of a rank-4 NCHW tensor when <paramref name="channelsFirst"/>), then applies the activation.</summary>
    private protected Tensor Finish(Tensor z, bool channelsFirst = false) => Finish(z, bias?.Value, channelsFirst);

    /// <summary>Adds <paramref name="b"/> (when not null) as <see cref="Finish(Tensor, bool)"/> adds the bias, then applies the activation.</summary>
    private protected Tensor Finish(Tensor z, Tensor? b, bool channelsFirst = false)
    {
        if (b is not null) z = channelsFirst ? z + b.Reshape([1, b.Size, 1, 1]) : z.BiasAdd(b);
        return ActivationFunctions.Apply(Activation, z);
    }

    /// <summary>The layer's output with <paramref name="kernel"/> and <paramref name="b"/> in place of its own weights.</summary>
    private protected abstract Tensor CallWith(Tensor inputs, Tensor kernel, Tensor? b);

    /// <summary>
    /// This layer followed by a per-unit affine map, folded into its weights (a batch normalization in inference,
    /// see <see cref="BatchNormalization"/>): the layer with kernel <c>W·scale</c> (along the kernel's last axis, the
    /// output units) and bias <c>b·scale + shift</c>. Only for a linear activation and a kernel whose last axis is the
    /// output units (Dense, Conv2D).
    /// </summary>
    internal Tensor CallFolded(Tensor inputs, Tensor scale, Tensor shift)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        EnsureBuilt(inputs.Shape);
        var b = bias is null ? shift : bias.Value * scale + shift;
        return CallWith(inputs, kernel!.Value * scale, b);
    }

    /// <summary>The shared config entries, under Keras' names (<paramref name="kernelKey"/><c>_initializer</c> etc. for the kernel).</summary>
    private protected (string, object?)[] KernelConfig(string kernelKey = "kernel") =>
    [
        ("activation", Activation),
        ("use_bias", UseBias),
        ($"{kernelKey}_initializer", KerasConfig.Serialize(KernelInitializer)),
        ("bias_initializer", KerasConfig.Serialize(BiasInitializer)),
        ($"{kernelKey}_regularizer", KerasConfig.Serialize(KernelRegularizer)),
        ("bias_regularizer", KerasConfig.Serialize(BiasRegularizer)),
        ($"{kernelKey}_constraint", KerasConfig.Serialize(KernelConstraint)),
        ("bias_constraint", KerasConfig.Serialize(BiasConstraint)),
    ];

    /// <summary>The shared constructor arguments read back from a config.</summary>
    private protected readonly record struct KernelArgs(string? Activation, bool UseBias, IInitializer? KernelInitializer, IInitializer? BiasInitializer,
        IRegularizer? KernelRegularizer, IRegularizer? BiasRegularizer, IConstraint? KernelConstraint, IConstraint? BiasConstraint, string? Name, bool Trainable)
    {
        public static KernelArgs Read(IReadOnlyDictionary<string, object?> c, string kernelKey = "kernel") => new(
            KerasConfig.GetString(c, "activation"), KerasConfig.GetBool(c, "use_bias", true),
            LayerConfig.Initializer(c, $"{kernelKey}_initializer"), LayerConfig.Initializer(c, "bias_initializer"),
            LayerConfig.Regularizer(c, $"{kernelKey}_regularizer"), LayerConfig.Regularizer(c, "bias_regularizer"),
            LayerConfig.Constraint(c, $"{kernelKey}_constraint"), LayerConfig.Constraint(c, "bias_constraint"),
            LayerConfig.Name(c), LayerConfig.Trainable(c));
    }
}
