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
/// <para>A mask passed to <see cref="Layer.Call(Tensor, bool?, Tensor?)"/> (shape: the input's without the channel axes; 0 drops an element)
/// removes elements from the batch statistics, and the count is the number of kept elements, as in tf.keras.</para>
/// <para>Options for the conventions of other frameworks (all off by default, so the layer is Keras' unless asked):</para>
/// <list type="bullet">
/// <item><c>useBatchStatistics</c> (MindSpore <c>use_batch_statistics</c>): null uses batch statistics in training and
/// the moving ones in inference; true always uses batch statistics; false always the moving ones.</item>
/// <item><c>trackRunningStats: false</c> (PyTorch/MindSpore <c>track_running_stats</c>): no moving statistics at all;
/// batch statistics in training and in inference.</item>
/// <item>The moving statistics update whenever batch statistics are used, running statistics are tracked, the layer is
/// <see cref="Layer.Trainable"/>, and either <c>training</c> is true or <c>useBatchStatistics</c> is true (MindSpore
/// updates them in that case too). A batch with no elements leaves them, and <see cref="NumBatchesTracked"/>, unchanged.</item>
/// <item><c>momentumConvention</c>: <see cref="MomentumConvention.Keras"/> (above),
/// <see cref="MomentumConvention.PyTorch"/> (<c>moving = (1 − momentum)·moving + momentum·batch</c>) or
/// <see cref="MomentumConvention.CumulativeAverage"/> (PyTorch <c>momentum=None</c>: weight 1/t for the t-th counted
/// batch). The latter two keep the count t in the non-trainable scalar weight <see cref="NumBatchesTracked"/>
/// (PyTorch's <c>num_batches_tracked</c>), incremented on every update.</item>
/// <item><c>unbiasedMovingVariance: true</c> (PyTorch): the moving variance is updated with σ²·N/(N − 1), N the global
/// (group) count. With N = 1 that is 0/0 (PyTorch yields NaN or refuses such a batch); here the moving variance is then
/// left unchanged while the moving mean still updates, so one-element batches never poison it.</item>
/// <item><c>dataFormat</c>: <c>NC</c>, <c>NCL</c>, <c>NCHW</c>, <c>NCDHW</c> mean channel axis 1; <c>NLC</c>, <c>NHWC</c>,
/// <c>NDHWC</c> mean the last axis (Paddle's mapping). It replaces <c>axis</c>.</item>
/// <item><c>processGroups</c> (synchronized layers only): a partition of the replica ids 0..R−1 into groups; statistics are
/// global within each group only (MindSpore <c>process_groups</c>, PyTorch <c>process_group</c>). A group of one replica is
/// plain local batch normalization. It still takes ONE collective per pass: a fused buffer of G × (2C+1) values (G × 2C in
/// the backward pass) in which each replica fills only its own group's slot. The partition is checked against the
/// strategy's replica count at construction when built inside a multi-replica strategy's scope, and at every
/// synchronized call (every id in [0, R), every replica in exactly one group).</item>
/// </list>
/// <para>Synchronized batch statistics are global whenever they are used, in inference too (with
/// <c>trackRunningStats: false</c> or <c>useBatchStatistics: true</c>); PyTorch uses local statistics in eval mode.</para>
/// </remarks>
public class BatchNormalization : Layer
{
    private readonly int[] requestedAxis;
    private int[]? axis;
    private int[] paramShape = [];
    private readonly int[][]? processGroups;
    private readonly AffineOptions affine;
    private Variable? gamma, beta, movingMean, movingVariance, numBatchesTracked;
    private GroupCache? groupCache;

    /// <summary>Each replica's slot for one replica count (built once, read by every replica thread).</summary>
    private sealed record GroupCache(int Replicas, GroupSlot[]? Slots);

    /// <summary>The data formats accepted by <c>dataFormat</c> and the channel axis each one means.</summary>
    private static readonly Dictionary<string, int> DataFormats = new(StringComparer.Ordinal)
    {
        ["NC"] = 1, ["NCL"] = 1, ["NCHW"] = 1, ["NCDHW"] = 1, ["NLC"] = -1, ["NHWC"] = -1, ["NDHWC"] = -1,
    };

