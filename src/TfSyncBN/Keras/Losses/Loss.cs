using TfSyncBN.Tensors;

namespace TfSyncBN.Keras;

/// <summary>
/// The base of all losses (<c>keras.losses.Loss</c>) with Keras' default reduction, "sum over batch size".
/// </summary>
/// <remarks>
/// <para><see cref="Unreduced"/> gives one loss per example (per position, for inputs with more axes), and
/// <see cref="Call"/> reduces them as Keras does by default: <c>Σ losses / number of losses</c> (0 for an empty batch).</para>
/// <para>Under data-parallel training, a model does not average per replica: each replica sums its
/// <see cref="Unreduced"/> losses and divides by the element count of the <em>global</em> batch (see <c>Model.Fit</c>),
/// so R replicas give exactly the gradient of <see cref="Call"/> on the whole batch.</para>
/// </remarks>
public abstract class Loss : IKerasObject
{
    /// <summary>Initializes the loss.</summary>
    /// <param name="name">The loss name (Keras' snake_case function name by default).</param>
    protected Loss(string name) => Name = name;

    /// <summary>The name of the loss, e.g. <c>sparse_categorical_crossentropy</c>.</summary>
    public string Name { get; }

    /// <inheritdoc/>
    public virtual string ClassName => GetType().Name;

    /// <summary>The per-example losses (Keras <c>reduction=None</c>), differentiable with respect to both arguments where meaningful.</summary>
    /// <param name="yTrue">The targets.</param>
    /// <param name="yPred">The predictions.</param>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="ArgumentException">The shapes or label values do not fit the loss (see each loss).</exception>
    public Tensor Unreduced(Tensor yTrue, Tensor yPred)
    {
        ArgumentNullException.ThrowIfNull(yTrue);
        ArgumentNullException.ThrowIfNull(yPred);
        return Compute(yTrue, yPred);
    }

    /// <summary>The scalar loss: the sum of <see cref="Unreduced"/> divided by its number of elements (0 when there are none).</summary>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="ArgumentException">The shapes or label values do not fit the loss (see each loss).</exception>
    public Tensor Call(Tensor yTrue, Tensor yPred)
    {
        var losses = Unreduced(yTrue, yPred);
        return losses.Size == 0 ? Tensor.Scalar(0f) : losses.Sum() / (float)losses.Size;
    }

    /// <summary>The per-example losses, with arguments already checked for null.</summary>
    protected abstract Tensor Compute(Tensor yTrue, Tensor yPred);

    /// <summary>The constructor arguments under their Keras names (<c>name</c>, <c>reduction</c> and each loss' own).</summary>
    public virtual IReadOnlyDictionary<string, object?> GetConfig() => new Dictionary<string, object?>
    {
        ["name"] = Name,
        ["reduction"] = "sum_over_batch_size",
    };

    /// <summary>Keras' fuzz factor for probabilities (<c>keras.backend.epsilon()</c>).</summary>
    internal const float Epsilon = 1e-7f;

    /// <summary><c>−Σ_last target·log(clip(p/Σp, ε, 1 − ε))</c>: cross-entropy of probabilities as Keras 3 computes it.</summary>
    internal static Tensor CrossEntropyOfProbabilities(Tensor target, Tensor probabilities)
    {
        var p = probabilities / probabilities.Sum([-1], keepDims: true);
        p = p.Maximum(Tensor.Scalar(Epsilon)).Minimum(Tensor.Scalar(1f - Epsilon));
        return -(target * p.Log()).Sum([-1]);
    }

    /// <summary>The name and class name.</summary>
    public override string ToString() => $"{ClassName} '{Name}'";
}
