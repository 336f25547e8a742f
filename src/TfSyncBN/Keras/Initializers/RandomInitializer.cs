using TfSyncBN.Tensors;

namespace TfSyncBN.Keras;

/// <summary>
/// Base of the random initializers (<c>keras.initializers.RandomInitializer</c>): a seed, and values drawn with
/// Philox4x32-10, a counter-based generator, so that they are reproducible.
/// </summary>
/// <remarks>
/// <para>With a seed, <see cref="Call"/> returns the same values on every call, in every run and on every machine
/// (bit for bit: the sampling uses only correctly rounded IEEE-754 operations). The values are not those of Python
/// Keras for the same seed, whose streams depend on the backend.</para>
/// <para>Without a seed, the instance draws a fresh 64-bit key from the operating system when it is constructed and then
/// behaves like a seeded one: every call of the same instance returns the same values (as in Keras 3), while two
/// instances differ. Its config holds <c>"seed": null</c>, so an instance rebuilt from it draws other values.</para>
/// <para>The random draw behind element <c>i</c> (row-major) depends only on the key and <c>i</c>, so with the same seed
/// a <see cref="RandomNormal"/> of shape [6] is the first row of one of shape [5, 6]. (<see cref="VarianceScaling"/>
/// also scales the draws by the shape's fans.)</para>
/// </remarks>
public abstract class RandomInitializer : IInitializer
{
    private protected RandomInitializer(int? seed)
    {
        Seed = seed;
        Key = seed is int s ? StatelessRandom.KeyFromSeed(s) : StatelessRandom.FreshKey();
    }

    /// <summary>The seed given at construction, or null for an unseeded instance (Keras config key <c>seed</c>).</summary>
    public int? Seed { get; }

    /// <summary>The Philox key: from <see cref="Seed"/>, or drawn once per instance when unseeded.</summary>
    private protected ulong Key { get; }

    /// <inheritdoc/>
    public abstract string ClassName { get; }

    /// <inheritdoc/>
    public abstract IReadOnlyDictionary<string, object?> GetConfig();

    /// <summary>A new tensor of <paramref name="shape"/> holding this initializer's random values.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="shape"/> is null.</exception>
    /// <exception cref="ArgumentException">The shape has a negative entry or more elements than an array can hold.</exception>
    public Tensor Call(IReadOnlyList<int> shape)
    {
        var s = Tensor.CheckShape(shape, nameof(shape));
        var values = GC.AllocateUninitializedArray<float>(Tensor.ShapeSize(s));
        Fill(values, s);
        return new Tensor(values, s);
    }

    /// <summary>Writes the values for a tensor of <paramref name="shape"/> into <paramref name="destination"/>.</summary>
    private protected abstract void Fill(float[] destination, int[] shape);

    /// <summary>A config holding <c>seed</c> and then <paramref name="entries"/> (the order of Keras 3).</summary>
    private protected Dictionary<string, object?> ConfigWithSeed(params (string Key, object? Value)[] entries)
    {
        var config = new Dictionary<string, object?> { ["seed"] = Seed };
        foreach (var (key, value) in entries) config[key] = value;
        return config;
    }

    /// <summary>Checks that a distribution parameter is finite.</summary>
    internal static float CheckFinite(float value, string paramName) => float.IsFinite(value)
        ? value
        : throw new ArgumentOutOfRangeException(paramName, value, $"{paramName} must be a finite number.");
}
