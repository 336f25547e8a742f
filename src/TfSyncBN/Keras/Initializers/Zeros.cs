using TfSyncBN.Tensors;

namespace TfSyncBN.Keras;

/// <summary>Initializes to 0 (<c>keras.initializers.Zeros</c>, names <c>zeros</c>, <c>zero</c>). Its config is empty.</summary>
public sealed class Zeros : IInitializer
{
    /// <inheritdoc/>
    public string ClassName => "Zeros";

    /// <inheritdoc/>
    public IReadOnlyDictionary<string, object?> GetConfig() => new Dictionary<string, object?>();

    /// <summary>A new tensor of <paramref name="shape"/> whose every element is 0.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="shape"/> is null.</exception>
    /// <exception cref="ArgumentException">The shape has a negative entry or more elements than an array can hold.</exception>
    public Tensor Call(IReadOnlyList<int> shape) => Tensor.Zeros(shape);
}