    /// <summary>Creates the layer; weights are created on the first call.</summary>
    /// <param name="axis">The channel axis or axes (negative counts from the end); [-1] when null. The batch axis 0 cannot be one.
    /// Keras' <c>axis=1</c> is <c>axis: [1]</c> (F#: <c>axis = [1]</c>); configs accept an int or a list.</param>
    /// <param name="momentum">The moving-average momentum, in [0, 1], read as <paramref name="momentumConvention"/> says (Keras by default).</param>
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
    /// <param name="processGroups">A partition of the replica ids into groups that synchronize separately; null for all
    /// replicas together. Needs <paramref name="synchronized"/>.</param>
    /// <param name="useBatchStatistics">null: batch statistics in training, moving ones in inference; true: always batch;
    /// false: always moving (MindSpore <c>use_batch_statistics</c>).</param>
    /// <param name="trackRunningStats">false: no moving statistics; batch statistics in every mode (PyTorch).</param>
    /// <param name="unbiasedMovingVariance">Whether the moving variance is updated with the unbiased batch variance (PyTorch).</param>
    /// <param name="momentumConvention">How <paramref name="momentum"/> weighs old and new statistics.</param>
    /// <param name="dataFormat"><c>NC</c>, <c>NCL</c>, <c>NCHW</c>, <c>NCDHW</c> (channel axis 1) or <c>NLC</c>, <c>NHWC</c>,
    /// <c>NDHWC</c> (last axis), instead of <paramref name="axis"/>; null to use <paramref name="axis"/>.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="momentum"/> is outside [0, 1], <paramref name="epsilon"/>
    /// is not positive, or <paramref name="momentumConvention"/> is not a defined value.</exception>
    /// <exception cref="ArgumentException"><paramref name="axis"/> is empty, repeated, or includes the batch axis 0;
    /// <paramref name="dataFormat"/> is unknown or given together with <paramref name="axis"/>; <paramref name="processGroups"/>
    /// is given without <paramref name="synchronized"/>, has an empty group, a negative or repeated id, or (inside a
    /// multi-replica strategy's scope) an id outside [0, R) or a replica in no group; or
    /// <paramref name="useBatchStatistics"/> is false while <paramref name="trackRunningStats"/> is false.</exception>
    public BatchNormalization(IReadOnlyList<int>? axis = null, float momentum = 0.99f, float epsilon = 1e-3f,
        bool center = true, bool scale = true,
        IInitializer? betaInitializer = null, IInitializer? gammaInitializer = null,
        IInitializer? movingMeanInitializer = null, IInitializer? movingVarianceInitializer = null,
        IRegularizer? betaRegularizer = null, IRegularizer? gammaRegularizer = null,
        IConstraint? betaConstraint = null, IConstraint? gammaConstraint = null,
        bool synchronized = false, string? name = null, bool trainable = true,
        IReadOnlyList<IReadOnlyList<int>>? processGroups = null, bool? useBatchStatistics = null, bool trackRunningStats = true,
        bool unbiasedMovingVariance = false, MomentumConvention momentumConvention = MomentumConvention.Keras, string? dataFormat = null)
        : base(name, trainable)
    {
        if (dataFormat is not null)
        {
            int channelAxis = ChannelAxisOf(dataFormat, nameof(dataFormat));
            if (axis is not null)
                throw new ArgumentException("Give either axis or dataFormat, not both: dataFormat determines the channel axis.", nameof(dataFormat));
            axis = [channelAxis];
        }
        if (!Enum.IsDefined(momentumConvention))
            throw new ArgumentOutOfRangeException(nameof(momentumConvention), momentumConvention, "momentumConvention must be Keras, PyTorch or CumulativeAverage.");
        if (processGroups is not null)
        {
            if (!synchronized)
                throw new ArgumentException("processGroups needs a synchronized layer (synchronized: true or SyncBatchNormalization).", nameof(processGroups));
            this.processGroups = ProcessGroups.ValidateAtConstruction(processGroups, nameof(processGroups));
        }
        if (useBatchStatistics == false && !trackRunningStats)
            throw new ArgumentException("useBatchStatistics: false needs moving statistics, but trackRunningStats is false.", nameof(useBatchStatistics));
        DataFormat = dataFormat;
        UseBatchStatistics = useBatchStatistics;
        TrackRunningStats = trackRunningStats;
        UnbiasedMovingVariance = unbiasedMovingVariance;
        MomentumConvention = momentumConvention;
        if (!(momentum >= 0 && momentum <= 1))
            throw new ArgumentOutOfRangeException(nameof(momentum), momentum, momentumConvention == MomentumConvention.Keras
                ? "momentum must be in [0, 1] (Keras convention: the weight of the old moving value)."
                : "momentum must be in [0, 1] (PyTorch convention: the weight of the batch statistics).");
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
        affine = AffineOptions.Create(center, scale, betaInitializer, gammaInitializer, betaRegularizer, gammaRegularizer, betaConstraint, gammaConstraint);
        MovingMeanInitializer = movingMeanInitializer ?? Initializers.Zeros();
        MovingVarianceInitializer = movingVarianceInitializer ?? Initializers.Ones();
        Synchronized = synchronized;
    }

