using TfSyncBN.Distribute;
using TfSyncBN.Tensors;
using TfSyncBN.Tensors.Kernels;

namespace TfSyncBN.Keras;

/// <summary>
/// Batch normalization (<c>keras.layers.BatchNormalization</c>): normalizes each channel of its input to zero mean and
/// unit variance, then scales by γ and shifts by β.
/// </summary>
/// <remarks>
/// <para>The channel axes are <see cref="Axis"/>; every other axis is reduced. With batch mean μ and biased batch
/// variance σ² of each channel (training), or the moving statistics (inference):</para>
/// <code>y = γ · (x − μ) / sqrt(σ² + ε) + β</code>
/// <para>In training mode the moving statistics then follow the Keras convention, with the biased batch variance:</para>
/// <code>moving_mean     = moving_mean · momentum + μ · (1 − momentum)
/// moving_variance = moving_variance · momentum + σ² · (1 − momentum)</code>
/// <para>(PyTorch's momentum is the complement: its 0.1 is Keras' 0.9.) A batch with no elements leaves them unchanged.</para>
/// <para>With <c>synchronized: true</c> (or the <see cref="SyncBatchNormalization"/> class), μ and σ² are those of the
/// global batch across all replicas of the running strategy (see <see cref="SyncBatchNormalization"/>); without a
/// strategy, or in cross-replica code, that is the local batch and the layer is exactly this one.</para>
/// <para><see cref="Layer.Trainable"/> false means inference behaviour in every call, as in Keras.</para>
/// <para>A mask passed to <see cref="Layer.Call"/> (shape: the input's without the channel axes; 0 drops an element)
/// removes elements from the batch statistics, and the count is the number of kept elements, as in tf.keras.</para>
/// </remarks>
public class BatchNormalization : Layer
{
    private readonly int[] requestedAxis;
    private int[]? axis;
    private int[] paramShape = [];
    private Variable? gamma, beta, movingMean, movingVariance;

    /// <summary>Creates the layer; weights are created on the first call.</summary>
    /// <param name="axis">The channel axis or axes (negative counts from the end); [-1] when null. The batch axis 0 cannot be one.</param>
    /// <param name="momentum">The moving-average momentum, in [0, 1] (Keras convention).</param>
    /// <param name="epsilon">Added to the variance before the square root; must be positive.</param>
    /// <param name="center">Whether to add the learned offset β.</param>
    /// <param name="scale">Whether to multiply by the learned scale γ.</param>
    /// <param name="betaInitializer">Initializer of β; zeros when null.</param>
    /// <param name="gammaInitializer">Initializer of γ; ones when null.</param>
    /// <param name="movingMeanInitializer">Initializer of the moving mean; zeros when null.</param>
    /// <param name="movingVarianceInitializer">Initializer of the moving variance; ones when null.</param>
    /// <param name="betaRegularizer">Penalty on β, or null.</param>
    /// <param name="gammaRegularizer">Penalty on γ, or null.</param>
    /// <param name="betaConstraint">Projection of β after optimizer updates, or null.</param>
    /// <param name="gammaConstraint">Projection of γ after optimizer updates, or null.</param>
    /// <param name="synchronized">Whether to use global batch statistics across replicas (Keras 3 <c>synchronized</c>).</param>
    /// <param name="name">The layer name; generated when null.</param>
    /// <param name="trainable">Whether the layer trains; false means inference behaviour.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="momentum"/> is outside [0, 1], or <paramref name="epsilon"/> is not positive.</exception>
    /// <exception cref="ArgumentException"><paramref name="axis"/> is empty, repeated, or includes the batch axis 0.</exception>
    public BatchNormalization(IReadOnlyList<int>? axis = null, float momentum = 0.99f, float epsilon = 1e-3f,
        bool center = true, bool scale = true,
        IInitializer? betaInitializer = null, IInitializer? gammaInitializer = null,
        IInitializer? movingMeanInitializer = null, IInitializer? movingVarianceInitializer = null,
        IRegularizer? betaRegularizer = null, IRegularizer? gammaRegularizer = null,
        IConstraint? betaConstraint = null, IConstraint? gammaConstraint = null,
        bool synchronized = false, string? name = null, bool trainable = true)
        : base(name, trainable)
    {
        if (!(momentum >= 0 && momentum <= 1))
            throw new ArgumentOutOfRangeException(nameof(momentum), momentum, "momentum must be in [0, 1] (Keras convention: the weight of the old moving value).");
        if (!(epsilon > 0) || float.IsInfinity(epsilon))
            throw new ArgumentOutOfRangeException(nameof(epsilon), epsilon, "epsilon must be a positive finite number.");
        requestedAxis = axis?.ToArray() ?? [-1];
        if (requestedAxis.Length == 0)
            throw new ArgumentException("axis must name at least one channel axis.", nameof(axis));
        if (requestedAxis.Distinct().Count() != requestedAxis.Length)
            throw new ArgumentException($"axis {Tensor.ShapeString(requestedAxis)} repeats an axis.", nameof(axis));
        if (requestedAxis.Contains(0))
            throw new ArgumentException("axis cannot include the batch axis 0: the batch is what is normalized over (and split across replicas).", nameof(axis));
        Momentum = momentum;
        Epsilon = epsilon;
        Center = center;
        Scale = scale;
        BetaInitializer = betaInitializer ?? Initializers.Zeros();
        GammaInitializer = gammaInitializer ?? Initializers.Ones();
        MovingMeanInitializer = movingMeanInitializer ?? Initializers.Zeros();
        MovingVarianceInitializer = movingVarianceInitializer ?? Initializers.Ones();
        BetaRegularizer = betaRegularizer;
        GammaRegularizer = gammaRegularizer;
        BetaConstraint = betaConstraint;
        GammaConstraint = gammaConstraint;
        Synchronized = synchronized;
    }

