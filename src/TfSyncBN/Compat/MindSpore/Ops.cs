using TfSyncBN.Tensors;

namespace TfSyncBN.Compat.MindSpore;

/// <summary>MindSpore's functional operations (<c>mindspore.ops</c>) with MindSpore's parameter names.</summary>
public static class Ops
{
    /// <summary>
    /// MindSpore <c>ops.batch_norm(input_x, running_mean, running_var, weight, bias, training=False, momentum=0.1, eps=1e-5)</c>:
    /// exactly <see cref="Tensors.Ops.BatchNorm"/> (inference <c>y = weight·(x − running_mean)/sqrt(running_var + eps) + bias</c>;
    /// training uses the batch mean and biased variance over every axis but 1 and updates the running statistics in place
    /// with <c>running = (1 − momentum)·running + momentum·batch</c>).
    /// </summary>
    /// <param name="inputX">Input of rank ≥ 2, channels on axis 1.</param>
    /// <param name="runningMean">Running mean, shape [C].</param>
    /// <param name="runningVar">Running variance, shape [C].</param>
    /// <param name="weight">γ, shape [C]; ones when null.</param>
    /// <param name="bias">β, shape [C]; zeros when null.</param>
    /// <param name="training">Whether to use batch statistics and update the running ones (MindSpore's "not a bool" TypeError cannot occur in C#).</param>
    /// <param name="momentum">In [0, 1].</param>
    /// <param name="eps">In (0, 1].</param>
    /// <exception cref="ArgumentNullException"><paramref name="inputX"/>, <paramref name="runningMean"/> or <paramref name="runningVar"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="momentum"/> is outside [0, 1] or <paramref name="eps"/> outside (0, 1].</exception>
    /// <exception cref="ArgumentException">The rank of <paramref name="inputX"/> is below 2, or a parameter's shape is not [C].</exception>
    public static Tensor BatchNorm(Tensor inputX, Variable runningMean, Variable runningVar, ITensorLike? weight = null,
        ITensorLike? bias = null, bool training = false, float momentum = 0.1f, float eps = 1e-5f)
    {
        FacadeChecks.CheckMomentum(momentum, nameof(momentum));
        FacadeChecks.CheckEpsilon(eps, nameof(eps), max: 1f);
        return Tensors.Ops.BatchNorm(inputX, runningMean, runningVar, weight, bias, training, momentum, eps);
    }
}