    /// <summary>The channel axis a data format means: 1 for NC, NCL, NCHW, NCDHW; -1 for NLC, NHWC, NDHWC.</summary>
    /// <exception cref="ArgumentException">The format is not one of those (matched case-sensitively).</exception>
    internal static int ChannelAxisOf(string dataFormat, string paramName) =>
        DataFormats.TryGetValue(dataFormat, out int channelAxis)
            ? channelAxis
            : throw new ArgumentException($"data format '{dataFormat}' is unknown; accepted: {string.Join(", ", DataFormats.Keys)}.", paramName);

    /// <summary>The channel axes: as given before the layer is built, then resolved to sorted non-negative axes.</summary>
    public IReadOnlyList<int> Axis => Array.AsReadOnly(axis ?? requestedAxis);

    /// <summary>The moving-average momentum, read as <see cref="MomentumConvention"/> says.</summary>
    public float Momentum { get; }

    /// <summary>Added to the variance before the square root.</summary>
    public float Epsilon { get; }

    /// <summary>Whether β is added.</summary>
    public bool Center => affine.Center;

    /// <summary>Whether γ multiplies.</summary>
    public bool Scale => affine.Scale;

    /// <summary>Whether statistics are global across the replicas of the running strategy.</summary>
    public bool Synchronized { get; }

    /// <summary>The process groups (a partition of the replica ids), or null for all replicas together.</summary>
    public IReadOnlyList<IReadOnlyList<int>>? ProcessGroupList => processGroups?.Select(g => (IReadOnlyList<int>)Array.AsReadOnly(g)).ToArray();

    /// <summary>null: batch statistics in training, moving in inference; true: always batch; false: always moving.</summary>
    public bool? UseBatchStatistics { get; }

    /// <summary>Whether moving statistics exist and are updated; when false, batch statistics are used in every mode.</summary>
    public bool TrackRunningStats { get; }

    /// <summary>Whether the moving variance is updated with the unbiased (N/(N − 1)-corrected) batch variance.</summary>
    public bool UnbiasedMovingVariance { get; }

    /// <summary>How the momentum weighs the moving statistics against the batch's.</summary>
    public MomentumConvention MomentumConvention { get; }

    /// <summary>The data format the channel axis came from, or null when <see cref="Axis"/> was given.</summary>
    public string? DataFormat { get; }

    /// <summary>Initializer of β.</summary>
    public IInitializer BetaInitializer => affine.BetaInitializer;

    /// <summary>Initializer of γ.</summary>
    public IInitializer GammaInitializer => affine.GammaInitializer;

    /// <summary>Initializer of the moving mean.</summary>
    public IInitializer MovingMeanInitializer { get; }

    /// <summary>Initializer of the moving variance.</summary>
    public IInitializer MovingVarianceInitializer { get; }

    /// <summary>Penalty on β, or null.</summary>
    public IRegularizer? BetaRegularizer => affine.BetaRegularizer;

    /// <summary>Penalty on γ, or null.</summary>
    public IRegularizer? GammaRegularizer => affine.GammaRegularizer;

    /// <summary>Projection of β after updates, or null.</summary>
    public IConstraint? BetaConstraint => affine.BetaConstraint;

    /// <summary>Projection of γ after updates, or null.</summary>
    public IConstraint? GammaConstraint => affine.GammaConstraint;

    /// <summary>γ, or null when <see cref="Scale"/> is false or before the layer is built.</summary>
    public Variable? Gamma => gamma;

    /// <summary>β, or null when <see cref="Center"/> is false or before the layer is built.</summary>
    public Variable? Beta => beta;

    /// <summary>The moving mean, or null before the layer is built or when <see cref="TrackRunningStats"/> is false.</summary>
    public Variable? MovingMean => movingMean;

    /// <summary>The moving variance, or null before the layer is built or when <see cref="TrackRunningStats"/> is false.</summary>
    public Variable? MovingVariance => movingVariance;

