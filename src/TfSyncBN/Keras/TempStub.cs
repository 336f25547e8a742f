// TEMPORARY until the Keras objects branch is merged. Not committed.
#pragma warning disable CS1591
using TfSyncBN.Tensors;
namespace TfSyncBN.Keras;
public sealed class StubConst(float v, string cls) : IInitializer
{
    public string ClassName => cls;
    public IReadOnlyDictionary<string, object?> GetConfig() => new Dictionary<string, object?>();
    public Tensor Call(IReadOnlyList<int> shape) => Tensor.Fill(shape, v);
}
public static class Initializers
{
    public static IInitializer Zeros() => new StubConst(0, "Zeros");
    public static IInitializer Ones() => new StubConst(1, "Ones");
    public static IInitializer FromConfig(IReadOnlyDictionary<string, object?> c) => (string)c["class_name"]! == "Zeros" ? Zeros() : Ones();
}
public static class Regularizers { public static IRegularizer FromConfig(IReadOnlyDictionary<string, object?> c) => throw new NotImplementedException(); }
public static class Constraints { public static IConstraint FromConfig(IReadOnlyDictionary<string, object?> c) => throw new NotImplementedException(); }
