using TfSyncBN.Tensors;

namespace TfSyncBN.Keras;

/// <summary>Initializes to 1 (<c>keras.initializers.Ones</c>, names <c>ones</c>, <c>one</c>). Its config is empty.</summary>
public sealed class Ones : IInitializer
{
    /// <inheritdoc/>
    public string ClassName => "Ones";

    /// <inheritdoc/>
    public IReadOnlyDictionary<string, object?> GetConfig() => new Dictionary<string, object?>();

    /// <summary>A new tensor of <paramref name="shape"/> whose every element is 1.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="shape"/> is null.</exception>
    /// <exception cref="ArgumentException">The shape has a negative entry or more elements than an array can hold.</exception>
    public Tensor Call(IReadOnlyList<int> shape) => Tensor.Ones(shape);
}
