namespace TfSyncBN.Keras;

/// <summary>
/// A Keras object that serializes as <c>{"class_name": ClassName, "config": GetConfig()}</c>, the shape Keras uses in model JSON.
/// </summary>
public interface IKerasObject
{
    /// <summary>The Keras class name, e.g. <c>GlorotUniform</c>.</summary>
    string ClassName { get; }

    /// <summary>The constructor arguments under their Keras (snake_case) names; rebuilding from them gives an equal object.</summary>
    IReadOnlyDictionary<string, object?> GetConfig();
}

/// <summary>Creates the initial value of a weight (<c>keras.initializers.Initializer</c>).</summary>
public interface IInitializer : IKerasObject
{
    /// <summary>A new tensor of <paramref name="shape"/>. Seeded initializers return the same values on every call.</summary>
    /// <exception cref="ArgumentException">The shape has a negative entry.</exception>
    Tensors.Tensor Call(IReadOnlyList<int> shape);
}

/// <summary>Maps a weight to a scalar penalty added to the loss (<c>keras.regularizers.Regularizer</c>).</summary>
public interface IRegularizer : IKerasObject
{
    /// <summary>The penalty for <paramref name="weights"/>, a differentiable scalar tensor.</summary>
    Tensors.Tensor Call(Tensors.Tensor weights);
}

/// <summary>Projects a weight back into an allowed set after each optimizer update (<c>keras.constraints.Constraint</c>).</summary>
public interface IConstraint : IKerasObject
{
    /// <summary>The projected weights, of the same shape.</summary>
    Tensors.Tensor Call(Tensors.Tensor weights);
}
