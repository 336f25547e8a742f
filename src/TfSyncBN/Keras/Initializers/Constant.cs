using TfSyncBN.Tensors;

namespace TfSyncBN.Keras;

/// <summary>Initializes every element to one scalar (<c>keras.initializers.Constant</c>, name <c>constant</c>). Config: <c>{"value"}</c>.</summary>
public sealed class Constant : IInitializer
{
    /// <summary>Creates the initializer.</summary>
    /// <param name="value">The value of every element (any float, NaN and infinities included).</param>
    public Constant(float value = 0f) => Value = value;

    /// <summary>The value of every element (config key <c>value</c>).</summary>
    public float Value { get; }

    /// <inheritdoc/>
    public string ClassName => "Constant";

    /// <inheritdoc/>
    public IReadOnlyDictionary<string, object?> GetConfig() => new Dictionary<string, object?> { ["value"] = KerasConfig.Number(Value) };

    /// <summary>A new tensor of <paramref name="shape"/> whose every element is <see cref="Value"/>.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="shape"/> is null.</exception>
    /// <exception cref="ArgumentException">The shape has a negative entry or more elements than an array can hold.</exception>
    public Tensor Call(IReadOnlyList<int> shape) => Tensor.Fill(shape, Value);

    internal static Constant FromConfig(IReadOnlyDictionary<string, object?> config) => new(KerasConfig.GetFloat(config, "value", 0f));
}
