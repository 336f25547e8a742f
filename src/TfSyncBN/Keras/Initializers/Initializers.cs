namespace TfSyncBN.Keras;

/// <summary>
/// Factories and lookup for the built-in initializers, mirroring <c>keras.initializers</c>
/// (e.g. <c>Initializers.GlorotUniform(seed: 1)</c>, <c>Initializers.Get("he_normal")</c>).
/// </summary>
public static class Initializers
{
    /// <summary>Every name <see cref="Get"/> and <see cref="FromConfig"/> accept: each class name followed by its snake_case names.</summary>
    public static IReadOnlyList<string> Names => InitializerRegistry.Instance.Names;

    /// <summary>A <see cref="Keras.Zeros"/> initializer.</summary>
    public static Zeros Zeros() => new();

    /// <summary>A <see cref="Keras.Ones"/> initializer.</summary>
    public static Ones Ones() => new();

    /// <summary>A <see cref="Keras.Constant"/> initializer.</summary>
    /// <param name="value">The value of every element.</param>
    public static Constant Constant(float value = 0f) => new(value);

    /// <summary>A <see cref="Keras.RandomNormal"/> initializer.</summary>
    /// <param name="mean">Mean of the distribution.</param>
    /// <param name="stddev">Standard deviation, ≥ 0.</param>
    /// <param name="seed">Seed for reproducible values; null draws a fresh seed for the instance.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="mean"/> is not finite, or <paramref name="stddev"/> is negative or not finite.</exception>
    public static RandomNormal RandomNormal(float mean = 0f, float stddev = 0.05f, int? seed = null) => new(mean, stddev, seed);

    /// <summary>A <see cref="Keras.RandomUniform"/> initializer.</summary>
    /// <param name="minval">Lower bound (inclusive).</param>
    /// <param name="maxval">Upper bound (exclusive), ≥ <paramref name="minval"/>.</param>
    /// <param name="seed">Seed for reproducible values; null draws a fresh seed for the instance.</param>
    /// <exception cref="ArgumentOutOfRangeException">A bound is not finite, or <paramref name="maxval"/> is below <paramref name="minval"/>.</exception>
    public static RandomUniform RandomUniform(float minval = -0.05f, float maxval = 0.05f, int? seed = null) => new(minval, maxval, seed);

    /// <summary>A <see cref="Keras.TruncatedNormal"/> initializer.</summary>
    /// <param name="mean">Mean of the distribution.</param>
    /// <param name="stddev">Standard deviation before truncation, ≥ 0.</param>
    /// <param name="seed">Seed for reproducible values; null draws a fresh seed for the instance.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="mean"/> is not finite, or <paramref name="stddev"/> is negative or not finite.</exception>
    public static TruncatedNormal TruncatedNormal(float mean = 0f, float stddev = 0.05f, int? seed = null) => new(mean, stddev, seed);

    /// <summary>A <see cref="Keras.VarianceScaling"/> initializer.</summary>
    /// <param name="scale">Scaling factor, &gt; 0 and finite.</param>
    /// <param name="mode">Which fan divides the scale.</param>
    /// <param name="distribution">The distribution to sample.</param>
    /// <param name="seed">Seed for reproducible values; null draws a fresh seed for the instance.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="scale"/> is not positive and finite, or
    /// <paramref name="mode"/> or <paramref name="distribution"/> is not a defined value.</exception>
    public static VarianceScaling VarianceScaling(float scale = 1f, VarianceScalingMode mode = VarianceScalingMode.FanIn,
        VarianceScalingDistribution distribution = VarianceScalingDistribution.TruncatedNormal, int? seed = null) =>
        new(scale, mode, distribution, seed);

    /// <summary>A <see cref="Keras.GlorotNormal"/> initializer.</summary>
    /// <param name="seed">Seed for reproducible values; null draws a fresh seed for the instance.</param>
    public static GlorotNormal GlorotNormal(int? seed = null) => new(seed);