    /// <summary>The channel axes: as given before the layer is built, then resolved to sorted non-negative axes.</summary>
    public IReadOnlyList<int> Axis => Array.AsReadOnly(axis ?? requestedAxis);

    /// <summary>The moving-average momentum (Keras convention).</summary>
    public float Momentum { get; }

    /// <summary>Added to the variance before the square root.</summary>
    public float Epsilon { get; }

    /// <summary>Whether β is added.</summary>
    public bool Center { get; }

    /// <summary>Whether γ multiplies.</summary>
    public bool Scale { get; }

    /// <summary>Whether statistics are global across the replicas of the running strategy.</summary>
    public bool Synchronized { get; }

    /// <summary>Initializer of β.</summary>
    public IInitializer BetaInitializer { get; }

    /// <summary>Initializer of γ.</summary>
    public IInitializer GammaInitializer { get; }

    /// <summary>Initializer of the moving mean.</summary>
    public IInitializer MovingMeanInitializer { get; }

    /// <summary>Initializer of the moving variance.</summary>
    public IInitializer MovingVarianceInitializer { get; }

    /// <summary>Penalty on β, or null.</summary>
    public IRegularizer? BetaRegularizer { get; }

    /// <summary>Penalty on γ, or null.</summary>
    public IRegularizer? GammaRegularizer { get; }

    /// <summary>Projection of β after updates, or null.</summary>
    public IConstraint? BetaConstraint { get; }

    /// <summary>Projection of γ after updates, or null.</summary>
    public IConstraint? GammaConstraint { get; }

    /// <summary>γ, or null when <see cref="Scale"/> is false or before the layer is built.</summary>
    public Variable? Gamma => gamma;

    /// <summary>β, or null when <see cref="Center"/> is false or before the layer is built.</summary>
    public Variable? Beta => beta;

    /// <summary>The moving mean, or null before the layer is built.</summary>
    public Variable? MovingMean => movingMean;

    /// <summary>The moving variance, or null before the layer is built.</summary>
    public Variable? MovingVariance => movingVariance;