    /// <summary>
    /// The number of batches counted into the moving statistics (PyTorch <c>num_batches_tracked</c>), a non-trainable
    /// scalar weight; it exists only with the PyTorch or cumulative-average momentum convention and tracked statistics.
    /// </summary>
    public Variable? NumBatchesTracked => numBatchesTracked;

    /// <summary>The input ranks the layer accepts, or null for any rank ≥ 2 (a facade may restrict it).</summary>
    private protected IReadOnlyList<int>? AcceptedRanks { get; set; }

    /// <summary>The number of channels the input must have (a facade's <c>num_features</c>), or null for any.</summary>
    private protected int? ExpectedChannels { get; set; }

    /// <inheritdoc/>
    protected override void Build(IReadOnlyList<int> inputShape)
    {
        int rank = inputShape.Count;
        if (rank < 2)
            throw new ArgumentException($"{ClassName} needs inputs of rank >= 2 (batch first), but got shape {Tensor.ShapeString(inputShape.ToArray())}.", "inputs");
        if (AcceptedRanks is { } ranks && !ranks.Contains(rank))
            throw new ArgumentException($"{ClassName} accepts inputs of rank {string.Join(" or ", ranks)}, but got shape {Tensor.ShapeString(inputShape.ToArray())}.", "inputs");
        var resolved = Tensor.NormalizeAxes(requestedAxis, rank, "axis");
        if (resolved.Contains(0))
            throw new ArgumentException($"axis {Tensor.ShapeString(requestedAxis)} resolves to the batch axis 0 for inputs of rank {rank}.", "axis");
        if (ExpectedChannels is { } expected && resolved.Aggregate(1, (p, a) => p * inputShape[a]) != expected)
            throw new ArgumentException($"{ClassName} '{Name}' has num_features = {expected}, but the input of shape {Tensor.ShapeString(inputShape.ToArray())} has {resolved.Aggregate(1, (p, a) => p * inputShape[a])} channels on axes {Tensor.ShapeString(resolved)}.", "inputs");
        axis = resolved;
        paramShape = resolved.Length == 1
            ? [inputShape[resolved[0]]]
            : Enumerable.Range(0, rank).Select(i => resolved.Contains(i) ? inputShape[i] : 1).ToArray();
        if (Scale) gamma = AddWeight("gamma", paramShape, GammaInitializer, GammaRegularizer, GammaConstraint);
        if (Center) beta = AddWeight("beta", paramShape, BetaInitializer, BetaRegularizer, BetaConstraint);
        if (!TrackRunningStats) return;
        movingMean = AddWeight("moving_mean", paramShape, MovingMeanInitializer, trainable: false, aggregation: VariableAggregation.Mean);
        movingVariance = AddWeight("moving_variance", paramShape, MovingVarianceInitializer, trainable: false, aggregation: VariableAggregation.Mean);
        if (MomentumConvention != MomentumConvention.Keras)
            numBatchesTracked = AddWeight("num_batches_tracked", [], Initializers.Zeros(), trainable: false, aggregation: VariableAggregation.Mean);
    }

    /// <inheritdoc/>
    protected override Tensor CallCore(Tensor inputs, bool training, Tensor? mask) => Apply(inputs, training, mask, BatchNormEpilogue.None);