    /// <summary>A <see cref="Keras.GlorotUniform"/> initializer.</summary>
    /// <param name="seed">Seed for reproducible values; null draws a fresh seed for the instance.</param>
    public static GlorotUniform GlorotUniform(int? seed = null) => new(seed);

    /// <summary>A <see cref="Keras.HeNormal"/> initializer.</summary>
    /// <param name="seed">Seed for reproducible values; null draws a fresh seed for the instance.</param>
    public static HeNormal HeNormal(int? seed = null) => new(seed);

    /// <summary>A <see cref="Keras.HeUniform"/> initializer.</summary>
    /// <param name="seed">Seed for reproducible values; null draws a fresh seed for the instance.</param>
    public static HeUniform HeUniform(int? seed = null) => new(seed);

    /// <summary>
    /// A new initializer with default arguments, by Keras name (<c>keras.initializers.get</c>): a class name such as
    /// <c>"GlorotUniform"</c> or a snake_case name such as <c>"glorot_uniform"</c>, matched case-sensitively
    /// (see <see cref="Names"/>). Random initializers got this way are unseeded.
    /// </summary>
    /// <param name="identifier">The name.</param>
    /// <exception cref="ArgumentNullException"><paramref name="identifier"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="identifier"/> is not a known name; the message lists the accepted names.</exception>
    public static IInitializer Get(string identifier) => InitializerRegistry.Instance.Get(identifier, nameof(identifier));

    /// <summary>
    /// A new initializer from its serialized form <c>{"class_name": name, "config": {...}}</c> (<c>keras.initializers.deserialize</c>),
    /// as made by <see cref="Serialize"/>. The name may be any of <see cref="Names"/>; config keys left out take their
    /// defaults, and numbers may be of any numeric type (as after a JSON round trip).
    /// </summary>
    /// <param name="config">The serialized initializer.</param>
    /// <exception cref="ArgumentNullException"><paramref name="config"/> is null.</exception>
    /// <exception cref="ArgumentException">The class name is missing or unknown, or the config has an unknown key or a value of the wrong type.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A config value is out of the constructor's range (the exception names that parameter).</exception>
    public static IInitializer FromConfig(IReadOnlyDictionary<string, object?> config) => InitializerRegistry.Instance.FromConfig(config, nameof(config));

    /// <summary><c>{"class_name": value.ClassName, "config": value.GetConfig()}</c> (<c>keras.initializers.serialize</c>).</summary>
    /// <param name="value">The initializer.</param>
    /// <exception cref="ArgumentNullException"><paramref name="value"/> is null.</exception>
    public static IReadOnlyDictionary<string, object?> Serialize(IInitializer value) =>
        KerasRegistry<IInitializer>.Serialize(value, nameof(value));
}

/// <summary>The names of the built-in initializers: Keras 3's class names, their snake_case forms and its aliases.</summary>
file static class InitializerRegistry
{
    public static readonly KerasRegistry<IInitializer> Instance = new("initializer",
        new("Zeros", ["zeros", "zero"], _ => new Zeros()),
        new("Ones", ["ones", "one"], _ => new Ones()),
        new("Constant", ["constant"], Constant.FromConfig),
        new("RandomNormal", ["random_normal", "normal"], RandomNormal.FromConfig),
        new("RandomUniform", ["random_uniform", "uniform"], RandomUniform.FromConfig),
        new("TruncatedNormal", ["truncated_normal"], TruncatedNormal.FromConfig),
        new("VarianceScaling", ["variance_scaling"], VarianceScaling.FromConfig),
        new("GlorotNormal", ["glorot_normal"], GlorotNormal.FromConfig),
        new("GlorotUniform", ["glorot_uniform"], GlorotUniform.FromConfig),
        new("HeNormal", ["he_normal"], HeNormal.FromConfig),
        new("HeUniform", ["he_uniform"], HeUniform.FromConfig));
}