    /// <inheritdoc/>
    protected override void Build(IReadOnlyList<int> inputShape)
    {
        int rank = inputShape.Count;
        if (rank < 2)
            throw new ArgumentException($"{ClassName} needs inputs of rank >= 2 (batch first), but got shape {Tensor.ShapeString(inputShape.ToArray())}.", "inputs");
        var resolved = Tensor.NormalizeAxes(requestedAxis, rank, "axis");
        if (resolved.Contains(0))
            throw new ArgumentException($"axis {Tensor.ShapeString(requestedAxis)} resolves to the batch axis 0 for inputs of rank {rank}.", "axis");
        axis = resolved;
        paramShape = resolved.Length == 1
            ? [inputShape[resolved[0]]]
            : Enumerable.Range(0, rank).Select(i => resolved.Contains(i) ? inputShape[i] : 1).ToArray();
        if (Scale) gamma = AddWeight("gamma", paramShape, GammaInitializer, GammaRegularizer, GammaConstraint);
        if (Center) beta = AddWeight("beta", paramShape, BetaInitializer, BetaRegularizer, BetaConstraint);
        movingMean = AddWeight("moving_mean", paramShape, MovingMeanInitializer, trainable: false, aggregation: VariableAggregation.Mean);
        movingVariance = AddWeight("moving_variance", paramShape, MovingVarianceInitializer, trainable: false, aggregation: VariableAggregation.Mean);
    }

    /// <inheritdoc/>
    protected override Tensor CallCore(Tensor inputs, bool training, Tensor? mask)
    {
        var shape = inputs.ShapeArray;
        var built = BuiltInputShape!;
        if (shape.Length != built.Count || axis!.Any(a => shape[a] != built[a]))
            throw new ArgumentException(
                $"{ClassName} '{Name}' was built for inputs of shape {Tensor.ShapeString(built.ToArray())} (channel axes {Tensor.ShapeString(axis!)}); " +
                $"got {Tensor.ShapeString(shape)}. The rank and the channel dimensions must not change.", nameof(inputs));

        var (layout, perm) = ChannelPlan.For(shape, axis!);
        var x = perm is null ? inputs : inputs.Transpose(perm);
        var g = gamma?.Value.Reshape([-1]);
        var b = beta?.Value.Reshape([-1]);
        Tensor y;
        if (training && Trainable)
        {
            var sync = Synchronized ? ReplicaContext.Current : null;
            y = BatchNormCore.Training(x, layout, g, b, Epsilon, sync, out var moments, CheckMask(mask, shape));
            if (moments.Count > 0)
            {
                // Every replica of a synchronized layer applies the same global statistics, so mirrored copies stay identical.
                movingMean!.Assign(Ops.MovingAverage(movingMean.Value, moments.Mean, Momentum).Reshape(paramShape));
                movingVariance!.Assign(Ops.MovingAverage(movingVariance.Value, moments.Variance, Momentum).Reshape(paramShape));
            }
        }
        else
        {
            y = BatchNormCore.Inference(x, layout, movingMean!.Value.AsSpan(), movingVariance!.Value.AsSpan(), g, b, Epsilon);
        }
        return perm is null ? y : y.Transpose(ChannelPlan.Inverse(perm));
    }

    /// <summary>A mask must have the input's shape without the channel axes; a non-zero value keeps the element.</summary>
    private float[]? CheckMask(Tensor? mask, int[] shape)
    {
        if (mask is null) return null;
        var expected = shape.Where((_, i) => !axis!.Contains(i)).ToArray();
        if (!Tensor.SameShape(mask.ShapeArray, expected))
            throw new ArgumentException($"mask must have the input's shape without the channel axes, {Tensor.ShapeString(expected)}, but has {Tensor.ShapeString(mask.ShapeArray)}.", nameof(mask));
        return mask.ToArray();
    }

    /// <summary>
    /// The Keras config: <c>name, trainable, dtype, axis, momentum, epsilon, center, scale</c>, the four initializers,
    /// the two regularizers and constraints (each <c>{class_name, config}</c> or null), and <c>synchronized</c>
    /// (which tf.keras leaves out).
    /// </summary>
    public override IReadOnlyDictionary<string, object?> GetConfig()
    {
        var config = new Dictionary<string, object?>(base.GetConfig())
        {
            ["axis"] = Axis.ToArray(),
            ["momentum"] = KerasConfig.Number(Momentum),
            ["epsilon"] = KerasConfig.Number(Epsilon),
            ["center"] = Center,
            ["scale"] = Scale,
            ["beta_initializer"] = KerasConfig.Serialize(BetaInitializer),
            ["gamma_initializer"] = KerasConfig.Serialize(GammaInitializer),
            ["moving_mean_initializer"] = KerasConfig.Serialize(MovingMeanInitializer),
            ["moving_variance_initializer"] = KerasConfig.Serialize(MovingVarianceInitializer),
            ["beta_regularizer"] = KerasConfig.Serialize(BetaRegularizer),
            ["gamma_regularizer"] = KerasConfig.Serialize(GammaRegularizer),
            ["beta_constraint"] = KerasConfig.Serialize(BetaConstraint),
            ["gamma_constraint"] = KerasConfig.Serialize(GammaConstraint),
            ["synchronized"] = Synchronized,
        };
        return config;
    }

