using TfSyncBN.Keras;
using TfSyncBN.Tensors;

namespace TfSyncBN.Reliability.Tests.Util;

/// <summary>An initializer returning given values (for layers whose weights a test must know).</summary>
public sealed class FixedInit(float[] values) : IInitializer
{
    public string ClassName => "FixedInit";

    public IReadOnlyDictionary<string, object?> GetConfig() => new Dictionary<string, object?> { ["values"] = values };

    public Tensor Call(IReadOnlyList<int> shape) => Tensor.FromArray((float[])values.Clone(), shape);
}
