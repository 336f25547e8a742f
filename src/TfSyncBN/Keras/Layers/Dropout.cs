using System.Collections.Concurrent;
using TfSyncBN.Distribute;
using TfSyncBN.Tensors;

namespace TfSyncBN.Keras;

/// <summary>
/// Inverted dropout (<c>keras.layers.Dropout</c>): in training, each element is kept with probability
/// <c>1 − rate</c> and scaled by <c>1/(1 − rate)</c>, or set to 0; at inference the input passes unchanged.
/// </summary>
/// <remarks>
/// <para><c>y = x·m</c> with <c>m = keep / (1 − rate)</c>, where keep is 1 when the 32-bit random word u of the element
/// satisfies <c>u ≥ round(rate·2³²)</c> (so the keep probability is 1 − rate to within 2⁻³²), and the gradient is
/// <c>dx = dy·m</c>. The expected value of y equals x.</para>
/// <para>The words are Philox4x32-10 draws (the generator of the initializers) keyed by the seed, with a counter made
/// of the element index, the call number and the replica id: a seeded layer is deterministic, successive calls draw
/// different masks, and inside <c>strategy.Run</c> each replica draws its own mask (replica r uses its own call
/// counter, so the masks do not depend on thread timing). Without a seed the layer draws a fresh key when it is
/// constructed.</para>
/// </remarks>
public sealed class Dropout : Layer
{
    private readonly ulong key;
    private readonly ConcurrentDictionary<int, long> calls = new();

    /// <summary>Creates the layer.</summary>
    /// <param name="rate">The fraction of elements to drop, in [0, 1).</param>
    /// <param name="seed">Seed for reproducible masks; null draws a fresh key for this instance.</param>
    /// <param name="name">The layer name; generated when null.</param>
    /// <param name="trainable">Kept for Keras compatibility (the layer has no weights).</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="rate"/> is outside [0, 1) or NaN.</exception>
    public Dropout(float rate, int? seed = null, string? name = null, bool trainable = true) : base(name, trainable)
    {
        if (!(rate >= 0 && rate < 1))
            throw new ArgumentOutOfRangeException(nameof(rate), rate, "rate must be in [0, 1): the fraction of inputs dropped.");
        Rate = rate;
        Seed = seed;
        key = seed is int s ? StatelessRandom.KeyFromSeed(s) : StatelessRandom.FreshKey();
    }

    /// <summary>The fraction of elements dropped in training.</summary>
    public float Rate { get; }

    /// <summary>The seed, or null.</summary>
    public int? Seed { get; }

    /// <inheritdoc/>
    protected override void Build(IReadOnlyList<int> inputShape)
    {
    }

    /// <inheritdoc/>
    protected override Tensor CallCore(Tensor inputs, bool training, Tensor? mask)
    {
        if (!training || Rate == 0f || inputs.Size == 0) return inputs;
        int replica = ReplicaContext.Current?.ReplicaId ?? 0;
        long call = calls.AddOrUpdate(replica, 0, static (_, c) => c + 1);
        return inputs * Mask(inputs, call, replica);
    }

    /// <summary>The mask values <c>keep/(1 − rate)</c> of one call.</summary>
    private Tensor Mask(Tensor like, long call, int replica) => TrainingOps.DropoutMask(like.Device, like.ShapeArray, key, call, replica,
        (uint)Math.Min(Math.Round(Rate * 4294967296.0), uint.MaxValue), 1f / (1f - Rate));

    /// <summary>The Keras config: <c>name, trainable, dtype, rate, seed, noise_shape</c> (always null).</summary>
    public override IReadOnlyDictionary<string, object?> GetConfig() => LayerConfig.With(base.GetConfig(),
        ("rate", KerasConfig.Number(Rate)), ("seed", Seed), ("noise_shape", null));

    /// <summary>Rebuilds a layer from <see cref="GetConfig"/> output; <c>rate</c> is required.</summary>
    /// <exception cref="ArgumentException"><c>rate</c> is missing, a value has the wrong type, or <c>noise_shape</c> is set (not implemented).</exception>
    /// <exception cref="ArgumentOutOfRangeException"><c>rate</c> is outside [0, 1).</exception>
    public static Dropout FromConfig(IReadOnlyDictionary<string, object?> config)
    {
        ArgumentNullException.ThrowIfNull(config);
        var rate = KerasConfig.GetNullableFloat(config, "rate") ?? throw new ArgumentException("The config of Dropout needs the key 'rate'.", nameof(config));
        if (config.TryGetValue("noise_shape", out var ns) && ns is not null)
            throw new ArgumentException("Dropout implements noise_shape = null only (an independent draw per element).", nameof(config));
        return new Dropout(rate, KerasConfig.GetNullableInt(config, "seed"), LayerConfig.Name(config), LayerConfig.Trainable(config));
    }
}