    /// <summary>Rebuilds a layer from <see cref="GetConfig"/> output (or Keras JSON of the same shape).</summary>
    /// <exception cref="ArgumentException">A value has the wrong type or an unknown class name.</exception>
    public static BatchNormalization FromConfig(IReadOnlyDictionary<string, object?> config)
    {
        ArgumentNullException.ThrowIfNull(config);
        var a = ReadConfig(config);
        return new BatchNormalization(a.Axis, a.Momentum, a.Epsilon, a.Center, a.Scale, a.BetaInit, a.GammaInit, a.MeanInit, a.VarInit,
            a.BetaReg, a.GammaReg, a.BetaCon, a.GammaCon, KerasConfig.GetBool(config, "synchronized", false), a.Name, a.Trainable);
    }

    private protected readonly record struct ConfigArgs(int[]? Axis, float Momentum, float Epsilon, bool Center, bool Scale,
        IInitializer? BetaInit, IInitializer? GammaInit, IInitializer? MeanInit, IInitializer? VarInit,
        IRegularizer? BetaReg, IRegularizer? GammaReg, IConstraint? BetaCon, IConstraint? GammaCon, string? Name, bool Trainable);

    private protected static ConfigArgs ReadConfig(IReadOnlyDictionary<string, object?> c)
    {
        IInitializer? Init(string key) => KerasConfig.GetDictionary(c, key) is { } d ? Initializers.FromConfig(d) : null;
        IRegularizer? Reg(string key) => KerasConfig.GetDictionary(c, key) is { } d ? Regularizers.FromConfig(d) : null;
        IConstraint? Con(string key) => KerasConfig.GetDictionary(c, key) is { } d ? Constraints.FromConfig(d) : null;
        return new ConfigArgs(KerasConfig.GetInts(c, "axis"), KerasConfig.GetFloat(c, "momentum", 0.99f), KerasConfig.GetFloat(c, "epsilon", 1e-3f),
            KerasConfig.GetBool(c, "center", true), KerasConfig.GetBool(c, "scale", true),
            Init("beta_initializer"), Init("gamma_initializer"), Init("moving_mean_initializer"), Init("moving_variance_initializer"),
            Reg("beta_regularizer"), Reg("gamma_regularizer"), Con("beta_constraint"), Con("gamma_constraint"),
            KerasConfig.GetString(c, "name"), KerasConfig.GetBool(c, "trainable", true));
    }
}

/// <summary>How an input is laid out for the kernels: [outer, channels, inner], after a transpose if the channel axes are not adjacent.</summary>
internal readonly struct ChannelPlan
{
    public static (ChannelLayout Layout, int[]? Perm) For(int[] shape, int[] axes)
    {
        bool adjacent = axes[^1] - axes[0] == axes.Length - 1;
        if (adjacent)
        {
            int outer = 1, channels = 1, inner = 1;
            for (int i = 0; i < shape.Length; i++)
            {
                if (i < axes[0]) outer *= shape[i];
                else if (i <= axes[^1]) channels *= shape[i];
                else inner *= shape[i];
            }
            return (new ChannelLayout(outer, channels, inner), null);
        }
        // Move the channel axes (in order) to the end: the kernels then see a channels-last layout.
        var perm = Enumerable.Range(0, shape.Length).Where(i => !axes.Contains(i)).Concat(axes).ToArray();
        int rows = 1, ch = 1;
        foreach (int i in perm.Take(shape.Length - axes.Length)) rows *= shape[i];
        foreach (int i in axes) ch *= shape[i];
        return (new ChannelLayout(rows, ch, 1), perm);
    }

    public static int[] Inverse(int[] perm)
    {
        var inv = new int[perm.Length];
        for (int i = 0; i < perm.Length; i++) inv[perm[i]] = i;
        return inv;
    }
}