    /// <summary>
    /// This layer followed by a ReLU, <c>max(BN(x), 0)</c>, as one fused op (one pass forward, the same passes as the
    /// layer alone backward; the same results as the two layers bit for bit). Models call it where a plain ReLU
    /// layer or <c>Activation("relu")</c> is this layer's only consumer.
    /// </summary>
    internal Tensor CallWithRelu(Tensor inputs, bool training)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        EnsureBuilt(inputs.Shape);
        return Apply(inputs, training, null, BatchNormEpilogue.WithRelu);
    }

    /// <summary>
    /// This layer, a ReLU and <paramref name="pool"/> as one fused op where the pooling's windows tile a channels-last
    /// host input (see <see cref="BatchNormKernels.FusesMaxPool"/>): the forward pass writes only the pooled map and the
    /// backward passes read only the pooled gradient, with the same results as the three calls bit for bit. Elsewhere
    /// it makes the calls (this layer fused with the ReLU, then the pooling).
    /// </summary>
    internal Tensor CallWithReluMaxPool(Tensor inputs, bool training, MaxPooling2D pool)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        EnsureBuilt(inputs.Shape);
        if (FusedPoolGeometry(inputs, pool) is not { } g) return pool.Call(CallWithRelu(inputs, training), training);
        pool.EnsureBuilt(inputs.Shape);
        return Apply(inputs, training, null, BatchNormEpilogue.WithReluMaxPool(g));
    }

    /// <summary>The windows of <paramref name="pool"/> over <paramref name="inputs"/> when the fused kernels take them, else null.</summary>
    private WindowGeometry? FusedPoolGeometry(Tensor inputs, MaxPooling2D pool)
    {
        var shape = inputs.ShapeArray;
        bool host = inputs.Device.IsHost && (gamma is null || gamma.Value.Device.IsHost) && (beta is null || beta.Value.Device.IsHost);
        if (!host || shape.Length != 4 || axis is not [3] || pool.DataFormat != LayerConfig.ChannelsLast || pool.Padding != "valid"
            || pool.PoolSize[0] > shape[1] || pool.PoolSize[1] > shape[2])
            return null;
        var g = Window.Geometry(shape, pool.PoolSize[0], pool.PoolSize[1], pool.Strides[0], pool.Strides[1], same: false, nameof(pool));
        return BatchNormKernels.FusesMaxPool(g) ? g : null;
    }

    /// <summary>Folding is exact enough while every channel's moving mean is within this many standard deviations of 0.</summary>
    internal const double MaxFoldedMeanOverStd = 64;

    /// <summary>
    /// The inference map of this layer as <c>y = x·Scale + Shift</c> per channel, for folding into a preceding Conv2D
    /// or Dense (inference only): <c>Scale = γ/sqrt(moving variance + ε)</c>, <c>Shift = β − moving mean·Scale</c>, in
    /// float64 then rounded. Null when the layer would not use its moving statistics in inference, when its channels
    /// are not the single last axis of a built rank-<paramref name="rank"/> input, or when a moving mean exceeds
    /// <see cref="MaxFoldedMeanOverStd"/> standard deviations: then <c>x·Scale</c> and <c>Shift</c> nearly cancel and
    /// the folded result loses more than a few float32 roundings of y.
    /// </summary>
    internal (Tensor Scale, Tensor Shift)? InferenceFold(int rank)
    {
        if (!Built || !TrackRunningStats || UseBatchStatistics == true) return null;
        if (axis is not [var a] || a != rank - 1 || BuiltInputShape!.Count != rank) return null;
        var mean = movingMean!.Value.ToArray();
        var variance = movingVariance!.Value.ToArray();
        var g = gamma?.Value.ToArray();
        var b = beta?.Value.ToArray();
        int C = mean.Length;
        var scale = new float[C];
        var shift = new float[C];
        for (int c = 0; c < C; c++)
        {
            double std = Math.Sqrt((double)variance[c] + Epsilon);
            if (!(Math.Abs(mean[c]) <= MaxFoldedMeanOverStd * std)) return null;
            double s = (g?[c] ?? 1.0) / std;
            scale[c] = (float)s;
            shift[c] = (float)((b?[c] ?? 0.0) - mean[c] * s);
        }
        return (Tensor.FromArray(scale), Tensor.FromArray(shift));
    }

    private Tensor Apply(Tensor inputs, bool training, Tensor? mask, BatchNormEpilogue epilogue)
    {
        var shape = inputs.ShapeArray;
        var built = BuiltInputShape!;
        if (shape.Length != built.Count || axis!.Any(a => shape[a] != built[a]))
            throw new ArgumentException(
                $"{ClassName} '{Name}' was built for inputs of shape {Tensor.ShapeString(built.ToArray())} (channel axes {Tensor.ShapeString(axis!)}); " +
                $"got {Tensor.ShapeString(shape)}. The rank and the channel dimensions must not change.", nameof(inputs));

        var (layout, perm) = ChannelPlan.For(shape, axis!);
        var x = perm is null ? inputs : inputs.Transpose(perm);
        var y = Normalize(x, layout, training, CheckMask(mask, shape), epilogue);
        return perm is null ? y : y.Transpose(ChannelPlan.Inverse(perm));
    }

    /// <summary>
    /// Applies the layer to the stored values of a sparse COO tensor (Paddle <c>paddle.sparse.nn.SyncBatchNorm</c>):
    /// each channel is normalized over the stored values only (implicit zeros are not elements of the batch), with the
    /// same statistics, synchronization, moving-statistic updates and gradients as a dense call on the [nnz, C] values
    /// matrix. The result has the same indices (the sparsity pattern is kept).
    /// </summary>
    /// <param name="inputs">The sparse input; its dense shape's last dimension holds the channels.</param>
    /// <param name="training">Training or inference behaviour; inference when null.</param>
    /// <exception cref="ArgumentNullException"><paramref name="inputs"/> is null.</exception>
    /// <exception cref="ArgumentException">The layer's channel axis is not the last axis of the dense shape, or the
    /// dense shape does not fit the built layer.</exception>
    public SparseCooTensor CallSparse(SparseCooTensor inputs, bool? training = null)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        var dense = inputs.DenseShape.ToArray();
        EnsureBuilt(dense);
        int rank = dense.Length;
        if (axis!.Length != 1 || axis[0] != rank - 1)
            throw new ArgumentException($"{ClassName} '{Name}' normalizes axes {Tensor.ShapeString(axis)}, but a sparse COO input keeps its channels on the last axis {rank - 1}: use a channels-last axis or data format.", nameof(inputs));
        var built = BuiltInputShape!;
        if (built.Count != rank || built[^1] != dense[^1])
            throw new ArgumentException($"{ClassName} '{Name}' was built for inputs of shape {Tensor.ShapeString(built.ToArray())}; got a sparse input of dense shape {Tensor.ShapeString(dense)}.", nameof(inputs));
        var values = inputs.Values;
        var y = Normalize(values, new ChannelLayout(values.Shape[0], values.Shape[1], 1), training ?? false, null, BatchNormEpilogue.None);
        return inputs.WithValues(y);
    }

    /// <summary>Batch normalization of <paramref name="x"/> viewed as <paramref name="layout"/>, with every option applied.</summary>
    private Tensor Normalize(Tensor x, ChannelLayout layout, bool training, Tensor? mask, BatchNormEpilogue epilogue)
    {
        var g = gamma?.Value.Reshape([-1]);
        var b = beta?.Value.Reshape([-1]);
        bool batchStatistics = !TrackRunningStats || (UseBatchStatistics ?? (training && Trainable));
        if (!batchStatistics)
            return BatchNormCore.Inference(x, layout, movingMean!.Value, movingVariance!.Value, g, b, Epsilon, epilogue);

        var sync = Synchronized ? ReplicaContext.Current : null;
        var slot = sync is { IsDistributed: true } ? SlotFor(sync) : GroupSlot.All;
        var y = BatchNormCore.Training(x, layout, g, b, Epsilon, sync, out var moments, mask, slot, epilogue);
        if (TrackRunningStats && Trainable && (training || UseBatchStatistics == true))
            UpdateMovingStatistics(moments);
        return y;
    }

    /// <summary>The moving-statistic update of one batch under the layer's conventions; nothing changes when N = 0.</summary>
    private void UpdateMovingStatistics(BatchMoments moments)
    {
        if (moments.Count == 0) return;
        double keep;
        float? tracked = null;
        switch (MomentumConvention)
        {
            case MomentumConvention.Keras:
                keep = Momentum;
                break;
            case MomentumConvention.PyTorch:
                keep = 1.0 - Momentum;
                tracked = numBatchesTracked!.Value.ToScalar() + 1;
                break;
            default:
                tracked = numBatchesTracked!.Value.ToScalar() + 1;
                keep = 1.0 - 1.0 / tracked.Value;
                break;
        }
        // Every replica of a synchronized layer applies the same global statistics, so mirrored copies stay identical.
        var mean = Ops.MovingAverage(movingMean!.Value, moments.Mean, keep).Reshape(paramShape);
        Tensor? variance = null;
        if (!UnbiasedMovingVariance)
        {
            variance = Ops.MovingAverage(movingVariance!.Value, moments.Variance, keep).Reshape(paramShape);
        }
        else if (moments.Count > 1)
        {
            // N/(N − 1) is undefined for N = 1: the moving variance is then left as it is (see the class remarks).
            double bessel = moments.Count / (moments.Count - 1.0);
            var unbiased = moments.Variance.Select(v => v * bessel).ToArray();
            variance = Ops.MovingAverage(movingVariance!.Value, unbiased, keep).Reshape(paramShape);
        }
        if (Debugging.CheckNumericsEnabled)
        {
            // Before anything is stored: a float32 overflow (a variance above 3.4e38) names the layer, variable and channel.
            Debugging.CheckUpdatedVariable(mean, movingMean, Debugging.CurrentReplicaId);
            if (variance is not null) Debugging.CheckUpdatedVariable(variance, movingVariance!, Debugging.CurrentReplicaId);
        }
        if (tracked is { } t) numBatchesTracked!.Assign(Tensor.Scalar(t));
        movingMean.Assign(mean);
        if (variance is not null) movingVariance!.Assign(variance);
    }

    /// <summary>This replica's slot in the fused buffer: its group among the resolved process groups, validated against R.</summary>
    private GroupSlot SlotFor(ReplicaContext sync)
    {
        int replicas = sync.NumReplicasInSync;
        var cache = Volatile.Read(ref groupCache);
        if (cache is null || cache.Replicas != replicas)
        {
            GroupSlot[]? slots = null;
            if (ResolveProcessGroups(replicas) is { } groups)
            {
                var valid = ProcessGroups.Validate(groups, replicas, ProcessGroupsParamName);
                slots = new GroupSlot[replicas];
                for (int gi = 0; gi < valid.Length; gi++)
                    foreach (int id in valid[gi]) slots[id] = new GroupSlot(valid.Length, gi);
            }
            cache = new GroupCache(replicas, slots);
            Volatile.Write(ref groupCache, cache);
        }
        return cache.Slots is { } s ? s[sync.ReplicaId] : GroupSlot.All;
    }

    /// <summary>
    /// The process groups for a strategy of <paramref name="numReplicasInSync"/> replicas, or null for one group of all;
    /// the constructor's partition unless a facade derives it from the replica count (MindSpore <c>GlobalBatchNorm</c>).
    /// </summary>
    private protected virtual IReadOnlyList<IReadOnlyList<int>>? ResolveProcessGroups(int numReplicasInSync) => ProcessGroupList;

    /// <summary>The parameter that call-time process-group errors name: the facade's own (PyTorch <c>processGroup</c>).</summary>
    private protected string ProcessGroupsParamName { get; init; } = "processGroups";

    /// <summary>A mask must have the input's shape without the channel axes; a non-zero value keeps the element.</summary>
    private Tensor? CheckMask(Tensor? mask, int[] shape)
    {
        if (mask is null) return null;
        var expected = shape.Where((_, i) => !axis!.Contains(i)).ToArray();
        if (!Tensor.SameShape(mask.ShapeArray, expected))
            throw new ArgumentException($"mask must have the input's shape without the channel axes, {Tensor.ShapeString(expected)}, but has {Tensor.ShapeString(mask.ShapeArray)}.", nameof(mask));
        return mask;
    }

    /// <summary>
    /// The Keras config: <c>name, trainable, dtype, axis, momentum, epsilon, center, scale</c>, the four initializers,
    /// the two regularizers and constraints (each <c>{class_name, config}</c> or null), <c>synchronized</c>
    /// (which tf.keras leaves out); then, only when they differ from their defaults (so a plain layer's config is one
    /// Keras accepts), the options of other frameworks: <c>process_groups</c> (list of int lists),
    /// <c>use_batch_statistics</c> (bool), <c>track_running_stats</c> (false), <c>unbiased_moving_variance</c> (true),
    /// <c>momentum_convention</c> (<c>"pytorch"</c> or <c>"cumulative_average"</c>) and <c>data_format</c> (string).
    /// </summary>
    public override IReadOnlyDictionary<string, object?> GetConfig()
    {
        var config = new Dictionary<string, object?>(base.GetConfig())
        {
            ["axis"] = Axis.ToArray(),
            ["momentum"] = KerasConfig.Number(Momentum),
            ["epsilon"] = KerasConfig.Number(Epsilon),
        };
        affine.AddConfig(config, afterInitializers: [("moving_mean_initializer", KerasConfig.Serialize(MovingMeanInitializer)),
            ("moving_variance_initializer", KerasConfig.Serialize(MovingVarianceInitializer))]);
        config["synchronized"] = Synchronized;
        // Options beyond Keras' appear only when set, so a plain layer's config stays one that Keras itself accepts
        // (as tf.keras writes the renorm keys only when renorm is on).
        if (processGroups is not null) config["process_groups"] = processGroups.Select(g => g.ToArray()).ToArray();
        if (UseBatchStatistics is not null) config["use_batch_statistics"] = UseBatchStatistics;
        if (!TrackRunningStats) config["track_running_stats"] = false;
        if (UnbiasedMovingVariance) config["unbiased_moving_variance"] = true;
        if (MomentumConvention != MomentumConvention.Keras) config["momentum_convention"] = ConventionName(MomentumConvention);
        if (DataFormat is not null) config["data_format"] = DataFormat;
        return config;
    }

    /// <summary>Rebuilds a layer from <see cref="GetConfig"/> output (or Keras JSON of the same shape).</summary>
    /// <exception cref="ArgumentException">A value has the wrong type or an unknown class name.</exception>
    public static BatchNormalization FromConfig(IReadOnlyDictionary<string, object?> config)
    {
        ArgumentNullException.ThrowIfNull(config);
        var a = ReadConfig(config);
        return new BatchNormalization(a.Axis, a.Momentum, a.Epsilon, a.Center, a.Scale, a.BetaInit, a.GammaInit, a.MeanInit, a.VarInit,
            a.BetaReg, a.GammaReg, a.BetaCon, a.GammaCon, KerasConfig.GetBool(config, "synchronized", false), a.Name, a.Trainable,
            a.ProcessGroups, a.UseBatchStatistics, a.TrackRunningStats, a.Unbiased, a.Convention, a.DataFormat);
    }

    private protected readonly record struct ConfigArgs(int[]? Axis, float Momentum, float Epsilon, bool Center, bool Scale,
        IInitializer? BetaInit, IInitializer? GammaInit, IInitializer? MeanInit, IInitializer? VarInit,
        IRegularizer? BetaReg, IRegularizer? GammaReg, IConstraint? BetaCon, IConstraint? GammaCon, string? Name, bool Trainable,
        int[][]? ProcessGroups, bool? UseBatchStatistics, bool TrackRunningStats, bool Unbiased, MomentumConvention Convention, string? DataFormat);

    private static string ConventionName(MomentumConvention convention) => convention switch
    {
        MomentumConvention.PyTorch => "pytorch",
        MomentumConvention.CumulativeAverage => "cumulative_average",
        _ => "keras",
    };

    private static MomentumConvention ParseConvention(string? name) => name switch
    {
        null or "keras" => MomentumConvention.Keras,
        "pytorch" => MomentumConvention.PyTorch,
        "cumulative_average" => MomentumConvention.CumulativeAverage,
        _ => throw new ArgumentException($"Config key 'momentum_convention' must be \"keras\", \"pytorch\" or \"cumulative_average\", but is \"{name}\".", "config"),
    };

    /// <summary>A list of int lists (<c>process_groups</c>), or null.</summary>
    private static int[][]? ParseGroups(IReadOnlyDictionary<string, object?> c)
    {
        if (!c.TryGetValue("process_groups", out var v) || v is null) return null;
        if (v is not System.Collections.IEnumerable outer || v is string)
            throw new ArgumentException($"Config key 'process_groups' must be a list of int lists, but is {v}.", "config");
        var groups = new List<int[]>();
        foreach (var item in outer)
        {
            var one = new Dictionary<string, object?> { ["g"] = item };
            groups.Add(KerasConfig.GetInts(one, "g") ?? throw new ArgumentException("Config key 'process_groups' holds a null group.", "config"));
        }
        return [.. groups];
    }

    private static bool? GetNullableBool(IReadOnlyDictionary<string, object?> c, string key) =>
        c.TryGetValue(key, out var v) && v is not null ? KerasConfig.GetBool(c, key, false) : null;

    private protected static ConfigArgs ReadConfig(IReadOnlyDictionary<string, object?> c)
    {
        var f = AffineOptions.FromConfig(c);
        // A data format determines the axis, so the (resolved) axis it was saved with is not passed back as well.
        string? dataFormat = KerasConfig.GetString(c, "data_format");
        return new ConfigArgs(dataFormat is null ? KerasConfig.GetInts(c, "axis") : null, KerasConfig.GetFloat(c, "momentum", 0.99f), KerasConfig.GetFloat(c, "epsilon", 1e-3f),
            f.Center, f.Scale, f.BetaInitializer, f.GammaInitializer,
            LayerConfig.Initializer(c, "moving_mean_initializer"), LayerConfig.Initializer(c, "moving_variance_initializer"),
            f.BetaRegularizer, f.GammaRegularizer, f.BetaConstraint, f.GammaConstraint,
            KerasConfig.GetString(c, "name"), KerasConfig.GetBool(c, "trainable", true),
            ParseGroups(c), GetNullableBool(c, "use_batch_statistics"), KerasConfig.GetBool(c, "track_running_stats", true),
            KerasConfig.GetBool(c, "unbiased_moving_variance", false), ParseConvention(KerasConfig.GetString(c, "momentum_convention")),
            dataFormat);
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
